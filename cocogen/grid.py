"""The paper's ablations as one experiment grid: formats × k × few-shot selection (× seeds).

Every *cell* of a grid is an ordinary run file (:func:`cocogen.runs.run_batch`) in the
grid's folder, named ``<task>.<format>.k<k>.<selection>[.s<seed>].jsonl``.  Running a grid
again therefore resumes it cell by cell: finished cells are read and left as they are,
a cut or missing one is completed, and the completion cache makes a re-run free.

The summary scores each file with :func:`cocogen.evaluate.evaluate_file` (the very code
behind ``cocogen eval``) and gives, per *point* (format, k, selection), the task's main
metric, the parse rate and a 95 % confidence interval:

* over **rows** — a percentile bootstrap that resamples the examples and aggregates them
  again with the task's own metric (so a corpus metric such as BLEU or ProPara's F1 is
  recomputed, never averaged), for a point with one run;
* over **seeds** — a percentile bootstrap of the mean over the selection seeds, for a
  point run with several (``seeds`` > 1, seeded selections only).

Only a seeded selection (``random``) depends on the selection seed: ``fixed`` takes the
first k examples and ``knn`` the k nearest by BM25 with ties broken by position, so they
are run once whatever ``seeds`` says, and the summary notes it.

Nothing here names a task: the task plug-in supplies formats, rows and the metric.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cocogen.backends.base import Backend, GenerationParams
from cocogen.cache import CompletionCache
from cocogen.errors import BackendError, ConfigError
from cocogen.evaluate import Evaluation, evaluate_file
from cocogen.metrics.base import ExampleScore
from cocogen.prompts import SEEDED_SELECTIONS, SELECTIONS, PromptSpec
from cocogen.runs import RunProgress, RunSummary, read_run, run_batch
from cocogen.settings import DEFAULT_TOKEN_BUDGET
from cocogen.tasks.base import Task, get_task

__all__ = [
    "GridSpec",
    "Cell",
    "CellScore",
    "GridPoint",
    "GridSummary",
    "GridProgress",
    "parse_list",
    "plan_cells",
    "run_grid",
    "summarize_grid",
    "write_summary",
    "summary_csv",
    "differing_rows",
    "paired_difference",
    "bootstrap_ci",
    "row_statistic",
    "summary_metric",
    "MAX_CELLS",
    "N_RESAMPLES",
]

MAX_CELLS = 200  # a grid larger than this is a typo in a list, not an experiment
N_RESAMPLES = 1000
CONFIDENCE = 0.95
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"


def parse_list(text: str, option: str, *, integers: bool = False) -> tuple[Any, ...]:
    """``"code,text"`` → ``("code", "text")`` (``integers``: whole numbers), refusing empty items and repeats."""
    if not isinstance(text, str):
        raise ConfigError(f"{option} must be a comma-separated list, not {text!r}.")
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in items):
        raise ConfigError(f"{option} must be a comma-separated list with no empty item, not {text!r}.")
    values: list[Any] = items
    if integers:
        try:
            values = [int(s) for s in items]
        except ValueError:
            raise ConfigError(f"{option} must list whole numbers, not {text!r}.") from None
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"{option} lists {', '.join(repeated)} more than once.")
    return tuple(values)


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a format, a number of examples, a selection and its seed."""

    format: str
    k: int
    selection: str
    seed: int = 0
    seeded: bool = False  # whether the seed changes the prompt (and so is part of the name)

    @property
    def point(self) -> tuple[str, int, str]:
        return (self.format, self.k, self.selection)

    @property
    def name(self) -> str:
        base = f"{self.format}.k{self.k}.{self.selection}"
        return f"{base}.s{self.seed}" if self.seeded else base

    def file_name(self, task: str) -> str:
        return f"{task}.{self.name}.jsonl"


@dataclass(frozen=True)
class GridSpec:
    """What a grid runs: the task, the three axes, the seeds, and which rows."""

    task: str
    formats: tuple[str, ...]
    ks: tuple[int, ...]
    selections: tuple[str, ...]
    split: str
    limit: int | None = None
    seeds: int = 1
    token_budget: int | None = DEFAULT_TOKEN_BUDGET

    def check(self) -> Task:
        """The task, once every setting is known to be valid (a :class:`ConfigError` sentence if not)."""
        t = get_task(self.task)
        if not self.formats or not self.ks or not self.selections:
            raise ConfigError("A grid needs at least one format, one k and one selection.")
        unknown = [f for f in self.formats if f not in t.formats]
        if unknown:
            raise ConfigError(
                f"Task {t.name} has no format {unknown[0]!r}.", hint=f"Its formats are: {', '.join(t.formats)}."
            )
        for k in self.ks:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ConfigError(f"Every k of a grid must be a whole number of examples, 1 or more, not {k!r}.")
        bad = [s for s in self.selections if s not in SELECTIONS]
        if bad:
            raise ConfigError(f"Unknown example selection {bad[0]!r}.", hint=f"Choose from: {', '.join(SELECTIONS)}.")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"--seeds must be a whole number, 1 or more, not {self.seeds!r}.")
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1
        ):
            raise ConfigError(f"--limit must be a whole number of rows, 1 or more, not {self.limit!r}.")
        if self.split not in t.splits:
            raise ConfigError(
                f"Task {t.name} has no split {self.split!r}.", hint=f"Its splits are: {', '.join(t.splits)}."
            )
        n = len(plan_cells(self))
        if n > MAX_CELLS:
            raise ConfigError(f"This grid has {n} cells, more than {MAX_CELLS}; shorten a list or --seeds.")
        PromptSpec(k=self.ks[0], token_budget=self.token_budget)  # the budget checked by its owner
        return t

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "formats": list(self.formats), "ks": list(self.ks), "selections": list(self.selections)}


def plan_cells(spec: GridSpec) -> list[Cell]:
    """The cells in the order they run: format, then k, then selection, then seed (seeded selections only)."""
    cells = []
    for fmt in spec.formats:
        for k in spec.ks:
            for selection in spec.selections:
                seeded = selection in SEEDED_SELECTIONS
                for seed in range(spec.seeds if seeded else 1):
                    cells.append(Cell(fmt, k, selection, seed, seeded))
    return cells


@dataclass
class GridProgress:
    """What the grid's progress callback receives: the cell running and its own progress."""

    cell_index: int  # 0-based index of the running cell
    cells: int
    cell: Cell
    rows_done: int
    rows: int
    finished_cell: RunSummary | None = None  # set once, when the cell's run is over

    @property
    def fraction(self) -> float:
        within = self.rows_done / self.rows if self.rows else 1.0
        return min(1.0, (self.cell_index + within) / self.cells) if self.cells else 1.0


def run_grid(
    spec: GridSpec,
    backend: Backend,
    out_dir: str | Path,
    *,
    params: GenerationParams | None = None,
    cache: CompletionCache | None = None,
    concurrency: int = 1,
    rpm: float | None = None,
    progress: bool = False,
    on_progress: Callable[[GridProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[RunSummary]:
    """Run every cell of ``spec`` not finished yet, one run file per cell in ``out_dir``.

    A finished cell costs a read of its file and nothing else (the file is not rewritten);
    a cut or missing one is resumed or started.  ``cancel`` stops after the requests in
    flight; what finished is kept and running the grid again goes on from there.

    Raises
    ------
    ConfigError
        Bad settings (before any cell runs), or a cell file of other settings.
    BackendError
        When a cell's run had to stop or some of its examples failed; the cells before it
        are complete on disk, and so are the examples of this one that finished.
    """
    t = spec.check()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the grid's run files.")
    rows = t.load(spec.split)
    if spec.limit is not None:
        rows = rows[: spec.limit]
    if not rows:
        raise ConfigError(f"The split {spec.split} of {t.name} has no rows.")
    cancel = cancel or threading.Event()
    cells = plan_cells(spec)
    summaries: list[RunSummary] = []
    for i, cell in enumerate(cells):
        if cancel.is_set():
            break

        def report(p: RunProgress, i: int = i, cell: Cell = cell) -> None:
            if on_progress is not None:
                on_progress(GridProgress(i, len(cells), cell, p.done, p.total))

        summary = run_batch(
            t,
            cell.format,
            backend,
            rows,
            out / cell.file_name(t.name),
            spec=PromptSpec(
                k=cell.k, selection=cell.selection, selection_seed=cell.seed, token_budget=spec.token_budget
            ),
            params=params,
            concurrency=concurrency,
            rpm=rpm,
            cache=cache,
            split=spec.split,
            progress=progress,
            on_progress=report,
            cancel=cancel,
        )
        summaries.append(summary)
        if on_progress is not None:
            on_progress(GridProgress(i, len(cells), cell, summary.total - summary.remaining, summary.total, summary))
        if summary.failed:
            # Stop here rather than score a cell with holes: re-running retries it before going on.
            first = summary.failures[0]["message"] if summary.failures else "no message"
            raise BackendError(
                f"Cell {cell.name} did not finish: {summary.failed} of {summary.total} examples failed; "
                f"the first error was: {first}",
                hint="Fix the cause and run the grid again: finished cells and examples are kept.",
            )
    return summaries


# --------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float], n: int, *, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap interval of ``statistic(indices)`` over ``n`` items (``nan`` for fewer than 2)."""
    if n < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n))
    values = np.array([statistic(idx) for idx in draws], dtype=float)
    if np.isnan(values).all():
        return (math.nan, math.nan)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return (float(low), float(high))


def summary_metric(t: Task) -> str:
    """The key of the task's headline figure in an aggregate score.

    That is the metric's ``main`` unless the metric names a ``corpus_main`` (a per-example key
    and its corpus figure can differ, e.g. a per-paragraph F1 against the official overall F1).
    """
    metric = t.metric()
    return str(getattr(metric, "corpus_main", metric.main))


def _finite(x: float | None) -> float | None:
    """``None`` for a value that is not a number, so the summary is strict JSON."""
    return None if x is None or math.isnan(x) else x


def row_statistic(t: Task, ev: Evaluation, main: str) -> Callable[[np.ndarray], float]:
    """The main metric of a resample of ``ev``'s rows, by the task's own aggregate.

    Where the metric is the mean of the rows' own values (most are), the mean of the
    resampled values is the same number and far cheaper than aggregating again.
    """
    per_row = [r.values.get(main) for r in ev.rows]
    whole = ev.score.values.get(main)
    if whole is not None and all(v is not None for v in per_row):
        values = np.array(per_row, dtype=float)
        if math.isclose(float(values.mean()), float(whole), rel_tol=1e-9, abs_tol=1e-12):
            return lambda idx: float(values[idx].mean())
    metric = t.metric()
    stats = ev.stats

    def aggregate(idx: np.ndarray) -> float:
        value = metric.aggregate([ev.rows[i] for i in idx], [stats[i] for i in idx]).values.get(main)
        return math.nan if value is None else float(value)

    return aggregate


@dataclass
class CellScore:
    """One run file scored: the main metric, the parse rate, and an interval over its rows."""

    cell: Cell
    path: str
    n: int
    value: float | None
    parse_rate: float
    ci: tuple[float, float]
    rows: list[ExampleScore] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.cell.name,
            "format": self.cell.format,
            "k": self.cell.k,
            "selection": self.cell.selection,
            "seed": self.cell.seed if self.cell.seeded else None,
            "path": self.path,
            "n": self.n,
            "value": self.value,
            "parse_rate": _finite(self.parse_rate),
            "ci_low": _finite(self.ci[0]),
            "ci_high": _finite(self.ci[1]),
        }


@dataclass
class GridPoint:
    """One (format, k, selection) of the grid: its cells' metric, over rows or over seeds."""

    format: str
    k: int
    selection: str
    value: float | None
    parse_rate: float
    ci: tuple[float, float]
    ci_over: str  # "rows" or "seeds"
    n: int  # rows per cell
    cells: list[CellScore]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "k": self.k,
            "selection": self.selection,
            "value": self.value,
            "parse_rate": _finite(self.parse_rate),
            "ci_low": _finite(self.ci[0]),
            "ci_high": _finite(self.ci[1]),
            "ci_over": self.ci_over,
            "n": self.n,
            "seeds": len(self.cells),
            "files": [c.path for c in self.cells],
        }


@dataclass
class GridSummary:
    """Every finished cell of a grid scored, the points they make, and what to read them with."""

    spec: GridSpec
    metric: str  # the task's main metric key
    cells: list[CellScore]
    points: list[GridPoint]
    missing: list[str]  # cells with no complete run file yet
    notes: list[str]
    seconds: float = 0.0

    def cell(self, name: str) -> CellScore:
        for c in self.cells:
            if c.cell.name == name:
                return c
        raise ConfigError(
            f"The grid has no finished cell {name!r}.", hint=f"Its cells: {', '.join(c.cell.name for c in self.cells)}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "grid": self.spec.to_dict(),
            "metric": self.metric,
            "confidence": CONFIDENCE,
            "points": [p.to_dict() for p in self.points],
            "cells": [c.to_dict() for c in self.cells],
            "missing": list(self.missing),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def _score_cell(t: Task, cell: Cell, path: Path, main: str, n_resamples: int, ids: list[str]) -> CellScore:
    ev = evaluate_file(path, ids=ids)  # the grid's rows only: a cell's file may hold more from a larger grid
    value = ev.score.values.get(main)
    ci = bootstrap_ci(row_statistic(t, ev, main), len(ev.rows), n_resamples=n_resamples)
    return CellScore(cell, str(path), ev.score.n, value, ev.score.parse_rate, ci, list(ev.rows))


def _is_finished(path: Path, ids: list[str]) -> bool:
    if not path.is_file():
        return False
    run = read_run(path)
    return run.header is not None and set(ids) <= run.ok_ids


def summarize_grid(spec: GridSpec, out_dir: str | Path, *, n_resamples: int = N_RESAMPLES) -> GridSummary:
    """Score the grid's run files in ``out_dir``: the cells whose file holds every row asked for.

    The others are listed as missing (running the grid again completes them).
    """
    t0 = time.perf_counter()
    t = spec.check()
    main = summary_metric(t)
    ids = [str(ex.id) for ex in t.load(spec.split)[: spec.limit]]
    out = Path(out_dir)
    scored: list[CellScore] = []
    missing: list[str] = []
    for cell in plan_cells(spec):
        path = out / cell.file_name(t.name)
        if _is_finished(path, ids):
            scored.append(_score_cell(t, cell, path, main, n_resamples, ids))
        else:
            missing.append(cell.name)
    points: list[GridPoint] = []
    by_point: dict[tuple[str, int, str], list[CellScore]] = {}
    for c in scored:
        by_point.setdefault(c.cell.point, []).append(c)
    for (fmt, k, selection), group in by_point.items():
        if len(group) == 1:
            only = group[0]
            points.append(GridPoint(fmt, k, selection, only.value, only.parse_rate, only.ci, "rows", only.n, group))
            continue
        values = np.array([math.nan if c.value is None else c.value for c in group], dtype=float)
        ci = bootstrap_ci(lambda idx, v=values: float(v[idx].mean()), len(values), n_resamples=n_resamples)
        value = None if np.isnan(values).any() else float(values.mean())
        parse = float(np.mean([c.parse_rate for c in group]))
        points.append(GridPoint(fmt, k, selection, value, parse, ci, "seeds", group[0].n, group))
    notes = [
        f"main metric: {main}; {int(CONFIDENCE * 100)}% percentile bootstrap intervals ({n_resamples} resamples) "
        "over rows for a single run, over selection seeds where several ran",
    ]
    unseeded = [s for s in spec.selections if s not in SEEDED_SELECTIONS]
    if spec.seeds > 1 and unseeded:
        notes.append(
            f"{' and '.join(unseeded)} selection does not depend on the selection seed: run once, not {spec.seeds} times"
        )
    if missing:
        notes.append(
            f"{len(missing)} of {len(missing) + len(scored)} cells are not finished: run the grid again to go on"
        )
    return GridSummary(spec, main, scored, points, missing, notes, time.perf_counter() - t0)


_CSV_COLUMNS = (
    "task",
    "format",
    "k",
    "selection",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "ci_over",
    "parse_rate",
    "n",
    "seeds",
)


def summary_csv(summary: GridSummary) -> str:
    """One CSV row per grid point."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_CSV_COLUMNS)
    for p in summary.points:
        d = p.to_dict()
        w.writerow([summary.spec.task, p.format, p.k, p.selection, summary.metric] + [d[c] for c in _CSV_COLUMNS[5:]])
    return buf.getvalue()


def write_summary(summary: GridSummary, out_dir: str | Path) -> tuple[Path, Path]:
    """``summary.json`` and ``summary.csv`` in the grid's folder (written whole, then renamed into place)."""
    out = Path(out_dir)
    paths = (out / SUMMARY_JSON, out / SUMMARY_CSV)
    texts = (json.dumps(summary.to_dict(), indent=2, allow_nan=False) + "\n", summary_csv(summary))
    for path, text in zip(paths, texts, strict=True):
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        except OSError as e:
            raise ConfigError(f"Cannot write the grid summary {path}: {e.strerror}.") from None
    return paths


def differing_rows(a: CellScore, b: CellScore, metric: str, *, only_different: bool = True) -> list[dict[str, Any]]:
    """Two cells' per-example ``metric`` side by side (by example id), optionally only where they differ.

    Columns ``A`` and ``B`` are the two cells (they may share a name: one cell of two grids).
    """
    right = {r.id: r for r in b.rows}
    out = []
    for r in a.rows:
        other = right.get(r.id)
        va = r.values.get(metric)
        vb = other.values.get(metric) if other else None
        same = other is not None and va == vb and r.parsed == other.parsed
        if only_different and same:
            continue
        out.append(
            {
                "id": r.id,
                "A": va,
                "B": vb,
                "B − A": None if va is None or vb is None else vb - va,
                "A parsed": r.parsed,
                "B parsed": other.parsed if other else None,
            }
        )
    return out


def paired_difference(a: CellScore, b: CellScore, metric: str, *, n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """The mean per-example difference ``b − a`` of ``metric`` over the examples both cells scored,
    with a paired percentile bootstrap interval (the same resampled rows for both cells).

    Narrower than comparing the two cells' own intervals: what varies between examples
    (an easy script, a hard one) cancels out.
    """
    left = {r.id: r.values.get(metric) for r in a.rows}
    pairs = [(left[r.id], r.values.get(metric)) for r in b.rows if r.id in left]
    diffs = np.array([vb - va for va, vb in pairs if va is not None and vb is not None], dtype=float)
    if not len(diffs):
        return {"n": 0, "mean": None, "ci_low": None, "ci_high": None}
    low, high = bootstrap_ci(lambda idx: float(diffs[idx].mean()), len(diffs), n_resamples=n_resamples)
    return {"n": int(len(diffs)), "mean": float(diffs.mean()), "ci_low": _finite(low), "ci_high": _finite(high)}
