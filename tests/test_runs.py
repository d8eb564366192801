"""Batch runs: concurrency, rate limit, failures recorded, resume after a kill, no key anywhere.

Everything talks HTTP to the fake OpenAI-compatible server on 127.0.0.1; the kill test runs
the real ``cocogen run`` command in a subprocess and SIGKILLs it mid-way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from cocogen.backends import make_backend
from cocogen.cache import CompletionCache
from cocogen.cli import main
from cocogen.errors import BackendError, ConfigError
from cocogen.prompts import PromptSpec
from cocogen.runs import RateLimiter, RunProgress, read_run, run_batch
from cocogen.tasks import get_task
from cocogen.types import Example
from tests.fakes.fixtures import FAKE_KEY, gold_table
from tests.fakes.openai_server import FakeOpenAIServer, table_responder
from tests.fakes.waiting import records_in, signal_delivered, wait_until

REPO = Path(__file__).resolve().parents[1]
TASK = "explagraphs"


@pytest.fixture(scope="module")
def rows(data_dir: Path) -> list[Example]:
    return get_task(TASK).load("dev")[:40]


@pytest.fixture
def server(api_env: FakeOpenAIServer, rows: list[Example]) -> FakeOpenAIServer:
    api_env.responder = table_responder(gold_table(TASK, None, rows))
    return api_env


def _backend():  # noqa: ANN202
    return make_backend("openai", model="code-model", max_retries=2)


def _ids(path: Path) -> list[str]:
    """Every example id in the file, in order, with repeats (the file itself, not read_run)."""
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        if d.get("kind") != "header":
            out.append(d["id"])
    return out


def _no_key_anywhere(*paths: Path, text: str = "") -> None:
    assert FAKE_KEY not in text
    for p in paths:
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        for f in files:
            assert FAKE_KEY.encode() not in f.read_bytes(), f


def test_run_writes_one_record_per_example(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    seen: list[RunProgress] = []
    s = run_batch(TASK, None, _backend(), rows[:12], out, spec=PromptSpec(k=2), concurrency=4, progress=False, on_progress=seen.append)
    assert (s.total, s.ok, s.failed, s.skipped, s.remaining, s.complete) == (12, 12, 0, 0, 0, True)
    run = read_run(out)
    assert run.header is not None and run.header["task"] == TASK and run.header["model"] == "code-model"
    assert run.header["backend"].startswith("openai|url=http://127.0.0.1:")
    assert [r["id"] for r in run.records] and sorted(_ids(out)) == sorted(str(e.id) for e in rows[:12])
    by_id = run.by_id()
    for ex in rows[:12]:
        rec = by_id[str(ex.id)]
        assert rec["status"] == "ok" and rec["ok"] and rec["problems"] == []
        assert rec["graph"] == rec["reference"] == ex.graph.to_dict()
        assert rec["code"] == rec["query_text"] + rec["completion"] and rec["prompt"].endswith(rec["query_text"])
        assert rec["model"] == "code-model" and rec["params"]["max_tokens"] and len(rec["examples"]) == 2
        assert rec["timing"]["model_s"] > 0 and rec["usage"]["prompt_tokens"]
    assert [p.done for p in seen] == list(range(1, 13)) and seen[-1].total == 12
    _no_key_anywhere(out)


def test_rerun_resumes_and_cache_serves_repeats(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    cache = CompletionCache(tmp_path / "cache.sqlite")
    run_batch(TASK, None, _backend(), rows[:6], out, spec=PromptSpec(k=2), cache=cache, progress=False)
    assert len(server.completion_requests()) == 6
    # Same command over more rows: the first six are skipped, only new ones are requested.
    s = run_batch(TASK, None, _backend(), rows[:10], out, spec=PromptSpec(k=2), cache=cache, progress=False)
    assert (s.skipped, s.ok, s.cached) == (6, 4, 0)
    assert len(server.completion_requests()) == 10
    assert sorted(_ids(out)) == sorted(str(e.id) for e in rows[:10])
    # A new run file with the same settings: every answer comes from the cache, no HTTP at all.
    s2 = run_batch(TASK, None, _backend(), rows[:10], tmp_path / "again.jsonl", spec=PromptSpec(k=2), cache=cache, progress=False)
    assert (s2.ok, s2.cached) == (10, 10) and len(server.completion_requests()) == 10
    assert all(r["usage"]["cached"] for r in read_run(tmp_path / "again.jsonl").records)
    _no_key_anywhere(tmp_path)


def test_transient_faults_recover_within_a_run(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    for kind in ("500", "429", "drop", "malformed"):
        server.inject(kind, times=2, seconds=0.05)
    s = run_batch(TASK, None, _backend(), rows[:8], tmp_path / "r.jsonl", spec=PromptSpec(k=1), concurrency=4, progress=False)
    assert (s.ok, s.failed) == (8, 0)
    assert all(r["graph"] == r["reference"] for r in read_run(tmp_path / "r.jsonl").records)


def test_permanent_failure_is_recorded_then_retried(
    server: FakeOpenAIServer, rows: list[Example], tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    bad = rows[3]
    server.inject("500", times=None, match=bad.graph.belief)  # type: ignore[union-attr]
    s = run_batch(TASK, None, _backend(), rows[:8], out, spec=PromptSpec(k=1), concurrency=3, progress=False)
    assert (s.ok, s.failed, s.complete) == (7, 1, False)
    assert s.failures[0]["id"] == str(bad.id) and s.failures[0]["retryable"]
    rec = read_run(out).by_id()[str(bad.id)]
    assert rec["status"] == "failed" and "server error (500)" in rec["error"]["message"]
    assert rec["prompt"] and rec["reference"] == bad.graph.to_dict()
    # The server recovers; the same command retries only the failed example.
    server.state.faults.clear()
    before = len(server.completion_requests())
    s = run_batch(TASK, None, _backend(), rows[:8], out, spec=PromptSpec(k=1), concurrency=3, progress=False)
    assert (s.skipped, s.ok, s.failed, s.complete) == (7, 1, 0, True)
    assert len(server.completion_requests()) == before + 1
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == 8  # the failure was replaced, not duplicated
    assert read_run(out).by_id()[str(bad.id)]["status"] == "ok"


def test_cancel_then_resume_no_duplicate_no_missing(
    server: FakeOpenAIServer, rows: list[Example], tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    server.hold_after(5)  # the rest wait until the run is cancelled, however fast the machine
    cancel = threading.Event()

    def stop_after_five(p: RunProgress) -> None:
        if p.done >= 5:
            cancel.set()
            server.release()  # the requests in flight finish and are recorded

    s = run_batch(TASK, None, _backend(), rows[:20], out, spec=PromptSpec(k=1), concurrency=3, progress=False,
                  on_progress=stop_after_five, cancel=cancel)  # fmt: skip
    assert s.cancelled and 5 <= s.ok <= 5 + 3 and s.remaining == 20 - s.ok
    s = run_batch(TASK, None, _backend(), rows[:20], out, spec=PromptSpec(k=1), concurrency=3, progress=False)
    assert s.complete and s.skipped + s.ok == 20
    ids = _ids(out)
    assert len(ids) == len(set(ids)) and set(ids) == {str(e.id) for e in rows[:20]}


def _cli_run(base_url: str, out: Path, limit: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cocogen", "run", "--task", TASK, "--split", "dev", "--limit", str(limit),
            "--backend", "openai", "--model", "code-model", "--base-url", base_url, "--k", "1",
            "--concurrency", "2", "--out", str(out), *extra]  # fmt: skip


def test_killed_run_resumes_completely(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    out = tmp_path / "killed.jsonl"
    server.hold_after(8)  # 8 answers, then the run waits at the gate until it is killed
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = _cli_run(server.base_url, out, 40, "--no-cache")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: records_in(out) >= 8 or proc.poll() is not None, "8 examples in the run file")
    proc.send_signal(signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=60)
    server.release()
    assert proc.returncode == -signal.SIGKILL, stderr
    done_before = len(set(_ids(out)))
    assert done_before == 8
    # A kill can also cut a record mid-write; simulate the worst case on top of the real kill.
    with open(out, "a") as fh:
        fh.write('{"kind": "example", "id": "half-writ')
    again = subprocess.run([*cmd, "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["complete"] and summary["skipped"] == done_before and summary["ok"] == 40 - done_before
    ids = _ids(out)
    assert Counter(ids).most_common(1)[0][1] == 1 and set(ids) == {str(e.id) for e in rows}
    assert "rate" in again.stderr or "ex/s" in again.stderr or "it/s" in again.stderr or "%" in again.stderr
    _no_key_anywhere(out, text=stdout.decode() + stderr.decode() + again.stdout + again.stderr)


def test_ctrl_c_keeps_finished_work(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    out = tmp_path / "int.jsonl"
    server.hold_after(5)  # 5 answers, then the run waits at the gate: it cannot finish before the signal
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = _cli_run(server.base_url, out, 30, "--no-cache")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: records_in(out) >= 5 or proc.poll() is not None, "5 examples in the run file")
    wait_until(lambda: server.held >= 1 or proc.poll() is not None, "a request waiting at the gate")
    proc.send_signal(signal.SIGINT)
    # Open the gate once the interrupt has reached the process: the requests in flight then
    # finish and are kept, and no new one starts.
    wait_until(lambda: signal_delivered(proc.pid, signal.SIGINT), "the interrupt to reach the run")
    server.release()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    ids = _ids(out)
    assert 5 <= len(ids) == len(set(ids)) < 30
    assert all(r["status"] == "ok" for r in read_run(out).records)


def test_api_key_never_written_even_when_the_server_echoes_it(
    server: FakeOpenAIServer, rows: list[Example], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "auth.jsonl"
    server.inject("401", times=None)
    with pytest.raises(BackendError, match="rejected the API key"):
        run_batch(TASK, None, _backend(), rows[:10], out, spec=PromptSpec(k=1), concurrency=1, progress=False)
    # A bad key stops the run at once instead of failing every example.
    run = read_run(out)
    assert 1 <= len(run.records) <= 2 and all(r["status"] == "failed" for r in run.records)  # the one in flight
    assert "***" in run.records[0]["error"]["message"]
    # The CLI prints the error, not the key.
    code = main([*_cli_run(server.base_url, tmp_path / "cli.jsonl", 3)[3:]])
    captured = capsys.readouterr()
    assert code == 1 and "rejected the API key" in captured.err
    _no_key_anywhere(tmp_path, text=captured.out + captured.err)


def test_many_failures_in_a_row_stop_the_run(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    server.inject("500", times=None)
    backend = make_backend("openai", model="m", max_retries=0)
    with pytest.raises(BackendError, match="in a row failed"):
        run_batch(TASK, None, backend, rows, tmp_path / "r.jsonl", spec=PromptSpec(k=1), concurrency=2, progress=False,
                  max_consecutive_failures=4)  # fmt: skip
    run = read_run(tmp_path / "r.jsonl")
    assert 4 <= len(run.records) < len(rows) and run.failed_ids == {r["id"] for r in run.records}


def test_rate_limit_spaces_requests(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    t0 = time.monotonic()  # the fake server records arrivals on the same clock
    run_batch(TASK, None, _backend(), rows[:5], tmp_path / "r.jsonl", spec=PromptSpec(k=1), concurrency=5, rpm=120, progress=False)
    times = sorted(r.at for r in server.completion_requests())
    # 120 per minute: start i is granted no earlier than 0.5 s * i after the run began, even with
    # 5 workers; a request arrives after its start, so however slow the machine, this holds.
    assert len(times) == 5
    assert all(at >= t0 + 0.5 * i for i, at in enumerate(times)), [round(at - t0, 3) for at in times]


def test_rate_limiter_unlimited_and_cancel() -> None:
    assert RateLimiter(None).acquire()
    lim = RateLimiter(rpm=1)
    assert lim.acquire()  # the first slot is now
    ev = threading.Event()
    ev.set()
    t0 = time.monotonic()
    assert lim.acquire(ev) is False and time.monotonic() - t0 < 30, "cancelled: no wait for the slot 60 s away"
    with pytest.raises(ConfigError):
        RateLimiter(-1)


def test_resume_refuses_other_settings(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    run_batch(TASK, None, _backend(), rows[:2], out, spec=PromptSpec(k=1), progress=False)
    with pytest.raises(ConfigError, match="other settings") as e:
        run_batch(TASK, "text", _backend(), rows[:2], out, spec=PromptSpec(k=1), progress=False)
    assert "format" in str(e.value)
    with pytest.raises(ConfigError, match="other settings"):
        run_batch(TASK, None, _backend(), rows[:2], out, spec=PromptSpec(k=2), progress=False)
    other = tmp_path / "not-a-run.jsonl"
    other.write_text('{"id": 1}\n')
    with pytest.raises(ConfigError, match="not a cocogen run file"):
        run_batch(TASK, None, _backend(), rows[:2], other, spec=PromptSpec(k=1), progress=False)


def test_run_file_replays(server: FakeOpenAIServer, rows: list[Example], tmp_path: Path) -> None:
    """A run file is itself a recording: the replay backend serves it back."""
    out = tmp_path / "r.jsonl"
    run_batch(TASK, None, _backend(), rows[:4], out, spec=PromptSpec(k=1), progress=False)
    replayed = run_batch(TASK, None, make_backend("replay", path=str(out)), rows[:4], tmp_path / "replayed.jsonl",
                         spec=PromptSpec(k=1), progress=False)  # fmt: skip
    assert replayed.ok == 4
    a, b = read_run(out).by_id(), read_run(tmp_path / "replayed.jsonl").by_id()
    assert all(a[i]["completion"] == b[i]["completion"] for i in a)


def test_a_file_cut_inside_its_header_starts_over(
    server: FakeOpenAIServer, rows: list[Example], tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text('{"kind": "header", "task": "explag')
    s = run_batch(TASK, None, _backend(), rows[:2], out, spec=PromptSpec(k=1), progress=False)
    assert s.complete and read_run(out).header is not None and len(_ids(out)) == 2
