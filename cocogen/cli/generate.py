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
from cocogen.pipeline import Result, generate
from cocogen.prompts import build_prompt
from cocogen.streaming import LiveText, partials, was_stopped

__all__ = ["add_commands", "cmd_generate"]


def cmd_generate(args: argparse.Namespace) -> int:
    """Prints the code, the graph and the problems (or one JSON object); exit 1 when nothing parsed."""
    task, fmt, query = query_from_args(args)
    backend = backend_from_args(args, task.name)
    with CompletionCache(enabled=not args.no_cache) as cache:
        if args.stream and not args.json:
            result = _streamed(task, fmt, query, backend, args, cache)
        else:
            result = generate(
                task, fmt, query, backend, spec=spec_from_args(args), params=params_from_args(args), cache=cache
            )
    if args.json:
        print_json(result.to_dict())
        return 0 if result.ok else 1
    out = sys.stdout
    if not args.stream:
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


def _streamed(task: Any, fmt: Any, query: Any, backend: Any, args: argparse.Namespace, cache: Any) -> Result:
    """Generate while printing the code as the model writes it; Ctrl-C stops and keeps what was written."""
    prompt = build_prompt(task, fmt, query, spec_from_args(args))
    params = params_from_args(args)
    out = sys.stdout
    out.write(prompt.query_text)
    out.flush()
    shown = ""

    def run(live: LiveText) -> Result:
        return generate(task, fmt, query, backend, prompt=prompt, params=params, cache=cache, live=live)

    result = None
    for item in partials(run, fmt, query):
        if item.completion.startswith(shown):  # the local decoder may take back a word: print what stays
            out.write(item.completion[len(shown) :])
            out.flush()
            shown = item.completion
        if isinstance(item, Result):
            result = item
    assert isinstance(result, Result)  # partials() ends with the result
    if shown != result.completion:
        out.write("\n# the final answer\n" + result.code)
    if not result.code.endswith("\n"):
        out.write("\n")
    if was_stopped(result):
        print("stopped: the answer is what was written before Ctrl-C", file=sys.stderr)
    return result


def add_commands(sub: Any) -> None:
    p = sub.add_parser("generate", help="one input through prompt → model → parser")
    add_task_option(p)
    p.add_argument("--format")
    p.add_argument("--input", required=True, help="JSON object, @file.json, or - for stdin")
    add_backend_options(p)
    add_prompt_options(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--stream", action="store_true", help="print the code as the model writes it (Ctrl-C stops)")
    p.set_defaults(func=cmd_generate)
