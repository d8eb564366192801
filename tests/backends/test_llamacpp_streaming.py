"""The local model written token by token, and stopped between two tokens: real llama.cpp, real Gemma 3 270M.

Run with ``COCOGEN_THREADS=1`` on a busy machine.  Every wait is for a condition (the text
so far holds a finished step), never for a time.
"""

from __future__ import annotations

import threading

import pytest

from cocogen.backends import GenerationParams, make_backend
from cocogen.backends.llamacpp import LlamaCppBackend
from cocogen.pipeline import Result, generate
from cocogen.prompts import PromptSpec
from cocogen.streaming import STOPPED, LiveText, was_stopped
from cocogen.tasks import get_format, get_task
from tests.fakes.waiting import wait_until

pytestmark = pytest.mark.slow

TASK = get_task("proscript-script")
FMT = get_format(TASK, None)
QUERY = TASK.from_input({"goal": "plant a tree in the garden", "num_steps": 6})
SPEC = PromptSpec(k=2)


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    b = make_backend("local")
    assert isinstance(b, LlamaCppBackend)
    return b


def _steps(text: str) -> int:
    graph = FMT.parse(text, QUERY).graph
    return len(graph.steps) if graph is not None else 0


def test_stop_keeps_what_the_constrained_decoder_wrote_and_frees_the_model(backend: LlamaCppBackend) -> None:
    live = LiveText()
    box: dict[str, Result] = {}
    thread = threading.Thread(
        target=lambda: box.setdefault("r", generate(TASK, FMT, QUERY, backend, spec=SPEC, live=live))
    )
    thread.start()
    wait_until(lambda: _steps(live.text) >= 2, "two finished steps in the text so far")
    live.stop()
    thread.join(120)
    assert not thread.is_alive(), "the decoder did not notice the Stop"
    result = box["r"]
    assert was_stopped(result)
    assert result.graph is not None and 2 <= len(result.graph.steps) < 6, result.completion
    assert result.problems, "an unfinished answer says so"
    assert live.text == result.completion
    assert backend.local.watch is None and not backend.local.lock.locked()
    # The next request gets the model and a whole answer.
    again = generate(TASK, FMT, QUERY, backend, spec=SPEC, params={"max_tokens": 256})
    assert again.samples[0].generation.finish_reason != STOPPED and again.graph is not None


def test_free_decoding_streams_the_same_text_as_asking_once(backend: LlamaCppBackend) -> None:
    free = make_backend("local", constraints=False)
    params = GenerationParams(max_tokens=48, temperature=0.0)
    live = LiveText()
    streamed = generate(TASK, FMT, QUERY, free, spec=SPEC, params=params, live=live)
    written = live.version
    whole = generate(TASK, FMT, QUERY, free, spec=SPEC, params=params)
    assert streamed.completion == whole.completion == live.text
    assert written > 5, "the text was written piece by piece"


def test_a_stop_is_seen_while_the_prompt_is_read(backend: LlamaCppBackend) -> None:
    """Stopped before the model has read the prompt: it reads no batch of it, and the next request is whole."""
    from cocogen.backends import RequestContext
    from cocogen.prompts import build_prompt

    prompt = build_prompt(TASK, FMT, QUERY, PromptSpec(k=3, selection="random", selection_seed=11))  # a cold prefix
    context = RequestContext(task=TASK.name, format=FMT.name, query=QUERY, prompt=prompt)
    live = LiveText()
    live.stop()
    cut = backend.complete(prompt.text, GenerationParams(stop=prompt.stop), context, live=live)[0]
    assert cut.finish_reason == STOPPED and cut.text == ""
    assert cut.raw is not None and cut.raw["prefill_tokens"] == 0
    whole = backend.complete(prompt.text, GenerationParams(stop=prompt.stop, max_tokens=256), context)[0]
    assert whole.finish_reason != STOPPED and FMT.parse(whole.text, QUERY).graph is not None
