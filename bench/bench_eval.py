"""Time ``cocogen eval`` on every recorded output: ExplaGraphs dev (396) and ProPara test (54).

Target (issue 3): evaluating all recorded outputs takes under 10 s on the project machine.

Two numbers per file:

* ``in-process``: :func:`cocogen.evaluate.evaluate_file` (read, parse every completion with
  the task's parser, score every example, aggregate), best and median of ``--repeat`` runs
  in one warm interpreter;
* ``cold CLI``: ``python -m cocogen eval --json`` in a fresh process, imports included —
  what a user waits for.

The ExplaGraphs time is dominated by the exact graph edit distances (179 structurally
correct graphs) and the G-BLEU/G-ROUGE edge matching.

Usage: ``python bench/bench_eval.py [--repeat 3] [--data DIR]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cocogen.evaluate import evaluate_file  # noqa: E402

FILES = {
    "explagraphs": "cocogen/outputs/explagraphs/dev_output.jsonl",
    "propara": "cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl",
}
HEADLINE = {"explagraphs": ("stca", "ged"), "propara": ("precision", "recall", "f1")}


def _data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("COCOGEN_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", help="data directory (default: $COCOGEN_DATA_DIR or ../shared/data)")
    args = ap.parse_args()
    data = _data_dir(args.data)
    env = {**os.environ, "COCOGEN_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}

    rows = []
    for task, rel in FILES.items():
        path = data / rel
        if not path.exists():
            print(f"skip {task}: {path} not found", file=sys.stderr)
            continue
        times, score = [], None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            score = evaluate_file(path, task=task).score
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cocogen", "eval", "--task", task, "--predictions", str(path), "--json"],
            cwd=REPO,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cold = time.perf_counter() - t0
        assert score is not None
        figures = " ".join(f"{k}={score.values[k] * 100:.2f}" for k in HEADLINE[task])
        rows.append((task, score.n, min(times), statistics.median(times), cold, figures))

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'task':<12} {'n':>4} {'best s':>8} {'median s':>9} {'cold CLI s':>11}  figures")
    for task, n, best, med, cold, figures in rows:
        print(f"{task:<12} {n:>4} {best:>8.2f} {med:>9.2f} {cold:>11.2f}  {figures}")
    total_best = sum(r[2] for r in rows)
    total_cold = sum(r[4] for r in rows)
    print(f"{'total':<12} {sum(r[1] for r in rows):>4} {total_best:>8.2f} {'':>9} {total_cold:>11.2f}")
    ok = total_cold < 10.0
    print(f"target: all recorded outputs in < 10 s (cold CLI): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
