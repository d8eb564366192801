"""Batch runs in the background, for front ends that must stay responsive (the app).

:class:`BatchJob` wraps :func:`cocogen.runs.run_batch` in a thread: a page starts it,
polls :attr:`BatchJob.progress` to draw a progress bar, and may :meth:`BatchJob.cancel`
it; requests in flight finish and are recorded.  Because run files resume, starting the
same job again (same :func:`run_path`) continues where it stopped.  The thread, the
cancel flag, the state and the error handling are :class:`BackgroundJob`'s, which the
grid's job (:class:`cocogen.app.grid.GridJob`) shares.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from cocogen.backends.base import Backend, GenerationParams
from cocogen.errors import CocogenError
from cocogen.prompts import PromptSpec
from cocogen.runs import RunProgress, RunSummary, run_batch
from cocogen.types import Example

__all__ = ["BackgroundJob", "BatchJob", "JobState", "runs_dir", "run_path"]

log = logging.getLogger(__name__)

JobState = Literal["idle", "running", "done", "cancelled", "failed"]

ProgressT = TypeVar("ProgressT")
SummaryT = TypeVar("SummaryT")
_Job = TypeVar("_Job", bound="BackgroundJob[Any, Any]")


def runs_dir() -> Path:
    """Where the app writes run files: ``$COCOGEN_RUNS_DIR``, else ``./runs``."""
    env = os.environ.get("COCOGEN_RUNS_DIR")
    return Path(env).expanduser() if env else Path.cwd() / "runs"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "x"


def run_path(
    task: str,
    fmt: str,
    split: str,
    backend_signature: str,
    settings: dict[str, Any],
    directory: Path | None = None,
    label: str | None = None,
) -> Path:
    """A run file name that is the same for the same settings, so re-running resumes.

    The limit is deliberately not part of it: asking for more examples later extends the
    same run.  ``label`` (e.g. backend and model name) makes the name readable; the hash
    covers the full signature.

    Examples
    --------
    >>> a = run_path("explagraphs", "code", "dev", "openai|model=m", {"k": 8}, Path("runs"))
    >>> a == run_path("explagraphs", "code", "dev", "openai|model=m", {"k": 8}, Path("runs"))
    True
    >>> a.name.startswith("explagraphs-code-dev-openai-model-m-")
    True
    """
    digest = hashlib.sha256(
        json.dumps([task, fmt, split, backend_signature, settings], sort_keys=True, default=str).encode()
    ).hexdigest()[:10]
    name = f"{_slug(task)}-{_slug(fmt)}-{_slug(split)}-{_slug(label or backend_signature)}-{digest}.jsonl"
    return (directory or runs_dir()) / name


class BackgroundJob(Generic[ProgressT, SummaryT]):
    """One long call in a daemon thread, so that the page that started it stays responsive.

    A subclass writes the call (:meth:`_work`), which reports through :meth:`_on_progress`
    and stops early once :attr:`_cancel` is set.  A :class:`~cocogen.errors.CocogenError`
    fails the job with its own message; anything else is logged in full and becomes one
    sentence a page can show, so no exception is lost in the thread.
    """

    _thread_name = "cocogen-job"
    _noun = "job"  # as in "The job failed unexpectedly: …"

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.state: JobState = "idle"
        self.progress: ProgressT | None = None
        self.summary: SummaryT | None = None
        self.error: CocogenError | None = None
        self.started = 0.0  # time.perf_counter() when start() ran and when the thread ended
        self.finished = 0.0

    def _work(self) -> JobState:
        """Do the work in the thread; return ``"done"``, or ``"cancelled"`` if it stopped early."""
        raise NotImplementedError

    def _wrap_up(self) -> None:
        """In the thread after :meth:`_work`, even a failed one; :meth:`wait` returns after it."""

    def _on_progress(self, p: ProgressT) -> None:
        self.progress = p

    def _run(self) -> None:
        try:
            self.state = self._work()
        except CocogenError as e:
            self.error, self.state = e, "failed"
        except Exception as e:  # noqa: BLE001 - reported to the user, logged in full
            log.exception("%s failed", self._noun)
            message = f"The {self._noun} failed unexpectedly: {type(e).__name__}: {e}"
            self.error, self.state = CocogenError(message), "failed"
        finally:
            self._wrap_up()
            self.finished = time.perf_counter()

    def start(self: _Job) -> _Job:
        """Start the thread; a job starts once, so calling this again does nothing."""
        if self._thread is None:
            self.state, self.started = "running", time.perf_counter()
            self._thread = threading.Thread(target=self._run, daemon=True, name=self._thread_name)
            self._thread.start()
        return self

    def cancel(self) -> None:
        """No new request starts; those in flight finish and are written, then the job stops."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work and its wrap-up are done (``True``) or ``timeout`` passes (``False``)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the thread is alive: a page that reruns once this turns false sees the wrap-up's results."""
        return self._thread is not None and self._thread.is_alive()


class BatchJob(BackgroundJob[RunProgress, RunSummary]):
    """One :func:`~cocogen.runs.run_batch` call running in a daemon thread.

    Parameters are those of :func:`~cocogen.runs.run_batch`; ``progress`` (tqdm) is off.
    """

    _thread_name = "cocogen-batch"
    _noun = "run"

    def __init__(
        self,
        task: str,
        fmt: str,
        backend: Backend,
        examples: Sequence[Example],
        out: Path,
        *,
        params: GenerationParams | None = None,
        spec: PromptSpec | None = None,
        concurrency: int = 4,
        cache: Any = None,
        split: str | None = None,
    ) -> None:
        super().__init__()
        self.task, self.fmt, self.out, self.split = task, fmt, Path(out), split
        self.total = len(examples)
        self._kwargs: dict[str, Any] = dict(params=params, spec=spec, concurrency=concurrency, cache=cache, split=split)
        self._backend = backend
        self._examples = list(examples)

    def _work(self) -> JobState:
        self.summary = run_batch(
            self.task, self.fmt, self._backend, self._examples, self.out,
            progress=False, on_progress=self._on_progress, cancel=self._cancel, **self._kwargs,
        )  # fmt: skip
        return "cancelled" if self.summary.cancelled else "done"

    @property
    def fraction(self) -> float:
        p = self.progress
        if p is None or not p.total:
            return 1.0 if self.state in ("done",) else 0.0
        return min(1.0, p.done / p.total)

    def describe(self) -> str:
        """A progress line: done/total, rate and ETA."""
        p = self.progress
        elapsed = (self.finished or time.perf_counter()) - self.started
        if p is None:
            return "starting…" if self.running else self.state
        new = p.ok + p.failed
        rate = new / elapsed if elapsed > 0 else 0.0
        eta = (p.total - p.done) / rate if rate > 0 and self.running else None
        text = f"{p.done}/{p.total} examples · {p.ok} ok · {p.failed} failed · {p.cached} cached · {rate:.2f}/s"
        return text + (f" · about {eta:.0f} s left" if eta is not None else "")
