"""Streaming and Stop through the library, against the fake OpenAI-compatible server (real HTTP).

The server streams one line per chunk and can pause every stream after a number of lines
(``pause_streams``) until ``release()``, so a test can look at a generation part-way on a
machine of any speed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cocogen.backends.openai_compat import OpenAIBackend
from cocogen.cache import CompletionCache
from cocogen.pipeline import Result, generate
from cocogen.streaming import STOPPED, LiveText, Partial, partials, was_stopped
from cocogen.tasks import get_format, get_task
from cocogen.types import Script
from tests.fakes.fixtures import FAKE_KEY
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.waiting import wait_until

TASK = get_task("proscript-script")
FMT = get_format(TASK, None)
QUERY = TASK.from_input({"goal": "plant a tree", "num_steps": 4})
ANSWER = Script("plant a tree", 4, ("get a shovel", "dig a hole", "put the tree in", "water it"),
                ((0, 1), (1, 2), (2, 3)))  # fmt: skip
COMPLETION = FMT.render(ANSWER)[len(FMT.render_query(QUERY)) :]
PAUSE = 5  # lines: step0 and step1 written, step2 begun


@pytest.fixture
def server(fake_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    fake_server.responder = lambda prompt: COMPLETION
    yield fake_server
    fake_server.release()


def _backend(server: FakeOpenAIServer, mode: str) -> OpenAIBackend:
    return OpenAIBackend("fake-code-model", base_url=server.base_url, api_key=FAKE_KEY, mode=mode)  # type: ignore[arg-type]


def _in_thread(fn: object) -> tuple[threading.Thread, dict[str, object]]:
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["result"] = fn()  # type: ignore[operator]
        except BaseException as e:  # noqa: BLE001 - the test reads it
            box["error"] = e

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t, box


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_streaming_gives_the_same_answer_as_asking_once(server: FakeOpenAIServer, mode: str) -> None:
    backend = _backend(server, mode)
    live = LiveText()
    streamed = generate(TASK, FMT, QUERY, backend, live=live)
    whole = generate(TASK, FMT, QUERY, backend)
    assert streamed.completion == whole.completion == COMPLETION
    assert streamed.graph == whole.graph == ANSWER
    assert live.text == COMPLETION
    assert live.version > 5, "the text arrived in pieces"
    bodies = [r.body for r in server.completion_requests()]
    assert [bool(b and b.get("stream")) for b in bodies] == [True, False]
    assert streamed.usage()["completion_tokens"] == whole.usage()["completion_tokens"]


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_partials_grow_as_lines_arrive(server: FakeOpenAIServer, mode: str) -> None:
    backend = _backend(server, mode)
    server.pause_streams(PAUSE + (1 if mode == "chat" else 0))  # chat: the fence line first
    seen: list[Partial | Result] = []
    it = partials(lambda live: generate(TASK, FMT, QUERY, backend, live=live), FMT, QUERY, interval=0.05)
    for item in it:
        seen.append(item)
        if isinstance(item, Partial) and item.graph is not None and len(item.graph.steps) == 2:
            server.release()  # the two finished steps are there: let the rest come
    final = seen[-1]
    assert isinstance(final, Result) and final.graph == ANSWER
    steps = [len(p.graph.steps) for p in seen[:-1] if isinstance(p, Partial) and p.graph is not None]
    assert 2 in steps and steps == sorted(steps), steps
    assert "dig a hole" in next(p.completion for p in seen if isinstance(p, Partial) and "dig" in p.completion)


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_stop_keeps_what_was_written(server: FakeOpenAIServer, mode: str) -> None:
    backend = _backend(server, mode)
    server.pause_streams(PAUSE + (1 if mode == "chat" else 0))
    live = LiveText()
    thread, box = _in_thread(lambda: generate(TASK, FMT, QUERY, backend, live=live))
    wait_until(lambda: server.streams_paused == 1 and "dig a hole" in live.text, "the stream to pause part-way")
    live.stop()  # the server is silent: the stream is closed without waiting for it
    thread.join(60)
    assert not thread.is_alive(), "Stop did not end the request"
    result = box["result"]
    assert isinstance(result, Result) and was_stopped(result)
    assert result.completion == COMPLETION[: len(result.completion)]
    assert result.graph is not None and result.graph.steps[:2] == ANSWER.steps[:2]
    assert "water it" not in result.completion
    assert result.problems, "the parser says the answer is unfinished"


def test_a_stopped_answer_is_not_cached_and_a_cached_one_is_written_at_once(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    backend = _backend(server, "completion")
    cache = CompletionCache(tmp_path / "c.sqlite")
    server.pause_streams(PAUSE)
    live = LiveText()
    thread, box = _in_thread(lambda: generate(TASK, FMT, QUERY, backend, cache=cache, live=live))
    wait_until(lambda: "dig a hole" in live.text, "part of the answer")
    live.stop()
    thread.join(60)
    server.release()
    assert isinstance(box["result"], Result) and was_stopped(box["result"])
    first = generate(TASK, FMT, QUERY, backend, cache=cache, live=LiveText())
    assert not first.cached and first.completion == COMPLETION  # asked again: the cut answer was not kept
    again = LiveText()
    hit = generate(TASK, FMT, QUERY, backend, cache=cache, live=again)
    assert hit.cached and again.text == COMPLETION and again.version == 1
    assert len(server.completion_requests()) == 2


def test_a_backend_without_streaming_writes_its_answer_once() -> None:
    from cocogen.types import Generation

    class Whole:  # any object with these members is a backend
        name, mode, model = "whole", "completion", "whole"

        def signature(self) -> str:
            return "whole"

        def complete(self, prompt: str, params: object = None, context: object = None) -> list[Generation]:
            return [Generation(COMPLETION, "stop")]

    live = LiveText()
    result = generate(TASK, FMT, QUERY, Whole(), live=live)  # type: ignore[arg-type]
    assert result.graph == ANSWER and live.text == COMPLETION and live.version == 1
    stopped = LiveText()
    stopped.stop()
    cut = generate(TASK, FMT, QUERY, Whole(), live=stopped)  # type: ignore[arg-type]
    assert cut.samples[0].generation.finish_reason == STOPPED and cut.completion == ""


def test_a_stream_broken_by_the_server_is_one_backend_error(server: FakeOpenAIServer) -> None:
    from cocogen.errors import BackendError

    server.inject("500", times=None)
    backend = OpenAIBackend(
        "fake-code-model", base_url=server.base_url, api_key=FAKE_KEY, mode="completion", max_retries=0
    )
    with pytest.raises(BackendError, match="server error"):
        generate(TASK, FMT, QUERY, backend, live=LiveText())


def test_cli_generate_stream_prints_the_same_as_without(
    api_env: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from cocogen.cli import main

    api_env.responder = lambda prompt: COMPLETION
    api_env.stream_delay = 0.01
    argv = ["generate", "--task", TASK.name, "--input", '{"goal": "plant a tree", "num_steps": 4}',
            "--backend", "openai", "--model", "fake-code-model", "--no-cache"]  # fmt: skip
    assert main([*argv, "--stream"]) == 0
    streamed = capsys.readouterr().out
    assert main(argv) == 0
    assert streamed == capsys.readouterr().out
    assert '"water it"' in streamed and "# graph" in streamed
    assert [bool((r.body or {}).get("stream")) for r in api_env.completion_requests()] == [True, False]


@pytest.mark.slow  # a fresh interpreter imports the CLI: several seconds on busy cores
def test_cli_generate_stream_ctrl_c_stops_and_keeps_what_was_written(server: FakeOpenAIServer, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    server.pause_streams(PAUSE)
    out = tmp_path / "out.txt"
    cmd = [sys.executable, "-m", "cocogen", "generate", "--task", TASK.name, "--input",
           '{"goal": "plant a tree", "num_steps": 4}', "--backend", "openai", "--model", "fake-code-model",
           "--base-url", server.base_url, "--no-cache", "--stream"]  # fmt: skip
    env = {**os.environ, "COCOGEN_API_KEY": FAKE_KEY}
    with out.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE, text=True, env=env)
        wait_until(lambda: server.streams_paused == 1 and "dig a hole" in out.read_text(), "the code so far printed")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    printed = out.read_text()
    assert "stopped" in err and "Traceback" not in err
    assert '"dig a hole"' in printed and '"water it"' not in printed
    graph = printed.split("# graph\n", 1)[1]
    assert '"get a shovel"' in graph and '"dig a hole"' in graph
    assert proc.returncode == 0  # a graph was recovered


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_a_streamed_answer_keeps_the_log_probabilities_of_its_chunks(server: FakeOpenAIServer, mode: str) -> None:
    from cocogen.backends.openai_compat import _read_stream

    backend = _backend(server, mode)
    client = backend._client
    if mode == "chat":
        fn, kwargs = client.chat.completions.create, {"messages": [{"role": "user", "content": "x"}], "logprobs": True}
    else:
        fn, kwargs = client.completions.create, {"prompt": "x", "logprobs": 1}
    resp = _read_stream(fn, {"model": "fake-code-model", **kwargs}, LiveText(), lambda text: text)
    lp = resp.choices[0].logprobs
    tokens = [t.token for t in lp.content] if mode == "chat" else lp.tokens
    assert COMPLETION in "".join(tokens)  # chat: between the reply's opening line and the fence's end
    assert len(tokens) == len(COMPLETION.splitlines()) + (2 if mode == "chat" else 0)
    assert (lp.token_logprobs if mode == "completion" else [t.logprob for t in lp.content]) == [-0.5] * len(tokens)


def test_a_server_dying_mid_answer_is_one_sentence_and_the_text_so_far_stays(server: FakeOpenAIServer) -> None:
    from cocogen.errors import BackendError

    backend = OpenAIBackend(
        "fake-code-model", base_url=server.base_url, api_key=FAKE_KEY, mode="completion", max_retries=0
    )
    server.pause_streams(PAUSE)
    live = LiveText()
    thread, box = _in_thread(lambda: generate(TASK, FMT, QUERY, backend, live=live))
    wait_until(lambda: server.streams_paused == 1 and "dig a hole" in live.text, "the stream to pause part-way")
    server.cut_streams()
    thread.join(60)
    error = box.get("error")
    assert isinstance(error, BackendError), box
    assert "\n" not in str(error) and "Traceback" not in str(error)
    assert "dig a hole" in live.text and FMT.parse(live.text, QUERY).graph.steps[:2] == ANSWER.steps[:2]
