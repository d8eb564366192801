"""Evaluate: run formats over a dataset split with the chosen model, then score and chart them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from cocogen.app import components as c
from cocogen.app.frame import page, page_frame
from cocogen.app.grid_section import grid_section
from cocogen.app.inspection import main_metric
from cocogen.app.jobs import BatchJob, run_path
from cocogen.errors import CocogenError
from cocogen.evaluate import Evaluation
from cocogen.metrics.base import METRICS, format_value
from cocogen.tasks.base import Task

page_frame()

JOBS = "ev_jobs"  # session_state[JOBS] -> the BatchJobs of the last Run, one per format


# --- background runs -----------------------------------------------------------------------------------


def current_jobs() -> list[BatchJob]:
    return st.session_state.get(JOBS, [])


def start_jobs(task: Task, formats: Sequence[str], split: str, limit: int, concurrency: int) -> None:
    """Start one background run per format (resuming a run file with the same settings)."""
    _, settings = c.current()
    backend = c.backend_for(task.name)
    examples = c.load_split(task, split)[:limit]
    if not examples:
        raise CocogenError(f"The {split} split has no examples.")
    params = settings.params()
    spec = settings.prompt_spec()
    jobs = []
    for fmt in formats:
        label = f"{backend.name}-{str(backend.model).rsplit('/', 1)[-1]}"
        out = run_path(
            task.name, fmt, split, backend.signature(), {**spec.to_dict(), "params": params.to_dict()}, label=label
        )
        job = BatchJob(
            task.name, fmt, backend, examples, out, params=params, spec=spec, concurrency=concurrency,
            cache=c.completion_cache(settings.use_cache), split=split,
        )  # fmt: skip
        jobs.append(job.start())
    st.session_state[JOBS] = jobs


def cancel_jobs() -> None:
    for j in current_jobs():
        j.cancel()


def _draw_jobs() -> None:
    jobs = current_jobs()
    for j in jobs:
        st.progress(j.fraction, text=f"**{j.fmt}** · {j.describe()}")
        if j.state == "failed" and j.error is not None:
            st.error(f"{j.fmt}: {j.error.user_message()}")
        elif j.state == "cancelled":
            st.warning(f"{j.fmt}: cancelled — what finished is saved; press Run to resume.")
    if st.session_state.get("ev_was_running") and not any(j.running for j in jobs):
        st.session_state["ev_was_running"] = False
        st.rerun()  # draw the results with the whole page


def job_progress() -> None:
    """Progress bars that refresh every second while a run is going."""
    running = any(j.running for j in current_jobs())
    st.session_state["ev_was_running"] = running or st.session_state.get("ev_was_running", False)
    st.fragment(_draw_jobs, run_every=1.0 if running else None)()


# --- results -----------------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Scoring…", max_entries=16)
def _evaluated(path: str, mtime: float, size: int) -> Evaluation:
    from cocogen.evaluate import evaluate_file

    return evaluate_file(path)


def evaluated(path: Path) -> Evaluation:
    """The evaluation of a run file, computed once per file version."""
    stat = path.stat()
    return _evaluated(str(path), stat.st_mtime, stat.st_size)


def show_evaluation(jobs: Sequence[BatchJob]) -> None:
    """Averages side by side, charts, the per-example table and downloads for finished runs."""
    import altair as alt
    import pandas as pd

    from cocogen.evaluate import display_metrics

    results = []
    for j in jobs:
        if not j.out.is_file():
            continue
        try:
            results.append((j, evaluated(j.out)))
        except CocogenError as e:
            st.error(f"{j.fmt}: {e.user_message()}")
    if not results:
        return
    task = results[0][0].task
    keys = [k for k in display_metrics(task) if any(ev.score.values.get(k) is not None for _, ev in results)]
    st.subheader("Averages")
    table = {"metric": ["examples", "parsed", *[METRICS[k].label if k in METRICS else k for k in keys]]}
    for j, ev in results:
        s = ev.score
        table[j.fmt] = [str(s.n), f"{s.parse_rate:.1%}", *[format_value(k, s.values.get(k)) for k in keys]]
    st.dataframe(pd.DataFrame(table), hide_index=True, key="ev_avg")
    st.caption("Unparsed completions count as failures (worst score), never dropped.")

    long = [
        {
            "format": j.fmt,
            "metric": METRICS[k].label if k in METRICS else k,
            "value": v * (100 if METRICS.get(k) and METRICS[k].percent else 1),
        }
        for j, ev in results
        for k in keys
        # scores only: counts and distances have other scales and read the other way
        if (v := ev.score.values.get(k)) is not None and (METRICS.get(k) is None or METRICS[k].higher_is_better)
    ]
    per_example = pd.DataFrame([{"format": j.fmt, **r.to_dict()} for j, ev in results for r in ev.rows]).drop(
        columns=["info"], errors="ignore"
    )
    per_example["problems"] = per_example["problems"].map(lambda ps: ", ".join(sorted({p["kind"] for p in ps})))
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Formats side by side**")
        if long:
            st.bar_chart(pd.DataFrame(long), x="metric", y="value", color="format", stack=False, height=300)
    with c2:
        m = main_metric(task)
        if m in per_example:
            st.markdown(f"**Distribution of {METRICS[m].label if m in METRICS else m} per example**")
            chart = (
                alt.Chart(per_example.dropna(subset=[m]))
                .mark_bar(opacity=0.7)
                .encode(alt.X(f"{m}:Q", bin=alt.Bin(maxbins=20)), alt.Y("count()", stack=None), color="format:N")
                .properties(height=300)
            )
            st.altair_chart(chart, width="stretch")
    c.show_calibration([(j.fmt, j.out) for j, _ev in results], key="ev_calibration")
    st.subheader("Per example")
    st.dataframe(per_example, hide_index=True, key="ev_rows", height=320)
    d = st.columns(len(results) + 1)
    d[0].download_button(
        "Per-example metrics (.csv)",
        per_example.to_csv(index=False),
        f"{task}-metrics.csv",
        "text/csv",
        key="ev_csv",
        icon=":material/download:",
    )
    for i, (j, _ev) in enumerate(results, start=1):
        d[i].download_button(
            f"Run file: {j.fmt} (.jsonl)",
            j.out.read_bytes(),
            j.out.name,
            "application/jsonl",
            key=f"ev_jsonl_{i}",
            icon=":material/download:",
        )
        if d[i].button(f"Inspect {j.fmt}", key=f"ev_inspect_{i}", icon=":material/search:"):
            st.session_state["insp_file"] = str(j.out)
            st.switch_page(page("inspect").script)


# --- the page ---------------------------------------------------------------------------------------------

st.title("Evaluate")
st.caption(
    "Runs are written to a file as they go: cancel at any time, and running the same settings again "
    "resumes where it stopped."
)
choice, settings = c.current()
c.data_download_offer("ev", why="Runs go over the datasets' splits.")

task = c.task_picker()
cols = st.columns([3, 2, 1, 1])
formats = cols[0].multiselect(
    "Formats",
    list(task.formats),
    default=list(task.formats)[:1],
    key=f"ev_formats:{task.name}",
    persist_state="session",
    format_func=lambda n: f"{n} · {task.formats[n].kind}",
)
split = cols[1].selectbox("Split", list(task.splits), key=f"ev_split:{task.name}", persist_state="session")
limit = cols[2].number_input(
    "Limit",
    1,
    100000,
    20,
    key=f"ev_limit:{task.name}",
    persist_state="session",
    help="How many examples from the start of the split.",
)
concurrency = cols[3].number_input(
    "Parallel",
    1,
    32,
    1 if choice.kind == "local" else 4,
    key="ev_conc",
    persist_state="session",
    help="Requests in flight at once.",
)
st.caption(
    f"Model: {choice.describe()} · prompt: k={settings.k_for(task)}, {settings.select} selection"
    + (f" (seed {settings.select_seed})" if settings.select == "random" else "")
    + f", budget {settings.token_budget} tokens (change them in the sidebar)."
)

jobs = current_jobs()
running = any(j.running for j in jobs)
b = st.columns([1, 1, 5])
if b[0].button("Run", type="primary", icon=":material/play_arrow:", key="ev_run", disabled=running or not formats):
    with c.guard("Starting the run"):
        start_jobs(task, formats, split, int(limit), int(concurrency))
        st.rerun()
b[1].button("Cancel", icon=":material/stop:", key="ev_cancel", disabled=not running, on_click=cancel_jobs)

if jobs:
    job_progress()
    if not any(j.running for j in jobs):
        show_evaluation(jobs)
else:
    st.info("Choose formats and a split, then **Run**. Each format is a separate, resumable run file.")

st.divider()
grid_section(task)
