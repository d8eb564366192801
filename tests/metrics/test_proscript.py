"""proScript metrics on hand-made scripts with known answers: generation and edge prediction."""

from __future__ import annotations

import pytest

from cocogen.metrics import proscript as S
from cocogen.types import Script

TEA = Script(
    "make tea",
    5,
    ("decided to make tea", "boil water", "get a cup", "pour water", "make tea"),
    ((0, 1), (0, 2), (1, 3), (2, 3), (3, 4)),
)

# --- linearisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "text", "cyclic"),
    [
        (TEA, "decided to make tea. boil water. get a cup. pour water. make tea.", False),
        # written in another order: the partial order decides, ties by index
        (Script("g", 3, ("C.", "A", "b"), ((1, 2), (2, 0))), "a. b. c.", False),
        (Script("g", 2, ("x", "y"), ((0, 1), (1, 0))), "x. y.", True),  # cycle: written order
        (Script("g", 2, ("x", "y"), ((0, 5),)), "x. y.", False),  # edge to an unknown step ignored
        (Script("g", 0), "", False),  # empty script
    ],
)
def test_topological_text(script: Script, text: str, cyclic: bool) -> None:
    steps, was_cyclic = S.topological_steps(script)
    assert (S.script_text(steps), was_cyclic) == (text, cyclic)


# --- script generation ----------------------------------------------------------------------


def test_identical_script() -> None:
    row, (hyp, ref) = S.score_generation("1", TEA, TEA)
    v = row.values
    assert hyp == ref
    assert (v["rouge_l"], v["isomorphic"], v["graph_ged"]) == (1.0, 1.0, 0.0)
    assert v["sentence_bleu"] == pytest.approx(100.0)
    assert (v["pred_nodes"], v["pred_edges"], v["pred_avg_degree"]) == (5.0, 5.0, 2.0)


def test_same_text_other_structure() -> None:
    chain = Script(TEA.goal, 5, TEA.steps, ((0, 1), (1, 2), (2, 3), (3, 4)))
    row, _ = S.score_generation("1", chain, TEA)
    v = row.values
    assert v["isomorphic"] == 0.0
    # structure only: the diamond's longest path has 3 edges, so one chain edge goes and two come in
    assert v["graph_ged"] == 3.0
    assert row.info["ged"]["method"] == "exact"


def test_failure_is_an_empty_prediction() -> None:
    row, (hyp, _) = S.score_generation("1", None, TEA, problems=[{"kind": "empty", "message": "x", "line": None}])
    v = row.values
    assert not row.parsed and hyp == ""
    assert (v["rouge_l"], v["sentence_bleu"], v["isomorphic"], v["pred_is_dag"]) == (0.0, 0.0, 0.0, 0.0)
    assert v["graph_ged"] == 10.0  # 5 nodes + 5 edges to insert


def test_cyclic_and_unknown_steps_are_noted() -> None:
    bad = Script(TEA.goal, 3, TEA.steps[:3], ((0, 1), (1, 0), (2, 9)))
    row, _ = S.score_generation("1", bad, TEA)
    assert row.info["cycle"] is True and row.info["edges_to_unknown_steps"] == 1
    assert row.values["pred_is_dag"] == 0.0


def test_aggregate_generation_counts_failures() -> None:
    rows, texts = zip(*[S.score_generation("1", TEA, TEA), S.score_generation("2", None, TEA)], strict=True)
    score = S.aggregate_generation(list(rows), list(texts), task="proscript-script")
    assert (score.n, score.n_failed, score.parse_rate) == (2, 1, 0.5)
    assert score.values["rouge_l"] == 0.5 and score.values["isomorphic"] == 0.5
    assert 0 < score.values["bleu"] < 100  # corpus BLEU with one empty hypothesis
    assert "BLEU" in score.extra["bleu_signature"] or "nrefs" in score.extra["bleu_signature"]


# --- edge prediction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edges", "p", "r", "f1", "em", "ged"),
    [
        (TEA.edges, 1.0, 1.0, 1.0, 1.0, 0.0),
        (((0, 1), (1, 3), (3, 4)), 1.0, 0.6, 0.75, 0.0, 2.0),
        (((0, 1), (1, 2), (2, 3), (3, 4)), 0.75, 0.6, 2 / 3, 0.0, 3.0),
        (((4, 3), (3, 1)), 0.0, 0.0, 0.0, 0.0, 7.0),  # reversed edges
        ((), 0.0, 0.0, 0.0, 0.0, 5.0),  # no edges at all
        (((0, 1), (1, 0), (0, 2), (2, 3), (3, 4), (1, 3)), 5 / 6, 1.0, 10 / 11, 0.0, 1.0),  # a cycle
        (((0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 9)), 5 / 6, 1.0, 10 / 11, 0.0, 1.0),  # unknown step
    ],
)
def test_edge_prediction(edges: tuple, p: float, r: float, f1: float, em: float, ged: float) -> None:
    pred = Script(TEA.goal, 5, TEA.steps, tuple(edges))
    row, _ = S.score_edges("1", pred, TEA)
    v = row.values
    assert (v["edge_precision"], v["edge_recall"], v["edge_f1"], v["exact_match"], v["edge_ged"]) == pytest.approx(
        (p, r, f1, em, ged)
    )


def test_edges_compared_by_step_text_when_steps_differ() -> None:
    shuffled = Script(TEA.goal, 5, tuple(reversed(TEA.steps)), ((4, 3), (4, 2), (3, 1), (2, 1), (1, 0)))
    row, _ = S.score_edges("1", shuffled, TEA)
    assert row.values["edge_f1"] == 1.0 and row.info["steps_differ"]


def test_edge_aggregate_macro_micro_and_failure() -> None:
    small_ref = Script("g", 2, ("a", "b"), ((0, 1),))
    pairs = [
        S.score_edges("1", small_ref, small_ref),  # perfect on 1 edge
        S.score_edges("2", Script(TEA.goal, 5, TEA.steps, ((4, 3),)), TEA),  # 0 of 5
        S.score_edges("3", None, TEA),  # parse failure
    ]
    rows, counts = zip(*pairs, strict=True)
    score = S.aggregate_edges(list(rows), list(counts), task="proscript-edge")
    assert score.values["edge_f1"] == pytest.approx(1 / 3)  # macro: (1 + 0 + 0) / 3
    assert score.values["micro_edge_precision"] == pytest.approx(1 / 2)  # 1 tp of 2 predicted
    assert score.values["micro_edge_recall"] == pytest.approx(1 / 11)
    assert score.values["exact_match"] == pytest.approx(1 / 3)
    assert (score.n, score.n_failed) == (3, 1)
