"""Backend throughput and client overhead against the local fake OpenAI-compatible server.

Targets (issue 4): with the server answering every request in 200 ms, 200 requests at
concurrency 16 finish at least 12x faster than at concurrency 1; the client adds under
5 ms per request.

The server runs in its own process (``tests/fakes/openai_server.py``), so the client is
measured without sharing a GIL with it.  Three paths are timed:

* ``backend``: ``OpenAIBackend.complete`` from a thread pool (the bare backend);
* ``run``: :func:`cocogen.runs.run_batch` over ExplaGraphs dev rows (prompt building,
  request, parsing, appending to the run file; cache off), the real batch path;
* ``raw http``: one keep-alive ``http.client`` connection posting the same JSON, the
  floor that any client pays for the round trip on this machine.

Client overhead is the 0 ms-server latency of ``backend`` minus that of ``raw http``.

Usage: ``python bench/bench_backends.py [--requests 200] [--delay 0.2] [--quick]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cocogen.backends import GenerationParams, make_backend  # noqa: E402
from cocogen.runs import run_batch  # noqa: E402

PROMPT = (
    "class ExplaGraph:\n    def __init__(self):\n"
    '        self.belief = "Zoos should be closed."\n'
    '        self.argument = "Zoos protect endangered species."\n'
    '        self.stance = "counter"\n'
)


class Server:
    """The fake server in a subprocess."""

    def __init__(self, delay: float, gold: str | None = None) -> None:
        cmd = [sys.executable, "-m", "tests.fakes.openai_server", "--delay", str(delay)]
        if gold:
            cmd += ["--gold", gold]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the fake server did not start")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def bench_backend(url: str, requests: int, concurrency: int) -> float:
    """Seconds for ``requests`` completions at ``concurrency`` through the openai backend."""
    backend = make_backend("openai", model="fake-code-model", base_url=url, api_key="sk-bench-not-a-real-key")
    backend.complete(PROMPT, GenerationParams(max_tokens=64))  # connect, and settle auto mode, before timing
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: backend.complete(PROMPT + f"# {i}\n", GenerationParams(max_tokens=64)), range(requests)))
    return time.perf_counter() - t0


def bench_run(url: str, requests: int, concurrency: int) -> float:
    """Seconds for a batch run of ``requests`` ExplaGraphs dev rows (cache off, no progress bar)."""
    from cocogen.tasks import get_task

    task = get_task("explagraphs")
    rows = task.load("dev")[:requests]
    backend = make_backend("openai", model="fake-code-model", base_url=url, api_key="sk-bench-not-a-real-key")
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        s = run_batch(task, None, backend, rows, Path(d) / "run.jsonl", concurrency=concurrency, progress=False)
        elapsed = time.perf_counter() - t0
    assert s.ok == len(rows), s
    return elapsed


def bench_raw_http(url: str, requests: int) -> float:
    """Seconds per request for bare keep-alive HTTP posting the same body (no SDK)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    body = json.dumps({"model": "fake-code-model", "prompt": PROMPT, "max_tokens": 64, "n": 1})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}

    def one() -> None:
        conn.request("POST", parts.path + "/completions", body, headers)
        json.loads(conn.getresponse().read())

    one()
    t0 = time.perf_counter()
    for _ in range(requests):
        one()
    return (time.perf_counter() - t0) / requests


def latency_per_request(url: str, requests: int) -> tuple[float, float]:
    """Mean and median seconds per sequential request through the backend."""
    backend = make_backend("openai", model="fake-code-model", base_url=url, api_key="sk-bench-not-a-real-key")
    backend.complete(PROMPT, GenerationParams(max_tokens=64))
    times = []
    for i in range(requests):
        t0 = time.perf_counter()
        backend.complete(PROMPT + f"# {i}\n", GenerationParams(max_tokens=64))
        times.append(time.perf_counter() - t0)
    return statistics.mean(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.2, help="server answer time in seconds")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--overhead-requests", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="skip the run_batch path (half the time)")
    args = ap.parse_args()
    os.environ.setdefault("COCOGEN_CACHE_DIR", tempfile.mkdtemp(prefix="cocogen-bench-"))

    rows: list[tuple[str, str]] = []
    with Server(args.delay, gold="explagraphs:dev") as srv:
        ideal = args.requests * args.delay
        b1 = bench_backend(srv.url, args.requests, 1)
        bn = bench_backend(srv.url, args.requests, args.concurrency)
        rows += [
            (f"backend, {args.requests} req, concurrency 1", f"{b1:.2f} s ({b1 / ideal:.3f} x serial server time)"),
            (f"backend, {args.requests} req, concurrency {args.concurrency}", f"{bn:.2f} s"),
            ("backend speed-up", f"{b1 / bn:.1f}x (target >= 12x; bound {args.concurrency}x, here "
             f"{args.requests / -(-args.requests // args.concurrency):.1f}x)"),
        ]  # fmt: skip
        if not args.quick:
            r1 = bench_run(srv.url, args.requests, 1)
            rn = bench_run(srv.url, args.requests, args.concurrency)
            rows += [
                (f"run_batch, {args.requests} ex, concurrency 1", f"{r1:.2f} s"),
                (f"run_batch, {args.requests} ex, concurrency {args.concurrency}", f"{rn:.2f} s"),
                ("run_batch speed-up", f"{r1 / rn:.1f}x"),
            ]
    with Server(0.0) as srv:
        raw = bench_raw_http(srv.url, args.overhead_requests)
        mean, median = latency_per_request(srv.url, args.overhead_requests)
        rows += [
            ("0 ms server: raw keep-alive HTTP round trip", f"{raw * 1000:.2f} ms"),
            ("0 ms server: backend.complete (mean / median)", f"{mean * 1000:.2f} / {median * 1000:.2f} ms"),
            ("client overhead per request (mean - raw)", f"{(mean - raw) * 1000:.2f} ms (target < 5 ms)"),
        ]

    print(f"# bench_backends: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
