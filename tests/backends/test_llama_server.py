"""The openai backend against a real OpenAI-compatible server: llama-cpp-python's, with the bundled model.

One server for the whole run (the ``llama_server`` fixture).  Inputs are small (three
steps, one sentence) and answers short; still, llama-cpp-python applies a grammar to the
whole 262k-token vocabulary at every token, so the constrained tests dominate the time.  Faults (dead server, bad JSON, 429s) stay with the fake server in
test_openai_compat.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from cocogen.backends.base import GenerationParams
from cocogen.backends.openai_compat import OpenAIBackend
from cocogen.pipeline import generate
from cocogen.prompts import PromptSpec
from cocogen.tasks import get_task

pytestmark = pytest.mark.slow

# Small inputs: the answer is a few dozen tokens.
INPUTS: dict[str, dict[str, Any]] = {
    "proscript-script": {"goal": "make a cup of tea", "num_steps": 3},
    "proscript-edge": {"goal": "make a cup of tea", "steps": ["drink the tea", "decided to make tea", "boil water"]},
    "explagraphs": {
        "belief": "Cars pollute the air.",
        "argument": "Cars burn fuel, which makes smoke.",
        "stance": "support",
    },
    "propara": {"sentences": ["Water freezes into ice."], "participants": ["water"]},
}
# Free answers end at the stop sequence; the room is for a model that rewrites the input first.
MAX_TOKENS = {"proscript-script": 160, "proscript-edge": 160, "explagraphs": 100, "propara": 100}
SPEC = PromptSpec(k=1)


def backend(url: str, **options: Any) -> OpenAIBackend:
    return OpenAIBackend("gemma-3-270m", base_url=url, timeout=600, max_retries=0, **options)


def params(task_name: str, **changes: Any) -> GenerationParams:
    return GenerationParams(temperature=0.0, max_tokens=MAX_TOKENS[task_name], seed=0).replace(**changes)


@pytest.mark.parametrize("task_name", ["proscript-script", "explagraphs"])
def test_free_completions_reach_the_parser(llama_server: str, task_name: str) -> None:
    """Unconstrained: the answer is whatever the model writes (Gemma 3 270M often rewrites an edge or ProPara input)."""
    task = get_task(task_name)
    b = backend(llama_server, mode="completion")
    result = generate(task, None, INPUTS[task_name], b, spec=SPEC, params=params(task_name))
    assert result.graph is not None, result.completion
    assert isinstance(result.graph, task.graph_type)


@pytest.mark.parametrize("task_name", list(INPUTS))
def test_constrained_completions_give_a_clean_graph_for_every_task(llama_server: str, task_name: str) -> None:
    task = get_task(task_name)
    b = backend(llama_server, mode="completion", constrain=True)  # server kind detected
    # Room for the whole answer: the grammar decides where it ends.
    result = generate(task, None, INPUTS[task_name], b, spec=SPEC, params=params(task_name, max_tokens=200))
    assert b._kind() == "llamacpp" and "constrain=gbnf" in b.signature()
    assert result.parse.clean, (result.completion, result.parse.problems)
    assert not (result.samples[0].generation.raw or {}).get("warning")


@pytest.mark.parametrize("task_name", list(INPUTS))
def test_constrained_chat_gives_a_clean_graph_for_every_task(llama_server: str, task_name: str) -> None:
    """Gemma 3 270M's free chat replies are rarely code; the grammar makes the reply the completion."""
    task = get_task(task_name)
    b = backend(llama_server, mode="chat", constrain=True, server_kind="llamacpp")
    result = generate(task, None, INPUTS[task_name], b, spec=SPEC, params=params(task_name, max_tokens=200))
    assert b.mode == "chat"
    assert result.graph is not None and isinstance(result.graph, task.graph_type), result.completion
    assert result.parse.clean, (result.completion, result.parse.problems)


def test_stop_sequences_are_honoured(llama_server: str) -> None:
    b = backend(llama_server, mode="completion")
    prompt = "Count: one, two, three, four, five, six, seven, eight, nine, ten.\nCount: one, two,"
    [free] = b.complete(prompt, GenerationParams(temperature=0.0, max_tokens=20))
    assert "," in free.text, free.text  # the model goes on counting
    [stopped] = b.complete(prompt, GenerationParams(temperature=0.0, max_tokens=20, stop=(",",)))
    assert "," not in stopped.text
    assert stopped.text == free.text.split(",", 1)[0]
    assert stopped.finish_reason == "stop"


def test_n_answers_come_back_even_from_a_server_that_ignores_n(llama_server: str) -> None:
    b = backend(llama_server, mode="completion")
    gens = b.complete("Name a fruit:", GenerationParams(temperature=1.0, max_tokens=4, n=3, seed=1))
    assert len(gens) == 3
    assert all(g.completion_tokens for g in gens)


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_token_logprobs_are_read_back(llama_server: str, mode: str) -> None:
    b = backend(llama_server, mode=mode)
    [gen] = b.complete("def add(a, b):\n    return", GenerationParams(temperature=0.0, max_tokens=5))
    assert gen.token_logprobs is not None
    assert len(gen.token_logprobs) == gen.completion_tokens
    assert all(lp <= 0.0 for _, lp in gen.token_logprobs)
    if mode == "completion":
        assert "".join(t for t, _ in gen.token_logprobs) == gen.text


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_a_streamed_answer_arrives_in_pieces_and_equals_asking_once(llama_server: str, mode: str) -> None:
    from cocogen.streaming import LiveText

    b = backend(llama_server, mode=mode)
    prompt, p = "def add(a, b):\n    return", GenerationParams(temperature=0.0, max_tokens=12)
    live = LiveText()
    [streamed] = b.complete_streaming(prompt, p, live=live)
    [whole] = b.complete(prompt, p)
    assert streamed.text == whole.text and streamed.text.strip()
    if mode == "completion":  # chat shows the code extracted from the reply so far
        assert live.text == streamed.text
    assert live.version > 2, "the answer arrived in more than one piece"
