"""Generations that can be watched while they are written, and stopped.

A :class:`LiveText` is handed to a generation (``pipeline.generate(..., live=...)``).  The
backend writes into it *the completion so far* — a snapshot, not a delta, because the
local model's constrained decoder sometimes takes back a word it wrote — and checks
:attr:`LiveText.stopped` between tokens (or chunks of a server's stream).  A stopped
generation ends early and returns what was written, with ``finish_reason == "stopped"``;
it is never stored in the completion cache.

Streaming is an optional backend capability: a backend with a method
``complete_streaming(prompt, params, context, *, live)`` writes as it decodes; any other
backend is asked with ``complete`` and its answer is written once, at the end
(:func:`complete_live`).  A completion-cache hit is written at once.

:func:`partials` runs a generation in a thread and yields the parser's reading of the text
so far whenever it changes (``Format.parse`` recovers every finished step, edge, triple
or cell of a cut program), then the final result.

Examples
--------
>>> live = LiveText()
>>> live.write("    step0 = ")
>>> live.text, live.version, live.stopped
('    step0 = ', 1, False)
>>> live.stop()
>>> live.stopped
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cocogen.types import Generation, Graph, ParseResult

if TYPE_CHECKING:
    from cocogen.backends.base import Backend, GenerationParams, RequestContext
    from cocogen.pipeline import Result
    from cocogen.tasks.base import Format

__all__ = ["STOPPED", "LiveText", "Partial", "complete_live", "partials", "was_stopped", "can_stream"]

STOPPED = "stopped"  # the finish reason of a generation ended by LiveText.stop()


class LiveText:
    """The text a generation has written so far, and the request to stop it (thread-safe).

    Parameters
    ----------
    stop_event
        Share one event between several generations (Compare's columns) so that one
        Stop ends them all; default: a new event.
    """

    def __init__(self, stop_event: threading.Event | None = None) -> None:
        self._lock = threading.Lock()
        self._text = ""
        self._version = 0
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._on_stop: list[Callable[[], None]] = []

    def write(self, text: str) -> None:
        """Replace the text so far (backends call this after each token or chunk)."""
        with self._lock:
            if text != self._text:
                self._text = text
                self._version += 1

    @property
    def text(self) -> str:
        with self._lock:
            return self._text

    @property
    def version(self) -> int:
        """Grows by one with every change of :attr:`text`: a cheap "has it changed?" test."""
        with self._lock:
            return self._version

    def snapshot(self) -> tuple[int, str]:
        with self._lock:
            return self._version, self._text

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the generation to end now; it keeps what it has written."""
        self._stop.set()
        with self._lock:
            callbacks, self._on_stop = self._on_stop, []
        for fn in callbacks:
            try:
                fn()
            except Exception:  # noqa: BLE001, S110 - closing an already-closed stream is no error
                pass

    def on_stop(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn`` (e.g. close a network stream a reader is blocked on) when stopped.

        Returns a function that unregisters it; called at once if already stopped.
        """
        with self._lock:
            if not self._stop.is_set():
                self._on_stop.append(fn)

                def forget() -> None:
                    with self._lock:
                        if fn in self._on_stop:
                            self._on_stop.remove(fn)

                return forget
        fn()
        return lambda: None


def can_stream(backend: Any) -> bool:
    """Whether ``backend`` writes its answer as it decodes (has ``complete_streaming``)."""
    return callable(getattr(backend, "complete_streaming", None))


def complete_live(
    backend: Backend, prompt: str, params: GenerationParams, context: RequestContext | None, live: LiveText
) -> list[Generation]:
    """``backend.complete`` that writes into ``live``: as it decodes, or once at the end.

    A generation stopped before it began returns one empty ``"stopped"`` generation and
    asks the backend nothing.
    """
    if live.stopped:
        return [Generation("", finish_reason=STOPPED)]
    if can_stream(backend):
        gens = backend.complete_streaming(prompt, params, context, live=live)  # type: ignore[attr-defined]
    else:
        gens = backend.complete(prompt, params, context)
    if gens:
        live.write(gens[0].text)
    return gens


def was_stopped(result: Result) -> bool:
    """Whether a pipeline result's answer was cut by a Stop."""
    return result.samples[0].generation.finish_reason == STOPPED


@dataclass(frozen=True)
class Partial:
    """The parser's reading of a generation so far: the text and what it parses to."""

    completion: str
    parse: ParseResult

    @property
    def graph(self) -> Graph | None:
        return self.parse.graph


def partials(
    generate: Callable[[LiveText], Result],
    fmt: Format,
    query: Graph,
    *,
    live: LiveText | None = None,
    interval: float = 0.25,
) -> Iterator[Partial | Result]:
    """Run ``generate(live)`` in a thread; yield a :class:`Partial` whenever the text changes
    (at most once per ``interval`` seconds), then the :class:`~cocogen.pipeline.Result`.

    ``generate`` is typically ``lambda live: pipeline.generate(..., live=live)``.  Its
    error is raised here after the partials written before it; closing the iterator early
    stops the generation; to stop it and still get the result, call ``live.stop()``.
    """
    live = live or LiveText()
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["result"] = generate(live)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e
        finally:
            done.set()

    thread = threading.Thread(target=work, name="cocogen-stream", daemon=True)
    thread.start()
    seen = 0
    try:
        while True:
            finished = done.wait(interval)
            version, text = live.snapshot()
            if version != seen and not finished:
                seen = version
                yield Partial(text, fmt.parse(text, query))
            if finished:
                break
    finally:
        if not done.is_set():
            live.stop()
        thread.join()
    if "error" in box:
        raise box["error"]
    yield box["result"]
