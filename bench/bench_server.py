"""Constrained output from a llama.cpp server: parse-clean rate and quality, constrained vs free.

The same model as the local backend (the bundled Gemma 3 270M GGUF), served by
llama-cpp-python's own OpenAI-compatible server, asked through the ``openai`` backend in
completion mode, greedy, k=8 fixed few-shot examples.  "constrained" sends the task's
GBNF grammar (:mod:`cocogen.grammar`) in the ``grammar`` field; "free" sends none.
Rows, splits, metrics and scoring are :mod:`bench_quality`'s (``score_cell``,
``markdown_table``): the first N rows of each task's split.

Task by task, each row is answered free and constrained in turn (they share the few-shot
prefix the server keeps cached), so a run cut short has as many rows in both modes; run
files go to ``artifacts/server/`` and re-running resumes them.

Two servers: llama-cpp-python's (``--server llama-cpp-python``, the one the tests start)
applies a grammar to the whole 262k-token vocabulary at every token, about 5× slower per
token than free decoding; llama.cpp's own ``llama-server`` (``--server llama-server``, built
from the llama.cpp source llama-cpp-python's sdist vendors) checks the token it sampled first
and applies the grammar only when that token breaks it, so constrained decoding costs about
what free decoding does.  Build it with::

    pip download llama-cpp-python --no-binary :all: --no-deps -d /tmp/sdist
    tar xzf /tmp/sdist/llama_cpp_python-*.tar.gz -C /tmp/sdist
    cmake -S /tmp/sdist/llama_cpp_python-*/vendor/llama.cpp -B /tmp/llama-build -DLLAMA_CURL=OFF
    cmake --build /tmp/llama-build --target llama-server -j2     # about 10 minutes on 2 cores

Usage::

    python bench/bench_server.py                       # starts its own server (1 thread), 30 rows
    python bench/bench_server.py --server llama-server --server-bin /tmp/llama-build/bin/llama-server
    python bench/bench_server.py --rows 10 --formats code,text
    python bench/bench_server.py --base-url http://127.0.0.1:8000/v1   # a server already running
    python bench/bench_server.py --score-only --markdown
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_quality import SPLITS, markdown_table, print_table, score_cell  # noqa: E402

MODES = ("free", "constrained")


SERVERS = ("llama-cpp-python", "llama-server")


def server_command(server: str, binary: str | None, port: int, threads: int, n_ctx: int) -> list[str]:
    """The command that serves the bundled model on ``127.0.0.1:port``."""
    from cocogen.backends.llamacpp import default_model_path, use_extra_buffers

    model = str(default_model_path())
    if server == "llama-server":
        if not binary or not Path(binary).is_file():
            raise SystemExit("--server llama-server needs --server-bin, the path of a built llama-server.")
        cmd = [binary, "--model", model, "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads)]
        cmd += [] if use_extra_buffers() else ["--no-repack"]  # its AMX buffers crash in some VMs
        return cmd + ["--threads-batch", str(threads), "--ctx-size", str(n_ctx), "--parallel", "1", "--no-webui"]
    # llama-cpp-python's server, with the extra buffers off where they crash (as the local backend loads).
    cmd = [sys.executable, "-m", "cocogen.backends.llama_server", "--model", model]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads)]
    return cmd + ["--n_threads_batch", str(threads), "--n_ctx", str(n_ctx), "--verbose", "False"]


def start_server(cmd: list[str], port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``cmd`` and wait until the server lists its model.

    The port is fixed: the URL is part of the backend's signature, which a resumed run file must match.
    """
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5):  # noqa: S310 - our own local server
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"the server did not answer in 600 s; see {log}")


def k_of(task: Any, args: argparse.Namespace) -> int:
    """The few-shot examples of ``task``'s prompts: ``--k``, or the task's own default (as in the app)."""
    return task.default_k if args.k is None else args.k


def max_tokens(task_name: str, asked: int) -> int:
    """ProPara's code answers are long (one line per participant and step): 400 tokens cut them."""
    return max(asked, 1200) if task_name == "propara" else asked


def run_cell(
    task: Any, fmt_name: str, mode: str, rows: list[Any], out: Path, url: str, args: argparse.Namespace
) -> None:
    from cocogen.backends.base import GenerationParams
    from cocogen.backends.openai_compat import OpenAIBackend
    from cocogen.prompts import PromptSpec
    from cocogen.runs import run_batch

    backend = OpenAIBackend(
        "gemma-3-270m",
        base_url=url,
        mode="completion",
        server_kind="llamacpp",
        constrain=mode == "constrained",
        timeout=args.timeout,
        max_retries=0,
    )
    run_batch(
        task,
        fmt_name,
        backend,
        rows,
        out,
        params=GenerationParams(temperature=0.0, max_tokens=max_tokens(task.name, args.max_tokens), seed=0),
        spec=PromptSpec(k=k_of(task, args), selection="fixed"),
        concurrency=1,
        split=SPLITS[task.name],
        progress=False,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=30, help="rows per task (the first N of the split)")
    ap.add_argument("--tasks", default=",".join(SPLITS), help="comma-separated tasks")
    ap.add_argument("--formats", default="code", help="comma-separated formats (those a task has)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--k", type=int, help="few-shot examples (default: each task's own, as the app)")
    ap.add_argument("--max-tokens", type=int, default=400)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for one answer")
    ap.add_argument("--base-url", help="a llama.cpp server already running (else one is started)")
    ap.add_argument("--port", type=int, default=8939, help="port of the server this script starts")
    ap.add_argument("--threads", type=int, default=1, help="threads of the server this script starts")
    ap.add_argument("--server", choices=SERVERS, default=SERVERS[0], help="which server this script starts")
    ap.add_argument("--server-bin", help="path of llama.cpp's llama-server (with --server llama-server)")
    ap.add_argument("--out-dir", help="default: artifacts/server/<server>")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--score-only", action="store_true")
    args = ap.parse_args(argv)

    from cocogen.errors import CocogenError
    from cocogen.tasks import get_task

    tasks = [get_task(t) for t in args.tasks.split(",") if t]
    formats = [f for f in args.formats.split(",") if f]
    modes = [m for m in args.modes.split(",") if m]
    base = Path(args.out_dir or REPO / "artifacts" / "server" / args.server)

    def out_file(task: Any, fmt_name: str, mode: str) -> Path:
        folder = base / f"k{k_of(task, args)}-fixed"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{task.name}.{fmt_name}.{mode}.jsonl"

    cells = [(t, f, m) for t in tasks for f in formats if f in t.formats for m in modes]
    t0 = time.perf_counter()
    proc = None
    try:
        if not args.score_only:
            url = args.base_url
            if url is None:
                cmd = server_command(args.server, args.server_bin, args.port, args.threads, 6144)
                base.mkdir(parents=True, exist_ok=True)
                proc, url = start_server(cmd, args.port, base / "server.log")
            # Task by task, free and constrained answers of a row one after the other: they share
            # the few-shot prefix, which the server keeps in its KV cache (evaluating it again,
            # 2,000 tokens, takes minutes on a busy CPU).
            for task in tasks:
                for upto in range(1, args.rows + 1):
                    for _, fmt_name, mode in (c for c in cells if c[0] is task):
                        rows = task.load(SPLITS[task.name])[:upto]
                        run_cell(task, fmt_name, mode, rows, out_file(task, fmt_name, mode), url, args)
                    print(f"{task.name}: {upto} rows after {time.perf_counter() - t0:.0f} s", flush=True)
    except CocogenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
    scored = []
    for task, fmt_name, mode in cells:
        out = out_file(task, fmt_name, mode)
        if out.exists():
            cell = score_cell(task, fmt_name, out)
            cell["mode"] = mode
            cell["k"] = k_of(task, args)
            scored.append(cell)
    if args.markdown:
        print(markdown_table(scored))
    else:
        print_table(scored)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    k = "each task's own" if args.k is None else args.k
    print(f"{time.strftime('%Y-%m-%d')} · {machine} · k={k} fixed · {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
