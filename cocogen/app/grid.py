"""The Evaluate page's ablation grid without Streamlit: a background grid run and its charts.

:class:`GridJob` runs :func:`cocogen.grid.run_grid` in a thread (a page polls its
:attr:`~GridJob.progress` for a progress bar over cells, and may cancel it); the grid's
folder is named by its settings (:func:`grid_dir`), so running the same grid again
resumes it cell by cell.  The chart builders return Altair charts of a
:class:`~cocogen.grid.GridSummary`: the metric against k with one line per format (the
paper's Table 6 / Figure shape) and a format × selection heat map.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from cocogen.app.jobs import BackgroundJob, JobState, runs_dir
from cocogen.backends.base import Backend, GenerationParams
from cocogen.errors import CocogenError
from cocogen.grid import GridProgress, GridSpec, GridSummary, run_grid, summarize_grid
from cocogen.metrics.base import METRICS

__all__ = ["GridJob", "grid_dir", "points_table", "metric_by_k_chart", "heatmap_chart", "metric_label", "scale_of"]


def grid_dir(spec: GridSpec, backend_signature: str, params: GenerationParams, directory: Path | None = None) -> Path:
    """The folder of a grid's run files: the same for the same task, split, model and settings.

    The axes and the row limit are not part of it: a cell is its own file, so a grid with
    one more k or more rows reuses every cell already there.
    """
    key = [spec.task, spec.split, backend_signature, params.to_dict(), spec.token_budget]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", backend_signature).strip("-")[:40] or "model"
    return (directory or runs_dir()) / "grids" / f"{spec.task}-{spec.split}-{label}-{digest}"


class GridJob(BackgroundJob[GridProgress, GridSummary]):
    """One grid running in a daemon thread; its summary is computed there too when it ends."""

    _thread_name = "cocogen-grid"
    _noun = "grid"

    def __init__(
        self,
        spec: GridSpec,
        backend: Backend,
        out: Path,
        *,
        params: GenerationParams | None = None,
        cache: Any = None,
        concurrency: int = 1,
    ) -> None:
        super().__init__()
        self.spec, self.out = spec, Path(out)
        self._backend, self._params, self._cache, self._concurrency = backend, params, cache, concurrency

    def _work(self) -> JobState:
        run_grid(
            self.spec, self._backend, self.out, params=self._params, cache=self._cache,
            concurrency=self._concurrency, on_progress=self._on_progress, cancel=self._cancel,
        )  # fmt: skip
        return "cancelled" if self._cancel.is_set() else "done"

    def _wrap_up(self) -> None:
        """Summarize the cells that finished, even after a failure or a cancel, so the page shows them."""
        try:
            self.summary = summarize_grid(self.spec, self.out)
        except CocogenError as e:
            self.error = self.error or e  # the run's own error, if any, says more

    @property
    def fraction(self) -> float:
        if self.progress is None:
            return 1.0 if self.state == "done" else 0.0
        return self.progress.fraction

    def describe(self) -> str:
        p = self.progress
        if p is None:
            return "starting…" if self.running else self.state
        return f"cell {p.cell_index + 1}/{p.cells} · {p.cell.name} · {p.rows_done}/{p.rows} rows"


def metric_label(key: str) -> str:
    return METRICS[key].label if key in METRICS else key


def scale_of(key: str) -> float:
    """×100 for a proportion, as every table shows it."""
    spec = METRICS.get(key)
    return 100.0 if spec is None or spec.percent else 1.0


def points_table(summary: GridSummary) -> list[dict[str, Any]]:
    """One row per grid point, in display units (a proportion ×100)."""
    s = scale_of(summary.metric)
    label = metric_label(summary.metric)
    rows = []
    for p in summary.points:
        rows.append(
            {
                "format": p.format,
                "k": p.k,
                "selection": p.selection,
                label: None if p.value is None else p.value * s,
                "CI low": None if p.ci[0] != p.ci[0] else p.ci[0] * s,
                "CI high": None if p.ci[1] != p.ci[1] else p.ci[1] * s,
                "CI over": f"{len(p.cells)} seeds" if p.ci_over == "seeds" else "rows",
                "parsed %": p.parse_rate * 100,
                "rows": p.n,
            }
        )
    return rows


def metric_by_k_chart(summary: GridSummary) -> Any:
    """The metric against k, one line per format, a panel per selection, with the intervals as bands."""
    import altair as alt
    import pandas as pd

    label = metric_label(summary.metric)
    data = pd.DataFrame(points_table(summary)).rename(columns={label: "value"})
    base = alt.Chart(data).encode(
        x=alt.X("k:O", title="few-shot examples (k)", axis=alt.Axis(labelAngle=0)),
        color=alt.Color("format:N"),
    )
    band = base.mark_errorbar(ticks=True).encode(y=alt.Y("CI low:Q", title=label), y2="CI high:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("value:Q", title=label),
        tooltip=["format", "k", "selection", alt.Tooltip("value:Q", format=".1f"), "CI low", "CI high", "parsed %"],
    )
    return (band + line).properties(width=220, height=240).facet(column=alt.Column("selection:N", title="selection"))


def heatmap_chart(summary: GridSummary, k: int) -> Any:
    """Format × selection at one k, the metric as colour and as text."""
    import altair as alt
    import pandas as pd

    label = metric_label(summary.metric)
    data = pd.DataFrame([r for r in points_table(summary) if r["k"] == k]).rename(columns={label: "value"})
    base = alt.Chart(data).encode(
        x=alt.X("selection:N", title="selection", axis=alt.Axis(labelAngle=0)), y=alt.Y("format:N", title="format")
    )
    rect = base.mark_rect().encode(color=alt.Color("value:Q", title=label, scale=alt.Scale(scheme="blues")))
    text = base.mark_text(fontSize=14).encode(text=alt.Text("value:Q", format=".1f"))
    # Sized by steps (a fixed size per row and column), not stretched to the container's width.
    return (rect + text).properties(width=alt.Step(140), height=alt.Step(48), title=f"{label} at k = {k}")
