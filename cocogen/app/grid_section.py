"""The Evaluate page's ablation-grid section (Streamlit): settings, a progress bar over cells, the charts.

The work is :mod:`cocogen.app.grid` (no Streamlit) over :mod:`cocogen.grid`, the same
library call as ``cocogen grid``.
"""

from __future__ import annotations

import json

import streamlit as st

from cocogen.app import components as c
from cocogen.app.grid import GridJob, grid_dir, heatmap_chart, metric_by_k_chart, metric_label, points_table, scale_of
from cocogen.grid import GridSpec, GridSummary, differing_rows, paired_difference, summary_csv
from cocogen.prompts import SELECTION_LABELS, SELECTIONS
from cocogen.tasks.base import Task

__all__ = ["grid_section", "GRID_JOB", "MAX_GRID_ROWS"]

GRID_JOB = "ev_grid_job"  # session_state[GRID_JOB] -> the GridJob of the last "Run grid"
MAX_GRID_ROWS = 200  # rows per cell on the page: a grid has to finish while someone watches
K_CHOICES = (1, 2, 4, 8, 16)


def _start(
    task: Task, formats: list[str], ks: list[int], selections: list[str], seeds: int, split: str, rows: int
) -> None:
    _, settings = c.current()
    spec = GridSpec(
        task.name, tuple(formats), tuple(sorted(ks)), tuple(selections), split, limit=rows, seeds=seeds,
        token_budget=settings.token_budget,
    )  # fmt: skip
    spec.check()
    backend = c.backend_for(task.name)
    params = settings.params()
    out = grid_dir(spec, backend.signature(), params)
    concurrency = 1 if backend.name == "local" else 4
    job = GridJob(
        spec, backend, out, params=params, cache=c.completion_cache(settings.use_cache), concurrency=concurrency
    )
    st.session_state[GRID_JOB] = job.start()


def _cancel() -> None:
    job = st.session_state.get(GRID_JOB)
    if job is not None:
        job.cancel()


def _draw_progress() -> None:
    job: GridJob | None = st.session_state.get(GRID_JOB)
    if job is None:
        return
    st.progress(job.fraction, text=f"Grid · {job.describe()}")
    if job.error is not None:
        st.error(job.error.user_message())
    elif job.state == "cancelled":
        st.warning("Grid cancelled — finished cells are saved; press **Run grid** to go on.")
    if st.session_state.get("ev_grid_was_running") and not job.running:
        st.session_state["ev_grid_was_running"] = False
        st.rerun()  # draw the results with the whole page


def _show_summary(summary: GridSummary) -> None:
    import pandas as pd

    if not summary.points:
        st.info("No cell has finished yet.")
        return
    label = metric_label(summary.metric)
    st.dataframe(pd.DataFrame(points_table(summary)), hide_index=True, key="ev_grid_table")
    for note in summary.notes:
        st.caption(note)
    st.markdown(f"**{label} against k, one line per format** (bars: 95% intervals)")
    st.altair_chart(metric_by_k_chart(summary), key="ev_grid_by_k", width="content")
    ks = sorted({p.k for p in summary.points})
    k = st.selectbox("Heat map at k", ks, index=len(ks) - 1, key="ev_grid_heat_k")
    st.altair_chart(heatmap_chart(summary, int(k)), key="ev_grid_heat", width="content")

    names = [cs.cell.name for cs in summary.cells]
    if len(names) >= 2:
        st.markdown("**Two cells side by side, per example**")
        pick = st.columns([2, 2, 2])
        left = pick[0].selectbox("Cell A", names, index=0, key="ev_grid_a")
        right = pick[1].selectbox("Cell B", names, index=1, key="ev_grid_b")
        only = pick[2].checkbox("Show only the rows that differ", value=True, key="ev_grid_differ")
        row_metric = _row_metric(summary)
        rows = differing_rows(summary.cell(left), summary.cell(right), row_metric, only_different=only)
        s = scale_of(row_metric)
        for r in rows:
            for key in ("A", "B", "B − A"):
                if r.get(key) is not None:
                    r[key] = r[key] * s
        diff = paired_difference(summary.cell(left), summary.cell(right), row_metric)
        if diff["mean"] is not None:
            ci = (
                ""
                if diff["ci_low"] is None
                else f" (95% paired interval {diff['ci_low'] * s:.1f} to {diff['ci_high'] * s:.1f})"
            )
            st.caption(f"Mean difference B − A over {diff['n']} examples: {diff['mean'] * s:+.1f}{ci}.")
        st.caption(f"{metric_label(row_metric)} per example; {len(rows)} rows shown.")
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="ev_grid_pair")
    d = st.columns(3)
    d[0].download_button("Grid summary (.csv)", summary_csv(summary), f"{summary.spec.task}-grid.csv", "text/csv",
                         key="ev_grid_csv", icon=":material/download:")  # fmt: skip
    d[1].download_button("Grid summary (.json)", json.dumps(summary.to_dict(), indent=2), f"{summary.spec.task}-grid.json",
                         "application/json", key="ev_grid_json", icon=":material/download:")  # fmt: skip


def _row_metric(summary: GridSummary) -> str:
    """The per-example key of the task's main metric (the summary's may be its corpus figure)."""
    from cocogen.tasks.base import get_task

    return get_task(summary.spec.task).metric().main


def grid_section(task: Task) -> None:
    """The ablation grid: formats × k × selection over the first rows of a split, with the sidebar's model."""
    st.header("Ablation grid")
    st.caption(
        "The paper's ablations on the sidebar's model: each cell (format, k, selection, seed) is a resumable run "
        "file; running the same grid again reuses every finished cell. Selection seeds apply to random selection "
        "only (fixed, knn and fixed+knn do not depend on the seed)."
    )
    cols = st.columns([3, 2, 3])
    choice, _ = c.current()
    default = list(task.formats)[:1]  # the paper's code format, and the text baseline beside it
    if choice.kind != "replay":  # a replay answers only the prompts its recordings continue (code)
        default += [n for n, f in task.formats.items() if f.kind == "text"][:1]
    formats = cols[0].multiselect(
        "Grid formats", list(task.formats), default=default, key=f"ev_grid_formats:{task.name}"
    )
    ks = cols[1].multiselect("k", list(K_CHOICES), default=[2, 8], key="ev_grid_k")
    selections = cols[2].multiselect(
        "Selection", list(SELECTIONS), default=["fixed", "knn"], key="ev_grid_select", format_func=SELECTION_LABELS.get
    )
    cols = st.columns([2, 1, 1])
    split = cols[0].selectbox("Grid split", list(task.splits), key=f"ev_grid_split:{task.name}")
    rows = cols[1].number_input("Rows per cell", 1, MAX_GRID_ROWS, 10, key="ev_grid_rows",
                                help=f"The first rows of the split (at most {MAX_GRID_ROWS}, so a grid finishes live).")  # fmt: skip
    seeds = cols[2].number_input("Seeds", 1, 5, 1, key="ev_grid_seeds", help="Selection seeds for random selection.")

    job: GridJob | None = st.session_state.get(GRID_JOB)
    running = job is not None and job.running
    b = st.columns([1, 1, 5])
    ready = bool(formats and ks and selections)
    if b[0].button(
        "Run grid", type="primary", icon=":material/grid_on:", key="ev_grid_run", disabled=running or not ready
    ):
        with c.guard("Starting the grid"):
            _start(task, formats, [int(k) for k in ks], selections, int(seeds), split, int(rows))
            st.session_state["ev_grid_was_running"] = True
            st.rerun()
    b[1].button("Cancel grid", icon=":material/stop:", key="ev_grid_cancel", disabled=not running, on_click=_cancel)
    if job is None:
        return
    st.fragment(_draw_progress, run_every=1.0 if running else None)()
    if not running and job.summary is not None and job.spec.task == task.name:
        _show_summary(job.summary)
