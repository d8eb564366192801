"""``cocogen generate``: one input through prompt → model → parser."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from cocogen.backends.base import Backend, GenerationParams, RequestContext
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
from cocogen.streaming import LiveText, complete_live, was_stopped
from cocogen.types import Generation

__all__ = ["add_commands", "cmd_generate"]


def cmd_generate(args: argparse.Namespace) -> int:
    """Prints the code, the graph and the problems (or one JSON object); exit 1 when nothing parsed."""
    task, fmt, query = query_from_args(args)
    params, merge = sampled_params(args, params_from_args(args))
    backend = backend_from_args(args, task.name)
    printing = _Printing(backend) if args.stream and not args.json else None
    backend = printing or backend
    with CompletionCache(enabled=not args.no_cache) as cache:
        result = generate(
            task, fmt, query, backend, spec=spec_from_args(args, task), params=params, cache=cache, merge=merge
        )
    if args.json:
        print_json(result.to_dict())
        return 0 if result.ok else 1
    out = sys.stdout
    if printing is None or not printing.shown:  # not streamed (or a cached answer): the whole program
        out.write(result.code if result.code.endswith("\n") else result.code + "\n")
    elif printing.shown != result.code:  # the printed text was taken back in part
        out.write("\n# the final answer\n" + result.code + ("" if result.code.endswith("\n") else "\n"))
    elif not result.code.endswith("\n"):
        out.write("\n")
    if printing is not None and was_stopped(result):
        print("stopped: the answer is what was written before Ctrl-C", file=sys.stderr)
    out.write("\n# graph\n")
    json.dump(result.graph.to_dict() if result.graph is not None else None, out, ensure_ascii=False, indent=2)
    out.write("\n")
    print_problems(result.problems)
    u = result.usage()
    tokens = f"{u['prompt_tokens']}+{u['completion_tokens']} tokens" if u["prompt_tokens"] is not None else ""
    src = "cache" if u["cached"] else f"{u['model_s']:.2f} s"
    print(f"{backend.name}:{backend.model} {tokens} ({src})".strip(), file=sys.stderr)
    return 0 if result.ok else 1


class _Printing:
    """``backend`` printing its answer as it is written (``--stream``); Ctrl-C stops it and keeps the text.

    Used from the command's (main) thread, where signal handlers can be set.

    Wraps the backend rather than the pipeline, so a cached answer (the backend is not
    asked) is printed whole afterwards like any other.
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.shown = ""  # what has been printed: the query text, then the answer so far

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def signature(self) -> str:
        return self._backend.signature()

    def complete(
        self, prompt: str, params: GenerationParams | None = None, context: RequestContext | None = None
    ) -> list[Generation]:
        live = LiveText()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["gens"] = complete_live(self._backend, prompt, params or GenerationParams(), context, live)
            except BaseException as e:  # noqa: BLE001 - raised again below, in the command's thread
                box["error"] = e

        given = (context.query_text if context is not None else None) or ""
        self._show(given)
        thread = threading.Thread(target=work, name="cocogen-stream", daemon=True)
        # While the model writes, Ctrl-C means Stop: the answer ends at its next token or chunk.
        previous = signal.signal(signal.SIGINT, lambda signum, frame: live.stop())
        try:
            thread.start()
            while thread.is_alive():
                thread.join(0.1)
                self._show(given + live.text)
        finally:
            signal.signal(signal.SIGINT, previous)
        if "error" in box:
            raise box["error"]
        return box["gens"]

    def _show(self, text: str) -> None:
        if text.startswith(self.shown):  # the local decoder may take back a word: print what stays
            sys.stdout.write(text[len(self.shown) :])
            sys.stdout.flush()
            self.shown = text


def add_commands(sub: Any) -> None:
    p = sub.add_parser("generate", help="one input through prompt → model → parser")
    add_task_option(p)
    p.add_argument("--format")
    p.add_argument("--input", required=True, help="JSON object, @file.json, or - for stdin")
    add_backend_options(p)
    add_prompt_options(p)
    add_sample_options(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--stream", action="store_true", help="print the code as the model writes it (Ctrl-C stops)")
    p.set_defaults(func=cmd_generate)
