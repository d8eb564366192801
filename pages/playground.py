"""Playground: one input, editable few-shot examples, the prompt, and the generated program and graph."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import streamlit as st

from cocogen.app import components as c
from cocogen.app import live_view as lv
from cocogen.app.confidence import merge_params, sureness_of
from cocogen.app.frame import page_frame
from cocogen.app.sharing import export_name
from cocogen.app.state import assemble_prompt, example_text, example_title, move, nearest_examples, parse_example
from cocogen.errors import CocogenError
from cocogen.export import part_of_result
from cocogen.pipeline import Result
from cocogen.streaming import was_stopped
from cocogen.tasks import get_task
from cocogen.tasks.base import Format, Task
from cocogen.types import Example, Graph, StateTable

page_frame()


# --- the few-shot editor: edit, add, delete, reorder, reset, pull from a dataset, nearest -----------------


def _set_pool(task: Task, items: list[Example]) -> None:
    st.session_state.setdefault(c.FEWSHOT, {})[task.name] = items
    st.session_state.pop(f"fs_editing:{task.name}", None)


def _fail(task: Task, error: CocogenError) -> None:
    st.session_state[f"fs_error:{task.name}"] = error.user_message()


def _move(task: Task, i: int, delta: int) -> None:
    _set_pool(task, move(c.fewshot_pool(task), i, delta))


def _delete(task: Task, i: int) -> None:
    items = list(c.fewshot_pool(task))
    del items[i]
    _set_pool(task, items)


def _reset(task: Task) -> None:
    try:
        _set_pool(task, list(task.fewshot()))
    except CocogenError as e:
        _fail(task, e)


def _save_edit(task: Task, fmt: Format, i: int | None, key: str) -> None:
    items = list(c.fewshot_pool(task))
    ex_id = items[i].id if i is not None else f"custom-{len(items) + 1}"
    try:
        ex = parse_example(task, fmt, st.session_state.get(key, ""), ex_id)
    except CocogenError as e:
        _fail(task, e)
        return
    if i is None:
        items.append(ex)
    else:
        items[i] = ex
    _set_pool(task, items)
    st.session_state.pop(f"fs_error:{task.name}", None)
    st.session_state.pop(key, None)


def _add_rows(task: Task, split: str, start: int, count: int) -> None:
    try:
        rows = c.load_split(task, split)[start : start + count]
    except CocogenError as e:
        _fail(task, e)
        return
    _set_pool(task, [*c.fewshot_pool(task), *rows])
    st.session_state.pop(f"fs_error:{task.name}", None)


def _nearest(task: Task, source: str, query: Graph, k: int) -> None:
    try:
        pool = list(task.fewshot()) if source == "ours" else c.load_split(task, source)
        _set_pool(task, nearest_examples(task, pool, query, k))
        st.session_state.pop(f"fs_error:{task.name}", None)
    except CocogenError as e:
        _fail(task, e)


def fewshot_editor(task: Task, fmt: Format, query: Graph | None, k: int) -> list[Example]:
    """Edit, add, delete, reorder, reset, pull from a dataset, or pick the nearest examples.

    Returns the pool the prompt is built from (the sidebar's *k* and selection apply to it).
    """
    items = c.fewshot_pool_or_error(task)
    if err := st.session_state.get(f"fs_error:{task.name}"):
        st.error(err)
    bar = st.columns([1, 2, 2])
    bar[0].button(
        "Reset to ours", key=f"fs_reset:{task.name}", on_click=_reset, args=(task,), icon=":material/restart_alt:"
    )
    with bar[1].popover("Add from a dataset", icon=":material/dataset:"):
        c.data_download_offer(f"fs_data:{task.name}", why="The rows come from the datasets.")
        split = st.selectbox("Split", list(task.splits), key=f"fs_split:{task.name}")
        start = st.number_input("First row", 0, 100000, 0, key=f"fs_start:{task.name}")
        count = st.number_input("How many", 1, 20, 1, key=f"fs_count:{task.name}")
        st.button("Add", key=f"fs_add_rows:{task.name}", on_click=_add_rows, args=(task, split, int(start), int(count)))
    with bar[2].popover("Nearest to my input", icon=":material/travel_explore:"):
        source = st.selectbox(
            "From",
            ["ours", *task.splits],
            key=f"fs_knn_src:{task.name}",
            format_func=lambda s: "our examples" if s == "ours" else f"dataset: {s}",
        )
        st.caption(f"Replaces the list by the {k} examples most similar to the input (BM25), nearest last.")
        st.button(
            "Pick nearest",
            key=f"fs_knn:{task.name}",
            on_click=_nearest,
            args=(task, source, query, k),
            disabled=query is None,
        )

    editing = st.session_state.get(f"fs_editing:{task.name}")
    for i, ex in enumerate(items):
        row = st.columns([0.5, 7, 0.6, 0.6, 0.6, 0.6], vertical_alignment="center")
        used = "" if i < k else " · not used (beyond k)"
        row[0].markdown(f"**{i + 1}**")
        row[1].markdown(f"{c.plain(example_title(task, ex))}  \n:gray[{c.plain(ex.id)}{used}]")
        row[2].button(
            "",
            key=f"fs_ed:{task.name}:{i}",
            icon=":material/edit:",
            help="Edit",
            on_click=st.session_state.__setitem__,
            args=(f"fs_editing:{task.name}", i),
        )
        row[3].button(
            "", key=f"fs_up:{task.name}:{i}", icon=":material/arrow_upward:", help="Move up",
            on_click=_move, args=(task, i, -1), disabled=i == 0,
        )  # fmt: skip
        row[4].button(
            "", key=f"fs_dn:{task.name}:{i}", icon=":material/arrow_downward:", help="Move down",
            on_click=_move, args=(task, i, 1), disabled=i == len(items) - 1,
        )  # fmt: skip
        row[5].button(
            "", key=f"fs_del:{task.name}:{i}", icon=":material/delete:", help="Delete", on_click=_delete, args=(task, i)
        )
    if not items:
        st.info("No examples: the prompt is the input alone (zero-shot). Reset to ours to get them back.")

    if isinstance(editing, int) and 0 <= editing < len(items):
        key = f"fs_text:{task.name}:{fmt.name}:{editing}:{items[editing].id}"
        c.default(key, example_text(task, fmt, items[editing]))
        st.text_area(f"Example {editing + 1} in the {fmt.name} format", key=key, height=320)
        b = st.columns([1, 1, 5])
        b[0].button(
            "Save", key=f"fs_save:{task.name}", type="primary", on_click=_save_edit, args=(task, fmt, editing, key)
        )
        b[1].button(
            "Close", key=f"fs_close:{task.name}", on_click=st.session_state.pop, args=(f"fs_editing:{task.name}", None)
        )
    with st.expander("Write a new example"):
        key = f"fs_new:{task.name}:{fmt.name}"
        c.default(key, example_text(task, fmt, items[0]) if items else "")
        st.text_area(f"New example in the {fmt.name} format", key=key, height=260)
        st.button("Add example", key=f"fs_new_add:{task.name}", on_click=_save_edit, args=(task, fmt, None, key))
    return items


# --- the result: metrics, the program beside its graph, problems, downloads ---------------------------------


def downloads(
    code: str, graph: Graph | None, result_json: Mapping[str, Any], *, key: str, stem: str = "cocogen"
) -> None:
    """Download buttons: code, DOT, SVG (when ``dot`` is installed) and JSON."""
    from cocogen import render

    cols = st.columns(4)
    cols[0].download_button("Code (.py)", code, f"{stem}.py", "text/x-python", key=f"{key}_py", icon=":material/code:")
    dot = svg = None
    if graph is not None and not isinstance(graph, StateTable):
        g = render.to_dot(graph)
        dot = g.source
        svg = render.to_svg(g)
    if dot is not None:
        cols[1].download_button("Graph (.dot)", dot, f"{stem}.dot", "text/vnd.graphviz", key=f"{key}_dot")
    if svg is not None:
        cols[2].download_button("Graph (.svg)", svg, f"{stem}.svg", "image/svg+xml", key=f"{key}_svg")
    elif dot is not None:
        cols[2].caption("SVG needs Graphviz `dot`.")
    cols[3].download_button(
        "Result (.json)",
        json.dumps(result_json, ensure_ascii=False, indent=2),
        f"{stem}.json",
        "application/json",
        key=f"{key}_json",
    )


def export_part(result: Result, row: Example | None) -> Any:
    """The answer for the HTML export; coloured and scored against the dataset row it came from, if any.

    Called when the button is pressed, on a thread of its own: it reads no session state.
    """
    from cocogen.app.compare import scores

    if row is None:
        return part_of_result(result)
    return part_of_result(result, reference=row.graph, metrics=scores(result, row.graph), details=[("reference", row.id)])


def show_result(result: Result, *, key: str) -> None:
    """A generation: status and cost, the program beside its graph, the problems, downloads."""
    u = result.usage()
    m = st.columns(5)
    m[0].metric("Parse", "clean" if result.parse.clean else "partial" if result.ok else "failed")
    m[1].metric(
        "Prompt tokens", u["prompt_tokens"] if u["prompt_tokens"] is not None else f"≈{u['prompt_tokens_estimate']}"
    )
    m[2].metric("Generated tokens", u["completion_tokens"] if u["completion_tokens"] is not None else "–")
    m[3].metric(
        "Model time", "cached" if u["cached"] else f"{u['model_seconds'] or result.timing.get('model_s', 0):.2f} s"
    )
    m[4].metric("Total", f"{result.timing.get('total_s', 0):.2f} s")
    lv.stopped_note(was_stopped(result))
    code_col, graph_col = st.columns(2, gap="large")
    with code_col:
        st.markdown("**Generated program**")
        c.show_code(result.prompt.query_text, result.completion, key=f"{key}_code")
    with graph_col:
        head = st.columns([3, 2], vertical_alignment="center")
        head[0].markdown("**Parsed graph**")
        interactive = False
        if not isinstance(result.graph, StateTable):
            interactive = head[1].toggle("Interactive", key=f"{key}_interactive", help="Drag and zoom (pyvis)")
        c.show_graph(result.graph, key=f"{key}_graph", interactive=interactive, sureness=sureness_of(result))
        c.show_sureness(result, key=f"{key}_sureness")
    c.show_problems(result.problems, ok=result.ok)
    c.show_backend_warning(result)
    downloads(result.code, result.graph, result.to_dict(), key=f"{key}_dl", stem=f"{result.task}-{result.format}")
    row = c.matching_reference(get_task(result.task), result.query)
    c.export_button(
        f"{result.task} · {result.format}", lambda: [export_part(result, row)], key=f"{key}_html",
        file_name=export_name(result.task, result.format),
    )  # fmt: skip


# --- the page ---------------------------------------------------------------------------------------------

st.title("Playground")
choice, settings = c.current()

top = st.columns([2, 3])
with top[0]:
    task = c.task_picker()
with top[1]:
    fmt_name = st.segmented_control(
        "Format",
        list(task.formats),
        key=c.bound_choice(f"pg_fmt:{task.name}", list(task.formats)),
        on_change=c.sync,
        args=(f"pg_fmt:{task.name}",),
        required=True,
        format_func=lambda n: f"{n} · {task.formats[n].kind}",
    )
fmt = task.formats[fmt_name or next(iter(task.formats))]
st.caption(f"{task.description}  \n**{fmt.name}**: {fmt.description}")

left, right = st.columns([2, 3], gap="large")
query = prompt = None
with left:
    st.subheader("Input")
    c.dataset_filler(task)
    values = c.input_form(task)
    with c.guard("Reading the input"):
        query = task.from_input(values)
    actions = st.container()  # filled below, once the examples are known
with right:
    st.subheader("Few-shot examples")
    pool = c.fewshot_pool_or_error(task)
    used = min(settings.k_for(task), len(pool))
    with st.expander(f"{len(pool)} examples in the pool · the first {used} go into the prompt — edit, reorder, add"):
        pool = fewshot_editor(task, fmt, query, settings.k_for(task))

with actions:
    if query is not None:
        with c.guard("Building the prompt"):
            prompt = assemble_prompt(task, fmt, query, pool, settings)
    if prompt is not None:
        dropped = f", {prompt.dropped} dropped to fit the budget" if prompt.dropped else ""
        with st.expander(f"Assembled prompt · ≈{prompt.n_tokens} tokens · {len(prompt.examples)} examples{dropped}"):
            st.html(c.code_html(prompt.prefix, prompt.query_text))
            st.caption(
                "Grey: the few-shot examples · blue: your input, which the model continues. "
                f"Stops at: {', '.join(repr(s) for s in prompt.stop)}"
            )
        samples = c.merge_switch("pg")
        st.button(
            "Generate", type="primary", icon=":material/play_arrow:", key="pg_generate", on_click=lv.request, args=("pg",)
        )
        if c.take_autorun():  # an opened permalink asks for its answer like a click
            lv.request("pg")
    with lv.answering("pg") as asked, c.guard("Generating"):
        if asked and query is not None and prompt is not None:  # else the input's error is shown above
            lv.start_generation(
                "pg",
                task,
                fmt,
                query,
                c.backend_for(task.name),
                backend_kind=choice.kind,
                prompt=prompt,  # exactly the prompt shown above
                params=merge_params(settings.params(), samples) if samples else settings.params(),
                cache=c.completion_cache(settings.use_cache),
                merge=bool(samples),
            )
            st.session_state.pop("pg_result", None)

finished = lv.live_panel("pg", lambda job: lv.draw_lane(job.lanes[0], key="pg"))
if finished is not None and finished.lanes[0].value is not None:
    st.session_state["pg_result"] = finished.lanes[0].value
result = st.session_state.get("pg_result")
if result is not None and result.task == task.name:
    st.divider()
    show_result(result, key="pg")
elif prompt is not None and not lv.running("pg"):
    st.info("Press **Generate** to complete the prompt with the model chosen in the sidebar.")
c.sync_permalink(task, fmt.name, values, pool, answered=result is not None and result.task == task.name)
