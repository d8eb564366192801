"""Streamlit pieces shared by the app's pages: the sidebar, error display, graph and code views.

Only the app imports this module.  It holds *display* code; every decision a user could
also ask the command line for lives in the library (:mod:`cocogen.session`,
:mod:`cocogen.pipeline`, :mod:`cocogen.compare`, :mod:`cocogen.inspection`,
:mod:`cocogen.render`).

State that must survive moving between pages is kept in ``st.session_state`` under
the keys below.  Values shared by several pages (task, input) are *bound* (see
:func:`bound`); widgets used on one page only use ``persist_state="session"`` so their
values come back when a user returns.
"""

from __future__ import annotations

import html
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from cocogen.errors import CocogenError
from cocogen.session import BACKEND_LABELS, BackendChoice, BackendRegistry, GenerationSettings
from cocogen.settings import DEFAULT_K, DEFAULT_MAX_TOKENS, DEFAULT_TOKEN_BUDGET
from cocogen.types import Graph, Problem, ProblemKind, StateTable

log = logging.getLogger("cocogen.app")

# session_state keys shared between pages
CHOICE = "backend_choice"
SETTINGS = "generation_settings"
TASK = "task"

# Temporary re-export: each task now carries its own ``sample_input`` (lists as tuples).
def _sample_inputs() -> dict[str, dict[str, Any]]:
    from cocogen.tasks import REGISTRY

    return {
        name: {k: list(v) if isinstance(v, tuple) else v for k, v in t.sample_input.items()}
        for name, t in REGISTRY.items()
    }


SAMPLE_INPUTS: dict[str, dict[str, Any]] = _sample_inputs()


# --- process-wide resources ---------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def registry() -> BackendRegistry:
    """One registry per server process: a local model is loaded once and shared by all sessions."""
    return BackendRegistry()


@st.cache_resource(show_spinner=False)
def _cache_for(path: str) -> Any:
    from cocogen.cache import CompletionCache

    return CompletionCache(path)


def completion_cache(enabled: bool = True) -> Any:
    """The shared completion cache (SQLite, thread-safe), or ``None`` when bypassed."""
    if not enabled:
        return None
    from cocogen.settings import cache_dir

    return _cache_for(str(cache_dir() / "completions.sqlite"))


# --- errors -------------------------------------------------------------------------------------


@contextmanager
def guard(what: str = "That") -> Iterator[None]:
    """Show a short ``st.error`` instead of a traceback.

    Our own errors carry a sentence a user can act on; anything else is logged with its
    traceback on the server and summarised in one line.
    """
    try:
        yield
    except CocogenError as e:
        st.error(e.user_message(), icon=":material/error:")
    except Exception as e:  # noqa: BLE001 - the UI must never show a traceback
        log.exception("%s failed", what)
        st.error(f"{what} failed unexpectedly ({type(e).__name__}: {str(e)[:200]}). Details are in the server log.")


# --- sidebar ------------------------------------------------------------------------------------


def _secret(name: str) -> str | None:
    try:
        value = st.secrets.get(name)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - no secrets file is the normal case
        return None
    return str(value) if value else None


def _stored_key() -> tuple[str | None, str]:
    """An API key from Streamlit secrets or the environment, and where it came from."""
    for name in ("COCOGEN_API_KEY", "OPENAI_API_KEY"):
        if v := _secret(name):
            return v, "Streamlit secrets"
    for name in ("COCOGEN_API_KEY", "OPENAI_API_KEY"):
        if v := os.environ.get(name):
            return v, f"the environment (${name})"
    return None, ""


_SETTING_DEFAULTS: dict[str, Any] = {
    "gs_k": DEFAULT_K,
    "gs_select": "fixed",
    "gs_budget": DEFAULT_TOKEN_BUDGET,
    "gs_max_tokens": DEFAULT_MAX_TOKENS,
    "gs_temperature": 0.0,
    "gs_top_p": 1.0,
    "gs_seed": 0,
    "gs_cache": True,
}


def _default(key: str, value: Any) -> None:
    """Give a widget its first value through session state (so tests and other pages can set it too)."""
    if key not in st.session_state:
        st.session_state[key] = value


def bound(key: str, default: Any) -> str:
    """A widget key tied to the durable value ``st.session_state[key]``.

    Streamlit forgets a widget's value when its page is left, and two pages' widgets with
    the same key do not share a value.  Values the user expects to follow them between
    pages (the task, the input) live under ``key``; the widget gets a copy before it is
    drawn and writes back through :func:`sync` (pass ``on_change=sync, args=(key,)``).
    """
    if key not in st.session_state:
        st.session_state[key] = default
    wkey = f"w:{key}"
    st.session_state[wkey] = st.session_state[key]
    return wkey


def sync(key: str) -> None:
    st.session_state[key] = st.session_state[f"w:{key}"]


def sidebar() -> tuple[BackendChoice, GenerationSettings]:
    """The shared sidebar: backend and generation settings.  Returns and stores both.

    Choosing the local model starts loading it in the background (:func:`warm_up`).
    """
    with st.sidebar:
        st.subheader("Model")
        kind = st.radio(
            "Backend",
            list(BACKEND_LABELS),
            format_func=BACKEND_LABELS.__getitem__,
            key="backend_kind",
            label_visibility="collapsed",
        )
        if kind == "local":
            _default("local_gguf", os.environ.get("COCOGEN_GGUF", ""))
            _default("local_constrained", True)
            gguf = st.text_input(
                "GGUF model file",
                key="local_gguf",
                placeholder="bundled Gemma 3 270M",
                help="Leave empty for the bundled model, or give the path of any GGUF file.",
            )
            constrained = st.toggle(
                "Constrained decoding",
                key="local_constrained",
                help="The program writes the fixed parts of the code and a grammar limits the rest, so every "
                "answer parses. Switch off to see what the small model writes on its own.",
            )
            choice = BackendChoice("local", model=gguf.strip() or None, constrained=constrained)
        elif kind == "openai":
            _default("openai_base_url", os.environ.get("COCOGEN_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or "")
            _default("openai_model", os.environ.get("COCOGEN_MODEL", ""))
            base_url = st.text_input(
                "Base URL",
                key="openai_base_url",
                placeholder="http://127.0.0.1:8000/v1",
            )
            model = st.text_input("Model", key="openai_model")
            mode = st.selectbox(
                "Endpoint",
                ["auto", "completion", "chat"],
                key="openai_mode",
                help="auto: completions, falling back to chat for chat-only models.",
            )
            stored, where = _stored_key()
            typed = st.text_input(
                "API key",
                type="password",
                key="openai_key",
                placeholder=f"using the key from {where}" if stored else "none (fine for a local server)",
                help="Kept in memory for this session only; never shown, logged or written to run files.",
            )
            choice = BackendChoice(
                "openai",
                model=model.strip() or None,
                base_url=base_url.strip() or None,
                mode=mode,
                api_key=(typed or stored or None),
            )
        else:
            from cocogen.session import recorded_outputs

            recorded = {str(r.path): r.label for r in recorded_outputs()}
            options = ["", *recorded]
            picked = st.selectbox(
                "Recorded outputs",
                options,
                key="replay_pick",
                format_func=lambda p: recorded.get(p, "the task's recorded outputs (automatic)"),
            )
            path = st.text_input(
                "…or a run file", key="replay_path", placeholder="runs/my-run.jsonl", help="A run file of ours."
            )
            choice = BackendChoice("replay", replay_path=(path.strip() or picked or None))

        warm_up(choice)  # before the status line, so it already says "loading"
        if choice.kind != "replay":
            _model_status(choice)
        for name, value in _SETTING_DEFAULTS.items():
            _default(name, value)
        with st.expander("Generation settings"):
            k = st.slider("Few-shot examples (k)", 0, 16, key="gs_k")
            select = st.selectbox(
                "Example selection",
                ["fixed", "random", "knn"],
                key="gs_select",
                format_func={"fixed": "fixed order", "random": "seeded random", "knn": "nearest to the input"}.get,
            )
            budget = st.number_input("Prompt token budget", 200, 32000, step=100, key="gs_budget")
            max_tokens = st.number_input("Max new tokens", 16, 4096, step=16, key="gs_max_tokens")
            temperature = st.slider("Temperature", 0.0, 2.0, step=0.05, key="gs_temperature")
            top_p = st.slider("Top-p", 0.05, 1.0, step=0.05, key="gs_top_p")
            seed = st.number_input("Seed", 0, 2**31 - 1, key="gs_seed")
            use_cache = st.toggle("Use the completion cache", key="gs_cache")
    settings = GenerationSettings(
        k=int(k),
        select=select,
        select_seed=int(seed),
        token_budget=int(budget),
        max_tokens=int(max_tokens),
        temperature=float(temperature),
        top_p=float(top_p),
        seed=int(seed),
        use_cache=bool(use_cache),
    )
    st.session_state[CHOICE] = choice
    st.session_state[SETTINGS] = settings
    return choice, settings


_STATUS_ICONS = {
    "ready": ":green[:material/check_circle:]",
    "loading": ":orange[:material/hourglass_top:]",
    "warming": ":orange[:material/hourglass_top:]",
    "failed": ":red[:material/error:]",
}


def _model_status(choice: BackendChoice) -> None:
    """The backend's load state; refreshes itself every 2 s while the model loads."""
    state, _ = registry().status(choice)

    def draw() -> None:
        now, message = registry().status(choice)
        st.caption(f"{_STATUS_ICONS.get(now, ':gray[:material/radio_button_unchecked:]')} {message}")
        if now != state:
            st.rerun()  # the state changed: let the whole page see it

    st.fragment(draw, run_every=2.0 if state in ("loading", "warming") else None)()


def current() -> tuple[BackendChoice, GenerationSettings]:
    """The sidebar's choices (set by ``app.py`` on every run)."""
    return st.session_state.get(CHOICE, BackendChoice()), st.session_state.get(SETTINGS, GenerationSettings())


def backend_for(task: str | None = None) -> Any:
    """The chosen backend, loading it with a spinner the first time."""
    choice, _ = current()
    state, _ = registry().status(choice, task if choice.kind == "replay" else None)
    if state == "ready":
        return registry().get(choice, task)
    with st.spinner("Loading the model…" if choice.kind == "local" else "Connecting…"):
        return registry().get(choice, task)


# --- task pickers and input forms ----------------------------------------------------------------


def task_picker(key: str = TASK, label: str = "Task") -> Any:
    """A task selector whose value is shared by every page."""
    from cocogen.tasks import REGISTRY, get_task

    names = list(REGISTRY)
    name = st.selectbox(
        label, names, key=bound_choice(key, names), on_change=sync, args=(key,), format_func=lambda n: REGISTRY[n].title
    )
    return get_task(name)


def input_form(task: Any, prefix: str = "in") -> dict[str, Any]:
    """Widgets for a task's input fields (from ``task.input_fields``); returns the raw values.

    Values are shared by pages using the same ``prefix`` (Playground and Compare), so the
    same input can be tried in both.
    """
    sample = SAMPLE_INPUTS.get(task.name, {})
    values: dict[str, Any] = {}
    for f in task.input_fields:
        key = input_key(task, f.name, prefix)
        default = sample.get(f.name)
        label = f.name.replace("_", " ").capitalize()
        common: dict[str, Any] = {"help": f.help, "on_change": sync, "args": (key,)}
        if f.kind == "int":
            values[f.name] = st.number_input(label, 1, 40, key=bound(key, int(default or 5)), **common)
        elif f.kind == "list[str]":
            wkey = bound(key, "\n".join(default or []))
            text = st.text_area(label + " (one per line)", key=wkey, height=150, **common)
            values[f.name] = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        elif f.kind == "choice":
            choices = list(f.choices)
            if default in choices:  # the sample's choice first, when nothing is stored yet
                st.session_state.setdefault(key, default)
            wkey = bound_choice(key, choices)
            values[f.name] = st.radio(label, choices, key=wkey, horizontal=True, **common)
        else:
            values[f.name] = st.text_input(label, key=bound(key, default or ""), **common)
    return values


def input_key(task: Any, field: str, prefix: str = "in") -> str:
    return f"{prefix}:{task.name}:{field}"


def set_inputs(task: Any, fields: Mapping[str, Any], prefix: str = "in") -> None:
    """Fill a task's input form (e.g. from a dataset row) before the form is drawn."""
    for f in task.input_fields:
        if f.name not in fields:
            continue
        v = fields[f.name]
        st.session_state[input_key(task, f.name, prefix)] = "\n".join(map(str, v)) if f.kind == "list[str]" else v


# --- showing results ------------------------------------------------------------------------------


def show_problems(problems: Sequence[Problem], *, ok: bool = True) -> None:
    """The parser's problems, one line each; benign ones as notes."""
    if not problems:
        st.success("Parsed cleanly: no problems.", icon=":material/check_circle:")
        return
    serious = [p for p in problems if p.kind != ProblemKind.EXTRA]
    lines = []
    for p in problems:
        where = f" (line {p.line})" if p.line else ""
        lines.append(f"- **{p.kind.value}**{where}: {plain(p.message)}")
    body = "\n".join(lines)
    if not ok:
        st.error("Nothing could be recovered.\n\n" + body)
    elif serious:
        st.warning(f"{len(serious)} problem(s); everything complete was kept.\n\n" + body)
    else:
        st.info(body)


def code_html(prompt_part: str, generated: str) -> str:
    """The program with the part the model was given and the part it wrote told apart (escaped HTML)."""
    return (
        '<pre style="white-space:pre-wrap;font-size:0.82rem;line-height:1.35;padding:0.6rem;'
        'border-radius:0.4rem;background:#f6f8fa;border:1px solid #d0d7de;max-height:34rem;overflow:auto">'
        f'<span style="color:#6e7781" title="given in the prompt">{html.escape(prompt_part)}</span>'
        f'<span style="color:#0b3d91;background:#e7f0ff;font-weight:600" title="generated by the model">'
        f"{html.escape(generated)}</span></pre>"
    )


def show_code(prompt_part: str, generated: str, *, key: str) -> None:
    """The generated program: given part in grey, generated part highlighted; a copyable view in a tab."""
    tab_split, tab_plain = st.tabs(["Given / generated", "Plain code"])
    with tab_split:
        st.html(code_html(prompt_part, generated))
        st.caption("Grey: written by the program from your input · blue: written by the model.")
    with tab_plain:
        st.code(prompt_part + generated, language="python", line_numbers=True)


def show_graph(
    graph: Graph | None,
    *,
    key: str,
    gold: Graph | None = None,
    interactive: bool = False,
    caption: bool = True,
) -> None:
    """Draw a graph (or a ProPara table); with ``gold``, coloured matched / missing / extra."""
    from cocogen import render
    from cocogen.diff import diff_graphs, diff_tables

    if isinstance(gold if gold is not None else graph, StateTable):
        if gold is not None:
            d = diff_tables(graph if isinstance(graph, StateTable) else None, gold)
            st.dataframe(render.style_diff_frame(d), hide_index=True, key=f"{key}_tbl")
            st.caption(f"Cells right: {d.accuracy:.0%} · green: right · orange: wrong (predicted ≠ reference)")
        elif graph is not None:
            st.dataframe(render.state_frame(graph), hide_index=True, key=f"{key}_tbl")
            st.caption("`-`: does not exist · `?`: exists, location unknown")
        return
    if graph is None and gold is None:
        st.info("No graph to draw.")
        return
    view = diff_graphs(graph, gold)[0] if gold is not None else render.view_of(graph)  # type: ignore[arg-type]
    if not view.nodes:
        st.info("The graph is empty.")
        return
    if interactive:
        st.iframe(render.to_pyvis_html(view, height=460), height=480)
    else:
        st.graphviz_chart(render.to_dot(view, caption=caption))
    if gold is not None:
        st.caption(render.legend_text())


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


# --- background model loading -------------------------------------------------------------------


def _warm_default_prompt(backend: Any) -> None:
    """Prefill the few-shot prefix of the default prompt, so the first Generate does not pay for it."""
    warm = getattr(backend, "warm_up", None)
    if not callable(warm):
        return
    from cocogen.prompts import build_prompt
    from cocogen.tasks import get_task

    task = get_task("proscript-script")
    prompt = build_prompt(task, None, task.from_input(SAMPLE_INPUTS[task.name]))
    warm(prompt.prefix, background=False)  # already in the registry's loader thread


def warm_up(choice: BackendChoice) -> None:
    """Start loading the local model in the background (once per process).

    ``COCOGEN_WARMUP=0`` turns this off (tests that never use the local model).
    """
    if choice.kind != "local" or os.environ.get("COCOGEN_WARMUP", "1") == "0":
        return
    registry().start(choice, warm=_warm_default_prompt)


# --- datasets and the few-shot editor -------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=16)
def dataset(task_name: str, split: str, data_dir: str) -> list[Any]:
    """A dataset split, loaded once per process (``data_dir`` keys the cache when it changes)."""
    from cocogen.tasks import get_task

    return get_task(task_name).load(split)


def load_split(task: Any, split: str) -> list[Any]:
    from cocogen.settings import data_dir

    return dataset(task.name, split, str(data_dir()))


FEWSHOT = "fewshot"  # session_state[FEWSHOT][task] -> list[Example]: the Playground's editable pool


def fewshot_pool(task: Any) -> list[Any]:
    """This session's editable few-shot examples for ``task`` (ours until edited)."""
    pools = st.session_state.setdefault(FEWSHOT, {})
    if task.name not in pools:
        pools[task.name] = list(task.fewshot())
    return pools[task.name]


def fewshot_pool_or_error(task: Any) -> list[Any]:
    """:func:`fewshot_pool`, or an empty pool and a short error when our examples cannot be read."""
    try:
        return fewshot_pool(task)
    except CocogenError as e:
        st.error(e.user_message())
        return []


def _set_pool(task: Any, items: list[Any]) -> None:
    st.session_state.setdefault(FEWSHOT, {})[task.name] = items
    st.session_state.pop(f"fs_editing:{task.name}", None)


def _move(task: Any, i: int, delta: int) -> None:
    from cocogen.session import move

    _set_pool(task, move(fewshot_pool(task), i, delta))


def _delete(task: Any, i: int) -> None:
    items = list(fewshot_pool(task))
    del items[i]
    _set_pool(task, items)


def _reset(task: Any) -> None:
    try:
        _set_pool(task, list(task.fewshot()))
    except CocogenError as e:
        st.session_state[f"fs_error:{task.name}"] = e.user_message()


def _save_edit(task: Any, fmt: Any, i: int | None, key: str) -> None:
    from cocogen.session import parse_example

    items = list(fewshot_pool(task))
    ex_id = items[i].id if i is not None else f"custom-{len(items) + 1}"
    try:
        ex = parse_example(task, fmt, st.session_state.get(key, ""), ex_id)
    except CocogenError as e:
        st.session_state[f"fs_error:{task.name}"] = e.user_message()
        return
    if i is None:
        items.append(ex)
    else:
        items[i] = ex
    _set_pool(task, items)
    st.session_state.pop(f"fs_error:{task.name}", None)
    st.session_state.pop(key, None)


def _add_rows(task: Any, split: str, start: int, count: int) -> None:
    try:
        rows = load_split(task, split)[start : start + count]
    except CocogenError as e:
        st.session_state[f"fs_error:{task.name}"] = e.user_message()
        return
    _set_pool(task, [*fewshot_pool(task), *rows])
    st.session_state.pop(f"fs_error:{task.name}", None)


def _nearest(task: Any, source: str, query: Any, k: int) -> None:
    from cocogen.session import nearest_examples

    try:
        pool = list(task.fewshot()) if source == "ours" else load_split(task, source)
        _set_pool(task, nearest_examples(task, pool, query, k))
        st.session_state.pop(f"fs_error:{task.name}", None)
    except CocogenError as e:
        st.session_state[f"fs_error:{task.name}"] = e.user_message()


def fewshot_editor(task: Any, fmt: Any, query: Any | None, k: int) -> list[Any]:
    """Edit, add, delete, reorder, reset, pull from a dataset, or pick the nearest examples.

    Returns the pool the prompt is built from (the sidebar's *k* and selection apply to it).
    """
    from cocogen.session import example_text, example_title

    items = fewshot_pool_or_error(task)
    err_key = f"fs_error:{task.name}"
    if err := st.session_state.get(err_key):
        st.error(err)
    bar = st.columns([1, 2, 2])
    bar[0].button(
        "Reset to ours", key=f"fs_reset:{task.name}", on_click=_reset, args=(task,), icon=":material/restart_alt:"
    )
    with bar[1].popover("Add from a dataset", icon=":material/dataset:"):
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
        c = st.columns([0.5, 7, 0.6, 0.6, 0.6, 0.6], vertical_alignment="center")
        used = "" if i < k else " · not used (beyond k)"
        c[0].markdown(f"**{i + 1}**")
        c[1].markdown(f"{plain(example_title(task, ex))}  \n:gray[{plain(ex.id)}{used}]")
        c[2].button(
            "",
            key=f"fs_ed:{task.name}:{i}",
            icon=":material/edit:",
            help="Edit",
            on_click=st.session_state.__setitem__,
            args=(f"fs_editing:{task.name}", i),
        )
        c[3].button(
            "",
            key=f"fs_up:{task.name}:{i}",
            icon=":material/arrow_upward:",
            help="Move up",
            on_click=_move,
            args=(task, i, -1),
            disabled=i == 0,
        )
        c[4].button(
            "",
            key=f"fs_dn:{task.name}:{i}",
            icon=":material/arrow_downward:",
            help="Move down",
            on_click=_move,
            args=(task, i, 1),
            disabled=i == len(items) - 1,
        )
        c[5].button(
            "", key=f"fs_del:{task.name}:{i}", icon=":material/delete:", help="Delete", on_click=_delete, args=(task, i)
        )
    if not items:
        st.info("No examples: the prompt is the input alone (zero-shot). Reset to ours to get them back.")

    if isinstance(editing, int) and 0 <= editing < len(items):
        key = f"fs_text:{task.name}:{fmt.name}:{editing}:{items[editing].id}"
        _default(key, example_text(task, fmt, items[editing]))
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
        _default(key, example_text(task, fmt, items[0]) if items else "")
        st.text_area(f"New example in the {fmt.name} format", key=key, height=260)
        st.button("Add example", key=f"fs_new_add:{task.name}", on_click=_save_edit, args=(task, fmt, None, key))
    return items


REFERENCE = "reference"  # session_state[REFERENCE][task] -> the dataset Example last loaded into the form


def _fill_from_row(task: Any, split: str, index: int, prefix: str) -> None:
    try:
        rows = load_split(task, split)
    except CocogenError as e:
        st.session_state[f"fill_error:{task.name}"] = e.user_message()
        return
    if not rows:
        st.session_state[f"fill_error:{task.name}"] = f"The {split} split is empty."
        return
    row = rows[min(max(index, 0), len(rows) - 1)]
    set_inputs(task, task.to_input(row.graph))
    st.session_state.setdefault(REFERENCE, {})[task.name] = row
    st.session_state.pop(f"fill_error:{task.name}", None)


def reference_for(task: Any, query: Any | None) -> Any | None:
    """The dataset row last loaded into the form, if the form still holds its input."""
    row = st.session_state.get(REFERENCE, {}).get(task.name)
    if row is None or query is None:
        return None
    return row if task.to_input(task.query_of(row.graph)) == task.to_input(query) else None


def dataset_filler(task: Any) -> None:
    """A small control that fills the input form from a dataset row (which then serves as reference)."""
    if err := st.session_state.get(f"fill_error:{task.name}"):
        st.error(err)
    with st.popover("Fill from a dataset row", icon=":material/dataset:"):
        split = st.selectbox("Split", list(task.splits), key=f"fill_split:{task.name}")
        index = st.number_input("Row", 0, 100000, 0, key=f"fill_row:{task.name}")
        st.button(
            "Fill the form", key=f"fill_go:{task.name}", on_click=_fill_from_row, args=(task, split, int(index), "in")
        )


def show_result(result: Any, *, key: str, gold: Graph | None = None) -> None:
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
    code_col, graph_col = st.columns(2, gap="large")
    with code_col:
        st.markdown("**Generated program**")
        show_code(result.prompt.query_text, result.completion, key=f"{key}_code")
    with graph_col:
        head = st.columns([3, 2], vertical_alignment="center")
        head[0].markdown("**Parsed graph**" + (" vs reference" if gold is not None else ""))
        interactive = False
        if not isinstance(result.graph if gold is None else gold, StateTable):
            interactive = head[1].toggle("Interactive", key=f"{key}_interactive", help="Drag and zoom (pyvis)")
        show_graph(result.graph, key=f"{key}_graph", gold=gold, interactive=interactive)
    show_problems(result.problems, ok=result.ok)
    stem = f"{result.task}-{result.format}"
    downloads(result.code, result.graph, result.to_dict(), key=f"{key}_dl", stem=stem)


def show_scores(values: Mapping[str, float | None], *, key: str) -> None:
    """Per-example metrics as a small table with the metrics' display names."""
    from cocogen.metrics.base import METRICS, format_value

    if not values:
        st.caption("No metrics for this task here.")
        return
    rows = [
        {"metric": METRICS[k].label if k in METRICS else k, "value": format_value(k, v)}
        for k, v in values.items()
        if not isinstance(v, (list, dict))
    ]
    st.dataframe(rows, hide_index=True, key=key)


def show_comparison(outcomes: Sequence[Any], reference: Any | None) -> None:
    """One column per format: raw output, graph (coloured against the reference), problems, metrics."""
    cols = st.columns(len(outcomes), gap="medium")
    for i, (col, oc) in enumerate(zip(cols, outcomes, strict=True)):
        with col:
            st.subheader(f"{oc.format} · {oc.kind}")
            if oc.error is not None:
                st.error(oc.error)
                continue
            res = oc.result
            u = res.usage()
            st.caption(
                f"{u['completion_tokens'] if u['completion_tokens'] is not None else '?'} tokens · "
                + ("cached" if u["cached"] else f"{res.timing.get('model_s', 0):.2f} s")
            )
            with st.expander("Raw output", expanded=False):
                st.code(res.completion or "(empty)", language="python" if oc.kind == "code" else None)
            show_graph(
                res.graph, key=f"cmp_graph_{i}", gold=reference.graph if reference is not None else None, caption=False
            )
            show_problems(res.problems, ok=res.ok)
            if oc.summary is not None:
                s = oc.summary
                st.markdown(
                    f"**{len(s.right)}** right · **{len(s.missed)}** missed · **{len(s.invented)}** invented {s.unit}"
                )
                for label, items in (("Right", s.right), ("Missed", s.missed), ("Invented", s.invented)):
                    with st.expander(f"{label} ({len(items)})"):
                        st.text("\n".join(items) or "none")
            if oc.scores:
                show_scores(oc.scores, key=f"cmp_scores_{i}")


# --- runs: picking, averages, the example table and the detail view -------------------------------


def run_files() -> dict[str, str]:
    """Files that can be inspected: the paper's recorded outputs and our runs (newest first)."""
    from cocogen.jobs import runs_dir
    from cocogen.session import recorded_outputs

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
        key=bound_choice(key, options),
        on_change=sync,
        args=(key,),
        format_func=lambda p: files.get(p, "another file…"),
    )
    if choice == "__other__":
        typed = st.text_input("Path of a run file (JSONL)", key=f"{key}_path", persist_state="session")
        return typed.strip() or None
    return choice


def bound_choice(key: str, options: Sequence[Any]) -> str:
    """:func:`bound` for a choice among ``options`` (a stored value no longer offered is dropped)."""
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    return bound(key, options[0])


@st.cache_resource(show_spinner="Scoring every example…", max_entries=8)
def _inspected(path: str, mtime: float, size: int) -> Any:
    from cocogen.inspection import inspect_file

    return inspect_file(path)


def inspected(path: str) -> Any:
    """The inspected run, computed once per file version."""
    from pathlib import Path

    from cocogen.errors import DataError

    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError("There is no such file.", path=str(p))
    stat = p.stat()
    return _inspected(str(p), stat.st_mtime, stat.st_size)


def show_averages(score: Any, task: str) -> None:
    """The run's averages (as ``cocogen eval`` prints them) and its parse rate."""
    from cocogen.evaluate import DISPLAY
    from cocogen.metrics.base import METRICS, format_value

    keys = [k for k in DISPLAY.get(task, ()) if score.values.get(k) is not None]
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
        for c, (label, value, help_) in zip(cols, cards[start : start + per_row], strict=False):
            c.metric(label, value, help=help_)
    if score.unavailable:
        st.caption(
            "Not available: "
            + "; ".join(f"{METRICS[k].label if k in METRICS else k} ({why})" for k, why in score.unavailable.items())
        )


def examples_table(rows: list[dict[str, Any]], *, key: str) -> int | None:
    """The examples as a selectable table; returns the run index of a *newly* clicked row."""
    from cocogen.metrics.base import METRICS

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


def open_in_playground(task: Any, fmt: str, query: Any) -> None:
    """Put an example's input into the Playground and go there."""
    st.session_state[TASK] = task.name
    st.session_state[f"pg_fmt:{task.name}"] = fmt
    set_inputs(task, task.to_input(query))
    st.session_state.pop("pg_result", None)
    st.switch_page("app_pages/playground.py")


def inspect_detail(run: Any, shown: Sequence[int], pos: int, pos_key: str) -> None:
    """One example: navigation, metrics, problems, gold vs predicted graph, the code and the prompt."""
    from cocogen.tasks import get_task

    row = run.rows[shown[pos]]
    task = get_task(run.task)
    nav = st.columns([1, 1, 4, 2], vertical_alignment="center")
    nav[0].button(
        "Previous",
        key="insp_prev",
        icon=":material/chevron_left:",
        on_click=_step,
        args=(pos_key, -1, len(shown)),
        disabled=pos == 0,
    )
    nav[1].button(
        "Next",
        key="insp_next",
        icon=":material/chevron_right:",
        on_click=_step,
        args=(pos_key, 1, len(shown)),
        disabled=pos >= len(shown) - 1,
    )
    nav[2].markdown(f"**Example {pos + 1} of {len(shown)}** · id {plain(row.id)}")
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
        show_graph(row.pred, key="insp_graph", gold=row.gold, interactive=interactive)
        show_problems(row.problems, ok=row.parsed)
        show_scores({k: row.values.get(k) for k in run.metrics}, key="insp_scores")
    with right:
        st.markdown("**Code**")
        show_code(row.given, row.completion or "", key="insp_code")
        if row.prompt:
            with st.expander("The whole prompt"):
                st.code(row.prompt, language="python")


# --- evaluation runs ---------------------------------------------------------------------------------

JOBS = "ev_jobs"


def current_jobs() -> list[Any]:
    return st.session_state.get(JOBS, [])


def start_jobs(task: Any, formats: Sequence[str], split: str, limit: int, concurrency: int) -> None:
    """Start one background run per format (resuming a run file with the same settings)."""
    from cocogen.jobs import BatchJob, run_path

    choice, settings = current()
    backend = backend_for(task.name)
    examples = load_split(task, split)[:limit]
    if not examples:
        raise CocogenError(f"The {split} split has no examples.")
    params = settings.params()
    prompt = {"k": settings.k, "select": settings.select, "seed": settings.select_seed,
              "token_budget": settings.token_budget, "params": params.to_dict()}  # fmt: skip
    jobs = []
    for fmt in formats:
        label = f"{backend.name}-{str(backend.model).rsplit('/', 1)[-1]}"
        out = run_path(task.name, fmt, split, backend.signature(), prompt, label=label)
        jobs.append(
            BatchJob(
                task.name, fmt, backend, examples, out, params=params, k=settings.k, select=settings.select,
                seed=settings.select_seed, token_budget=settings.token_budget, concurrency=concurrency,
                cache=completion_cache(settings.use_cache), split=split,
            ).start()
        )  # fmt: skip
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


@st.cache_resource(show_spinner="Scoring…", max_entries=16)
def _evaluated(path: str, mtime: float, size: int) -> Any:
    from cocogen.evaluate import evaluate_file

    return evaluate_file(path)


def evaluated(path: Any) -> Any:
    from pathlib import Path

    p = Path(path)
    stat = p.stat()
    return _evaluated(str(p), stat.st_mtime, stat.st_size)


def show_evaluation(jobs: Sequence[Any]) -> None:
    """Averages side by side, charts, the per-example table and downloads for finished runs."""
    import pandas as pd

    from cocogen.evaluate import DISPLAY
    from cocogen.inspection import main_metric
    from cocogen.metrics.base import METRICS, format_value

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
    keys = [k for k in DISPLAY.get(task, ()) if any(ev.score.values.get(k) is not None for _, ev in results)]
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
            import altair as alt

            chart = (
                alt.Chart(per_example.dropna(subset=[m]))
                .mark_bar(opacity=0.7)
                .encode(alt.X(f"{m}:Q", bin=alt.Bin(maxbins=20)), alt.Y("count()", stack=None), color="format:N")
                .properties(height=300)
            )
            st.altair_chart(chart, width="stretch")
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
            st.switch_page("app_pages/inspect.py")


# --- the walkthrough ------------------------------------------------------------------------------


def stepper(key: str, steps: Sequence[str]) -> int:
    """A step indicator with Back / Next; returns the current step index."""
    st.session_state.setdefault(key, 0)
    i = max(0, min(len(steps) - 1, int(st.session_state[key])))
    st.progress((i + 1) / len(steps), text=f"Step {i + 1} of {len(steps)} · **{steps[i]}**")
    c = st.columns([1, 1, 6])
    c[0].button(
        "Back",
        key=f"{key}_back",
        icon=":material/arrow_back:",
        disabled=i == 0,
        on_click=st.session_state.__setitem__,
        args=(key, i - 1),
    )
    c[1].button(
        "Next",
        key=f"{key}_next",
        icon=":material/arrow_forward:",
        disabled=i == len(steps) - 1,
        on_click=st.session_state.__setitem__,
        args=(key, i + 1),
    )
    return i


def compare_default(task: Any) -> list[str]:
    from cocogen.compare import default_formats

    return default_formats(task)


def plain(value: Any) -> str:
    """An input value as inline Markdown-safe text (lists joined; Markdown characters escaped)."""
    text = " · ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!<>|~$:" else ch for ch in text)
