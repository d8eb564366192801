"""Evaluate: run formats over a dataset split with the chosen model, then score and chart them."""

from __future__ import annotations

import streamlit as st

from cocogen import widgets as w

st.title("Evaluate")
st.caption(
    "Runs are written to a file as they go: cancel at any time, and running the same settings again "
    "resumes where it stopped."
)
choice, settings = w.current()

task = w.task_picker()
c = st.columns([3, 2, 1, 1])
formats = c[0].multiselect(
    "Formats",
    list(task.formats),
    default=list(task.formats)[:1],
    key=f"ev_formats:{task.name}",
    persist_state="session",
    format_func=lambda n: f"{n} · {task.formats[n].kind}",
)
split = c[1].selectbox("Split", list(task.splits), key=f"ev_split:{task.name}", persist_state="session")
limit = c[2].number_input(
    "Limit",
    1,
    100000,
    20,
    key=f"ev_limit:{task.name}",
    persist_state="session",
    help="How many examples from the start of the split.",
)
concurrency = c[3].number_input(
    "Parallel",
    1,
    32,
    1 if choice.kind == "local" else 4,
    key="ev_conc",
    persist_state="session",
    help="Requests in flight at once.",
)
st.caption(
    f"Model: {choice.describe()} · prompt: k={settings.k}, {settings.select} selection, "
    f"budget {settings.token_budget} tokens (change them in the sidebar)."
)

jobs = w.current_jobs()
running = any(j.running for j in jobs)
b = st.columns([1, 1, 5])
if b[0].button("Run", type="primary", icon=":material/play_arrow:", key="ev_run", disabled=running or not formats):
    with w.guard("Starting the run"):
        w.start_jobs(task, formats, split, int(limit), int(concurrency))
        st.rerun()
b[1].button("Cancel", icon=":material/stop:", key="ev_cancel", disabled=not running, on_click=w.cancel_jobs)

if jobs:
    w.job_progress()
    if not any(j.running for j in jobs):
        w.show_evaluation(jobs)
else:
    st.info("Choose formats and a split, then **Run**. Each format is a separate, resumable run file.")
