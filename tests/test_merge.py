"""Sample and merge: hand-made vote sets with known merged graphs (cocogen.merge and the tasks' merge rules)."""

from __future__ import annotations

import networkx as nx
import pytest

from cocogen.errors import InputError
from cocogen.merge import kept_by_votes, majority, match_to_anchor, merge_graphs, similarity
from cocogen.tasks import REGISTRY
from cocogen.types import ExplaGraph, Script, StateTable

EDGE = REGISTRY["proscript-edge"]
SCRIPT = REGISTRY["proscript-script"]
EXPLA = REGISTRY["explagraphs"]
PROPARA = REGISTRY["propara"]
STEPS = ("decided to make tea", "boil water", "pour water", "make tea")


def _edges(*edges: tuple[int, int]) -> Script:
    return Script("make tea", 4, STEPS, tuple(edges))


def test_edges_are_kept_by_vote_share() -> None:
    samples = [_edges((0, 1), (1, 2), (2, 3)), _edges((0, 1), (1, 2), (1, 3)), _edges((0, 1), (0, 2), (2, 3))]
    merged = merge_graphs(EDGE, EDGE.query_of(samples[0]), samples)
    assert merged.graph == _edges((0, 1), (1, 2), (2, 3))
    assert merged.agreement == {"step0 -> step1": 1.0, "step1 -> step2": 2 / 3, "step2 -> step3": 2 / 3}


def test_a_cyclic_vote_set_merges_into_a_dag_without_its_least_voted_edge() -> None:
    cyclic = _edges((0, 1), (1, 2), (2, 0))
    samples = [cyclic, cyclic, _edges((0, 1), (1, 2)), _edges((0, 1))]
    merged = merge_graphs(EDGE, EDGE.query_of(cyclic), samples)
    assert merged.graph.edges == ((0, 1), (1, 2))  # (2, 0) had 2 of 4 votes: kept by share, dropped for the cycle
    assert nx.is_directed_acyclic_graph(nx.DiGraph(merged.graph.edges))
    assert merged.agreement == {"step0 -> step1": 1.0, "step1 -> step2": 0.75}


def test_kept_by_votes_breaks_every_cycle_at_its_weakest_edge() -> None:
    votes = {("a", "b"): 5, ("b", "c"): 4, ("c", "a"): 3, ("c", "d"): 5, ("d", "c"): 4}
    assert kept_by_votes(votes, n=5) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert kept_by_votes({("a", "a"): 3}, n=3) == []
    with pytest.raises(InputError):
        kept_by_votes({}, n=0)


def test_script_steps_are_matched_by_text_similarity() -> None:
    a = Script("bake bread", 3, ("decided to bake bread", "mix the flour", "bake the bread"), ((0, 1), (1, 2)))
    b = Script("bake bread", 3, ("decided to bake bread", "bake the bread", "Mix flour."), ((0, 2), (2, 1)))
    c = Script("bake bread", 3, ("decided to bake bread", "mix the flour", "walk the dog"), ((0, 1), (1, 2)))
    merged = merge_graphs(SCRIPT, SCRIPT.query_of(a), [a, b, c])
    assert merged.graph == a
    assert merged.agreement == {
        "step0": 1.0,
        "step1": 1.0,
        "step2": 2 / 3,  # "walk the dog" is not "bake the bread"
        "step0 -> step1": 1.0,
        "step1 -> step2": 2 / 3,  # c's edge to its unmatched step does not count
    }


def test_similarity_and_matching() -> None:
    assert similarity("Mix flour.", "mix the flour") == pytest.approx(0.8)
    assert match_to_anchor(["boil water", "pour water"], ["pour the water", "buy a car"], 0.6) == {0: 1}


def test_explagraphs_concepts_match_by_normalised_text() -> None:
    def g(*triples: tuple[str, str, str]) -> ExplaGraph:
        return ExplaGraph("Zoos should close.", "Zoos save species.", "counter", triples)

    samples = [
        g(("Zoos", "capable of", "save species"), ("save species", "causes", "biodiversity")),
        g(("zoos", "capable of", "Save  species."), ("save species", "causes", "biodiversity")),
        g(("zoos", "not capable of", "save species")),
    ]
    merged = merge_graphs(EXPLA, EXPLA.query_of(samples[0]), samples)
    assert merged.graph.triples == (("Zoos", "capable of", "save species"), ("save species", "causes", "biodiversity"))
    assert merged.agreement == {
        "Zoos; capable of; save species": 2 / 3,
        "save species; causes; biodiversity": 2 / 3,
    }
    # Fewer than three triples with half of the votes: the sample the others share most with.
    assert merged.graph.triples == samples[0].triples


def test_explagraphs_votes_and_cycles() -> None:
    def g(*triples: tuple[str, str, str]) -> ExplaGraph:
        return ExplaGraph("Zoos should close.", "Zoos save species.", "counter", triples)

    chain = (("a", "causes", "b"), ("b", "causes", "c"), ("c", "causes", "d"))
    looped = [g(*chain, ("d", "causes", "a"))] * 2 + [g(*chain)]
    merged = merge_graphs(EXPLA, EXPLA.query_of(looped[0]), looped)
    assert merged.graph.triples == chain  # (d, a) had 2 of 3 votes, and closed the cycle with the least
    assert merged.agreement == {"a; causes; b": 1.0, "b; causes; c": 1.0, "c; causes; d": 1.0}
    scattered = [g(("p", "is a", "q")), g(("x", "is a", "y"), ("y", "causes", "z"), ("z", "causes", "w")),
                 g(("m", "is a", "n"), ("x", "is a", "y"))]  # fmt: skip
    fallback = merge_graphs(EXPLA, EXPLA.query_of(scattered[0]), scattered)
    assert fallback.graph.triples == scattered[1].triples  # no majority: the sample the others share most with
    assert fallback.agreement == {"x; is a; y": 2 / 3, "y; causes; z": 1 / 3, "z; causes; w": 1 / 3}


def test_propara_cells_by_majority() -> None:
    def t(*rows: tuple[str, ...]) -> StateTable:
        return StateTable(("Water falls.",), ("water", "cloud"), rows)

    samples = [t(("sky", "-"), ("sky", "?")), t(("Ground.", "-"), ("sky", "?")), t(("ground", "sky"), ("-", "sky"))]
    merged = merge_graphs(PROPARA, PROPARA.query_of(samples[0]), samples)
    assert merged.graph.states == (("Ground.", "-"), ("sky", "?"))
    assert merged.agreement == {"water @ 0": 2 / 3, "water @ 1": 2 / 3, "cloud @ 0": 2 / 3, "cloud @ 1": 2 / 3}


def test_majority_and_empty_merges() -> None:
    assert majority(["x", "y", "x", "y"]) == ("x", 0.5)  # the earliest of equal counts
    with pytest.raises(InputError, match="None of the samples"):
        merge_graphs(EDGE, _edges(), [None, None])
