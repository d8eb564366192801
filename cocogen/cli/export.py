"""``cocogen export``: one example as a self-contained HTML file (code, graph as SVG, problems, metrics, prompt).

Two sources: a fresh generation (``--task``, ``--input``, the backend and prompt options of
``generate``), or one example of a run file or recorded outputs (``--run``, ``--id``).
"""

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
    query_from_args,
    spec_from_args,
)
from cocogen.errors import ConfigError
from cocogen.export import check_destination, part_of_result, part_of_run_example, to_html, write_html

__all__ = ["add_commands", "cmd_export"]


def cmd_export(args: argparse.Namespace) -> int:
    """Writes the HTML file atomically and prints its path; exit 1 (and no file) when anything fails."""
    check_destination(args.html)  # before a model is asked: a wrong path costs nothing
    if args.run is not None:
        if args.task is not None or args.input is not None:
            raise ConfigError("Give either --run and --id, or --task and --input, not both.")
        if args.id is None:
            raise ConfigError("--run needs --id: the example to export.")
        title, part = part_of_run_example(args.run, args.id)
        parts = [part]
    else:
        if args.task is None or args.input is None:
            raise ConfigError("Give --task and --input (a new answer), or --run and --id (an example of a run).")
        from cocogen.pipeline import generate

        task, fmt, query = query_from_args(args)
        backend = backend_from_args(args, task.name)
        with CompletionCache(enabled=not args.no_cache) as cache:
            result = generate(
                task, fmt, query, backend, spec=spec_from_args(args, task), params=params_from_args(args), cache=cache
            )
        title, parts = f"{task.title} · {fmt.name}", [part_of_result(result)]
    path = write_html(args.html, to_html(title, parts))
    print(path, file=sys.stdout)
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("export", help="one example as a self-contained HTML file (offline, printable)")
    p.add_argument("--html", required=True, metavar="FILE", help="the HTML file to write (replaced atomically)")
    src = p.add_argument_group("a new answer")
    add_task_option(src, required=False)
    src.add_argument("--format")
    src.add_argument("--input", help="JSON object, @file.json, or - for stdin")
    add_backend_options(p)
    add_prompt_options(p)
    run = p.add_argument_group("an example of a run")
    run.add_argument("--run", metavar="RUNFILE", help="a run file or the paper's recorded outputs (JSONL)")
    run.add_argument("--id", help="the example id in that file")
    p.set_defaults(func=cmd_export)
