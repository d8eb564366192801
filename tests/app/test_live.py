"""Live jobs and the shared model's line: real threads, a real HTTP server, conditions waited for.

The fake OpenAI-compatible server stands in for the one model: it pauses every stream
after a few lines until released, so "A is being served, B waits" is a state the tests
reach and look at, whatever the machine's speed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cocogen.app.live import Lane, LiveJob
from cocogen.app.model_queue import ModelQueue
from cocogen.backends.openai_compat import OpenAIBackend
from cocogen.pipeline import generate
from cocogen.streaming import was_stopped
from cocogen.tasks import get_format, get_task
from cocogen.types import Script
from tests.fakes.fixtures import FAKE_KEY
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.waiting import wait_until

TASK = get_task("proscript-script")
FMT = get_format(TASK, None)
QUERY = TASK.from_input({"goal": "plant a tree", "num_steps": 3})
ANSWER = Script("plant a tree", 3, ("dig a hole", "put the tree in", "water it"), ((0, 1), (1, 2)))
COMPLETION = FMT.render(ANSWER)[len(FMT.render_query(QUERY)) :]


@pytest.fixture
def server(fake_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    fake_server.responder = lambda prompt: COMPLETION
    yield fake_server
    fake_server.release()


def _job(server: FakeOpenAIServer, queue: ModelQueue, label: str, **kw: float) -> LiveJob:
    backend = OpenAIBackend("fake-code-model", base_url=server.base_url, api_key=FAKE_KEY, mode="completion")

    def work(job: LiveJob) -> None:
        lane = job.lanes[0]
        lane.value = generate(TASK, FMT, QUERY, job.backend(backend), live=lane.live)

    return LiveJob([Lane(FMT, QUERY, FMT.render_query(QUERY))], work, queue=queue, label=label, **kw)


def test_two_requests_are_served_one_at_a_time_and_the_second_knows_its_place(server: FakeOpenAIServer) -> None:
    queue = ModelQueue()
    server.pause_streams(2)
    a = _job(server, queue, "a").start()
    wait_until(lambda: server.streams_paused == 1, "the first request to be part-way")
    b = _job(server, queue, "b").start()
    wait_until(lambda: b.place() == 1, "the second request to wait behind the first")
    assert a.state == "running" and a.place() == 0
    assert b.state == "waiting" and "1 request is before yours" in b.describe()
    assert len(server.completion_requests()) == 1, "the second waits for the model, not at the server"
    assert b.lanes[0].live.text == ""
    server.release()
    assert a.wait(60) and b.wait(60)
    assert a.state == b.state == "done"
    assert a.lanes[0].value.graph == b.lanes[0].value.graph == ANSWER
    assert len(queue) == 0
    assert queue.typical_seconds() is not None  # the next waiting request gets an estimate


def test_the_estimate_counts_the_requests_ahead(server: FakeOpenAIServer) -> None:
    queue = ModelQueue()
    first = _job(server, queue, "warm").start()  # one request served, to have a duration
    assert first.wait(60) and queue.typical_seconds() is not None
    server.pause_streams(2)
    jobs = [_job(server, queue, f"j{i}").start() for i in range(3)]
    wait_until(lambda: sorted(j.place() or 0 for j in jobs) == [0, 1, 2], "three requests in line")
    behind = sorted(jobs, key=lambda j: j.place() or 0)
    second, third = (queue.estimate(j.ticket) for j in behind[1:])  # type: ignore[arg-type]
    assert second is not None and third is not None and third > second > 0
    assert "2 requests are before yours" in behind[2].describe() and "about" in behind[2].describe()
    server.release()
    assert all(j.wait(60) for j in jobs)


def test_stop_frees_the_model_for_the_next_and_a_stopped_wait_leaves_the_line(server: FakeOpenAIServer) -> None:
    queue = ModelQueue()
    server.pause_streams(4)
    a = _job(server, queue, "a").start()
    wait_until(lambda: server.streams_paused == 1 and "dig a hole" in a.lanes[0].live.text, "a part-way")
    b = _job(server, queue, "b").start()
    c = _job(server, queue, "c").start()
    wait_until(lambda: {b.place(), c.place()} == {1, 2}, "b and c waiting")
    waiting_last = c if c.place() == 2 else b
    waiting_first = b if waiting_last is c else c
    waiting_last.stop()  # leaves the line without ever reaching the model
    assert waiting_last.wait(60) and waiting_last.state == "stopped"
    assert waiting_last.lanes[0].value is not None and was_stopped(waiting_last.lanes[0].value)
    a.stop()  # the server is still silent: the model is freed at once
    assert a.wait(60) and a.state == "stopped"
    result = a.lanes[0].value
    assert was_stopped(result) and result.graph.steps == ("dig a hole",)
    wait_until(lambda: server.streams_paused == 2, "the next request to be served")  # a's stream waits too
    server.release()
    assert waiting_first.wait(60) and waiting_first.state == "done"
    assert waiting_first.lanes[0].value.graph == ANSWER
    assert len(server.completion_requests()) == 2  # a and the one that waited; not the one that left
    assert len(queue) == 0


def test_a_job_nobody_watches_stops_and_frees_the_model(server: FakeOpenAIServer) -> None:
    queue = ModelQueue()
    server.pause_streams(2)
    abandoned = _job(server, queue, "tab closed", abandon_after=1.0).start()
    wait_until(lambda: abandoned.state == "stopped", "the unwatched job to stop itself")
    assert len(queue) == 0
    watched = _job(server, queue, "watched", abandon_after=1.0).start()
    wait_until(lambda: watched.touch() or watched.lanes[0].live.text != "", "the next job to run")
    server.release()
    wait_until(lambda: watched.touch() or not watched.active, "the watched job to end")  # a page redrawing it
    assert watched.state == "done" and watched.lanes[0].value.graph == ANSWER
