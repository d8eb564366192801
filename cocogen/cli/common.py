"""Options and helpers shared by several command groups: JSON in and out, backend and prompt options."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from cocogen.backends.base import BACKENDS, Backend, GenerationParams, make_backend
from cocogen.backends.server_kind import SERVER_KINDS
from cocogen.errors import ConfigError, InputError
from cocogen.jsonl import JsonError, loads
from cocogen.prompts import SELECTIONS, PromptSpec
from cocogen.settings import DEFAULT_K, DEFAULT_TIMEOUT, DEFAULT_TOKEN_BUDGET
from cocogen.tasks.base import REGISTRY, Format, Task, get_format, get_task
from cocogen.types import Graph

__all__ = [
    "print_json",
    "read_json_arg",
    "read_text_arg",
    "add_task_option",
    "add_backend_options",
    "add_prompt_options",
    "backend_from_args",
    "params_from_args",
    "spec_from_args",
    "print_problems",
    "timeout_from_args",
]


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _json_default(o: Any) -> Any:
    return str(o)


def read_json_arg(value: str, option: str = "--input") -> Any:
    """An option that takes inline JSON, ``@file.json``, or ``-`` for standard input."""
    if value.startswith("@"):
        where = f"{option} file {value[1:]}"
        text = read_text_arg(value[1:], what="the input file ")
    else:
        where = "standard input" if value == "-" else option
        text = read_text_arg(None) if value == "-" else value
    try:
        return loads(text)
    except JsonError as e:
        raise InputError(f"{where} is not valid JSON ({e.reason}).") from None


def read_text_arg(path: str | None, what: str = "") -> str:
    """A UTF-8 text file, or standard input for ``None`` or ``-``; ``what`` names it in errors."""
    if path is None or path == "-":
        # Bytes, decoded here: a binary stdin gets the same sentence as a binary file.
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"Standard input is not UTF-8 text (byte {e.start + 1}).") from None
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"Cannot read {what}{path}: {e.strerror}.") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text (byte {e.start + 1}).") from None


def timeout_from_args(args: argparse.Namespace) -> float | None:
    """``--timeout`` checked: a finite number of seconds above 0 (exit 1 with a sentence, like --ged-timeout)."""
    seconds = getattr(args, "timeout", None)
    if seconds is not None and (not math.isfinite(seconds) or seconds <= 0):
        raise ConfigError(f"--timeout must be a positive number of seconds, not {seconds}.")
    return seconds


def add_task_option(p: argparse.ArgumentParser, *, required: bool = True, help: str = "the task") -> None:
    from cocogen import tasks as _  # noqa: F401  (imports register the built-in tasks)

    # The names come from the registry, so a new task needs no edit here.  No argparse
    # `choices`: an unknown name gets the library's one-sentence error and exit status 1.
    p.add_argument("--task", required=required, metavar="TASK", help=f"{help}: {', '.join(REGISTRY)}")


def add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=list(BACKENDS), default="local", help="model backend")
    p.add_argument("--model", help="model name (openai), GGUF path (local) or recorded file (replay)")
    p.add_argument("--base-url", help="OpenAI-compatible server URL (default: $COCOGEN_BASE_URL / $OPENAI_BASE_URL)")
    p.add_argument("--mode", choices=["auto", "completion", "chat"], default="auto", help="endpoint (openai backend)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"seconds to wait for each answer (openai backend; default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--n", type=int, default=1, help="samples per input")
    p.add_argument(
        "--sampling-seed", type=int, default=None, help="seed of the model's sampling (not of example selection)"
    )
    p.add_argument("--no-constraints", action="store_true", help="local backend: free decoding, no token masks")
    p.add_argument(
        "--server-kind",
        choices=list(SERVER_KINDS),
        default="auto",
        help="openai backend: the kind of server, which decides how a grammar is sent (auto: ask it once)",
    )
    p.add_argument(
        "--constrain",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="openai backend: send the task's grammar so the answer parses (llama.cpp and vLLM servers)",
    )
    p.add_argument("--no-cache", action="store_true", help="bypass the completion cache")


def add_prompt_options(p: argparse.ArgumentParser) -> None:
    from cocogen.tasks import REGISTRY

    other = "; ".join(f"{t.default_k} for {t.name}" for t in REGISTRY.values() if t.default_k != DEFAULT_K)
    p.add_argument(
        "--k",
        type=int,
        default=None,
        help=f"number of few-shot examples (default: the task's own, {DEFAULT_K}" + (f"; {other})" if other else ")"),
    )
    p.add_argument("--select", choices=SELECTIONS, default="fixed", help="example selection")
    p.add_argument("--seed", type=int, default=0, help="seed of the few-shot selection (see --sampling-seed)")
    p.add_argument("--budget", type=int, default=DEFAULT_TOKEN_BUDGET, help="prompt token budget")
    p.add_argument(
        "--pool",
        default="fewshot",
        metavar="SPLIT",
        help="where examples are chosen from: 'fewshot' (our own, default) or a dataset split such as "
        "'train' (the query's own row is never chosen)",
    )


def spec_from_args(args: argparse.Namespace, task: Task | None = None) -> PromptSpec:
    """The prompt settings; ``--pool SPLIT`` reads that split of ``task``'s dataset as the examples."""
    pool_name = getattr(args, "pool", "fewshot") or "fewshot"
    pool = None
    if pool_name != "fewshot":
        if task is None:
            raise ConfigError("--pool needs a task.")
        pool = tuple(task.load(pool_name))
        if not pool:
            raise ConfigError(f"The {pool_name!r} split of {task.name} has no rows to choose examples from.")
    return PromptSpec(k=args.k, selection=args.select, selection_seed=args.seed, token_budget=args.budget, pool=pool)


def params_from_args(args: argparse.Namespace) -> GenerationParams:
    """Generation parameters from the backend options (unset ones keep the defaults)."""
    given = {
        "max_tokens": getattr(args, "max_tokens", None),
        "temperature": getattr(args, "temperature", None),
        "top_p": getattr(args, "top_p", None),
        "n": getattr(args, "n", None),
        "seed": getattr(args, "sampling_seed", None),
    }
    return GenerationParams.from_dict({k: v for k, v in given.items() if v is not None})


def backend_from_args(args: argparse.Namespace, task: str | None = None) -> Backend:
    """Build the backend named by ``--backend`` from the options that apply to it."""
    name = getattr(args, "backend", "local")
    model = getattr(args, "model", None)
    timeout_from_args(args)  # a bad --timeout is refused whichever backend is chosen
    if name == "openai":
        return make_backend(
            "openai",
            model=model,
            base_url=getattr(args, "base_url", None),
            mode=args.mode,
            timeout=timeout_from_args(args),
            server_kind=getattr(args, "server_kind", "auto"),
            constrain=getattr(args, "constrain", False),
        )
    if name == "replay":
        return make_backend("replay", path=model, task=task)
    options: dict[str, Any] = {"model": model}
    if getattr(args, "no_constraints", False):
        options["constraints"] = False
    return make_backend(name, **options)


def query_from_args(args: argparse.Namespace) -> tuple[Task, Format, Graph]:
    """The task, format and query graph from ``--task``, ``--format`` and ``--input``, checked in that order."""
    task = get_task(args.task)
    fmt = get_format(task, args.format)
    return task, fmt, task.from_input(read_json_arg(args.input))


def print_problems(problems: Any) -> None:
    for p in problems:
        where = f"line {p.line}: " if p.line else ""
        print(f"[{p.kind.value}] {where}{p.message}", file=sys.stderr)
