"""Per-element confidence from recorded decisions and token log-probabilities; calibration with known numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cocogen.confidence import Confidence, calibration, element_confidence, element_spans
from cocogen.errors import InputError
from cocogen.tasks import REGISTRY
from cocogen.types import Generation, Script

EDGE = REGISTRY["proscript-edge"]
CODE = EDGE.formats["code"]
GRAPH = Script("make tea", 3, ("boil water", "decided to make tea", "make tea"), ((1, 0), (0, 2)))
QUERY = EDGE.query_of(GRAPH)
COMPLETION = CODE.render(GRAPH)[len(CODE.render_query(QUERY)) :]


def _line_tokens(text: str, probability: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """One token per line; a line holding a key of ``probability`` gets that probability, others 0.99."""
    out = []
    for line in text.splitlines(keepends=True):
        p = next((v for k, v in probability.items() if k in line), 0.99)
        out.append((line, math.log(p)))
    return tuple(out)


def test_calibration_with_known_numbers() -> None:
    pairs = [(0.95, True), (0.95, True), (0.85, False), (0.15, False), (0.15, True), (float("nan"), True)]
    c = calibration(pairs, bins=10)
    assert c.n == 5  # the NaN is no confidence
    filled = {round(b.low, 1): (b.count, round(b.mean_confidence, 3), b.share_in_reference) for b in c.bins if b.count}
    assert filled == {0.1: (2, 0.15, 0.5), 0.8: (1, 0.85, 0.0), 0.9: (2, 0.95, 1.0)}
    assert c.ece == pytest.approx((2 * 0.05 + 1 * 0.85 + 2 * 0.35) / 5)
    assert calibration([(1.0, True)], bins=4).bins[-1].count == 1  # 1.0 falls in the last bin
    assert calibration([]).ece == 0.0 and calibration([]).n == 0
    with pytest.raises(InputError):
        calibration(pairs, bins=0)


def test_token_logprobs_give_each_element_its_weakest_token() -> None:
    tokens = _line_tokens(COMPLETION, {"step1 -> step0": 0.25, "step0 -> step2": 0.6})
    assert "".join(t for t, _ in tokens) == COMPLETION
    conf = element_confidence(EDGE, CODE, QUERY, GRAPH, Generation(COMPLETION, token_logprobs=tokens))
    assert conf.source == "tokens"
    assert conf.values == {"step1 -> step0": pytest.approx(0.25), "step0 -> step2": pytest.approx(0.6)}


def test_free_text_that_is_not_the_canonical_rendering_is_aligned() -> None:
    written = COMPLETION.replace("        return [\n", "        # the order\n        return [\n")
    tokens = _line_tokens(written, {"the order": 0.01, "step1 -> step0": 0.3, "step0 -> step2": 0.7})
    graph = CODE.parse(written, QUERY).graph
    assert graph == GRAPH
    conf = element_confidence(EDGE, CODE, QUERY, graph, Generation(written, token_logprobs=tokens))
    assert conf.values == {"step1 -> step0": pytest.approx(0.3), "step0 -> step2": pytest.approx(0.7)}


def test_recorded_decisions_carry_the_runner_up() -> None:
    spans = element_spans(EDGE, CODE, QUERY, GRAPH, COMPLETION)
    first, second = spans["step1 -> step0"], spans["step0 -> step2"]
    assert first is not None and second is not None
    decisions = [
        {
            "start": first[0] + 2,
            "end": first[1] - 1,
            "p": 0.4,
            "runner_up": 0.35,
            "runner_up_label": '"step1 -> step2",',
        },
        {"start": second[0] + 2, "end": second[1] - 1, "p": 0.9, "runner_up": None, "runner_up_label": None},
    ]
    conf = element_confidence(EDGE, CODE, QUERY, GRAPH, Generation(COMPLETION, raw={"decisions": decisions}))
    assert conf.source == "choices"
    assert conf.values == {"step1 -> step0": 0.4, "step0 -> step2": 0.9}
    assert conf.runner_up == {"step1 -> step0": {"p": 0.35, "label": '"step1 -> step2",'}}
    assert Confidence.from_dict(conf.to_dict()) == conf


def test_without_probabilities_every_element_is_not_available() -> None:
    conf = element_confidence(EDGE, CODE, QUERY, GRAPH, Generation(COMPLETION, raw={"endpoint": "completions"}))
    assert conf.values == {"step1 -> step0": None, "step0 -> step2": None}
    assert not conf.available and conf.source is None
    assert element_confidence(EDGE, CODE, QUERY, None, Generation("")).values == {}


def test_a_damaged_record_reads_as_not_available() -> None:
    assert Confidence.from_dict({"values": {"a": "high", "b": 2.5, "c": True}}).values == {
        "a": None,
        "b": 1.0,
        "c": None,
    }
    assert Confidence.from_dict(["not", "a", "mapping"]) == Confidence()


def test_calibration_of_a_run_file_with_known_confidences(tmp_path: Path) -> None:
    """Each answer: the reference's edges at 0.9 (all right) and its last edge reversed at 0.2 (wrong)."""
    from cocogen.confidence import calibration_of_run
    from tests.app.test_confidence_pages import _sure_run

    path = tmp_path / "sure.jsonl"
    _sure_run(path)
    rows = EDGE.load("dev")[:3]
    right = sum(len(r.graph.edges) - 1 for r in rows)
    c = calibration_of_run(path)
    assert c is not None and c.n == right + 3
    filled = {round(b.low, 1): (b.count, b.share_in_reference) for b in c.bins if b.count}
    assert filled == {0.2: (3, 0.0), 0.9: (right, 1.0)}
    assert c.ece == pytest.approx((right * 0.1 + 3 * 0.2) / (right + 3))


def test_a_run_without_confidence_has_no_calibration(tmp_path: Path) -> None:
    from cocogen.confidence import calibration_of_run
    from cocogen.runs import run_batch

    class Plain:
        name, mode, model = "plain", "completion", "plain"

        def signature(self) -> str:
            return "plain"

        def complete(self, prompt: str, params: object = None, context: object = None) -> list[Generation]:
            return [Generation(COMPLETION)]

    path = tmp_path / "plain.jsonl"
    run_batch(EDGE, CODE, Plain(), EDGE.load("dev")[:2], path, progress=False)  # type: ignore[arg-type]
    assert calibration_of_run(path) is None
