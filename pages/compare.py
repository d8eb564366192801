"""Compare: the same input and model through the code prompt, the text baseline and other formats."""

from __future__ import annotations

from typing import Any

import streamlit as st

from cocogen.app import components as c
from cocogen.app import live_view as lv
from cocogen.app.compare import default_formats
from cocogen.app.confidence import merge_params
from cocogen.app.frame import page_frame
from cocogen.app.sharing import export_name, outcome_parts
from cocogen.prompts import describe_selection
from cocogen.tasks.base import Task
from cocogen.types import Example

page_frame()


def reference_for(task: Task, query: Any | None) -> Example | None:
    """The dataset row last loaded into the form, if the form still holds its input."""
    row = st.session_state.get(c.REFERENCE, {}).get(task.name)
    if row is None or query is None:
        return None
    return row if task.to_input(task.query_of(row.graph)) == task.to_input(query) else None


st.title("Compare formats")
st.caption(
    "The same input, model and few-shot examples, written as code and as flat text. "
    "Load a dataset row to score each answer against its reference."
)
choice, settings = c.current()

task = c.task_picker()
left, right = st.columns([2, 3], gap="large")
query = None
with left:
    c.dataset_filler(task)
    values = c.input_form(task)
    with c.guard("Reading the input"):
        query = task.from_input(values)
with right:
    formats = st.multiselect(
        "Formats",
        list(task.formats),
        default=default_formats(task),
        key=f"cmp_formats:{task.name}",
        format_func=lambda n: f"{n} · {task.formats[n].kind}",
        persist_state="session",
    )
    reference = reference_for(task, query)
    if reference is not None:
        st.success(f"Reference: dataset row **{c.plain(reference.id)}** — answers are scored against it.")
    else:
        st.info(
            "No reference: fill the form from a dataset row to see what each format got right, missed and invented."
        )
        c.data_download_offer("cmp", why="A reference comes from a dataset row.")
    pool = c.fewshot_pool_or_error(task)
    chosen = describe_selection(
        settings.k_for(task), len(pool), settings.select, settings.select_seed, pool="the Playground's"
    )
    st.caption(f"Few-shot examples: {chosen}.")
    samples = c.merge_switch("cmp")
    st.button(
        "Compare",
        type="primary",
        icon=":material/compare_arrows:",
        key="cmp_go",
        disabled=query is None or not formats,
        on_click=lv.request,
        args=("cmp",),
    )

if c.take_autorun():  # an opened permalink asks for its answer like a click
    lv.request("cmp")
with lv.answering("cmp") as asked, c.guard("Comparing"):
    if asked and query is not None and formats:
        lv.start_comparison(
            "cmp",
            task,
            formats,
            query,
            c.backend_for(task.name),
            backend_kind=choice.kind,
            reference=reference.graph if reference is not None else None,
            spec=settings.prompt_spec(pool),
            params=merge_params(settings.params(), samples) if samples else settings.params(),
            cache=c.completion_cache(settings.use_cache),
            merge=bool(samples),
        )
        st.session_state["cmp_asked"] = (task.name, reference)
        st.session_state.pop("cmp_result", None)

finished = lv.live_panel("cmp", lv.draw_columns)
if finished is not None:
    outcomes = lv.outcomes(finished)
    asked_task, asked_reference = st.session_state.get("cmp_asked", (task.name, None))
    st.session_state["cmp_result"] = (asked_task, outcomes, asked_reference)
    st.session_state["cmp_stopped"] = finished.stopped

saved = st.session_state.get("cmp_result")
if saved is not None and saved[0] == task.name:
    st.divider()
    lv.stopped_note(bool(st.session_state.get("cmp_stopped")))
    if saved[1]:  # empty when stopped before any format wrote a word
        c.show_comparison(saved[1], saved[2])
        ref_graph = saved[2].graph if saved[2] is not None else None
        c.export_button(
            f"{task.title} · {' vs '.join(o.format for o in saved[1])}", outcome_parts(task.name, saved[1], ref_graph),
            key="cmp_html", file_name=export_name(task.name, "compare", saved[2].id if saved[2] is not None else ""),
        )  # fmt: skip
c.sync_permalink(task, formats[0] if formats else next(iter(task.formats)), values, pool, answered=saved is not None and saved[0] == task.name)
