"""One model, many people: requests to a shared model are served one at a time, in order.

The local model decodes one request at a time (its KV cache is one sequence).  Several
browser sessions of one app server share it, so each request joins a :class:`ModelQueue`
and waits for its turn; while it waits it can say its place in the line and an estimate
of the wait from the durations of the last requests served.  A request that is stopped
(or abandoned) while waiting leaves the line; one stopped while served ends early and
frees the model for the next.

:class:`QueuedBackend` puts a backend's requests through a queue.  Only requests that
reach the model wait: a completion-cache hit never calls the backend, so it appears at
once.  No Streamlit here; the app keeps one queue per server process.

Examples
--------
>>> q = ModelQueue()
>>> a, b = q.join("a"), q.join("b")
>>> q.position(a), q.position(b)
(0, 1)
>>> q.wait_turn(a), q.position(b)
(True, 1)
>>> q.done(a); q.position(b)
0
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cocogen.backends.base import Backend, GenerationParams, RequestContext
from cocogen.streaming import STOPPED, LiveText, complete_live
from cocogen.types import Generation

__all__ = ["ModelQueue", "Ticket", "QueuedBackend"]

_ids = itertools.count(1)


@dataclass(eq=False)
class Ticket:
    """One request's place in a :class:`ModelQueue`."""

    label: str = ""
    id: int = field(default_factory=lambda: next(_ids))
    joined: float = field(default_factory=time.monotonic)
    served_since: float | None = None  # when its turn began


class ModelQueue:
    """A first-come, first-served line for one model (thread-safe).

    Parameters
    ----------
    history
        How many recent request durations the wait estimate averages.
    """

    def __init__(self, history: int = 8) -> None:
        self._cond = threading.Condition()
        self._line: list[Ticket] = []  # in order of arrival; the first is served once it has its turn
        self._durations: deque[float] = deque(maxlen=history)

    def join(self, label: str = "") -> Ticket:
        """Take a place at the end of the line."""
        ticket = Ticket(label)
        with self._cond:
            self._line.append(ticket)
        return ticket

    def position(self, ticket: Ticket) -> int | None:
        """``0`` when it is this request's turn (or it is next and the model is free), ``k`` when
        ``k`` requests are before it, ``None`` once it has left the line."""
        with self._cond:
            try:
                return self._line.index(ticket)
            except ValueError:
                return None

    def __len__(self) -> int:
        with self._cond:
            return len(self._line)

    def wait_turn(self, ticket: Ticket, give_up: Callable[[], bool] = lambda: False, *, poll: float = 0.2) -> bool:
        """Block until it is ``ticket``'s turn (``True``), or ``give_up()`` says to leave (``False``,
        the ticket has then left the line)."""
        with self._cond:
            while self._line and self._line[0] is not ticket:
                if ticket not in self._line:
                    return False
                if give_up():
                    self._line.remove(ticket)
                    self._cond.notify_all()
                    return False
                self._cond.wait(poll)
            if ticket not in self._line:
                return False
            ticket.served_since = time.monotonic()
            return True

    def done(self, ticket: Ticket, *, record: bool = True) -> None:
        """End ``ticket``'s turn (or its wait); ``record`` its duration for the estimates."""
        with self._cond:
            if ticket.served_since is not None and record:
                self._durations.append(time.monotonic() - ticket.served_since)
            if ticket in self._line:
                self._line.remove(ticket)
            self._cond.notify_all()

    def typical_seconds(self) -> float | None:
        """The mean duration of the recent requests served, ``None`` before the first."""
        with self._cond:
            return sum(self._durations) / len(self._durations) if self._durations else None

    def estimate(self, ticket: Ticket) -> float | None:
        """Seconds until ``ticket``'s turn, from the recent durations (``None``: no history yet)."""
        with self._cond:
            if ticket not in self._line or not self._durations:
                return None
            ahead = self._line[: self._line.index(ticket)]
            if not ahead:
                return 0.0
            typical = sum(self._durations) / len(self._durations)
            head = ahead[0]
            elapsed = time.monotonic() - head.served_since if head.served_since is not None else 0.0
            return max(typical - elapsed, 0.1 * typical) + typical * (len(ahead) - 1)


class QueuedBackend:
    """``backend`` whose model requests wait for their turn in ``queue``.

    ``on_ticket`` is told the ticket when a request joins the line (and ``None`` when its
    turn is over), so a front end can show its place.  A request whose ``live`` text is
    stopped while it waits leaves the line and returns an empty ``"stopped"`` answer.
    Every other attribute (``signature``, ``model``, ``cacheable``…) is the backend's.
    """

    def __init__(
        self,
        backend: Backend,
        queue: ModelQueue,
        *,
        label: str = "",
        on_ticket: Callable[[Ticket | None], None] = lambda t: None,
    ) -> None:
        self._backend = backend
        self._queue = queue
        self._label = label
        self._on_ticket = on_ticket

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def signature(self) -> str:
        return self._backend.signature()

    def complete(
        self, prompt: str, params: GenerationParams | None = None, context: RequestContext | None = None
    ) -> list[Generation]:
        return self.complete_streaming(prompt, params, context, live=LiveText())

    def complete_streaming(
        self,
        prompt: str,
        params: GenerationParams | None = None,
        context: RequestContext | None = None,
        *,
        live: LiveText,
    ) -> list[Generation]:
        ticket = self._queue.join(self._label)
        self._on_ticket(ticket)
        try:
            if not self._queue.wait_turn(ticket, lambda: live.stopped):
                return [Generation("", finish_reason=STOPPED)]
            gens = complete_live(self._backend, prompt, params or GenerationParams(), context, live)
            self._queue.done(ticket, record=not live.stopped)
            return gens
        finally:
            self._queue.done(ticket, record=False)  # no-op after a turn that ended normally
            self._on_ticket(None)
