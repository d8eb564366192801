"""``cocogen run``: a resumable batch run over a dataset split."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cocogen.cache import CompletionCache
from cocogen.cli.common import (
    add_backend_options,
    add_prompt_options,
    add_task_option,
    backend_from_args,
    params_from_args,
    print_json,
    spec_from_args,
)
from cocogen.cli.sampling import add_sample_options, sampled_params
from cocogen.errors import ConfigError
from cocogen.runs import run_batch
from cocogen.tasks.base import get_format, get_task

__all__ = ["add_commands", "cmd_run"]


def cmd_run(args: argparse.Namespace) -> int:
    """Prints a summary (JSON with ``--json``); exit 1 unless every example finished."""
    task = get_task(args.task)
    fmt = get_format(task, args.format)
    spec = spec_from_args(args, task)
    params, merge = sampled_params(args, params_from_args(args))
    if args.limit is not None and args.limit < 0:
        raise ConfigError("--limit must be 0 or more.")
    examples = task.load(args.split)
    if args.limit is not None:
        examples = examples[: args.limit]
    backend = backend_from_args(args, task.name)
    with CompletionCache(enabled=not args.no_cache) as cache:
        summary = run_batch(
            task,
            fmt,
            backend,
            examples,
            args.out,
            spec=spec,
            params=params,
            concurrency=args.concurrency,
            rpm=args.rpm,
            cache=cache,
            split=args.split,
            progress=not getattr(args, "no_progress", False),
            merge=merge,
        )
    if args.json:
        print_json(summary.to_dict())
    else:
        print(
            f"{summary.path}: {summary.skipped + summary.ok}/{summary.total} done "
            f"({summary.ok} now, {summary.skipped} before, {summary.cached} from cache), "
            f"{summary.failed} failed, {summary.seconds:.1f} s"
        )
        for fl in summary.failures:
            print(f"  failed {fl['id']}: {fl['message']}", file=sys.stderr)
        if summary.failed:
            print("Re-run the same command to retry the failed examples.", file=sys.stderr)
    return 0 if summary.complete else 1


def add_commands(sub: Any) -> None:
    p = sub.add_parser("run", help="batch run over a dataset split, resumable")
    add_task_option(p)
    p.add_argument("--format")
    p.add_argument("--split", required=True)
    p.add_argument("--limit", type=int)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rpm", type=float, default=None, help="requests per minute limit")
    p.add_argument("--out", required=True, help="run file (JSONL); re-running resumes it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_backend_options(p)
    add_prompt_options(p)
    add_sample_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)
