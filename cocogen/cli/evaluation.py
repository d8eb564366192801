"""``cocogen eval`` and ``cocogen report``: score prediction files, compare runs side by side."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cocogen.cli.common import add_task_option
from cocogen.errors import InputError
from cocogen.evaluate import CONVENTIONS, Evaluation, evaluate_file, table_rows
from cocogen.metrics.base import METRICS, ExampleScore, format_value, parse_signature

__all__ = ["add_commands", "cmd_eval", "cmd_report"]


def _print_eval(ev: Evaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    s = ev.score
    other = s.extra.get("other_convention")  # only a metric with two stance conventions reports one
    table = Table(title=f"{s.task}: {s.n} examples", caption=s.signature)
    table.add_column("metric")
    table.add_column(f"{s.extra.get('convention', '')} stance" if other else "value", justify="right")
    if other:
        table.add_column(f"{other['convention']} stance", justify="right")
    for key, label, value in table_rows(s):
        cells = [label, value]
        if other:
            cells.append(format_value(key, other[key]) if key in other else "")
        table.add_row(*cells)
    con = Console()
    con.print(table)
    for k, why in s.unavailable.items():
        con.print(f"[dim]{METRICS[k].label if k in METRICS else k}: not available — {why}[/dim]")
    for n in s.notes:
        con.print(f"[dim]note: {n}[/dim]")
    counts = ", ".join(f"{k}={v}" for k, v in s.counts.items() if v)
    if counts:
        con.print(f"[dim]counts: {counts}[/dim]")
    con.print(f"[dim]{ev.seconds:.2f} s[/dim]")


def _write_rows(path: str, rows: Sequence[ExampleScore]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    except OSError as e:
        raise InputError(f"Cannot write {path}: {e.strerror}.") from None


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


def _check_out(out: str, inputs: Sequence[str | None]) -> None:
    """Refuse an ``--out`` that would overwrite what is being scored, or a run file: they are results, not scratch."""
    target = Path(out)
    for given in inputs:
        if given and Path(given).exists() and target.exists() and target.resolve() == Path(given).resolve():
            raise InputError(f"--out {out} is the file being evaluated; writing the rows there would destroy it.")
    if target.is_file():
        with open(target, "rb") as fh:
            first = fh.readline(4096)
        if first.startswith(b'{"kind": "header"'):
            raise InputError(f"--out {out} is a cocogen run file; it was left as it is.", hint="Choose another --out path.")


def cmd_eval(args: argparse.Namespace) -> int:
    """Per-example rows to ``--out``, averages as a table or ``--json``."""
    if args.out:
        _check_out(args.out, [args.predictions, args.references])
    ev = evaluate_file(
        args.predictions,
        task=args.task,
        references=args.references,
        convention=args.convention,
        fmt=args.format,
        ged_timeout=args.ged_timeout,
    )
    if args.out:
        _write_rows(args.out, ev.rows)
    if args.json:
        json.dump(ev.to_dict(), sys.stdout, ensure_ascii=False, indent=2, default=_json_default)
        sys.stdout.write("\n")
    else:
        _print_eval(ev)
    return 0


def _run_label(ev: Evaluation, i: int) -> str:
    sig = parse_signature(ev.score.signature)
    parts = [sig.get("fmt", ""), sig.get("model", "")]
    return f"{i}: " + " ".join(p for p in parts if p and p != "-") if any(parts) else f"{i}: {Path(ev.source).name}"


def cmd_report(args: argparse.Namespace) -> int:
    """Evaluate several runs and compare them side by side, one table per task."""
    evals = [evaluate_file(r, task=args.task, convention=args.convention) for r in args.runs]
    if args.json:
        json.dump([e.to_dict() for e in evals], sys.stdout, ensure_ascii=False, indent=2, default=_json_default)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    con = Console()
    by_task: dict[str, list[tuple[int, Evaluation]]] = {}
    for i, e in enumerate(evals, start=1):
        by_task.setdefault(e.score.task, []).append((i, e))
    for task, group in by_task.items():
        table = Table(title=f"{task}: {len(group)} run(s)")
        table.add_column("metric")
        for i, e in group:
            table.add_column(_run_label(e, i), justify="right")
        first = table_rows(group[0][1].score)
        cols = [{k: v for k, _, v in table_rows(e.score)} for _, e in group]
        for key, label, _ in first:
            table.add_row(label, *[c.get(key, "") for c in cols])
        con.print(table)
        for i, e in group:
            con.print(f"[dim]{i}: {e.source}  ({e.score.signature})[/dim]")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("eval", help="score predictions against references")
    add_task_option(p, required=False, help="the task (default: the one the predictions name)")
    p.add_argument("--predictions", required=True, help="run file or recorded-output JSONL")
    p.add_argument(
        "--references",
        help="split name, reference JSONL or a task's own answer file (default: those in the predictions)",
    )
    p.add_argument("--out", help="write per-example metrics to this JSONL file")
    p.add_argument("--format", help="format whose parser reads the completions (default: the run's, else code)")
    p.add_argument(
        "--convention",
        choices=CONVENTIONS,
        default="prompt",
        help="for a task with a stance: score it against the prompt's (CoCoGen, default) or the dataset label",
    )
    p.add_argument("--ged-timeout", type=float, help="seconds per exact graph edit distance (then a bound)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("report", help="compare runs side by side")
    p.add_argument("runs", nargs="+")
    add_task_option(p, required=False, help="task of recorded-output files (run files name theirs)")
    p.add_argument("--convention", choices=CONVENTIONS, default="prompt", help="stance convention")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)
