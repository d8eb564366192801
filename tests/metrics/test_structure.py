"""Graph-structure metrics on hand-made graphs with known answers, degenerate ones included."""

from __future__ import annotations

import math

import pytest

from cocogen.metrics.base import ExampleScore, Score, average_rows, format_value, make_signature, parse_signature, prf
from cocogen.metrics.structure import (
    EdgeCounts,
    build_digraph,
    degree_stats,
    edge_counts,
    exact_match,
    ged_lower_bound,
    graph_edit_distance,
    is_isomorphic,
    macro_prf,
    micro_prf,
)

# --- P/R/F1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tp", "n_pred", "n_gold", "expected"),
    [
        (2, 2, 2, (1.0, 1.0, 1.0)),
        (1, 2, 4, (0.5, 0.25, 1 / 3)),
        (0, 3, 3, (0.0, 0.0, 0.0)),
        (0, 0, 0, (1.0, 1.0, 1.0)),  # nothing to find, nothing claimed
        (0, 0, 3, (0.0, 0.0, 0.0)),  # empty prediction
        (0, 3, 0, (0.0, 0.0, 0.0)),  # edges where none belong
    ],
)
def test_prf(tp: int, n_pred: int, n_gold: int, expected: tuple[float, float, float]) -> None:
    r = prf(tp, n_pred, n_gold)
    assert (r.precision, r.recall, r.f1) == pytest.approx(expected)


def test_prf_rejects_inconsistent_counts() -> None:
    with pytest.raises(ValueError):
        prf(3, 2, 5)


def test_edge_counts_micro_and_macro_differ() -> None:
    small = edge_counts([(0, 1)], [(0, 1)])  # perfect, 1 edge
    big = edge_counts([(0, 1), (1, 2), (2, 3), (3, 4)], [(9, 9), (8, 8), (7, 7), (6, 6)])  # all wrong, 4 edges
    assert tuple(micro_prf([small, big]).__dict__.values()) == pytest.approx((0.2, 0.2, 0.2))
    assert tuple(macro_prf([small.prf, big.prf]).__dict__.values()) == pytest.approx((0.5, 0.5, 0.5))
    assert small == EdgeCounts(1, 1, 1)


@pytest.mark.parametrize(
    ("pred", "gold", "same"),
    [([], [], True), ([(0, 1)], [(0, 1), (0, 1)], True), ([(1, 0)], [(0, 1)], False)],
)
def test_exact_match(pred: list[tuple[int, int]], gold: list[tuple[int, int]], same: bool) -> None:
    assert exact_match(pred, gold) is same


# --- graph edit distance --------------------------------------------------------------------

PATH3 = ([0, 1, 2], [(0, 1), (1, 2)])
FORK3 = ([0, 1, 2], [(0, 1), (0, 2)])
CYCLE3 = ([0, 1, 2], [(0, 1), (1, 2), (2, 0)])
TWO_PARTS = ([0, 1, 2, 3], [(0, 1), (2, 3)])  # disconnected
EMPTY: tuple[list[int], list[tuple[int, int]]] = ([], [])


@pytest.mark.parametrize(
    ("a", "b", "ged"),
    [
        (EMPTY, EMPTY, 0.0),
        (EMPTY, PATH3, 5.0),  # insert 3 nodes and 2 edges
        (PATH3, PATH3, 0.0),
        (PATH3, FORK3, 2.0),  # structure only: delete one edge, insert one
        (PATH3, CYCLE3, 1.0),  # insert the closing edge
        (PATH3, TWO_PARTS, 3.0),  # two disjoint edges keep at most one path edge: +1 node, -1 edge, +1 edge
    ],
)
def test_unlabelled_ged(a: tuple, b: tuple, ged: float) -> None:
    r = graph_edit_distance(build_digraph(*a), build_digraph(*b))
    assert (r.value, r.method) == (ged, "exact")
    assert r.lower <= r.value
    assert graph_edit_distance(build_digraph(*b), build_digraph(*a)).value == ged  # symmetric


def test_labelled_ged_uses_labels() -> None:
    a = build_digraph(["a", "b"], [("a", "b")], node_label=str, edge_labels=["causes"])
    b = build_digraph(["a", "b"], [("a", "b")], node_label=str, edge_labels=["is a"])
    c = build_digraph(["a", "x"], [("a", "x")], node_label=str, edge_labels=["causes"])
    assert graph_edit_distance(a, b, node_label="label", edge_label="label").value == 1.0
    assert graph_edit_distance(a, c, node_label="label", edge_label="label").value == 1.0
    assert graph_edit_distance(a, b).value == 0.0  # labels ignored


def test_lower_bound_from_label_multisets() -> None:
    a = build_digraph(["a", "b", "c"], [("a", "b")], node_label=str, edge_labels=["r"])
    b = build_digraph(["a", "d"], [("a", "d")], node_label=str, edge_labels=["r"])
    assert ged_lower_bound(a, b, node_label="label", edge_label="label") == 2.0
    assert graph_edit_distance(a, b, node_label="label", edge_label="label").value >= 2.0


def test_large_graph_is_approximated_and_says_so() -> None:
    a = build_digraph(range(16), [(i, i + 1) for i in range(15)])
    b = build_digraph(range(16), [(0, i) for i in range(1, 16)])
    # Same node and edge counts: the bound is 0, and no edit path of these different shapes costs 0,
    # so the first path found is an upper bound only, and must say so.
    r = graph_edit_distance(a, b, exact_max_nodes=12)
    assert (r.lower, r.method, r.exact) == (0.0, "approx", False)
    assert 0 < r.value <= 2 * (16 + 15)
    # A first path that meets the lower bound is the distance, whatever the size.
    same = graph_edit_distance(a, build_digraph(range(16), [(i, i + 1) for i in range(15)]), exact_max_nodes=12)
    assert (same.value, same.method) == (0.0, "exact")


def test_timeout_is_reported() -> None:
    # A transitive tournament (a DAG) against a tournament with cycles: 11 nodes and 55 edges each,
    # so the bound is 0 while the distance is at least 2; no exact search of this pair ends in 0.05 s.
    n = 11
    a = build_digraph(range(n), [(i, j) for i in range(n) for j in range(i + 1, n)])
    b = build_digraph(range(n), [(i, j) if (j - i) % 2 else (j, i) for i in range(n) for j in range(i + 1, n)])
    r = graph_edit_distance(a, b, timeout=0.05)
    assert r.method in ("timeout", "bound") and not r.exact
    assert r.seconds >= 0.05
    assert r.value >= 2 and r.lower == 0.0


def test_isomorphism() -> None:
    assert is_isomorphic(build_digraph(*PATH3), build_digraph(["x", "y", "z"], [("y", "z"), ("x", "y")]))
    assert not is_isomorphic(build_digraph(*PATH3), build_digraph(*FORK3))
    assert is_isomorphic(build_digraph(*EMPTY), build_digraph(*EMPTY))


def test_edges_to_unknown_nodes_add_nodes() -> None:
    g = build_digraph(range(2), [(0, 1), (1, 7)])
    assert sorted(g.nodes) == [0, 1, 7]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        (EMPTY, (0, 0, 0.0, True, False)),
        (PATH3, (3, 2, 4 / 3, True, True)),
        (CYCLE3, (3, 3, 2.0, False, True)),
        (TWO_PARTS, (4, 2, 1.0, True, False)),
        (([0], []), (1, 0, 0.0, True, True)),
    ],
)
def test_degree_stats(graph: tuple, expected: tuple) -> None:
    s = degree_stats(build_digraph(*graph))
    assert (s.n_nodes, s.n_edges, s.avg_degree, s.is_dag, s.is_weakly_connected) == pytest.approx(expected)


# --- Score and signatures ------------------------------------------------------------------


def test_signature_round_trip() -> None:
    sig = make_signature(task="explagraphs", fmt="code", model="a|b:c", k=8, seed=0, conv="prompt", other=None)
    assert sig == "task:explagraphs|fmt:code|model:a/b-c|k:8|seed:0|conv:prompt"
    assert parse_signature(sig)["model"] == "a/b-c"


def test_score_parse_rate_and_dict() -> None:
    s = Score("propara", {"f1": 0.5}, n=4, n_failed=1)
    assert s.parse_rate == 0.75 and s.to_dict()["parse_rate"] == 0.75
    assert math.isnan(Score("propara", {}, n=0, n_failed=0).parse_rate)


def test_average_rows_never_skips_rows() -> None:
    rows = [ExampleScore("1", True, {"a": 1.0, "b": 1.0}), ExampleScore("2", False, {"a": 0.0, "b": None})]
    assert average_rows(rows, ["a", "b"]) == {"a": 0.5, "b": None}


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("stca", 0.452, "45.20"),
        ("ged", 0.6876, "68.76"),
        ("bleu", 12.345, "12.35"),
        ("graph_ged", 3.0, "3.00"),
        ("seca", None, "n/a"),
        ("unknown", 2.5, "2.50"),
    ],
)
def test_format_value(key: str, value: float | None, shown: str) -> None:
    assert format_value(key, value) == shown
