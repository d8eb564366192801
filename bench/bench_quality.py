"""Answer quality of the embedded offline model: every task × format × {free, constrained}.

What a user of the app sees with default settings is the local model's answer; this
benchmark says how good it is, and whether constrained decoding keeps the quality of the
same model decoding freely.  Each cell is an ordinary run file (``cocogen run``), scored
by ``cocogen eval``'s own code, on a fixed, documented set of rows:

==================  =====================  ======================================
task                rows                   main metric
==================  =====================  ======================================
proscript-script    dev, the first 50      BLEU, ROUGE-L, GED (of the steps/graph)
proscript-edge      dev, the first 50      edge F1
explagraphs         cocogen-dev, first 50  StCA, edge F1, concept F1
propara             test, the first 50     P / R / F1
==================  =====================  ======================================

Besides the metric: parse-clean % (no problem at all), and over the values the model
wrote (proScript steps, ExplaGraphs concepts, ProPara locations):

- **copy** — share of values that appear verbatim among the prompt's few-shot examples'
  values but not in the input (the model copied another example);
- **repeat** — share of values equal to an earlier value of the same answer (proScript
  steps) or that repeat a three-word phrase inside themselves;
- **degenerate** — steps with fewer than two words of letters; concepts and locations
  with no word of letters at all ("1990s", "100000000", "...");
- **latency** — median seconds in the model per row (warm: the few-shot prefix stays in
  llama.cpp's KV cache when selection is fixed).

proScript script generation also gets the control "free-goal": the free answers with their
last step replaced by the goal (the constrained decoder writes that step itself, as every
proScript script ends on its goal), so the decoder's own effect on the steps can be read
apart from that frame.  proScript edge prediction also gets the no-model baseline "chain"
(step0 → step1 → …, in the order the steps are given), so its F1 can be read against what no reasoning gives;
ExplaGraphs and ProPara get "codex", the paper's recorded code-davinci-002 outputs for the
same rows (replayed, code format), so the tiny model is read against the paper's.

Where a task has both a code and a text cell in the same mode, a second table gives
**code − text** on each main metric with a 95 % paired bootstrap interval over the rows (the
same resampled rows for both formats, each resample scored by the task's own aggregate):
an interval that contains 0 says the two formats are not told apart on these rows.

Usage::

    python bench/bench_quality.py                 # 50 rows per task (about 1.5 h on 2 cores)
    python bench/bench_quality.py --quick         # 10 rows
    python bench/bench_quality.py --tasks proscript-edge --formats code --modes constrained

Run files go to ``artifacts/quality/`` (``--out-dir``); re-running resumes them, so
an interrupted benchmark loses nothing, and ``--score-only`` prints the table of what is
there.  ``--json FILE`` keeps the table's figures (the app's Home page shows
``assets/local-model-quality.json``, written this way).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SPLITS = {"proscript-script": "dev", "proscript-edge": "dev", "explagraphs": "cocogen-dev", "propara": "test"}
# The recorded Codex completions continue the paper's own prompts, so they are replayed on
# the paper's copy of the same rows: its ProPara prompts list the participants sorted, and a
# completion read against the dataset's order would put every state in the wrong column.
CODEX_SPLITS = {"explagraphs": "cocogen-dev", "propara": "cocogen-test"}
MAIN = {
    "proscript-script": [("bleu", "BLEU", 1), ("rouge_l", "ROUGE-L", 100), ("graph_ged", "GED", 1)],
    "proscript-edge": [("edge_f1", "edge F1", 100)],
    "explagraphs": [("stca", "StCA", 100), ("edge_f1", "edge F1", 100), ("concept_f1", "concept F1", 100)],
    "propara": [("precision", "P", 100), ("recall", "R", 100), ("f1", "F1", 100)],
}
MODES = ("free", "constrained")
_WORDS = re.compile(r"\w+")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")


def norm(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def values_of(task: str, graph: dict[str, Any] | None) -> list[str]:
    """The free values a model writes for ``task``, in the order it writes them."""
    if not graph:
        return []
    if task == "proscript-script":
        return [str(s) for s in graph.get("steps", [])]
    if task == "explagraphs":
        seen: dict[str, None] = {}
        for h, _, t in graph.get("triples", []):
            seen.setdefault(str(h))
            seen.setdefault(str(t))
        return list(seen)
    if task == "propara":
        return [str(v) for row in graph.get("states", []) for v in row if v not in ("-", "?")]
    return []  # edge prediction writes no text


def has_inner_repeat(value: str, n: int = 3) -> bool:
    words = norm(value).split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def is_degenerate(task: str, value: str) -> bool:
    letter_words = _LETTER_WORD.findall(value)
    return len(letter_words) < (2 if task == "proscript-script" else 1)


def value_rates(task: str, records: Sequence[dict[str, Any]], pool: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Copy, repeat and degenerate rates (in %) over every value of every answer."""
    n = copies = repeats = degenerate = 0
    for rec in records:
        vals = values_of(task, rec.get("graph"))
        if not vals:
            continue
        query = norm(rec.get("query_text") or "")
        shown = {norm(v) for ex in rec.get("examples", []) for v in values_of(task, pool.get(ex))}
        earlier: set[str] = set()
        distinct = task != "propara"  # a location recurs over time by nature
        for v in vals:
            nv = norm(v)
            n += 1
            copies += bool(nv) and nv in shown and f" {nv} " not in f" {query} "
            repeats += (distinct and nv in earlier) or has_inner_repeat(v)
            degenerate += is_degenerate(task, v)
            earlier.add(nv)
    if not n:
        return {}
    return {"copy": 100 * copies / n, "repeat": 100 * repeats / n, "degenerate": 100 * degenerate / n, "values": n}


def _chain_run(task: Any, fmt: Any, rows: Sequence[Any], out: Path) -> None:
    """A run file whose answers are the no-model chain baseline (edge prediction)."""
    from dataclasses import replace

    from cocogen.backends.base import GenerationParams
    from cocogen.types import Generation

    class ChainBackend:
        name = "chain"
        model = "chain-baseline"
        mode = "completion"

        def signature(self) -> str:
            return "chain-baseline"

        def complete(self, prompt: str, params: Any = None, context: Any = None) -> list[Generation]:
            q = context.query
            g = replace(q, edges=tuple((i, i + 1) for i in range(len(q.steps) - 1)))
            text = fmt.render(g)[len(fmt.render_query(q)) :]
            return [Generation(text=text, finish_reason="stop")]

    from cocogen.runs import run_batch

    run_batch(task, fmt, ChainBackend(), rows, out, params=GenerationParams(), progress=False, concurrency=1)


def _goal_last_run(task: Any, fmt: Any, free: Path, out: Path) -> None:
    """The free answers of ``free`` with each script's last step replaced by its goal."""
    from dataclasses import replace

    from cocogen.types import Script

    lines = []
    for line in free.read_text().splitlines():
        rec = json.loads(line)
        graph = rec.get("graph")
        if rec.get("kind") == "example" and graph and graph.get("steps"):
            g = Script.from_dict(graph)
            g = replace(g, steps=(*g.steps[:-1], g.goal))
            rec = {**rec, "graph": g.to_dict(), "completion": fmt.render(g)[len(rec["query_text"]) :]}
        lines.append(json.dumps(rec) + "\n")
    out.write_text("".join(lines))


def run_cell(
    task: Any, fmt: Any, mode: str, rows: Sequence[Any], out: Path, args: argparse.Namespace, k: int
) -> None:
    from cocogen.backends.base import GenerationParams
    from cocogen.backends.llamacpp import LlamaCppBackend
    from cocogen.prompts import PromptSpec
    from cocogen.runs import run_batch

    if mode == "chain":
        _chain_run(task, fmt, rows, out)
        return
    if mode == "codex":  # the paper's recorded code-davinci-002 outputs for the same rows
        from cocogen.backends import make_backend

        backend = make_backend("replay", task=task.name)
        split = CODEX_SPLITS.get(task.name, SPLITS[task.name])
        if split != SPLITS[task.name]:
            wanted = [r.id for r in rows]
            by_id = {r.id: r for r in task.load(split)}
            rows = [by_id[i] for i in wanted if i in by_id]
    else:
        backend = LlamaCppBackend(constraints=(mode == "constrained"))
    params = GenerationParams(temperature=0.0, max_tokens=args.max_tokens, seed=0)
    run_batch(
        task,
        fmt,
        backend,
        rows,
        out,
        params=params,
        spec=PromptSpec(k=k, selection=args.select),
        concurrency=1,
        split=CODEX_SPLITS.get(task.name, SPLITS[task.name]) if mode == "codex" else SPLITS[task.name],
        progress=not args.no_progress,
    )


def score_cell(
    task: Any, fmt_name: str, out: Path, evaluations: dict[tuple[str, str, str], Any] | None = None, mode: str = ""
) -> dict[str, Any]:
    """One cell's figures; its evaluation is kept in ``evaluations`` (for code − text) when given."""
    from cocogen.evaluate import evaluate_file
    from cocogen.runs import read_run

    ev = evaluate_file(out)
    if evaluations is not None:
        evaluations[(task.name, fmt_name, mode)] = ev
    run = read_run(out)
    recs = [r for r in run.records if r.get("status") == "ok"]
    pool = {ex.id: ex.graph.to_dict() for ex in task.fewshot()}
    clean = sum(1 for r in recs if r.get("ok") and not r.get("problems"))
    lat = [float(r["timing"]["model_s"]) for r in recs if r.get("timing")]
    cell: dict[str, Any] = {
        "task": task.name,
        "format": fmt_name,
        "n": ev.score.n,
        "clean": 100 * clean / max(1, len(run.records)),
        "latency_s": statistics.median(lat) if lat else None,
        "metrics": {k: ev.score.values.get(k) for k, _, _ in MAIN[task.name]},
    }
    cell.update(value_rates(task.name, recs, pool))
    return cell


def format_gaps(task: Any, evaluations: dict[tuple[str, str, str], Any]) -> list[dict[str, Any]]:
    """Code − text on each main metric, per mode, with a 95 % paired bootstrap interval over the rows.

    Each side of a resample is scored as the grid scores a cell (:func:`cocogen.grid.row_statistic`:
    the task's own aggregate, so corpus BLEU is re-aggregated, not averaged); both sides take the
    same resampled rows.
    """
    import numpy as np

    from cocogen.grid import bootstrap_ci, row_statistic

    gaps: list[dict[str, Any]] = []
    for (name, fmt_name, mode), code in evaluations.items():
        text = evaluations.get((name, "text", mode))
        if name != task.name or fmt_name != "code" or text is None or mode == "chain":  # chain: no model
            continue
        by_id = {r.id: i for i, r in enumerate(text.rows)}
        pairs = np.array([(i, by_id[r.id]) for i, r in enumerate(code.rows) if r.id in by_id], dtype=int)
        if len(pairs) < 2:
            continue
        for key, label, scale in MAIN[task.name]:
            left, right = row_statistic(task, code, key), row_statistic(task, text, key)

            def gap(idx: np.ndarray, left: Any = left, right: Any = right, pairs: Any = pairs) -> float:
                return left(pairs[idx, 0]) - right(pairs[idx, 1])

            low, high = bootstrap_ci(gap, len(pairs))
            everything = np.arange(len(pairs))
            lower_is_better = key == "graph_ged"
            if low > 0 or high < 0:
                reads = "code ahead" if (low > 0) != lower_is_better else "text ahead"
            else:
                reads = "not told apart"
            gaps.append({"task": task.name, "mode": mode, "metric": label, "n": len(pairs), "scale": scale,
                         "code": left(pairs[:, 0]), "text": right(pairs[:, 1]), "gap": gap(everything),
                         "ci_low": low, "ci_high": high, "lower_is_better": lower_is_better, "reads": reads})  # fmt: skip
    return gaps


def gaps_table(gaps: Sequence[dict[str, Any]]) -> str:
    """The code − text table, as Markdown (what docs/benchmarks.md holds)."""
    lines = [
        "| task | mode | metric | n | code | text | code − text (95 % interval) | reads |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in gaps:
        s, d = g["scale"], 2 if g["lower_is_better"] else 1
        lines.append(
            f"| {g['task']} | {g['mode']} | {g['metric']} | {g['n']} | {g['code'] * s:.{d}f} | {g['text'] * s:.{d}f} | "
            f"{g['gap'] * s:+.{d}f} ({g['ci_low'] * s:+.{d}f} to {g['ci_high'] * s:+.{d}f}) | {g['reads']} |"
        )
    return "\n".join(lines)


def _fmt(v: Any, scale: float = 1, digits: int = 1) -> str:
    if v is None:
        return "–"
    return f"{v * scale:.{digits}f}"


def print_table(cells: Iterable[dict[str, Any]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        for c in cells:
            print(json.dumps(c))
        return
    table = Table(title="Local model answer quality (greedy)")
    for col in ("task", "format", "mode", "k", "main metric", "clean %", "copy %", "repeat %", "degen. %", "median s"):
        table.add_column(col, justify="left" if col in ("task", "format", "mode", "main metric") else "right")
    for c in cells:
        main = " · ".join(
            f"{label} {_fmt(c['metrics'].get(key), scale, 1 if key != 'graph_ged' else 3)}"
            for key, label, scale in MAIN[c["task"]]
        )
        table.add_row(
            c["task"],
            c["format"],
            c["mode"],
            str(c.get("k", "")),
            main,
            _fmt(c["clean"], 1, 0),
            _fmt(c.get("copy")),
            _fmt(c.get("repeat")),
            _fmt(c.get("degenerate")),
            _fmt(c["latency_s"], 1, 2),
        )
    Console(width=160).print(table)


def markdown_table(cells: Iterable[dict[str, Any]]) -> str:
    """The table as Markdown (for docs/benchmarks.md)."""
    lines = [
        "| task | format | mode | k | n | main metric | clean % | copy % | repeat % | degen. % | median s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        main = " · ".join(
            f"{label} {_fmt(c['metrics'].get(key), scale, 1 if key != 'graph_ged' else 2)}"
            for key, label, scale in MAIN[c["task"]]
        )
        lines.append(
            f"| {c['task']} | {c['format']} | {c['mode']} | {c.get('k', '')} | {c['n']} | {main} | "
            f"{_fmt(c['clean'], 1, 0)} | "
            f"{_fmt(c.get('copy'))} | {_fmt(c.get('repeat'))} | {_fmt(c.get('degenerate'))} | "
            f"{_fmt(c['latency_s'], 1, 2)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from cocogen.prompts import SELECTIONS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50, help="rows per task (the first N of the split)")
    ap.add_argument("--quick", action="store_true", help="10 rows per task")
    ap.add_argument("--tasks", default=",".join(SPLITS), help="comma-separated tasks")
    ap.add_argument("--formats", default="", help="comma-separated formats (default: all of each task)")
    ap.add_argument("--modes", default=",".join(MODES), help="free, constrained (and chain for proscript-edge)")
    ap.add_argument("--k", type=int, help="few-shot examples (default: each task's own, as the app)")
    ap.add_argument("--select", default="fixed", choices=SELECTIONS, help="few-shot selection")
    ap.add_argument("--max-tokens", type=int, default=400)
    ap.add_argument("--out-dir", default=str(REPO / "artifacts" / "quality"))
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--score-only", action="store_true", help="score the run files already there; generate nothing")
    args = ap.parse_args(argv)

    from cocogen.errors import CocogenError
    from cocogen.tasks import get_task

    n_rows = 10 if args.quick else args.rows
    tasks = [get_task(t) for t in args.tasks.split(",") if t]
    modes = [m for m in args.modes.split(",") if m]
    wanted_formats = [f for f in args.formats.split(",") if f]
    cells: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        for task in tasks:
            k = task.default_k if args.k is None else args.k
            out_dir = Path(args.out_dir) / f"k{k}-{args.select}-n{n_rows}"
            out_dir.mkdir(parents=True, exist_ok=True)
            rows = task.load(SPLITS[task.name])[:n_rows]
            evaluations: dict[tuple[str, str, str], Any] = {}
            for fmt_name, fmt in task.formats.items():
                if wanted_formats and fmt_name not in wanted_formats:
                    continue
                cell_modes = list(modes)
                if task.name == "proscript-edge" and "chain" not in modes:
                    cell_modes.append("chain")
                if task.recorded_outputs and fmt_name == "code" and "codex" not in modes:
                    cell_modes.append("codex")
                if task.name == "proscript-script" and "free" in modes and "free-goal" not in modes:
                    cell_modes.append("free-goal")
                for mode in cell_modes:
                    out = out_dir / f"{task.name}.{fmt_name}.{mode}.jsonl"
                    if mode == "free-goal":
                        free = out_dir / f"{task.name}.{fmt_name}.free.jsonl"
                        if not free.exists():
                            continue
                        _goal_last_run(task, fmt, free, out)
                    elif args.score_only:
                        if not out.exists():
                            continue
                    else:
                        run_cell(task, fmt, mode, rows, out, args, k)
                    cell = score_cell(task, fmt_name, out, evaluations, mode)
                    cell["mode"] = mode
                    cell["k"] = k
                    cells.append(cell)
            gaps += format_gaps(task, evaluations)
    except CocogenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.markdown:
        print(markdown_table(cells))
    else:
        print_table(cells)
    if gaps:
        print("\nCode − text, paired over the rows:\n" + gaps_table(gaps))
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "rows": n_rows,
        "k": "each task's own" if args.k is None else args.k,
        "select": args.select,
        "seconds": round(time.perf_counter() - t0, 1),
        "cells": cells,
        "code_minus_text": gaps,
    }
    print(f"{info['date']} · {info['machine']} · {n_rows} rows per task · k={info['k']} {args.select} · {info['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
