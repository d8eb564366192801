"""The local model's confidence: real llama.cpp, real Gemma 3 270M, real dataset rows (2 few-shot examples)."""

from __future__ import annotations

import math

import pytest

from cocogen.backends import GenerationParams, make_backend
from cocogen.backends.llamacpp import LlamaCppBackend
from cocogen.constrained import Limits
from cocogen.pipeline import generate
from cocogen.prompts import PromptSpec
from cocogen.tasks import get_task

pytestmark = pytest.mark.slow

SPLITS = {"proscript-script": "dev", "proscript-edge": "dev", "explagraphs": "dev", "propara": "dev"}
SHORT = Limits(step_tokens=6, concept_tokens=6, location_tokens=4, max_triples=4)


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    b = make_backend("local")
    assert isinstance(b, LlamaCppBackend)
    b.limits = SHORT
    return b


@pytest.mark.parametrize("task_name", list(SPLITS))
def test_every_element_has_a_probability_and_alternatives_sum_to_at_most_one(
    backend: LlamaCppBackend, task_name: str
) -> None:
    task = get_task(task_name)
    row = task.load(SPLITS[task_name])[0]
    result = generate(task, None, row.graph, backend, spec=PromptSpec(k=2), params=GenerationParams(temperature=0))
    assert result.ok and result.graph is not None
    conf = result.confidence
    assert conf.source == "choices"
    assert set(conf.values) == set(task.element_keys(result.graph))
    # The decoder writes a script's last step, its goal, itself (as it writes a ``def``
    # line): no model decision wrote it, so it has no number; everything else has one.
    given = {f"step{len(result.graph.steps) - 1}"} if task_name == "proscript-script" else set()
    assert {k for k, p in conf.values.items() if p is None} == given, conf.values
    assert all(0.0 <= p <= 1.0 for k, p in conf.values.items() if k not in given), conf.values
    decisions = result.samples[0].generation.raw["decisions"]
    choices = [d for d in decisions if d["kind"] == "choice"]
    assert choices, "every task makes some choice"
    for d in decisions:
        assert 0.0 <= d["p"] <= 1.0
        # The alternative taken and the most likely one not taken are parts of one distribution.
        assert d["runner_up"] is None or d["p"] + d["runner_up"] <= 1.0 + 1e-9
        assert 0 <= d["start"] <= d["end"] <= len(result.completion)
    for key, other in conf.runner_up.items():
        assert conf.values[key] + other["p"] <= 1.0 + 1e-9 and other["label"]
    assert any(d["runner_up"] is not None for d in choices), "some choice had an alternative"


def test_free_decoding_records_token_log_probabilities(backend: LlamaCppBackend) -> None:
    free = make_backend("local", constraints=False)
    task = get_task("proscript-edge")
    row = task.load("dev")[0]
    params = GenerationParams(temperature=0, max_tokens=60)
    result = generate(task, None, row.graph, free, spec=PromptSpec(k=2), params=params)
    gen = result.samples[0].generation
    assert gen.token_logprobs, "free decoding keeps each token's log-probability"
    assert "".join(t for t, _ in gen.token_logprobs) == gen.text
    assert all(lp <= 0.0 and 0.0 <= math.exp(lp) <= 1.0 for _, lp in gen.token_logprobs)
    if result.samples[0].parse.graph is not None:
        values = result.confidence.values
        assert all(p is None or 0.0 <= p <= 1.0 for p in values.values())
        assert result.confidence.source == "tokens"


def test_sampled_answers_merge_with_agreement(backend: LlamaCppBackend) -> None:
    task = get_task("proscript-edge")
    row = task.load("dev")[1]
    params = GenerationParams(temperature=0.8, n=3, seed=7)
    result = generate(task, None, row.graph, backend, spec=PromptSpec(k=2), params=params, merge=True)
    assert result.merged is not None and result.merged.n == 3
    assert result.graph is result.merged.graph
    assert set(result.merged.agreement) == set(task.element_keys(result.graph))
    assert all(v in (1 / 3, 2 / 3, 1.0) for v in result.merged.agreement.values())
    d = result.to_dict()
    assert d["merged"] == result.graph.to_dict() and len(d["samples"]) == 3
