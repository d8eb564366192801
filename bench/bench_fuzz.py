"""A fuzz campaign over every task × format parser: crashes, hangs, lost items, worst times, memory.

Target (issue 11): no parse raises, whatever the text; parse time is linear, under 1 s for
100 KB of any text and under 10 s for 1 MB; memory is bounded.

Three phases, all seeded (``--seed``), over the few-shot assets and a seeded sample of the
datasets (``$COCOGEN_DATA_DIR``, default ``../shared/data``; assets only without them):

* ``mutations``: ``--cases`` mutated real renderings and query continuations
  (``tests/tasks/fuzzgen.py``: cuts, deletions, duplications, junk characters such as NUL,
  lone surrogates, odd line breaks, 5,000-digit numbers, deep nesting), round robin over
  task × format, each parsed under a ``--timeout`` alarm: crashes (any exception),
  timeouts and the slowest parse;
* ``cuts``: ``--cuts`` random prefixes of renderings, checking that what is recovered is
  part of the full graph and holds every item complete before the cut (``lost``);
* ``hostile``: every hostile generator (deep nesting, huge numbers, binary junk, repeated
  separators, long runs of spaces, ...) at 100 KB and 1 MB per format, with the query:
  the worst CPU time (process time: what the parser costs, whatever else the machine
  runs) and wall time, and the peak memory (``tracemalloc``) of the worst 1 MB input.

Usage: ``python bench/bench_fuzz.py [--cases 100000] [--cuts 20000] [--seed 1] [--sizes 100000,1000000]``
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("COCOGEN_DATA_DIR", str(REPO.parent / "shared" / "data"))

from cocogen.tasks import REGISTRY  # noqa: E402
from tests.tasks.fuzzgen import (  # noqa: E402
    HOSTILE,
    check_result,
    cut_short_ok,
    item_ends,
    items_of,
    mutated_cases,
    sample_graphs,
    task_formats,
)


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout


_last_cpu = 0.0  # CPU seconds of the latest _timed parse


def _timed(parse, text, query, timeout: float):  # type: ignore[no-untyped-def]
    """``(wall seconds, error name or None, result)`` of one parse under an alarm (CPU time in ``_last_cpu``)."""
    global _last_cpu
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = parse(text, query)
        return time.perf_counter() - t0, None, result
    except _Timeout:
        return time.perf_counter() - t0, "timeout", None
    except BaseException as e:  # noqa: BLE001  (a crash is what we count)
        return time.perf_counter() - t0, type(e).__name__, None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _last_cpu = time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="mutated outputs (default 100,000)")
    ap.add_argument("--cuts", type=int, default=20_000, help="random cuts of renderings checked for lost items")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-split", type=int, default=20, help="dataset rows sampled per split")
    ap.add_argument("--sizes", default="100000,1000000", help="hostile input sizes in characters")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a parse counts as hung")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(args.seed)
    pairs = task_formats()
    graphs = {name: sample_graphs(task, rng, args.per_split) for name, task in sorted(REGISTRY.items())}

    cases: Counter[tuple[str, str]] = Counter()
    crashes: Counter[tuple[str, str]] = Counter()
    crash_kinds: Counter[str] = Counter()
    first_crash: dict[str, str] = {}
    slowest: dict[tuple[str, str], float] = defaultdict(float)
    started = time.perf_counter()
    for case in mutated_cases(rng, graphs, args.cases):
        key = (case.task, case.fmt)
        dt, err, result = _timed(REGISTRY[case.task].formats[case.fmt].parse, case.text, case.query, args.timeout)
        if err is None:
            try:
                check_result(case.task, result)
            except AssertionError as e:
                err = f"bad result ({e})"
        cases[key] += 1
        slowest[key] = max(slowest[key], dt)
        if err is not None:
            crashes[key] += 1
            crash_kinds[err] += 1
            first_crash.setdefault(err, f"{case.task}/{case.fmt} {case.origin}: {case.text[:80]!r}")
    mutation_s = time.perf_counter() - started

    lost: Counter[tuple[str, str]] = Counter()
    cut_cases: Counter[tuple[str, str]] = Counter()
    for c in range(args.cuts):
        task_name, fmt_name = pairs[c % len(pairs)]
        task, g = REGISTRY[task_name], rng.choice(graphs[task_name])
        fmt = task.formats[fmt_name]
        text = fmt.render(g)
        cut = rng.randint(0, len(text))
        dt, err, result = _timed(fmt.parse, text[:cut], task.query_of(g), args.timeout)
        key = (task_name, fmt_name)
        cut_cases[key] += 1
        if err is not None:
            crashes[key] += 1
            crash_kinds[err] += 1
            continue
        full, got = items_of(task_name, g), items_of(task_name, result.graph)
        complete = {item for item, end in item_ends(task_name, fmt, g) if end <= cut}
        in_last_line = cut > text.rstrip("\n").rfind("\n") + 1
        if not (got <= full or cut_short_ok(task_name, fmt, got, full, in_last_line)) or not complete <= got:
            lost[key] += 1

    sizes = [int(s) for s in args.sizes.split(",") if s]
    worst: dict[tuple[str, str, int], tuple[float, str]] = {}  # by CPU time
    worst_wall: dict[tuple[str, str, int], float] = defaultdict(float)
    for task_name, fmt_name in pairs:
        task = REGISTRY[task_name]
        fmt, query = task.formats[fmt_name], task.query_of(graphs[task_name][0])
        for size in sizes:
            for name, make in HOSTILE.items():
                text = make(size)
                wall, err, _ = _timed(fmt.parse, text, query, args.timeout)
                if err is not None:
                    crashes[(task_name, fmt_name)] += 1
                    crash_kinds[err] += 1
                    first_crash.setdefault(err, f"{task_name}/{fmt_name} hostile {name!r} at {size}")
                key = (task_name, fmt_name, size)
                worst_wall[key] = max(worst_wall[key], wall)
                if _last_cpu > worst.get(key, (-1.0, ""))[0]:
                    worst[key] = (_last_cpu, name)
    peak_mb: dict[tuple[str, str], float] = {}
    for task_name, fmt_name in pairs:
        task = REGISTRY[task_name]
        fmt, query = task.formats[fmt_name], task.query_of(graphs[task_name][0])
        _, name = worst[(task_name, fmt_name, sizes[-1])]
        text = HOSTILE[name](sizes[-1])
        tracemalloc.start()
        _timed(fmt.parse, text, query, args.timeout * 5)
        peak_mb[(task_name, fmt_name)] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

    print(f"# bench_fuzz: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, seed {args.seed}")
    print(f"# {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    n_graphs = ", ".join(f"{k} {len(v)}" for k, v in graphs.items())
    print(
        f"# graphs: {n_graphs}; {args.cases:,} mutations in {mutation_s:.0f} s; {args.cuts:,} cuts; "
        f"{len(HOSTILE)} hostile generators at {', '.join(f'{s:,}' for s in sizes)} chars"
    )
    head = ["task", "format", "mutations", "cuts", "crashes", "lost", "slowest mutation"]
    head += [f"worst {s // 1000:,} KB: CPU s (input)" for s in sizes] + [f"wall ≤ {s // 1000:,} KB" for s in sizes]
    head += ["peak MB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for task_name, fmt_name in pairs:
        key = (task_name, fmt_name)
        row = [task_name, fmt_name, f"{cases[key]:,}", f"{cut_cases[key]:,}", str(crashes[key]), str(lost[key])]
        row.append(f"{slowest[key] * 1e3:.1f} ms")
        for s in sizes:
            cpu, name = worst[(task_name, fmt_name, s)]
            row.append(f"{cpu:.2f} ({name})")
        row += [f"{worst_wall[(task_name, fmt_name, s)]:.2f}" for s in sizes]
        row.append(f"{peak_mb[key]:.0f}")
        print("| " + " | ".join(row) + " |")
    total = sum(crashes.values())
    print(f"\ncrashes: {total}" + (f" {dict(crash_kinds)}" if total else "") + f"; lost items: {sum(lost.values())}")
    for kind, where in first_crash.items():
        print(f"  first {kind}: {where}")
    return 1 if total or sum(lost.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
