"""A generation the app watches while it is written: background thread, lanes, Stop, queue.

A page starts a :class:`LiveJob` when Generate is pressed and keeps it in the session;
every redraw reads each :class:`Lane`'s text so far and parses it (the parser recovers
every finished step, edge, triple or cell), so the code and graph grow as the model
writes.  The job outlives the script run that started it, so a rerun (typing in another
field, moving between pages) loses neither the request nor its answer.

Lanes are the answers a job writes: one for the Playground and Learn, one per format on
Compare.  All lanes share one stop event: :meth:`LiveJob.stop` ends the answer being
written (it keeps what it has) and the lanes not started yet.  With a
:class:`~cocogen.app.model_queue.ModelQueue`, the job's model requests wait their turn
and the job can say its place and the estimated wait; a job no page has looked at for
``abandon_after`` seconds (its browser tab was closed) stops by itself, freeing the model.
No Streamlit here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cocogen.app.model_queue import ModelQueue, QueuedBackend, Ticket
from cocogen.backends.base import Backend
from cocogen.errors import CocogenError
from cocogen.streaming import LiveText, Partial
from cocogen.tasks.base import Format
from cocogen.types import Graph

__all__ = ["Lane", "LiveJob", "JobState", "ABANDON_AFTER_S"]

log = logging.getLogger(__name__)

JobState = Literal["waiting", "running", "done", "stopped", "failed"]
# A page redraws a running job a few times a second; a hidden browser tab may slow its timers
# to one a minute, so only a much longer silence means nobody is watching.
ABANDON_AFTER_S = 150.0


@dataclass
class Lane:
    """One answer of a job: what it answers, its text so far, and the final value once written."""

    fmt: Format
    query: Graph
    given: str = ""  # the program's part before the model's (the query text)
    live: LiveText = field(default_factory=LiveText)  # the job gives it the job's stop event
    value: Any = None  # the pipeline Result (or a Compare Outcome) once finished
    _parsed: tuple[int, Partial] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.fmt.name

    def partial(self) -> Partial:
        """The text so far and its parse (parsed again only when the text has changed)."""
        version, text = self.live.snapshot()
        if self._parsed is None or self._parsed[0] != version:
            self._parsed = (version, Partial(text, self.fmt.parse(text, self.query)))
        return self._parsed[1]

    @property
    def started(self) -> bool:
        return self.live.version > 0 or self.value is not None


class LiveJob:
    """``work(job)`` in a daemon thread, writing into ``job.lanes``.

    Parameters
    ----------
    lanes
        The answers to write (one per format); each gets a LiveText with the job's stop event.
    work
        Does the generation: uses :meth:`backend` to wrap its backend (queue) and
        ``lane.live`` as the ``live`` of :func:`cocogen.pipeline.generate`, and sets
        ``lane.value``.  A :class:`CocogenError` it raises becomes :attr:`error`.
    queue
        The shared model's line, when the backend is one model for all sessions.
    """

    def __init__(
        self,
        lanes: Sequence[Lane],
        work: Callable[[LiveJob], None],
        *,
        queue: ModelQueue | None = None,
        label: str = "",
        abandon_after: float = ABANDON_AFTER_S,
    ) -> None:
        self._stop = threading.Event()
        self.lanes = list(lanes)
        for lane in self.lanes:
            lane.live = LiveText(self._stop)
        self._work = work
        self._queue = queue
        self.label = label
        self.abandon_after = abandon_after
        self.ticket: Ticket | None = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.finished: float | None = None
        self._seen = time.monotonic()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> LiveJob:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cocogen-live", daemon=True)
            self._thread.start()
            threading.Thread(target=self._watch, name="cocogen-live-watch", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            self._work(self)
        except CocogenError as e:
            self.error = e.user_message()
        except Exception as e:  # noqa: BLE001 - shown in one line, logged in full
            log.exception("generation failed")
            self.error = f"The generation failed unexpectedly ({type(e).__name__}: {str(e)[:200]})."
        finally:
            self.finished = time.monotonic()
            self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(1.0):
            if time.monotonic() - self._seen > self.abandon_after:
                log.info("nobody is watching generation %s any more: stopping it", self.label)
                self.stop()

    def stop(self) -> None:
        """End the answer being written (keeping it) and skip the lanes not started."""
        for lane in self.lanes:
            lane.live.stop()  # one shared event; each lane's stop also closes its own stream

    def touch(self) -> None:
        """A page is showing this job (see ``abandon_after``)."""
        self._seen = time.monotonic()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # --- what it is doing -----------------------------------------------------------------------

    def backend(self, backend: Backend) -> Backend:
        """``backend`` through the job's queue (if any), telling the job its place in line."""
        if self._queue is None:
            return backend
        return QueuedBackend(backend, self._queue, label=self.label, on_ticket=self._set_ticket)  # type: ignore[return-value]

    def _set_ticket(self, ticket: Ticket | None) -> None:
        self.ticket = ticket

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def state(self) -> JobState:
        if self._done.is_set():
            return "failed" if self.error else "stopped" if self.stopped else "done"
        return "waiting" if self.place() else "running"

    @property
    def active(self) -> bool:
        return not self._done.is_set()

    def place(self) -> int | None:
        """How many requests are before this one for the model (``None`` or 0: none)."""
        ticket, queue = self.ticket, self._queue
        if ticket is None or queue is None:
            return None
        return queue.position(ticket)

    def describe(self) -> str:
        """One line for the page: waiting (place, estimate), writing, or how it ended."""
        state = self.state
        elapsed = (self.finished or time.monotonic()) - self.started
        if state == "waiting":
            place = self.place() or 0
            assert self.ticket is not None and self._queue is not None
            eta = self._queue.estimate(self.ticket)
            wait = f" · about {eta:.0f} s" if eta is not None else ""
            ahead = "1 request is" if place == 1 else f"{place} requests are"
            return f"Waiting for the model: {ahead} before yours{wait}."
        if state == "running":
            if not any(lane.live.version for lane in self.lanes):
                return f"The model is reading the prompt… {elapsed:.0f} s"  # no token yet (or still loading)
            return f"Writing… {elapsed:.0f} s"
        if state == "stopped":
            return f"Stopped after {elapsed:.1f} s: what was written is kept."
        if state == "failed":
            return self.error or "Failed."
        return f"Done in {elapsed:.1f} s."
