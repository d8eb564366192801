"""Inspect: a run file or the paper's recorded outputs, example by example."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from cocogen.app import components as c
from cocogen.app.confidence import least_sure_order, least_sure_rows
from cocogen.app.frame import page, page_frame
from cocogen.app.inspection import InspectedRun, filter_rows, inspect_file, main_metric, rows_table
from cocogen.app.jobs import runs_dir
from cocogen.app.sharing import export_name, run_page
from cocogen.app.state import recorded_outputs
from cocogen.errors import DataError
from cocogen.metrics.base import METRICS, Score, format_value
from cocogen.tasks.base import Task
from cocogen.types import Graph, StateTable

page_frame()


# --- choosing and reading a run ------------------------------------------------------------------------


def run_files() -> dict[str, str]:
    """Files that can be inspected: the paper's recorded outputs and our runs (newest first)."""
    files = {str(r.path): r.label for r in recorded_outputs()}
    d = runs_dir()
    if d.is_dir():
        for p in sorted(d.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True):
            files[str(p)] = f"run · {p.name}"
    return files


def run_file_picker(key: str) -> str | None:
    """Choose a recorded-output or run file, or type a path."""
    files = run_files()
    options = [*files, "__other__"]
    choice = st.selectbox(
        "Run file",
        options,
        key=c.bound_choice(key, options),
        on_change=c.sync,
        args=(key,),
        format_func=lambda p: files.get(p, "another file…"),
    )
    if choice == "__other__":
        typed = st.text_input("Path of a run file (JSONL)", key=f"{key}_path", persist_state="session")
        return typed.strip() or None
    return choice


@st.cache_resource(show_spinner="Scoring every example…", max_entries=8)
def _inspected(path: str, mtime: float, size: int) -> InspectedRun:
    return inspect_file(path)


def inspected(path: str) -> InspectedRun:
    """The inspected run, computed once per file version."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError("There is no such file.", path=str(p))
    stat = p.stat()
    return _inspected(str(p), stat.st_mtime, stat.st_size)


# --- averages, the example table, the detail view ------------------------------------------------------------


def show_averages(score: Score, task: str) -> None:
    """The run's averages (as ``cocogen eval`` prints them) and its parse rate."""
    from cocogen.evaluate import display_metrics

    keys = [k for k in display_metrics(task) if score.values.get(k) is not None]
    cards: list[tuple[str, str, str | None]] = [
        ("Examples", str(score.n), None),
        ("Parsed", f"{score.parse_rate * 100:.1f}" if score.n else "–", "% of completions a graph was read from"),
    ]
    for k in keys:
        spec = METRICS.get(k)
        cards.append((spec.label if spec else k, format_value(k, score.values[k]), spec.description if spec else None))
    per_row = 6
    for start in range(0, len(cards), per_row):
        cols = st.columns(per_row)
        for col, (label, value, help_) in zip(cols, cards[start : start + per_row], strict=False):
            col.metric(label, value, help=help_)
    if score.unavailable:
        st.caption(
            "Not available: "
            + "; ".join(f"{METRICS[k].label if k in METRICS else k} ({why})" for k, why in score.unavailable.items())
        )


def examples_table(rows: list[dict[str, Any]], *, key: str) -> int | None:
    """The examples as a selectable table; returns the run index of a *newly* clicked row."""
    config = {
        k: st.column_config.NumberColumn(
            METRICS[k].label, format="percent" if METRICS[k].percent else "%.2f", help=METRICS[k].description or None
        )
        for k in (rows[0] if rows else {})
        if k in METRICS
    }
    event = st.dataframe(
        rows, key=key, on_select="rerun", selection_mode="single-row", hide_index=True,
        height=min(300, 38 + 35 * max(len(rows), 1)),
        column_config=config,
    )  # fmt: skip
    selected = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    last_key = f"{key}_last"
    now = rows[selected[0]]["#"] if selected and selected[0] < len(rows) else None
    if now != st.session_state.get(last_key):
        st.session_state[last_key] = now
        return now
    return None


def _step(pos_key: str, delta: int, n: int) -> None:
    st.session_state[pos_key] = max(0, min(n - 1, st.session_state.get(pos_key, 0) + delta))


def open_in_playground(task: Task, fmt: str, query: Graph) -> None:
    """Put an example's input into the Playground and go there."""
    st.session_state[c.TASK] = task.name
    st.session_state[f"pg_fmt:{task.name}"] = fmt
    c.set_inputs(task, task.to_input(query))
    st.session_state.pop("pg_result", None)
    st.switch_page(page("playground").script)


def inspect_detail(run: InspectedRun, shown: Sequence[int], pos: int, pos_key: str) -> None:
    """One example: navigation, metrics, problems, gold vs predicted graph, the code and the prompt."""
    from cocogen.tasks import get_task

    row = run.rows[shown[pos]]
    task = get_task(run.task)
    nav = st.columns([1, 1, 4, 2], vertical_alignment="center")
    nav[0].button(
        "Previous", key="insp_prev", icon=":material/chevron_left:",
        on_click=_step, args=(pos_key, -1, len(shown)), disabled=pos == 0,
    )  # fmt: skip
    nav[1].button(
        "Next", key="insp_next", icon=":material/chevron_right:",
        on_click=_step, args=(pos_key, 1, len(shown)), disabled=pos >= len(shown) - 1,
    )  # fmt: skip
    nav[2].markdown(f"**Example {pos + 1} of {len(shown)}** · id {c.plain(row.id)}")
    if row.query is not None and nav[3].button("Open in Playground", key="insp_open", icon=":material/science:"):
        open_in_playground(task, run.format, row.query)
    if row.error:
        st.error(f"Generation failed: {row.error}")
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Reference vs prediction**" if row.gold is not None else "**Prediction**")
        interactive = False
        if not isinstance(row.gold if row.gold is not None else row.pred, StateTable):
            interactive = st.toggle("Interactive", key="insp_interactive")
        by_sureness = row.sureness.available and st.toggle(
            f"Draw the model's {row.sureness.what}",
            key="insp_sure",
            help="The prediction alone, each edge as wide and opaque as the model was sure of it.",
        )
        gold = None if by_sureness else row.gold
        c.show_graph(row.pred, key="insp_graph", gold=gold, interactive=interactive, sureness=row.sureness)
        if row.sureness.available:
            with st.expander(f"{row.sureness.what.capitalize()} per element, least sure first"):
                st.dataframe(least_sure_rows(row.sureness), hide_index=True, key="insp_sure_rows")
        c.show_problems(row.problems, ok=row.parsed)
        c.show_scores({k: row.values.get(k) for k in run.metrics}, key="insp_scores")
    with right:
        st.markdown("**Code**")
        c.show_code(row.given, row.completion or "", key="insp_code")
        if row.prompt:
            with st.expander("The whole prompt"):
                st.code(row.prompt, language="python")
        c.export_button(*run_page(run, row.id), key="insp_html", file_name=export_name(run.task, run.format, row.id))


# --- the page ---------------------------------------------------------------------------------------------

st.title("Inspect a run")
st.caption(
    "Every example of a run with its metrics and the parser's problems; the reference and the prediction "
    "drawn over each other."
)

path = run_file_picker(key="insp_file")
run = None
if path:
    with c.guard("Reading the run"):
        run = inspected(path)
if run is None:
    if not path:
        st.info(
            "No run to show yet: download the datasets (`cocogen data download`) for the paper's recorded "
            "outputs, or make a run on the **Evaluate** page."
        )
        c.data_download_offer("insp", why="The paper's recorded outputs come with the datasets.", reset=["insp_file"])
    st.stop()

show_averages(run.score, run.task)

with st.container(border=True):
    f = st.columns([3, 3, 2, 3])
    kinds = f[0].multiselect("Problem types", run.problem_kinds, key=f"insp_kinds:{path}", persist_state="session")
    metric_keys = list(run.metrics)
    main = main_metric(run.task)
    metric = f[1].selectbox(
        "Metric",
        metric_keys or ["(none)"],
        format_func=lambda k: METRICS[k].label if k in METRICS else k,
        key=f"insp_metric:{path}",
        persist_state="session",
        index=metric_keys.index(main) if main in metric_keys else 0,
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
if any(r.least_sure is not None for r in run.rows) and st.checkbox(
    "Least sure first", key=f"insp_least_sure:{path}", persist_state="session",
    help="Examples ordered by their least sure element (the model's confidence, or a merge's agreement).",
):  # fmt: skip
    shown = [shown[i] for i in least_sure_order([run.rows[j].least_sure for j in shown])]
st.caption(f"{len(shown)} of {len(run.rows)} examples")
picked = examples_table(rows_table(run, shown), key=f"insp_table:{path}")
if not shown:
    st.warning("No example matches these filters.")
    st.stop()

pos_key = f"insp_pos:{path}"
if picked is not None:
    st.session_state[pos_key] = shown.index(picked) if picked in shown else 0
pos = min(st.session_state.get(pos_key, 0), len(shown) - 1)
inspect_detail(run, shown, pos, pos_key)
