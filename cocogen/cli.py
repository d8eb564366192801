"""``cocogen``: one command-line entry point with subcommands.

Every command that prints data takes ``--json``.  Errors print one actionable sentence to
stderr and exit with status 1 (2 for usage errors, as argparse does).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cocogen.errors import CocogenError, InputError
from cocogen.settings import DEFAULT_K, DEFAULT_TOKEN_BUDGET

__all__ = ["main", "build_parser"]


def _print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _read_json_arg(value: str) -> Any:
    """``--input`` takes inline JSON, ``@file.json``, or ``-`` for standard input."""
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"Cannot read the input file {path}: {e.strerror}.") from None
    else:
        text = value
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"--input is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}).") from None


# --- tasks -----------------------------------------------------------------------------


def cmd_tasks(args: argparse.Namespace) -> int:
    from cocogen.tasks import REGISTRY

    rows = [
        {
            "name": t.name,
            "title": t.title,
            "formats": [{"name": f.name, "kind": f.kind, "description": f.description} for f in t.formats.values()],
            "default_format": next(iter(t.formats)),
            "inputs": [f.name for f in t.input_fields],
            "splits": list(t.splits),
        }
        for t in REGISTRY.values()
    ]
    if args.json:
        _print_json(rows)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("task", "formats (default first)", "input fields", "splits")
    for r in rows:
        table.add_row(r["name"], ", ".join(f["name"] for f in r["formats"]), ", ".join(r["inputs"]), ", ".join(r["splits"]))
    Console().print(table)
    return 0


# --- prompt ----------------------------------------------------------------------------


def cmd_prompt(args: argparse.Namespace) -> int:
    from cocogen.prompts import build_prompt
    from cocogen.tasks import get_format, get_task

    task = get_task(args.task)
    fmt = get_format(task, args.format)
    query = task.from_input(_read_json_arg(args.input))
    prompt = build_prompt(task, fmt, query, k=args.k, select=args.select, seed=args.seed, token_budget=args.budget)
    if args.json:
        _print_json(
            {
                "task": prompt.task,
                "format": prompt.format,
                "prompt": prompt.text,
                "query": prompt.query_text,
                "stop": list(prompt.stop),
                "examples": [e.id for e in prompt.examples],
                "n_tokens": prompt.n_tokens,
                "dropped": prompt.dropped,
            }
        )
    else:
        sys.stdout.write(prompt.text)
    return 0


# --- parse -----------------------------------------------------------------------------


def cmd_parse(args: argparse.Namespace) -> int:
    from cocogen.tasks import get_format, get_task

    task = get_task(args.task)
    fmt = get_format(task, args.format)
    if args.file in (None, "-"):
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"Cannot read {args.file}: {e.strerror}.") from None
        except UnicodeDecodeError:
            raise InputError(f"{args.file} is not UTF-8 text.") from None
    query = task.from_input(_read_json_arg(args.input)) if args.input else None
    result = fmt.parse(text, query)
    if args.json:
        _print_json(result.to_dict())
    else:
        if result.graph is None:
            print("No graph could be recovered.")
        else:
            _print_json(result.graph.to_dict())
        for p in result.problems:
            where = f"line {p.line}: " if p.line else ""
            print(f"[{p.kind.value}] {where}{p.message}", file=sys.stderr)
    return 0 if result.ok else 1


# --- data ------------------------------------------------------------------------------


def cmd_data(args: argparse.Namespace) -> int:
    from cocogen import data

    if args.action == "path":
        if args.json:
            _print_json({"data_dir": str(data.data_dir())})
        else:
            print(data.data_dir())
        return 0
    if args.action == "download":
        report = data.download(base_url=args.base_url, force=args.force, only=args.only)
    else:
        report = data.verify()
    if args.json:
        _print_json(report)
    else:
        for row in report["files"]:
            print(f"{row['status']:>10}  {row['path']}")
            if "error" in row:
                print(f"            {row['error']}", file=sys.stderr)
        print(report["summary"])
    return 0 if report["ok"] else 1


# --- generate / run / eval / report (implemented in their own modules) -------------------


def cmd_generate(args: argparse.Namespace) -> int:
    from cocogen.pipeline import cmd_generate as impl

    return impl(args)


def cmd_run(args: argparse.Namespace) -> int:
    from cocogen.runs import cmd_run as impl

    return impl(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from cocogen.evaluate import cmd_eval as impl

    return impl(args)


def cmd_report(args: argparse.Namespace) -> int:
    from cocogen.evaluate import cmd_report as impl

    return impl(args)


# --- parser ----------------------------------------------------------------------------


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=["openai", "local", "replay"], default="local", help="model backend")
    p.add_argument("--model", help="model name (openai), GGUF path (local) or recorded file (replay)")
    p.add_argument("--base-url", help="OpenAI-compatible server URL (default: $COCOGEN_BASE_URL / $OPENAI_BASE_URL)")
    p.add_argument("--mode", choices=["auto", "completion", "chat"], default="auto", help="endpoint (openai backend)")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--n", type=int, default=1, help="samples per input")
    p.add_argument("--no-constraints", action="store_true", help="local backend: free decoding, no grammar")
    p.add_argument("--no-cache", action="store_true", help="bypass the completion cache")


def _add_prompt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, default=DEFAULT_K, help="number of few-shot examples")
    p.add_argument("--select", choices=["fixed", "random", "knn"], default="fixed", help="example selection")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=DEFAULT_TOKEN_BUDGET, help="prompt token budget")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cocogen", description="Structured commonsense reasoning as code generation.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="list tasks and their formats")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("prompt", help="print the few-shot prompt for one input")
    p.add_argument("--task", required=True)
    p.add_argument("--format")
    p.add_argument("--input", required=True, help="JSON object, @file.json, or - for stdin")
    _add_prompt_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prompt)

    p = sub.add_parser("parse", help="parse a completion or generated code (never executed)")
    p.add_argument("--task", required=True)
    p.add_argument("--format")
    p.add_argument("--input", help="the query (JSON) when FILE holds only the model's continuation")
    p.add_argument("file", nargs="?", help="file to parse (default: stdin)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser("data", help="download, locate or verify the datasets")
    p.add_argument("action", choices=["download", "path", "verify"])
    p.add_argument("--base-url", help="mirror to download from (default: the original GitHub repositories)")
    p.add_argument("--only", action="append", help="only this dataset (cocogen, explagraphs, propara, proscript)")
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("generate", help="one input through prompt → model → parser")
    p.add_argument("--task", required=True)
    p.add_argument("--format")
    p.add_argument("--input", required=True, help="JSON object, @file.json, or - for stdin")
    _add_backend_options(p)
    _add_prompt_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("run", help="batch run over a dataset split, resumable")
    p.add_argument("--task", required=True)
    p.add_argument("--format")
    p.add_argument("--split", required=True)
    p.add_argument("--limit", type=int)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rpm", type=float, default=None, help="requests per minute limit")
    p.add_argument("--out", required=True, help="run file (JSONL); re-running resumes it")
    _add_backend_options(p)
    _add_prompt_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("eval", help="score predictions against references")
    p.add_argument("--task", required=True)
    p.add_argument("--predictions", required=True, help="run file or recorded-output JSONL")
    p.add_argument(
        "--references", help="split name, reference JSONL or ProPara answers.tsv (default: those in the predictions)"
    )
    p.add_argument("--out", help="write per-example metrics to this JSONL file")
    p.add_argument("--format", help="format whose parser reads the completions (default: the run's, else code)")
    p.add_argument(
        "--convention",
        choices=["prompt", "gold"],
        default="prompt",
        help="ExplaGraphs: score stance against the prompt's stance (CoCoGen, default) or the dataset label",
    )
    p.add_argument("--ged-timeout", type=float, help="seconds per exact graph edit distance (then a bound)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("report", help="compare runs side by side")
    p.add_argument("runs", nargs="+")
    p.add_argument("--task", help="task of recorded-output files (run files name theirs)")
    p.add_argument("--convention", choices=["prompt", "gold"], default="prompt", help="ExplaGraphs stance convention")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CocogenError as e:
        print(f"error: {e.user_message()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished work was kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
