"""``cocogen generate``: one input through prompt → model → parser."""

from __future__ import annotations

import argparse
import json
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
    print_problems,
    query_from_args,
    spec_from_args,
)
from cocogen.cli.sampling import add_sample_options, sampled_params
from cocogen.pipeline import generate

__all__ = ["add_commands", "cmd_generate"]


def cmd_generate(args: argparse.Namespace) -> int:
    """Prints the code, the graph and the problems (or one JSON object); exit 1 when nothing parsed."""
    task, fmt, query = query_from_args(args)
    params, merge = sampled_params(args, params_from_args(args))
    backend = backend_from_args(args, task.name)
    with CompletionCache(enabled=not args.no_cache) as cache:
        result = generate(
            task, fmt, query, backend, spec=spec_from_args(args), params=params, cache=cache, merge=merge
        )
    if args.json:
        print_json(result.to_dict())
        return 0 if result.ok else 1
    out = sys.stdout
    out.write(result.code if result.code.endswith("\n") else result.code + "\n")
    out.write("\n# graph\n")
    json.dump(result.graph.to_dict() if result.graph is not None else None, out, ensure_ascii=False, indent=2)
    out.write("\n")
    print_problems(result.problems)
    u = result.usage()
    tokens = f"{u['prompt_tokens']}+{u['completion_tokens']} tokens" if u["prompt_tokens"] is not None else ""
    src = "cache" if u["cached"] else f"{u['model_s']:.2f} s"
    print(f"{backend.name}:{backend.model} {tokens} ({src})".strip(), file=sys.stderr)
    return 0 if result.ok else 1


def add_commands(sub: Any) -> None:
    p = sub.add_parser("generate", help="one input through prompt → model → parser")
    add_task_option(p)
    p.add_argument("--format")
    p.add_argument("--input", required=True, help="JSON object, @file.json, or - for stdin")
    add_backend_options(p)
    add_prompt_options(p)
    add_sample_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_generate)
