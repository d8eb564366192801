"""``cocogen tasks``, ``cocogen prompt`` and ``cocogen parse``: what a task is, what it sends, what it reads."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cocogen.cli.common import (
    add_prompt_options,
    add_task_option,
    print_json,
    print_problems,
    query_from_args,
    read_json_arg,
    read_text_arg,
    spec_from_args,
)
from cocogen.prompts import build_prompt
from cocogen.tasks.base import REGISTRY, get_format, get_task

__all__ = ["add_commands", "cmd_tasks", "cmd_prompt", "cmd_parse", "task_rows"]


def task_rows() -> list[dict[str, Any]]:
    """Every registered task as the ``tasks --json`` rows."""
    return [
        {
            "name": t.name,
            "title": t.title,
            "formats": [{"name": f.name, "kind": f.kind, "description": f.description} for f in t.formats.values()],
            "default_format": next(iter(t.formats)),
            "default_k": t.default_k,
            "inputs": [f.name for f in t.input_fields],
            "sample_input": {k: list(v) if isinstance(v, tuple) else v for k, v in t.sample_input.items()},
            "splits": list(t.splits),
            "metrics": list(t.metric().display),
        }
        for t in REGISTRY.values()
    ]


def cmd_tasks(args: argparse.Namespace) -> int:
    rows = task_rows()
    if args.json:
        print_json(rows)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("task", "formats (default first)", "k", "input fields", "splits")
    for r in rows:
        formats = ", ".join(f["name"] for f in r["formats"])
        table.add_row(r["name"], formats, str(r["default_k"]), ", ".join(r["inputs"]), ", ".join(r["splits"]))
    Console().print(table)
    return 0


def cmd_prompt(args: argparse.Namespace) -> int:
    task, fmt, query = query_from_args(args)
    prompt = build_prompt(task, fmt, query, spec_from_args(args, task))
    if args.json:
        print_json(
            {
                "task": prompt.task,
                "format": prompt.format,
                "prompt": prompt.text,
                "query": prompt.query_text,
                "stop": list(prompt.stop),
                "examples": [e.id for e in prompt.examples],
                "n_tokens": prompt.n_tokens,
                "dropped": prompt.dropped,
                "spec": prompt.spec.to_dict() if prompt.spec is not None else None,
            }
        )
    else:
        sys.stdout.write(prompt.text)
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    fmt = get_format(task, args.format)
    text = read_text_arg(args.file)
    query = task.from_input(read_json_arg(args.input)) if args.input else None
    result = fmt.parse(text, query)
    if args.json:
        print_json(result.to_dict())
    else:
        if result.graph is None:
            print("No graph could be recovered.")
        else:
            print_json(result.graph.to_dict())
        print_problems(result.problems)
    return 0 if result.ok else 1


def add_commands(sub: Any) -> None:
    p = sub.add_parser("tasks", help="list tasks and their formats")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("prompt", help="print the few-shot prompt for one input")
    add_task_option(p)
    p.add_argument("--format")
    p.add_argument("--input", required=True, help="JSON object, @file.json, or - for stdin")
    add_prompt_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prompt)

    p = sub.add_parser("parse", help="parse a completion or generated code (never executed)")
    add_task_option(p)
    p.add_argument("--format")
    p.add_argument("--input", help="the query (JSON) when FILE holds only the model's continuation")
    p.add_argument("file", nargs="?", help="file to parse (default: stdin)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_parse)
