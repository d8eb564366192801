"""A persistent completion cache, so a demo re-run is instant and reproducible.

One SQLite file under :func:`cocogen.settings.cache_dir` maps a key (a hash of the
backend signature, the exact prompt and every generation parameter) to the list of
generations the backend returned.  SQLite gives atomic writes and safe sharing between
threads and processes (a batch run and the app may use it at once); a lock serialises
this process's use of its single connection.  Hits come back with ``cached=True``.

Sampling with ``temperature > 0`` is cached too (the seed is part of the key): re-running
a demo shows the same samples.  Pass ``enabled=False`` (CLI ``--no-cache``) to bypass.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from cocogen.settings import cache_dir
from cocogen.types import Generation

__all__ = ["CompletionCache", "cache_key"]

SCHEMA_VERSION = 1


def cache_key(signature: str, prompt: str, params: dict[str, Any]) -> str:
    """A stable hash of everything that determines a completion.

    Examples
    --------
    >>> k = cache_key("openai|model=m", "x = ", {"max_tokens": 5})
    >>> k == cache_key("openai|model=m", "x = ", {"max_tokens": 5}), len(k)
    (True, 64)
    >>> k == cache_key("openai|model=m", "x = ", {"max_tokens": 6})
    False
    """
    blob = json.dumps([SCHEMA_VERSION, signature, prompt, params], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _gen_to_dict(g: Generation) -> dict[str, Any]:
    return {
        "text": g.text,
        "finish_reason": g.finish_reason,
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.completion_tokens,
        "seconds": g.seconds,
        "raw": g.raw,
        "token_logprobs": g.token_logprobs,
    }


class CompletionCache:
    """SQLite-backed ``key -> list[Generation]`` store.

    Parameters
    ----------
    path
        The database file; default ``cache_dir() / "completions.sqlite"``.
    enabled
        ``False`` makes :meth:`get` always miss and :meth:`put` do nothing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> c = CompletionCache(pathlib.Path(tempfile.mkdtemp()) / "c.sqlite")
    >>> c.put("k", [Generation("x = 1")])
    >>> c.get("k")[0].text, c.get("k")[0].cached, c.get("other")
    ('x = 1', True, None)
    """

    def __init__(self, path: Path | str | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(path) if path is not None else cache_dir() / "completions.sqlite"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer (app + CLI at once)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS completions ("
                " key TEXT PRIMARY KEY, signature TEXT NOT NULL, created REAL NOT NULL, value TEXT NOT NULL)"
            )
            self._conn = conn
        return self._conn

    def get(self, key: str) -> list[Generation] | None:
        """The cached generations for ``key`` (marked ``cached=True``), or ``None``."""
        if not self.enabled:
            return None
        with self._lock:
            row = self._db().execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        try:
            items = json.loads(row[0])
            return [replace(Generation(**d), cached=True) for d in items]
        except (ValueError, TypeError):
            return None  # an unreadable entry is a miss; the next put overwrites it

    def put(self, key: str, generations: list[Generation], signature: str = "") -> None:
        if not self.enabled:
            return
        value = json.dumps([_gen_to_dict(g) for g in generations], ensure_ascii=False)
        with self._lock:
            self._db().execute(
                "INSERT OR REPLACE INTO completions (key, signature, created, value) VALUES (?, ?, ?, ?)",
                (key, signature, time.time(), value),
            )

    def clear(self, signature: str | None = None) -> int:
        """Delete all entries (or those of one backend signature); returns how many."""
        with self._lock:
            if signature is None:
                cur = self._db().execute("DELETE FROM completions")
            else:
                cur = self._db().execute("DELETE FROM completions WHERE signature = ?", (signature,))
            return cur.rowcount

    def __len__(self) -> int:
        with self._lock:
            return int(self._db().execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> CompletionCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
