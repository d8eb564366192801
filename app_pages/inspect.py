"""Inspect: a run file or the paper's recorded outputs, example by example."""

from __future__ import annotations

import streamlit as st

from cocogen import widgets as w
from cocogen.inspection import filter_rows, main_metric, rows_table
from cocogen.metrics.base import METRICS

st.title("Inspect a run")
st.caption(
    "Every example of a run with its metrics and the parser's problems; the reference and the prediction "
    "drawn over each other."
)

path = w.run_file_picker(key="insp_file")
run = None
if path:
    with w.guard("Reading the run"):
        run = w.inspected(path)
if run is None:
    if not path:
        st.info(
            "No run to show yet: download the datasets (`cocogen data download`) for the paper's recorded "
            "outputs, or make a run on the **Evaluate** page."
        )
    st.stop()

w.show_averages(run.score, run.task)

with st.container(border=True):
    f = st.columns([3, 3, 2, 3])
    kinds = f[0].multiselect("Problem types", run.problem_kinds, key=f"insp_kinds:{path}", persist_state="session")
    metric_keys = list(run.metrics)
    metric = f[1].selectbox(
        "Metric",
        metric_keys or ["(none)"],
        format_func=lambda k: METRICS[k].label if k in METRICS else k,
        key=f"insp_metric:{path}",
        persist_state="session",
        index=metric_keys.index(main_metric(run.task)) if main_metric(run.task) in metric_keys else 0,
    )
    failed = f[2].checkbox("Unparsed only", key=f"insp_failed:{path}", persist_state="session")
    text = f[3].text_input(
        "Search", key=f"insp_text:{path}", placeholder="words in input, output, problems", persist_state="session"
    )
    low, high = (None, None)
    if metric in metric_keys:
        values = [r.values.get(metric) for r in run.rows if r.values.get(metric) is not None]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi > lo:
            low, high = st.slider(
                f"{METRICS[metric].label if metric in METRICS else metric} between",
                float(lo),
                float(hi),
                (float(lo), float(hi)),
                key=f"insp_range:{path}:{metric}",
                persist_state="session",
            )
shown = filter_rows(
    run.rows,
    kinds=kinds,
    failed_only=failed,
    metric=metric if metric in metric_keys else None,
    low=low,
    high=high,
    text=text,
)
st.caption(f"{len(shown)} of {len(run.rows)} examples")
picked = w.examples_table(rows_table(run, shown), key=f"insp_table:{path}")
if not shown:
    st.warning("No example matches these filters.")
    st.stop()

pos_key = f"insp_pos:{path}"
if picked is not None:
    st.session_state[pos_key] = shown.index(picked) if picked in shown else 0
pos = min(st.session_state.get(pos_key, 0), len(shown) - 1)
w.inspect_detail(run, shown, pos, pos_key)
