"""Streamlit side of live generation: the click that asks, the panel that grows, the Stop button.

A Generate button does not generate in its script run.  Its ``on_click`` (:func:`request`)
only records the request in the session, before the script runs; the run then starts a
:class:`~cocogen.app.live.LiveJob` with the input *as the script has just read it* (a click
right after typing in a field sends both at once) inside :func:`answering`, which clears
the request once it is answered, so a run cut short by another rerun leaves the request
for the next run.

While the job runs, :func:`live_panel` redraws itself a few times a second as a fragment
(``st.fragment(run_every=…)``): only the panel reruns, its elements are updated in place,
and the graph is drawn again only when the parser's reading has changed.  When the job
ends, one full rerun lets the page draw the final answer with everything around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from cocogen.app import components as c
from cocogen.app.compare import Outcome, compare_formats
from cocogen.app.live import Lane, LiveJob
from cocogen.app.model_queue import ModelQueue
from cocogen.backends.base import Backend, GenerationParams
from cocogen.cache import CompletionCache
from cocogen.pipeline import generate
from cocogen.prompts import Prompt, PromptSpec
from cocogen.tasks.base import Format, Task
from cocogen.types import Graph

__all__ = [
    "REDRAW_S",
    "model_queue",
    "request",
    "requested",
    "answering",
    "running",
    "start_generation",
    "start_comparison",
    "live_panel",
    "collect",
    "draw_lane",
    "draw_columns",
    "outcomes",
    "stopped_note",
]

REDRAW_S = 0.4  # a few redraws a second: the code visibly grows, the browser is not flooded
INSTANT_S = 0.15  # how long a run waits for a new job before drawing it live


@st.cache_resource(show_spinner=False)
def model_queue() -> ModelQueue:
    """The one line for the local model, shared by every session of this server."""
    return ModelQueue()


def _job_key(key: str) -> str:
    return f"live:{key}"


def _request_key(key: str) -> str:
    return f"live:{key}:requested"


def request(key: str) -> None:
    """``on_click`` of a Generate button: remember the click until a run has started the job."""
    st.session_state[_request_key(key)] = True


def requested(key: str) -> bool:
    return bool(st.session_state.get(_request_key(key)))


@contextmanager
def answering(key: str) -> Iterator[bool]:
    """Yield whether a click under ``key`` waits for an answer; the block answers it.

    The request is cleared when the block ends, also by an error (the page shows it: one
    click, one try) or because the input cannot be asked for; not when Streamlit stops the
    run for a newer one (its control exceptions are not ``Exception``), so that run's
    successor answers the click.
    """
    asked = requested(key)
    try:
        yield asked
    except Exception:
        _forget(key)
        raise
    _forget(key)


def _forget(key: str) -> None:
    st.session_state.pop(_request_key(key), None)


def running(key: str) -> bool:
    """Whether the session's job under ``key`` is still waiting or writing."""
    job = st.session_state.get(_job_key(key))
    return isinstance(job, LiveJob) and job.active


def _start(key: str, job: LiveJob) -> LiveJob:
    old = st.session_state.get(_job_key(key))
    if isinstance(old, LiveJob) and old.active:
        old.stop()  # a new request replaces the one still running (and frees its place)
    st.session_state[_job_key(key)] = job.start()
    # A cached answer takes milliseconds: waiting that long lets this run draw it, with no
    # live panel flashing up first.  Anything slower is drawn live.
    job.wait(INSTANT_S)
    return job


def _queue_for(kind: str) -> ModelQueue | None:
    return model_queue() if kind == "local" else None


def start_generation(
    key: str,
    task: Task,
    fmt: Format,
    query: Graph,
    backend: Backend,
    *,
    backend_kind: str,
    prompt: Prompt,
    params: GenerationParams,
    cache: CompletionCache | None,
    merge: bool = False,
) -> LiveJob:
    """Start one generation (Playground, Learn) as the session's job under ``key``.

    ``merge``: the ``params.n`` samples are merged into one graph (the live view shows the
    sample being written).
    """

    def work(job: LiveJob) -> None:
        lane = job.lanes[0]
        lane.value = generate(
            task, fmt, query, job.backend(backend), prompt=prompt, params=params, cache=cache, live=lane.live,
            merge=merge,
        )  # fmt: skip

    lane = Lane(fmt, query, prompt.query_text)
    return _start(key, LiveJob([lane], work, queue=_queue_for(backend_kind), label=key))


def start_comparison(
    key: str,
    task: Task,
    formats: Sequence[str],
    query: Graph,
    backend: Backend,
    *,
    backend_kind: str,
    reference: Graph | None,
    spec: PromptSpec,
    params: GenerationParams,
    cache: CompletionCache | None,
    merge: bool = False,
) -> LiveJob:
    """Start one input through several formats, one lane (column) per format (``merge``: as in Playground)."""

    def work(job: LiveJob) -> None:
        lanes = {lane.name: lane for lane in job.lanes}

        def keep(outcome: Outcome) -> None:
            lanes[outcome.format].value = outcome

        compare_formats(
            task,
            formats,
            query,
            job.backend(backend),
            reference=reference,
            spec=spec,
            params=params,
            cache=cache,
            live=lambda name: lanes[name].live,
            on_outcome=keep,
            merge=merge,
        )

    lanes = [Lane(task.formats[name], query, task.formats[name].render_query(query)) for name in formats]
    return _start(key, LiveJob(lanes, work, queue=_queue_for(backend_kind), label=key))


def collect(key: str) -> LiveJob | None:
    """The session's job under ``key`` if it has ended well (then removed from the session), else ``None``."""
    job = st.session_state.get(_job_key(key))
    if isinstance(job, LiveJob) and not job.active and not job.error:
        st.session_state.pop(_job_key(key), None)
        return job
    return None


def live_panel(key: str, draw: Callable[[LiveJob], None]) -> LiveJob | None:
    """Draw the session's job under ``key`` while it runs; return it once, when it has ended well.

    A running job is redrawn every :data:`REDRAW_S` seconds with ``draw(job)`` below a
    status line and a Stop button.  A job that failed stays and is drawn with its error
    and what it had written.  A finished or stopped job is removed from the session and
    returned, for the page to keep its answers.
    """
    if (done := collect(key)) is not None:
        return done
    job = st.session_state.get(_job_key(key))
    if not isinstance(job, LiveJob):
        return None
    polling = job.active

    @st.fragment(run_every=REDRAW_S if polling else None)
    def panel() -> None:
        current = st.session_state.get(_job_key(key))
        if not isinstance(current, LiveJob):
            return
        if polling and not current.active:
            st.rerun()  # the whole page, which draws the final answer (and stops this timer)
        current.touch()
        if current.error:
            st.error(current.error, icon=":material/error:")
            draw(current)
            return
        row = st.columns([6, 1], vertical_alignment="center")
        icon = ":material/hourglass_top:" if current.state == "waiting" else ":material/edit_note:"
        row[0].markdown(f"{icon} {current.describe()}")
        row[1].button("Stop", key=f"live:{key}:stop", icon=":material/stop_circle:", on_click=current.stop)
        draw(current)

    panel()
    return None


def draw_lane(lane: Lane, *, key: str, side_by_side: bool = True) -> None:
    """A lane's code so far (the given part, then what the model wrote) and its graph so far."""
    partial = lane.partial()
    code_box, graph_box = st.columns(2, gap="large") if side_by_side else (st.container(), st.container())
    with code_box:
        st.markdown("**Program so far**")
        language = "python" if lane.fmt.kind == "code" else None
        st.code(lane.given + partial.completion, language=language, wrap_lines=True)
    with graph_box:
        st.markdown("**Graph so far**")
        if partial.graph is None:
            st.caption("Nothing finished yet.")
        else:
            c.show_graph(partial.graph, key=f"{key}_live_graph", caption=False)


def draw_columns(job: LiveJob) -> None:
    """Compare's lanes side by side: each format's code and graph so far, or its final answer's state."""
    cols = st.columns(len(job.lanes), gap="medium")
    for i, (col, lane) in enumerate(zip(cols, job.lanes, strict=True)):
        with col:
            st.subheader(f"{lane.name} · {lane.fmt.kind}")
            if not lane.started and job.active:
                st.caption("Waiting for the formats before it.")
                continue
            if lane.value is not None and getattr(lane.value, "error", None):
                st.error(lane.value.error)
                continue
            draw_lane(lane, key=f"cmp_{i}", side_by_side=False)


def outcomes(job: LiveJob) -> list[Any]:
    """A finished comparison's answers; after a Stop, without the formats that wrote nothing."""
    return [lane.value for lane in job.lanes if lane.value is not None and (lane.live.version or not job.stopped)]


def stopped_note(stopped: bool) -> None:
    """Say that an answer was cut by Stop (the parser's problems then say what is unfinished)."""
    if stopped:
        st.warning("Stopped: this is what the model had written when Stop was pressed.", icon=":material/stop_circle:")
