"""Streamlit pieces used by two or more pages: errors, shared state, pickers, forms, graph and code views.

A section shown by one page only lives in that page's script (``pages/*.py``); the frame
(navigation and sidebar) is :mod:`cocogen.app.frame`.  Decisions a user could also ask the
command line for live in the library or in the Streamlit-free :mod:`cocogen.app.state`.

State that must survive moving between pages is kept in ``st.session_state`` under the keys
below.  Values shared by several pages (task, input) are *bound* (see :func:`bound`); widgets
used on one page only use ``persist_state="session"`` so their values come back when a user
returns.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from cocogen.app.state import BackendChoice, BackendRegistry, GenerationSettings, sample_input
from cocogen.backends.base import Backend
from cocogen.errors import CocogenError
from cocogen.tasks.base import Task
from cocogen.types import Example, Graph, Problem, ProblemKind, StateTable

log = logging.getLogger("cocogen.app")

# session_state keys shared between pages
CHOICE = "backend_choice"  # the sidebar's BackendChoice, set by the frame on every run
SETTINGS = "generation_settings"  # the sidebar's GenerationSettings, likewise
TASK = "task"  # the task every page's task picker shows
FEWSHOT = "fewshot"  # FEWSHOT -> {task: [Example]}: the Playground's editable pool, used by every page
REFERENCE = "reference"  # REFERENCE -> {task: Example}: the dataset row last loaded into the input form
REFERENCE_AT = "reference_at"  # REFERENCE_AT -> {task: (split, row index)}: where that row came from


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


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=16)
def _dataset(task_name: str, split: str, data_dir: str) -> list[Example]:
    """A dataset split, loaded once per process (``data_dir`` keys the cache when it changes)."""
    from cocogen.tasks import get_task

    return get_task(task_name).load(split)


def load_split(task: Task, split: str) -> list[Example]:
    """The rows of a dataset split (raises :class:`~cocogen.errors.DataError` when it is missing)."""
    from cocogen.settings import data_dir

    return _dataset(task.name, split, str(data_dir()))


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


# --- values shared between pages ------------------------------------------------------------------


def default(key: str, value: Any) -> None:
    """Give a widget its first value through session state (so tests and other pages can set it too)."""
    if key not in st.session_state:
        st.session_state[key] = value


def bound(key: str, initial: Any) -> str:
    """A widget key tied to the durable value ``st.session_state[key]``.

    Streamlit forgets a widget's value when its page is left, and two pages' widgets with
    the same key do not share a value.  Values the user expects to follow them between
    pages (the task, the input) live under ``key``; the widget gets a copy before it is
    drawn and writes back through :func:`sync` (pass ``on_change=sync, args=(key,)``).
    """
    if key not in st.session_state:
        st.session_state[key] = initial
    wkey = f"w:{key}"
    st.session_state[wkey] = st.session_state[key]
    return wkey


def sync(key: str) -> None:
    """Write a bound widget's value back to its durable key (see :func:`bound`)."""
    st.session_state[key] = st.session_state[f"w:{key}"]


def bound_choice(key: str, options: Sequence[Any]) -> str:
    """:func:`bound` for a choice among ``options`` (a stored value no longer offered is dropped)."""
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    return bound(key, options[0])


def current() -> tuple[BackendChoice, GenerationSettings]:
    """The sidebar's choices (stored by the frame on every run)."""
    return st.session_state.get(CHOICE, BackendChoice()), st.session_state.get(SETTINGS, GenerationSettings())


def backend_for(task: str | None = None) -> Backend:
    """The chosen backend, loading it with a spinner the first time."""
    choice, _ = current()
    state, _ = registry().status(choice, task if choice.kind == "replay" else None)
    if state == "ready":
        return registry().get(choice, task)
    with st.spinner("Loading the model…" if choice.kind == "local" else "Connecting…"):
        return registry().get(choice, task)


# --- task pickers and input forms ----------------------------------------------------------------


def task_picker(key: str = TASK, label: str = "Task") -> Task:
    """A task selector whose value is shared by every page."""
    from cocogen.tasks import REGISTRY, get_task

    names = list(REGISTRY)
    name = st.selectbox(
        label, names, key=bound_choice(key, names), on_change=sync, args=(key,), format_func=lambda n: REGISTRY[n].title
    )
    return get_task(name)


def input_key(task: Task, field: str, prefix: str = "in") -> str:
    return f"{prefix}:{task.name}:{field}"


def input_form(task: Task, prefix: str = "in") -> dict[str, Any]:
    """Widgets for a task's input fields (from ``task.input_fields``); returns the raw values.

    Values are shared by pages using the same ``prefix`` (Playground and Compare), so the
    same input can be tried in both.
    """
    sample = sample_input(task)
    values: dict[str, Any] = {}
    for f in task.input_fields:
        key = input_key(task, f.name, prefix)
        initial = sample.get(f.name)
        label = f.name.replace("_", " ").capitalize()
        common: dict[str, Any] = {"help": f.help, "on_change": sync, "args": (key,)}
        if f.kind == "int":
            values[f.name] = st.number_input(label, 1, 40, key=bound(key, int(initial or 5)), **common)
        elif f.kind == "list[str]":
            wkey = bound(key, "\n".join(initial or []))
            text = st.text_area(label + " (one per line)", key=wkey, height=150, **common)
            values[f.name] = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        elif f.kind == "choice":
            choices = list(f.choices)
            if initial in choices:  # the sample's choice first, when nothing is stored yet
                st.session_state.setdefault(key, initial)
            wkey = bound_choice(key, choices)
            values[f.name] = st.radio(label, choices, key=wkey, horizontal=True, **common)
        else:
            values[f.name] = st.text_input(label, key=bound(key, initial or ""), **common)
    return values


def set_inputs(task: Task, fields: Mapping[str, Any], prefix: str = "in") -> None:
    """Fill a task's input form (e.g. from a dataset row) before the form is drawn."""
    for f in task.input_fields:
        if f.name not in fields:
            continue
        v = fields[f.name]
        st.session_state[input_key(task, f.name, prefix)] = "\n".join(map(str, v)) if f.kind == "list[str]" else v


def _fill_from_row(task: Task, split: str, index: int) -> None:
    try:
        rows = load_split(task, split)
    except CocogenError as e:
        st.session_state[f"fill_error:{task.name}"] = e.user_message()
        return
    if not rows:
        st.session_state[f"fill_error:{task.name}"] = f"The {split} split is empty."
        return
    index = min(max(index, 0), len(rows) - 1)
    row = rows[index]
    set_inputs(task, task.to_input(row.graph))
    st.session_state.setdefault(REFERENCE, {})[task.name] = row
    st.session_state.setdefault(REFERENCE_AT, {})[task.name] = (split, index)  # for a permalink
    st.session_state.pop(f"fill_error:{task.name}", None)


def dataset_filler(task: Task) -> None:
    """A small control that fills the input form from a dataset row (which then serves as reference)."""
    if err := st.session_state.get(f"fill_error:{task.name}"):
        st.error(err)
    with st.popover("Fill from a dataset row", icon=":material/dataset:"):
        data_download_offer(f"fill:{task.name}", why="The rows come from the datasets.")
        split = st.selectbox("Split", list(task.splits), key=f"fill_split:{task.name}")
        index = st.number_input("Row", 0, 100000, 0, key=f"fill_row:{task.name}")
        st.button("Fill the form", key=f"fill_go:{task.name}", on_click=_fill_from_row, args=(task, split, int(index)))


# --- the few-shot pool ------------------------------------------------------------------------------


def fewshot_pool(task: Task) -> list[Example]:
    """This session's editable few-shot examples for ``task`` (ours until edited on the Playground)."""
    pools = st.session_state.setdefault(FEWSHOT, {})
    if task.name not in pools:
        pools[task.name] = list(task.fewshot())
    return pools[task.name]


def fewshot_pool_or_error(task: Task) -> list[Example]:
    """:func:`fewshot_pool`, or an empty pool and a short error when our examples cannot be read."""
    try:
        return fewshot_pool(task)
    except CocogenError as e:
        st.error(e.user_message())
        return []


# --- showing results ------------------------------------------------------------------------------


def plain(value: Any) -> str:
    """An input value as inline Markdown-safe text (lists joined; Markdown characters escaped)."""
    text = " · ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!<>|~$:" else ch for ch in text)


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


def show_backend_warning(result: Any) -> None:
    """The backend's one-sentence note on the answer, if any (a server that answered unconstrained)."""
    samples = getattr(result, "samples", ())
    raw = (samples[0].generation.raw or {}) if samples else {}
    if warning := raw.get("warning"):
        st.warning(warning, icon=":material/info:")
    if retried := raw.get("retried"):
        st.caption(
            f"The server was asked to go on {len(retried)} time(s) from before a choice its grammar could not "
            "forbid: " + "; ".join(plain(r) for r in retried) + "."
        )


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
    sureness: Any = None,
) -> None:
    """Draw a graph (or a ProPara table); with ``gold``, coloured matched / missing / extra.

    ``sureness`` (a :class:`cocogen.app.confidence.Sureness`): edges as wide and opaque as
    the model was sure of them, with the number in their tooltip (drawn without ``gold``).
    """
    from cocogen import render
    from cocogen.diff import diff_graphs, diff_tables

    if isinstance(gold if gold is not None else graph, StateTable):
        if gold is not None:
            d = diff_tables(graph if isinstance(graph, StateTable) else None, gold)
            st.dataframe(render.style_diff_frame(d), hide_index=True, key=f"{key}_tbl")
            st.caption(f"Cells right: {d.accuracy:.0%} · green: right · orange: wrong (predicted ≠ reference)")
        elif graph is not None:
            cells = _cell_sureness(graph, sureness)
            frame = render.state_frame(graph) if cells is None else render.style_state_frame(graph, cells)
            st.dataframe(frame, hide_index=True, key=f"{key}_tbl")
            shaded = f" · shade: the model's {sureness.what}" if cells is not None else ""
            st.caption(f"`-`: does not exist · `?`: exists, location unknown{shaded}")
        return
    if graph is None and gold is None:
        st.info("No graph to draw.")
        return
    view = diff_graphs(graph, gold)[0] if gold is not None else render.view_of(graph)  # type: ignore[arg-type]
    if not view.nodes:
        st.info("The graph is empty.")
        return
    sure: dict[str, Any] = {}
    if sureness is not None and sureness.available and gold is None:
        sure = {"confidence": sureness.values, "runner_up": sureness.runner_up, "what": sureness.what}
    if interactive:
        st.iframe(render.to_pyvis_html(view, height=460, **sure), height=480)
    else:
        st.graphviz_chart(render.to_dot(view, caption=caption, **sure))
    if sure:
        st.caption(f"Edge width and opacity: the model's {sureness.what}; hover over an edge for the number.")
    if gold is not None:
        st.caption(render.legend_text())


def _cell_sureness(table: StateTable, sureness: Any) -> list[list[float | None]] | None:
    """Each cell's number, placed by the task's element keys (one per cell, in the order of ``states``)."""
    from cocogen.tasks.base import task_for_graph

    if sureness is None or not sureness.available:
        return None
    keys = task_for_graph(table).element_keys(table)
    if len(keys) != sum(len(row) for row in table.states):
        return None
    it = iter(keys)
    return [[sureness.values.get(next(it)) for _ in row] for row in table.states]


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


def show_comparison(outcomes: Sequence[Any], reference: Example | None) -> None:
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
            from cocogen.app.confidence import sureness_of

            gold = reference.graph if reference is not None else None
            show_graph(res.graph, key=f"cmp_graph_{i}", gold=gold, caption=False, sureness=sureness_of(res))
            show_sureness(res, key=f"cmp_sure_{i}")
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


# --- sharing: the one-file HTML export ----------------------------------------------------------------


def export_button(title: str, parts: Sequence[Any] | Callable[[], Sequence[Any]], *, key: str, file_name: str) -> None:
    """A download button for one HTML file of the example (built when clicked, not on every rerun)."""
    from cocogen.export import to_html

    st.download_button(
        "Example (.html)",
        lambda: to_html(title, parts() if callable(parts) else parts),
        file_name,
        "text/html",
        key=key,
        icon=":material/share:",
        help="One file with the code, the graph, problems, metrics and the prompt: opens offline and prints well.",
    )


# --- sharing: permalinks --------------------------------------------------------------------------------

PERMALINK_READ = "permalink_read"  # set once the session's first address has been read
PERMALINK_WARNINGS = "permalink_warnings"  # what a shared address asked for that could not be used
AUTORUN = "permalink_autorun"  # the link showed an answer: the opened page produces it again, once
_SETTING_WIDGETS = {
    "k": "gs_k",
    "select": "gs_select",
    "select_seed": "gs_select_seed",
    "token_budget": "gs_budget",
    "max_tokens": "gs_max_tokens",
    "temperature": "gs_temperature",
    "top_p": "gs_top_p",
    "seed": "gs_seed",
}


def apply_permalink() -> None:
    """Once per session, before any widget is drawn: put the view the address asks for into session state.

    A parameter that cannot be used is named in one warning sentence and left at its default.
    """
    if not st.session_state.get(PERMALINK_READ):
        st.session_state[PERMALINK_READ] = True
        if params := st.query_params.to_dict():
            _read_permalink(params)
    if warnings := st.session_state.get(PERMALINK_WARNINGS):
        # Shown until dismissed: the reruns of a page that is just opening would otherwise hide them.
        st.warning(" ".join(warnings), icon=":material/link_off:")
        st.button("Dismiss", key="permalink_dismiss", on_click=st.session_state.pop, args=(PERMALINK_WARNINGS, None))


def _read_permalink(params: Mapping[str, str]) -> None:
    from cocogen.app.permalink import decode
    from cocogen.tasks import get_task

    try:
        view, warnings = decode(params)
    except Exception:  # noqa: BLE001 - a link must never stop the page from opening
        log.exception("could not read the address %r", params)
        st.session_state[PERMALINK_WARNINGS] = ["This link could not be read; showing the defaults."]
        return
    if warnings:
        st.session_state[PERMALINK_WARNINGS] = warnings
    if view.task is not None:
        task = get_task(view.task)
        st.session_state[TASK] = view.task
        if view.format is not None:
            st.session_state[f"pg_fmt:{task.name}"] = view.format
        if view.input:
            set_inputs(task, view.input)
        if view.fewshot is not None:
            st.session_state.setdefault(FEWSHOT, {})[task.name] = list(view.fewshot)
        if view.reference is not None:
            _fill_from_row(task, *view.reference)  # also the input: the row's own
    for name, value in view.settings.items():
        st.session_state[_SETTING_WIDGETS[name]] = value
    if view.backend is not None:
        st.session_state["backend_kind"] = view.backend
    if view.model is not None:
        st.session_state["openai_model"] = view.model
    st.session_state[AUTORUN] = view.generate and view.task is not None


def _reference_at(task: Task, values: Mapping[str, Any]) -> tuple[str, int] | None:
    """Where the reference row came from, while the form still holds that row's input."""
    row = st.session_state.get(REFERENCE, {}).get(task.name)
    at = st.session_state.get(REFERENCE_AT, {}).get(task.name)
    if row is None or at is None:
        return None
    try:
        same = task.to_input(task.query_of(row.graph)) == task.to_input(task.from_input(values))
    except CocogenError:
        return None
    return at if same else None


def matching_reference(task: Task, query: Graph | None) -> Example | None:
    """The dataset row last loaded into the form, while the form still holds its input."""
    row = st.session_state.get(REFERENCE, {}).get(task.name)
    if row is None or query is None:
        return None
    return row if task.to_input(task.query_of(row.graph)) == task.to_input(query) else None


def take_autorun() -> bool:
    """Whether this run should produce the answer the opened link showed (true once per session)."""
    return bool(st.session_state.pop(AUTORUN, False))


def sync_permalink(task: Task, fmt: str, values: Mapping[str, Any], pool: Sequence[Example], *, answered: bool) -> None:
    """Keep the address bar a link to this view (task, format, input, settings, edited examples)."""
    from cocogen.app.permalink import encode

    choice, settings = current()
    try:
        default_pool = task.fewshot()
    except CocogenError:
        default_pool = []
    params = encode(
        task.name, fmt, values, settings, backend=choice.kind, model=choice.model, pool=pool,
        default_pool=default_pool, generate=answered, reference=_reference_at(task, values),
    )  # fmt: skip
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


# --- the datasets, downloaded from the app ----------------------------------------------------------------


def data_download_offer(key: str, *, why: str = "This needs the datasets.", reset: Sequence[str] = ()) -> bool:
    """Where data is needed and some is missing: a Download button with a progress bar.

    Returns whether every dataset file is present.  A broken download keeps its part and
    the next press resumes it (:func:`cocogen.data.download`).  ``reset``: session keys
    to forget once the data is in (a picker that had nothing to offer before).
    """
    from cocogen import data
    from cocogen.app.download import failure_sentence, offer_text, progress_text

    need = data.missing()
    error_key = f"{key}_data_error"
    if not need:
        st.session_state.pop(error_key, None)
        return True
    box = st.container(border=True)
    box.markdown(f"**{why}** " + offer_text(len(need), len(data.MANIFEST), data.download_size(), str(data.data_dir())))
    if box.button("Download the datasets", key=f"{key}_data_download", icon=":material/download:", type="primary"):
        bar = box.progress(0.0, text="Connecting…")
        shown = [-1]

        def report_progress(done: int, total: int, path: str) -> None:
            percent = int(100 * done / total) if total else 100
            if percent != shown[0]:  # one update per percent: a few hundred messages at most
                shown[0] = percent
                bar.progress(percent / 100, text=progress_text(done, total, path))

        try:
            report = data.download(progress=report_progress)
        except CocogenError as e:  # another download under way, or a folder that cannot be written
            st.session_state[error_key] = e.user_message()
        else:
            if report["ok"]:
                for stale in (error_key, *reset):
                    st.session_state.pop(stale, None)
                st.rerun()
            st.session_state[error_key] = failure_sentence(report)
    if err := st.session_state.get(error_key):
        box.error(err, icon=":material/cloud_off:")
    return False


# --- confidence and sample-and-merge ----------------------------------------------------------------------


def merge_switch(key: str) -> int:
    """The "Sample and merge" switch: the number of samples to merge, 0 when off."""
    cols = st.columns([3, 2], vertical_alignment="center")
    on = cols[0].toggle(
        "Sample and merge",
        key=f"{key}_merge",
        help="Sample several answers (temperature > 0) and merge them into one graph; "
        "each element then shows its agreement, the share of samples that have it.",
    )
    n = cols[1].number_input(
        "Samples",
        min_value=2,
        max_value=10,
        value=5,
        key=f"{key}_samples",
        disabled=not on,
        label_visibility="collapsed",
    )
    return int(n) if on else 0


def show_sureness(result: Any, *, key: str) -> None:
    """The elements, least sure first; for a merged result, its samples one click away."""
    from cocogen.app.confidence import Sureness, least_sure_rows, sureness_of

    s = sureness_of(result)
    if not s.values:
        return
    if not s.available:
        st.caption("Confidence: not available from this backend (it gives no probabilities).")
    else:
        with st.expander(f"How sure — {s.what} per element, least sure first"):
            st.dataframe(
                least_sure_rows(s),
                hide_index=True,
                key=f"{key}_sure",
                column_config={
                    s.what: st.column_config.ProgressColumn(s.what, min_value=0.0, max_value=1.0, format="%.2f")
                },
            )
    if result.merged is not None:
        with st.expander(f"The {len(result.samples)} samples behind the merge"):
            tabs = st.tabs([f"Sample {i + 1}" for i in range(len(result.samples))])
            for i, (tab, sample) in enumerate(zip(tabs, result.samples, strict=True)):
                with tab:
                    conf = sample.confidence
                    show_graph(
                        sample.parse.graph,
                        key=f"{key}_sample_{i}",
                        sureness=Sureness(dict(conf.values), dict(conf.runner_up)),
                    )


def show_calibration(runs: Sequence[tuple[str, Any]], *, key: str) -> None:
    """Calibration of each run's element confidences: bins against the share in the reference, and the ECE."""
    import altair as alt
    import pandas as pd

    from cocogen.confidence import calibration_of_run
    from cocogen.errors import CocogenError

    points, eces = [], []
    for label, path in runs:
        try:
            cal = calibration_of_run(path)
        except CocogenError:
            continue
        if cal is None:
            continue
        eces.append(f"**{label}** ECE {cal.ece:.3f} over {cal.n} elements")
        points += [
            {
                "format": label,
                "confidence": b.mean_confidence,
                "share in the reference": b.share_in_reference,
                "elements": b.count,
                "bin": f"{b.low:.1f}–{b.high:.1f}",
            }
            for b in cal.bins
            if b.count
        ]
    st.subheader("Calibration")
    if not points:
        st.caption(
            "No confidence recorded in these runs (a backend without probabilities, a merged run, or an older file)."
        )
        return
    data = pd.DataFrame(points)
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(strokeDash=[4, 4], color="gray")
    lines = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1]), title="the model's confidence (bin mean)"),
            alt.Y("share in the reference:Q", scale=alt.Scale(domain=[0, 1])),
            color="format:N",
            size=alt.Size("elements:Q", legend=None),
            tooltip=["format", "bin", "confidence", "share in the reference", "elements"],
        )
    )
    st.altair_chart((diagonal.encode(x="x:Q", y="y:Q") + lines).properties(height=300), width="stretch", key=key)
    st.caption(
        " · ".join(eces)
        + ". Each element of each answer is binned by its confidence; on the dashed line the model is as often "
        "right as it is sure. ECE: the elements' mean gap between the two."
    )
