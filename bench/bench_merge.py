"""Sample and merge against greedy: the local model, code format, constrained, on the quality benchmark's rows.

For each task, two ordinary run files on the rows of ``bench_quality.py`` (the first N of
its split, scored by ``cocogen eval``'s own code with that benchmark's columns):

- **greedy** — temperature 0, one answer (the app's default);
- **merged** — ``n`` samples (default 5) at temperature 0.7, merged by the task's rules
  (:mod:`cocogen.merge`: steps matched by text similarity, concepts by normalised text,
  edges and triples kept by vote share with cycles broken, ProPara cells by majority).

Also per cell: the model seconds per row (the cost: a merge samples ``n`` times), and the
expected calibration error of the greedy answers' element confidences against the
reference (:func:`cocogen.confidence.calibration`).

Rows are added five at a time to every task in turn, so an interrupted benchmark has
about as many rows of each task; re-running resumes the run files (``--score-only``
prints the table of what is there).

Usage::

    COCOGEN_THREADS=1 python bench/bench_merge.py --rows 50          # the issue's 50 rows per task
    python bench/bench_merge.py --rows 20 --score-only --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_quality import MAIN, SPLITS, _fmt, score_cell  # noqa: E402

MODES = ("greedy", "merged")
CHUNK = 5


def run_cell(task: Any, mode: str, rows: list[Any], out: Path, args: argparse.Namespace) -> None:
    from cocogen.backends.base import GenerationParams
    from cocogen.backends.llamacpp import LlamaCppBackend
    from cocogen.prompts import PromptSpec
    from cocogen.runs import run_batch

    if mode == "greedy":
        params = GenerationParams(temperature=0.0, max_tokens=args.max_tokens, seed=0)
    else:
        params = GenerationParams(temperature=args.temperature, max_tokens=args.max_tokens, n=args.samples, seed=0)
    run_batch(
        task,
        task.formats["code"],
        LlamaCppBackend(constraints=True),
        rows,
        out,
        params=params,
        spec=PromptSpec(k=args.k, selection="fixed"),
        concurrency=1,
        split=SPLITS[task.name],
        progress=not args.no_progress,
        merge=mode == "merged",
    )


def _only(path: Path, ids: set[str], to: Path) -> Path:
    """A copy of the run file ``path`` with the header and the records of ``ids`` only."""
    with open(path, encoding="utf-8") as src, open(to, "w", encoding="utf-8") as dst:
        for line in src:
            rec = json.loads(line)
            if rec.get("kind") == "header" or (rec.get("id") in ids and rec.get("status") == "ok"):
                dst.write(line)
    return to


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50, help="rows per task (the first N of the split)")
    ap.add_argument("--tasks", default=",".join(SPLITS))
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=400)
    ap.add_argument("--out-dir", default=str(REPO / "artifacts" / "merge"))
    ap.add_argument("--score-only", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    from cocogen.confidence import calibration_of_run
    from cocogen.errors import CocogenError
    from cocogen.runs import read_run
    from cocogen.tasks import get_task

    tasks = [get_task(t) for t in args.tasks.split(",") if t]
    out_dir = Path(args.out_dir) / f"k{args.k}-n{args.samples}-t{args.temperature:g}"
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        if not args.score_only:
            for upto in range(CHUNK, args.rows + CHUNK, CHUNK):
                for task in tasks:
                    rows = task.load(SPLITS[task.name])[: min(upto, args.rows)]
                    for mode in MODES:
                        run_cell(task, mode, rows, out_dir / f"{task.name}.{mode}.jsonl", args)
                print(f"{min(upto, args.rows)} rows per task after {time.perf_counter() - t0:.0f} s", flush=True)
        cells = []
        scratch = Path(tempfile.mkdtemp(prefix="bench-merge-"))
        for task in tasks:
            files = {mode: out_dir / f"{task.name}.{mode}.jsonl" for mode in MODES}
            if not all(f.exists() for f in files.values()):
                continue
            # Both modes are scored on the rows both have (an interrupted benchmark stops mid-chunk).
            common = set.intersection(*(read_run(f).ok_ids for f in files.values()))
            for mode, full in files.items():
                out = _only(full, common, scratch / full.name)
                cell = score_cell(task, "code", out)
                seconds = [float(r["timing"]["model_s"]) for r in read_run(out).records if r.get("timing")]
                cell.update(mode=mode, mean_s=statistics.mean(seconds) if seconds else None)
                cal = calibration_of_run(out, of="confidence" if mode == "greedy" else "agreement")
                cell["calibration"] = {"ece": cal.ece, "elements": cal.n} if cal is not None else None
                cells.append(cell)
    except CocogenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    lines = [
        "| task | mode | n | main metric | clean % | mean model s / row | ECE (greedy: confidence, merged: agreement) |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        main_metric = " · ".join(
            f"{label} {_fmt(c['metrics'].get(key), scale, 1 if key != 'graph_ged' else 2)}"
            for key, label, scale in MAIN[c["task"]]
        )
        cal = c.get("calibration")
        ece = f"{cal['ece']:.3f} ({cal['elements']} elements)" if cal else "–"
        lines.append(
            f"| {c['task']} | {c['mode']} | {c['n']} | {main_metric} | {_fmt(c['clean'], 1, 0)} | "
            f"{_fmt(c['mean_s'], 1, 2)} | {ece} |"
        )
    print("\n".join(lines) if args.markdown else "\n".join(line.replace("|", " ") for line in lines))
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, threads={os.environ.get('COCOGEN_THREADS', 'all')}",
        "samples": args.samples,
        "temperature": args.temperature,
        "seconds": round(time.perf_counter() - t0, 1),
        "cells": cells,
    }
    print(f"{info['date']} · {info['machine']} · {info['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
