"""ExplaGraphs metrics: the official structural checks one by one, GED normalisation, conventions,
failures, graph matching and the model-metric hook — on hand-made graphs with known answers."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cocogen.metrics import explagraphs as E
from cocogen.types import ExplaGraph

BELIEF = "Dogs bring joy to people."
ARGUMENT = "Pets are good for health."
GOOD = (("dogs", "capable of", "joy"), ("joy", "causes", "good"), ("good", "used for", "pets"))


def _g(triples: Sequence[Sequence[str]], stance: str = "support") -> ExplaGraph:
    return ExplaGraph(BELIEF, ARGUMENT, stance, tuple(tuple(t) for t in triples))  # type: ignore[misc]


# --- the official checks, each failing on its own ----------------------------------------


@pytest.mark.parametrize(
    ("graph", "first_failure"),
    [
        ("(dogs; capable of; joy)(joy; causes; good)(good; used for; pets)", None),
        ("(dogs; capable of; joy)(joy; causes; good)", "edge_count"),
        ("", "edge_count"),  # the empty graph
        ("(dogs; capable of; joy)(joy; causes)(good; used for; pets)", "edge_format"),
        ("(dogs; capable of; joy)(joy; causes; good; more)(good; used for; pets)", "edge_format"),
        ("(dogs; capable of; joy)(joy; causes; very good old thing)(good; used for; pets)", "edge_structure"),
        ("(dogs; capable of; joy)(joy; leads to; good)(good; used for; pets)", "edge_structure"),
        ("(dogs; capable of; )(joy; causes; good)(good; used for; pets)", "edge_structure"),
        ("(cats; capable of; fun)(fun; causes; good)(good; used for; pets)", "belief_argument_concepts"),
        ("(dogs; capable of; joy)(joy; causes; dogs)(good; used for; pets)", "connected_dag"),  # cycle
        ("(dogs; capable of; joy)(joy; causes; dogs)(joy; is a; joy)", "belief_argument_concepts"),
        ("(dogs; capable of; joy)(good; used for; pets)(health; has property; good)", "connected_dag"),  # disconnected
        (
            "(dogs; capable of; joy)(joy; causes; joy)(joy; used for; pets)(good; is a; pets)",
            "connected_dag",
        ),  # self-loop
        ("(DOGS; Capable Of; Joy)(joy; causes; good)(good; used for; pets)", None),  # lower-cased first
    ],
)
def test_structural_checks(graph: str, first_failure: str | None) -> None:
    checks = E.structural_checks(E.official_edges(graph), BELIEF, ARGUMENT)
    failed = [k for k, v in checks.items() if v is False]
    assert failed == ([first_failure] if first_failure else [])
    if first_failure:  # later checks are not run, as in the evaluator
        after = list(E.CHECKS)[list(E.CHECKS).index(first_failure) + 1 :]
        assert all(checks[k] is None for k in after)


def test_concepts_match_as_substrings() -> None:
    """The evaluator tests `concept in belief`: 'joy' and even 'og' count for 'Dogs bring joy'."""
    edges = E.official_edges("(og; causes; joy)(joy; causes; pets)(pets; is a; good)")
    assert E.structural_checks(edges, BELIEF, ARGUMENT)["belief_argument_concepts"] is True


# --- GED normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "raw"),
    [
        ("(dogs; capable of; joy)(joy; causes; good)(good; used for; pets)", 0.0),
        ("(dogs; capable of; joy)(joy; is a; good)(good; used for; pets)", 1.0),  # one relation differs
        ("(dogs; capable of; joy)(joy; causes; good)(good; used for; health)", 1.0),  # one node relabelled
        ("(dogs; capable of; joy)(joy; causes; good)(good; used for; pets)(pets; is a; health)", 2.0),  # +node +edge
    ],
)
def test_official_ged_normalisation(pred: str, raw: float) -> None:
    gold = "(dogs; capable of; joy)(joy; causes; good)(good; used for; pets)"  # 4 nodes, 3 edges
    value, r = E.official_ged(gold, pred)
    assert (r.value, r.method) == (raw, "exact")
    assert value == pytest.approx(raw / (4 + 3 + 17))


def test_incorrect_or_wrong_stance_gets_ged_one() -> None:
    gold = _g(GOOD)
    bad_structure = _g(GOOD[:2])
    row, _ = E.score_example("1", bad_structure, gold, stances={"prompt": "support", "gold": "support"})
    assert (row.values["stca"], row.values["ged"], row.values["sa"]) == (0.0, 1.0, 1.0)
    wrong_stance = _g(GOOD, stance="counter")
    row, parts = E.score_example("2", wrong_stance, gold, stances={"prompt": "support", "gold": "support"})
    assert (row.values["sa"], row.values["stca"], row.values["ged"]) == (0.0, 0.0, 1.0)
    assert parts.structurally_correct and row.values["struct_correct"] == 1.0


def test_perfect_graph() -> None:
    row, _ = E.score_example("1", _g(GOOD), _g(GOOD), stances={"prompt": "support", "gold": "support"})
    v = row.values
    assert (v["sa"], v["stca"], v["ged"], v["edge_f1"], v["concept_f1"]) == (1.0, 1.0, 0.0, 1.0, 1.0)
    assert v["g_bleu_f1"] == pytest.approx(1.0) and v["g_rouge_f1"] == pytest.approx(1.0)


def test_parse_failure_is_worst_everywhere_and_reported() -> None:
    problems = [{"kind": "empty", "message": "no triple", "line": None}]
    row, parts = E.score_example(
        "1", None, _g(GOOD), stances={"prompt": "support", "gold": "support"}, problems=problems
    )
    v = row.values
    assert not row.parsed and row.problems == problems
    assert (v["sa"], v["stca"], v["ged"], v["edge_f1"], v["g_bleu_f1"]) == (0.0, 0.0, 1.0, 0.0, 0.0)
    score = E.aggregate([row], [parts], task="explagraphs")
    assert (score.n, score.n_failed, score.parse_rate) == (1, 1, 0.0)


# --- stance conventions ---------------------------------------------------------------------------


def test_conventions_differ_only_in_the_reference_stance() -> None:
    """The prompt said 'support' (and so does the prediction); the dataset label is 'counter'."""
    gold = _g(GOOD, stance="counter")
    pred = _g(GOOD, stance="support")
    stances = {"prompt": "support", "gold": "counter"}
    rows, parts = zip(*[E.score_example("1", pred, gold, stances=stances)], strict=True)
    prompt = E.aggregate(list(rows), list(parts), convention="prompt", task="explagraphs")
    assert (prompt.values["sa"], prompt.values["stca"], prompt.values["ged"]) == (1.0, 1.0, 0.0)
    other = prompt.extra["other_convention"]
    assert (other["convention"], other["sa"], other["stca"], other["ged"]) == ("gold", 0.0, 0.0, 1.0)
    rows, parts = zip(*[E.score_example("1", pred, gold, stances=stances, convention="gold")], strict=True)
    gold_score = E.aggregate(list(rows), list(parts), convention="gold", task="explagraphs")
    assert (gold_score.values["sa"], gold_score.values["stca"]) == (0.0, 0.0)
    assert gold_score.extra["other_convention"]["stca"] == 1.0


def test_unknown_gold_stance_is_not_guessed() -> None:
    rows, parts = zip(
        *[E.score_example("1", _g(GOOD), _g(GOOD), stances={"prompt": "support", "gold": None}, convention="gold")],
        strict=True,
    )
    score = E.aggregate(list(rows), list(parts), convention="gold", task="explagraphs")
    assert score.values["sa"] is None and score.values["stca"] is None
    assert "other_convention" in score.extra  # the prompt convention is still known


# --- graph matching (G-BLEU / G-ROUGE) -------------------------------------------------------------


def test_edge_tokens_follow_the_official_tokenizer() -> None:
    assert E.edge_tokens("dogs; capable of; joy") == ["dogs", ";", "capable", "of", ";", "joy"]
    assert E.edge_tokens(";x a;b") == [";x", "a", ";", "b"]  # a leading ';' is not split off


def test_graph_matching_partial() -> None:
    gold = "(dogs; capable of; joy)(joy; causes; good)"
    pred = "(dogs; capable of; joy)(cats; not desires; water)(sun; is a; star)"
    m = E.graph_matching(gold, pred)
    assert m["g_bleu_precision"] == pytest.approx(1 / 3)  # one exact edge among three predicted
    assert m["g_bleu_recall"] == pytest.approx(1 / 2)
    assert m["g_rouge_precision"] < m["g_rouge_recall"]


# --- model-based metrics: reported unavailable, never estimated ---------------------------------------


def test_model_metrics_unavailable_by_default() -> None:
    rows, parts = zip(*[E.score_example("1", _g(GOOD), _g(GOOD), stances={"prompt": "support"})], strict=True)
    score = E.aggregate(list(rows), list(parts), task="explagraphs")
    assert score.values["seca"] is None and "not shipped" in score.unavailable["seca"]
    assert set(score.unavailable) == {"seca", "g_bertscore_f1", "ea"}


class _FakeSeca:
    """A stand-in model metric: 1 when the graph is structurally correct (a test double for the hook only)."""

    key = "seca"

    def unavailable_reason(self) -> str | None:
        return None

    def score(self, examples: Sequence[E.ExampleParts]) -> list[float]:
        return [float(e.structurally_correct) for e in examples]


def test_registered_model_metric_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E, "MODEL_METRICS", {})
    E.register_model_metric(_FakeSeca())
    pairs = [
        E.score_example(str(i), g, _g(GOOD), stances={"prompt": "support"})
        for i, g in enumerate([_g(GOOD), _g(GOOD[:1])])
    ]
    rows, parts = zip(*pairs, strict=True)
    score = E.aggregate(list(rows), list(parts), task="explagraphs")
    assert score.values["seca"] == 0.5 and "seca" not in score.unavailable
    assert rows[0].values["seca"] == 1.0
    with pytest.raises(ValueError):
        E.register_model_metric(type("X", (), {"key": "bogus"})())  # type: ignore[arg-type]
