"""Batch runs over a dataset split: concurrent, rate-limited, resumable, never losing work.

A *run file* is JSON Lines.  Its first line is a header (task, format, backend signature,
model, generation and prompt settings); every other line is one example's record, written
and flushed the moment the example finishes:

``id``, ``status`` (``"ok"`` or ``"failed"``), ``input``, ``prompt``, ``query_text``,
``examples`` (few-shot ids), ``completion``, ``code``, ``graph``, ``problems``,
``reference``, ``usage``, ``timing``, ``backend``, ``model``, ``params`` and, for a failed
example, ``error``.  No API key is ever written: backends expose only a secret-free
``signature()``, and error messages are redacted.

Running the same command again *resumes*: examples already recorded ``ok`` are skipped,
failed ones are retried, and the file ends with exactly one record per example.  A
crash, a ``kill`` or Ctrl-C loses at most the requests in flight.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cocogen.backends.base import Backend, GenerationParams, RequestContext, redact
from cocogen.cache import CompletionCache
from cocogen.errors import BackendError, CocogenError, ConfigError, DataError
from cocogen.jsonl import field_of, read_jsonl
from cocogen.pipeline import generate
from cocogen.prompts import PromptSpec, build_prompt
from cocogen.tasks.base import Format, Task, get_format, get_task
from cocogen.types import Example, Generation

__all__ = [
    "RateLimiter",
    "RunFile",
    "RunSummary",
    "read_run",
    "run_batch",
    "RUN_FORMAT_VERSION",
]

log = logging.getLogger(__name__)

RUN_FORMAT_VERSION = 1
DEFAULT_CONCURRENCY = 4
# Stop a run when this many examples in a row fail: the server is down or misconfigured,
# and hammering it with the rest of the split helps nobody.  Re-running resumes.
MAX_CONSECUTIVE_FAILURES = 10
# Errors that will fail every example alike (bad key, unknown model): stop at once.
FATAL_STATUSES = frozenset({401, 403, 404})

ProgressCallback = Callable[["RunProgress"], None]


# --- rate limiting ------------------------------------------------------------------------


class RateLimiter:
    """Spaces request starts evenly so that at most ``rpm`` begin per minute.

    Shared by all worker threads.  ``rpm=None`` (or 0) means no limit.

    Examples
    --------
    >>> lim = RateLimiter(rpm=600)            # one start every 0.1 s
    >>> t = time.monotonic(); _ = [lim.acquire() for _ in range(3)]
    >>> 0.18 <= time.monotonic() - t < 2.0
    True
    """

    def __init__(self, rpm: float | None) -> None:
        if rpm is not None and rpm < 0:
            raise ConfigError(f"--rpm must be positive, not {rpm!r}.")
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        """Wait for this request's slot; ``False`` if ``cancel`` was set while waiting."""
        if not self.interval:
            return not (cancel is not None and cancel.is_set())
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - time.monotonic()
        if wait > 0:
            if cancel is not None:
                return not cancel.wait(wait)
            time.sleep(wait)
        return not (cancel is not None and cancel.is_set())


class _Cancelled(Exception):
    pass


class _LimitedBackend:
    """A backend proxy that takes a rate-limiter slot before each real request (cache hits take none)."""

    def __init__(self, inner: Backend, limiter: RateLimiter, cancel: threading.Event) -> None:
        self._inner = inner
        self._limiter = limiter
        self._cancel = cancel
        self.name = inner.name
        self.mode = inner.mode
        self.cacheable = getattr(inner, "cacheable", True)

    @property
    def model(self) -> str:
        return self._inner.model

    def signature(self) -> str:
        return self._inner.signature()

    def complete(
        self, prompt: str, params: GenerationParams | None = None, context: RequestContext | None = None
    ) -> list[Generation]:
        if not self._limiter.acquire(self._cancel):
            raise _Cancelled
        return self._inner.complete(prompt, params, context)


# --- run files ------------------------------------------------------------------------------


@dataclass
class RunFile:
    """A run file read back: its header and the last record of each example id, in file order."""

    path: Path
    header: dict[str, Any] | None
    records: list[dict[str, Any]]
    partial_tail: bool = False  # the last line was cut mid-write (a killed run)
    duplicates: int = 0  # ids recorded more than once (a retried example)
    lines: dict[str, int] = field(default_factory=dict)  # id -> line of its (last) record
    header_line: int | None = None

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.records}

    @property
    def ok_ids(self) -> set[str]:
        return {r["id"] for r in self.records if r.get("status") == "ok"}

    @property
    def failed_ids(self) -> set[str]:
        return {r["id"] for r in self.records if r.get("status") != "ok"}


def read_run(path: str | Path) -> RunFile:
    """Read a run file, keeping the last record per id and tolerating a cut-off last line.

    Raises :class:`DataError` (with the line number) for a malformed line elsewhere, a
    record without an id or with an id that is not text or a whole number.
    """
    p = Path(path)
    lines = read_jsonl(p, allow_cut_tail=True, allow_empty=True, missing_hint="")
    header: dict[str, Any] | None = None
    header_line: int | None = None
    latest: dict[str, dict[str, Any]] = {}
    where: dict[str, int] = {}
    seen = 0
    for i, d in lines:
        if d.get("kind") == "header":
            if header is None:
                header, header_line = d, i
            continue
        if field_of(d, "id", (str, int), path=p, line=i) is None:
            raise DataError("record without an id", path=str(p), line=i)
        seen += 1
        rid = str(d["id"])
        d["id"] = rid
        latest.pop(rid, None)  # re-insert so the order is that of the latest record
        latest[rid] = d
        where[rid] = i
    return RunFile(p, header, list(latest.values()), lines.cut_tail, seen - len(latest), where, header_line)


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _header(
    task: Task,
    fmt: Format,
    backend: Backend,
    params: GenerationParams,
    spec: PromptSpec,
    split: str | None,
) -> dict[str, Any]:
    from cocogen import __version__

    return {
        "kind": "header",
        "version": RUN_FORMAT_VERSION,
        "task": task.name,
        "format": fmt.name,
        "split": split,
        "backend": backend.signature(),
        "backend_name": backend.name,
        "model": backend.model,
        "params": params.to_dict(),
        "prompt": spec.for_task(task).to_dict(),
        "created": _iso_now(),
        "cocogen": __version__,
    }


# Header fields that must match for a resume to continue the same experiment.
_RESUME_KEYS = ("task", "format", "backend", "params", "prompt", "merge")


# Run files written before the prompt spec named its fields: old name -> new name.
_OLD_PROMPT_KEYS = {"select": "selection", "seed": "selection_seed"}


def _check_resume(path: Path, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    if old is None:
        raise ConfigError(
            f"{path} exists but is not a cocogen run file (no header line).",
            hint="Choose another --out path.",
        )
    if isinstance(old.get("prompt"), dict):
        old = {**old, "prompt": {_OLD_PROMPT_KEYS.get(k, k): v for k, v in old["prompt"].items()}}
    diffs = [k for k in _RESUME_KEYS if old.get(k) != new.get(k)]
    if diffs:
        detail = "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in diffs)
        raise ConfigError(
            f"{path} was written by a run with other settings ({detail}).",
            hint="Re-run with the same settings to resume it, or choose another --out path.",
        )


def _truncate_partial_tail(path: Path) -> None:
    """Cut a half-written last line so the next append starts on a fresh line."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        # Find the last newline; everything after it is the cut line.
        pos = size - 1
        chunk = 65536
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            buf = fh.read(pos - start)
            nl = buf.rfind(b"\n")
            if nl >= 0:
                last_nl = start + nl
                tail_start = last_nl + 1
                fh.seek(tail_start)
                tail = fh.read()
                try:
                    json.loads(tail)
                    fh.seek(0, os.SEEK_END)
                    fh.write(b"\n")  # a complete record that only lacked its newline
                except ValueError:
                    fh.truncate(tail_start)
                return
            pos = start
        fh.truncate(0)


class _RunLock:
    """An exclusive lock on a run file, held while one process writes it.

    The lock is a sidecar file, ``<run file>.lock``, because compaction replaces the run
    file itself (a lock on the old inode would not cover the new one).  It is taken
    without waiting: a second writer refuses at once instead of queueing behind a run
    that may take hours.  The sidecar is removed on release; a writer that opened it
    just before removal notices that its lock is on a removed file and tries again.
    """

    def __init__(self, run_path: Path) -> None:
        self.run_path = run_path
        self.path = run_path.with_name(run_path.name + ".lock")
        self._fh: Any = None

    def acquire(self) -> None:
        import portalocker

        for _ in range(10):
            try:
                fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
            except OSError as e:
                raise ConfigError(f"Cannot create the lock file {self.path}: {e.strerror}.") from None
            try:
                portalocker.lock(fh, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
            except portalocker.exceptions.LockException:
                fh.close()
                raise ConfigError(
                    f"{self.run_path} is being written by another cocogen run right now; it was left as it is.",
                    hint="Wait for that run to finish, or choose another --out path.",
                ) from None
            try:
                same = os.fstat(fh.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                fh.seek(0)
                held = fh.read(4096)
                if held and not re.fullmatch(r"\d+\n?", held):
                    # Not ours (a pid or nothing): someone's own file that happens to have this name.
                    fh.close()
                    raise ConfigError(
                        f"{self.path} exists and is not a cocogen lock file; it was left as it is.",
                        hint="Move it away, or choose another --out path.",
                    )
                fh.seek(0)
                fh.truncate()
                fh.write(f"{os.getpid()}\n")  # who holds it, for a person looking
                fh.flush()
                self._fh = fh
                return
            fh.close()  # the holder released and removed it between our open and lock
        raise ConfigError(f"Could not lock {self.run_path}: other runs keep taking it.", hint="Try again.")

    def release(self) -> None:
        if self._fh is None:
            return
        # Remove first, then unlock: a waiter that opened the old file sees it is gone.
        try:
            self.path.unlink()
        except OSError:
            pass
        self._fh.close()
        self._fh = None


def _make_parent(out: Path) -> None:
    """Create the run file's folder, or say in a sentence why it cannot be."""
    blocker = next((a for a in (out.parent, *out.parent.parents) if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        raise ConfigError(f"Cannot write the run file {out}: {blocker} is a file, not a folder.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"Cannot create the folder of the run file {out}: {e.strerror}.") from None


def _prepare_out(out: Path, header: dict[str, Any]) -> RunFile | None:
    """Check ``out`` before anything is written to it; the existing run to resume, or ``None`` for a new one.

    A file that is not a run file, or a run of other settings, is refused with a
    sentence and left byte for byte as it was; only then is a cut last line repaired.
    """
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file path for the run file.")
    if not out.exists() or out.stat().st_size == 0:
        return None
    if _is_cut_header(out):
        return None  # a run killed while writing its header line: nothing in it to keep
    try:
        existing = read_run(out)
    except DataError as e:
        raise ConfigError(
            f"{out} exists and cannot be read as a cocogen run file ({e}); it was left as it is.",
            hint="Choose another --out path.",
        ) from None
    if existing.header is None or existing.header_line != _first_line(existing):
        raise ConfigError(
            f"{out} exists but is not a cocogen run file (its first record is not a run header); it was left as it is.",
            hint="Choose another --out path.",
        )
    _check_resume(out, existing.header, header)
    return existing


# Every run file begins with these bytes (the header is written first, keys in this order).
_HEADER_START = b'{"kind": "header"'


def _is_cut_header(path: Path) -> bool:
    """Whether the whole file is one unfinished header line: a run killed while writing it."""
    with open(path, "rb") as fh:
        data = fh.read(1 << 16)
        if fh.read(1):
            return False  # far longer than any header
    if b"\n" in data or not data.startswith(_HEADER_START):
        return False
    try:
        json.loads(data)
    except ValueError:
        return True
    return False  # a complete header without its newline is a run file to resume


def _first_line(run: RunFile) -> int | None:
    lines = [n for n in (run.header_line, *run.lines.values()) if n is not None]
    return min(lines) if lines else None


def _compact(run: RunFile) -> None:
    """Rewrite the file with one record per id (atomically: a crash leaves the old file)."""
    tmp = run.path.with_name(run.path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        if run.header is not None:
            fh.write(json.dumps(run.header, ensure_ascii=False) + "\n")
        for r in run.records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, run.path)


# --- the run --------------------------------------------------------------------------------


@dataclass
class RunProgress:
    """What the progress callback receives after each finished example."""

    done: int  # examples with a record, including those done before this run
    total: int
    ok: int  # this run
    failed: int  # this run
    cached: int  # this run
    record: dict[str, Any] | None
    elapsed_s: float


@dataclass
class RunSummary:
    path: str
    total: int  # unique examples asked for
    skipped: int  # already done before this run
    ok: int  # finished ok in this run
    failed: int  # recorded as failed in this run
    cached: int  # served from the cache in this run
    cancelled: bool
    seconds: float
    remaining: int  # neither done before nor finished now (a cancelled or stopped run)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)  # first few failure messages

    @property
    def complete(self) -> bool:
        return self.remaining == 0 and self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "complete": self.complete}


def _error_info(e: BaseException, secrets: Sequence[str] = ()) -> dict[str, Any]:
    if isinstance(e, CocogenError):
        return {
            "type": type(e).__name__,
            "message": redact(str(e), secrets),
            "hint": redact(e.hint, secrets),
            "retryable": bool(getattr(e, "retryable", False)),
            "status": getattr(e, "status", None),
        }
    return {
        "type": type(e).__name__,
        "message": redact(f"internal error: {e}", secrets),
        "hint": "This is a bug in cocogen; please report it with the run file.",
        "retryable": False,
        "status": None,
    }


def run_batch(
    task: Task | str,
    fmt: Format | str | None,
    backend: Backend,
    examples: Iterable[Example],
    out: str | Path,
    *,
    spec: PromptSpec | None = None,
    params: GenerationParams | dict[str, Any] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    rpm: float | None = None,
    cache: CompletionCache | None = None,
    split: str | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES,
    merge: bool = False,
) -> RunSummary:
    """Generate for every example not yet done in ``out``, appending one record per example.

    Parameters
    ----------
    examples
        Dataset rows (``task.load(split)``); their outputs become each record's ``reference``.
    out
        The run file.  If it exists, the run resumes it (same settings required).
    spec
        Few-shot selection (:class:`~cocogen.prompts.PromptSpec`), written in the header.
    params
        Generation parameters; ``params.seed`` is the sampling seed.
    concurrency
        Requests in flight at once (worker threads).
    rpm
        Requests per minute at most (``None``: unlimited); cache hits do not count.
    progress
        Show a tqdm bar (rate, ETA) on stderr.
    on_progress
        Called in the calling thread after every finished example (the app's progress bar).
    cancel
        Set it to stop: no new request starts; those in flight finish and are recorded.
    merge
        Merge each example's ``params.n`` samples (:mod:`cocogen.merge`): the record's
        ``graph`` is the merged graph (what ``eval`` scores), with ``agreement`` per element.

    Raises
    ------
    BackendError
        When the run had to stop (a bad key or model, or many failures in a row); what
        finished is in the file and re-running resumes.
    KeyboardInterrupt
        Re-raised after recording the requests in flight.
    """
    t_start = time.perf_counter()
    t = get_task(task) if isinstance(task, str) else task
    f = fmt if isinstance(fmt, Format) else get_format(t, fmt)
    p = params if isinstance(params, GenerationParams) else GenerationParams.from_dict(params)
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, not {concurrency}.")
    cancel = cancel or threading.Event()
    out = Path(out)
    spec = spec or PromptSpec()
    header = _header(t, f, backend, p, spec, split)
    if merge:
        header["merge"] = True

    unique: dict[str, Example] = {}
    for ex in examples:
        unique.setdefault(str(ex.id), ex)

    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file path for the run file.")
    _make_parent(out)
    lock = _RunLock(out)
    lock.acquire()
    try:
        return _run_locked(
            t,
            f,
            backend,
            p,
            spec,
            header,
            unique,
            out,
            concurrency=concurrency,
            rpm=rpm,
            cache=cache,
            progress=progress,
            on_progress=on_progress,
            cancel=cancel,
            max_consecutive_failures=max_consecutive_failures,
            t_start=t_start,
            merge=merge,
        )
    finally:
        lock.release()


def _run_locked(
    t: Task,
    f: Format,
    backend: Backend,
    p: GenerationParams,
    spec: PromptSpec,
    header: dict[str, Any],
    unique: dict[str, Example],
    out: Path,
    *,
    concurrency: int,
    rpm: float | None,
    cache: CompletionCache | None,
    progress: bool,
    on_progress: ProgressCallback | None,
    cancel: threading.Event,
    max_consecutive_failures: int,
    t_start: float,
    merge: bool = False,
) -> RunSummary:
    """The body of :func:`run_batch`, run while this process holds the run file's lock."""
    total = len(unique)
    done_ok: set[str] = set()
    existing = _prepare_out(out, header)
    if existing is not None:
        _truncate_partial_tail(out)  # a run killed mid-write: only now that the file is known to be ours
        done_ok = existing.ok_ids & unique.keys()
    else:
        try:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(header, ensure_ascii=False) + "\n")
        except OSError as e:
            raise ConfigError(f"Cannot write the run file {out}: {e.strerror}.") from None
    todo = [ex for rid, ex in unique.items() if rid not in done_ok]
    skipped = total - len(todo)

    secrets = [s for s in (getattr(backend, "_secret", None),) if s]
    limiter = RateLimiter(rpm)
    proxied: Backend = _LimitedBackend(backend, limiter, cancel) if limiter.interval else backend  # type: ignore[assignment]
    # Read the task's few-shot file once for the whole run, not once per example.
    shared = spec if spec.pool is not None else spec.replace(pool=tuple(t.fewshot()))

    def work(ex: Example) -> dict[str, Any] | None:
        if cancel.is_set():
            return None
        started = _iso_now()
        query = t.query_of(ex.graph)
        base: dict[str, Any] = {
            "kind": "example",
            "id": str(ex.id),
            "task": t.name,
            "format": f.name,
            "input": t.to_input(query),
        }
        prompt = None
        try:
            prompt = build_prompt(t, f, query, shared)
            res = generate(
                t,
                f,
                query,
                proxied,
                params=p,
                cache=cache,
                example_id=str(ex.id),
                prompt=prompt,
                merge=merge,
            )
        except _Cancelled:
            return None
        except Exception as e:  # noqa: BLE001 - one bad example must not sink the run; it is recorded
            if not isinstance(e, CocogenError):
                log.exception("example %s failed unexpectedly", ex.id)
            rec = {
                **base,
                "status": "failed",
                "error": _error_info(e, secrets),
                "prompt": prompt.text if prompt is not None else None,
                "query_text": prompt.query_text if prompt is not None else None,
                "reference": ex.graph.to_dict(),
                "backend": backend.signature(),
                "model": backend.model,
                "params": p.to_dict(),
                "started": started,
                "finished": _iso_now(),
            }
            rec["_exc"] = e  # removed before writing; used to decide whether to stop
            return rec
        rec = {
            **base,
            "status": "ok",
            "prompt": res.prompt.text,
            "query_text": res.prompt.query_text,
            "examples": [e.id for e in res.prompt.examples],
            "completion": res.completion,
            "code": res.code,
            "ok": res.ok,
            "graph": res.graph.to_dict() if res.graph is not None else None,
            "problems": [pr.to_dict() for pr in res.problems],
            "reference": ex.graph.to_dict(),
            "usage": res.usage(),
            "timing": {k2: round(v, 6) for k2, v in res.timing.items()},
            "backend": res.backend,
            "model": res.model,
            "params": p.to_dict(),
            "started": started,
            "finished": _iso_now(),
        }
        rec["confidence"] = res.confidence.to_dict()  # all "not available" for a merged graph: see "agreement"
        if len(res.samples) > 1:
            rec["samples"] = [s.completion for s in res.samples]
            rec["sample_graphs"] = [s.parse.to_dict() for s in res.samples]
            rec["sample_confidence"] = [s.confidence.to_dict() for s in res.samples]
        if res.merged is not None:
            rec["merged"] = True
            rec["agreement"] = res.merged.agreement
        return rec

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            initial=skipped,
            unit="ex",
            desc=f"{t.name}/{f.name}",
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
        )
    n_ok = n_failed = n_cached = 0
    p_tok = c_tok = 0
    failures: list[dict[str, Any]] = []
    consecutive = 0
    stop_error: BaseException | None = None
    interrupted = False

    fh = open(out, "a", encoding="utf-8")  # noqa: SIM115 - closed in the finally below

    def record(rec: dict[str, Any]) -> None:
        nonlocal n_ok, n_failed, n_cached, p_tok, c_tok, consecutive, stop_error
        exc = rec.pop("_exc", None)
        fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
        fh.flush()  # at once: a kill after this line loses nothing of this example
        if rec["status"] == "ok":
            n_ok += 1
            consecutive = 0
            u = rec.get("usage") or {}
            n_cached += int(bool(u.get("cached")))
            p_tok += u.get("prompt_tokens") or 0
            c_tok += u.get("completion_tokens") or 0
        else:
            n_failed += 1
            consecutive += 1
            if len(failures) < 5:
                failures.append({"id": rec["id"], **rec["error"]})
            fatal = isinstance(exc, ConfigError) or (
                isinstance(exc, BackendError) and exc.status in FATAL_STATUSES and not exc.retryable
            )
            if stop_error is None and (fatal or consecutive >= max_consecutive_failures):
                if fatal:
                    stop_error = exc
                else:
                    last = rec["error"]["message"]
                    stop_error = BackendError(
                        f"Stopped after {consecutive} examples in a row failed; the last error was: {last}",
                        hint="Fix the cause and re-run the same command: finished examples are kept.",
                    )
                cancel.set()
        if bar is not None:
            bar.set_postfix(ok=n_ok, failed=n_failed, cached=n_cached, refresh=False)
            bar.update(1)
        if on_progress is not None:
            on_progress(
                RunProgress(
                    skipped + n_ok + n_failed,
                    total,
                    n_ok,
                    n_failed,
                    n_cached,
                    rec,
                    time.perf_counter() - t_start,
                )
            )

    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cocogen-run")
    futures: list[Future[dict[str, Any] | None]] = []
    try:
        futures = [executor.submit(work, ex) for ex in todo]
        try:
            for fut in as_completed(futures):
                rec = fut.result()
                if rec is not None:
                    record(rec)
        except KeyboardInterrupt:
            interrupted = True
            cancel.set()
            for fut in futures:
                fut.cancel()
            # Requests already in flight were paid for: wait for them and keep their answers.
            for fut in futures:
                if fut.cancelled():
                    continue
                try:
                    rec = fut.result()
                except BaseException:  # noqa: BLE001 - best effort while shutting down
                    continue
                if rec is not None:
                    record(rec)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        fh.close()
        if bar is not None:
            bar.close()
        final = read_run(out)
        if final.duplicates or final.partial_tail:
            _compact(final)  # one record per id: a retried example replaces its failure

    remaining = len(unique.keys() - read_run(out).by_id().keys())
    summary = RunSummary(
        path=str(out),
        total=total,
        skipped=skipped,
        ok=n_ok,
        failed=n_failed,
        cached=n_cached,
        cancelled=cancel.is_set() and remaining > 0,
        seconds=round(time.perf_counter() - t_start, 3),
        remaining=remaining,
        prompt_tokens=p_tok,
        completion_tokens=c_tok,
        failures=failures,
    )
    if interrupted:
        raise KeyboardInterrupt
    if stop_error is not None:
        raise stop_error
    return summary
