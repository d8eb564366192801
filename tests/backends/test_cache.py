"""The SQLite completion cache: keys, persistence, bypass, concurrent use."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cocogen.cache import CompletionCache, cache_key
from cocogen.settings import cache_dir
from cocogen.types import Generation


def test_key_covers_signature_prompt_and_every_param() -> None:
    base = cache_key("sig", "prompt", {"n": 1, "stop": ["# END"]})
    assert base != cache_key("sig2", "prompt", {"n": 1, "stop": ["# END"]})
    assert base != cache_key("sig", "prompt ", {"n": 1, "stop": ["# END"]})
    assert base != cache_key("sig", "prompt", {"n": 2, "stop": ["# END"]})
    assert base != cache_key("sig", "prompt", {"n": 1, "stop": []})
    assert base == cache_key("sig", "prompt", {"stop": ["# END"], "n": 1})  # order of keys does not matter


def test_round_trip_marks_hits_cached(tmp_path: Path) -> None:
    g = Generation("x = 1\n", "stop", 10, 3, 0.25, raw={"id": "cmpl-1"})
    with CompletionCache(tmp_path / "c.sqlite") as c:
        assert c.get("k") is None
        c.put("k", [g, Generation("x = 2\n")], "sig")
        hit = c.get("k")
        assert hit is not None and [h.text for h in hit] == ["x = 1\n", "x = 2\n"]
        assert all(h.cached for h in hit)
        assert (hit[0].finish_reason, hit[0].prompt_tokens, hit[0].completion_tokens, hit[0].seconds) == (
            "stop",
            10,
            3,
            0.25,
        )
        assert (c.hits, c.misses) == (1, 1)


def test_persists_across_instances_and_default_location(tmp_path: Path) -> None:
    CompletionCache().put("persist", [Generation("a")])
    assert CompletionCache().get("persist")[0].text == "a"  # type: ignore[index]
    assert (cache_dir() / "completions.sqlite").exists()


def test_disabled_cache_is_bypassed(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    CompletionCache(path).put("k", [Generation("a")])
    off = CompletionCache(path, enabled=False)
    assert off.get("k") is None
    off.put("k2", [Generation("b")])
    assert CompletionCache(path).get("k2") is None


def test_clear_by_signature(tmp_path: Path) -> None:
    c = CompletionCache(tmp_path / "c.sqlite")
    c.put("a", [Generation("a")], "s1")
    c.put("b", [Generation("b")], "s2")
    assert c.clear("s1") == 1 and len(c) == 1 and c.clear() == 1 and len(c) == 0


def test_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    c = CompletionCache(path)
    c.put("k", [Generation("a")])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE completions SET value = 'not json' WHERE key = 'k'")
    assert c.get("k") is None


def test_many_threads_and_two_connections(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    a, b = CompletionCache(path), CompletionCache(path)

    def work(i: int) -> str:
        cache = a if i % 2 else b
        cache.put(f"k{i}", [Generation(f"v{i}")])
        got = (b if i % 2 else a).get(f"k{i}")
        assert got is not None
        return got[0].text

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, range(200))) == [f"v{i}" for i in range(200)]
    assert len(a) == 200
