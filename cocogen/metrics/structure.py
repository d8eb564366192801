"""Graph-structure metrics shared by the graph tasks.

Edge precision/recall/F1 (per example, micro from summed counts, macro as a mean), exact
match, isomorphism, node/edge counts and degree statistics, and a *bounded* graph edit
distance (GED).

GED is NP-hard.  :func:`graph_edit_distance` computes it exactly with networkx for graphs of
at most ``exact_max_nodes`` nodes, stopping after ``timeout`` seconds; beyond either limit it
returns the best value found (an upper bound) and says so in :attr:`GED.method`.  A cheap
lower bound is always returned too; when it meets the upper bound the value is exact
whatever the method.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx

from cocogen.metrics.base import PRF, mean, prf

__all__ = [
    "EdgeCounts",
    "edge_counts",
    "micro_prf",
    "macro_prf",
    "exact_match",
    "GED",
    "graph_edit_distance",
    "ged_lower_bound",
    "build_digraph",
    "is_isomorphic",
    "DegreeStats",
    "degree_stats",
    "DEFAULT_EXACT_MAX_NODES",
    "DEFAULT_GED_TIMEOUT",
]

# networkx's exact search is fast for the 4–10 node graphs of these tasks and explodes
# beyond ~15 nodes; these defaults keep one pair under a second in practice.
DEFAULT_EXACT_MAX_NODES = 12
DEFAULT_GED_TIMEOUT = 2.0


@dataclass(frozen=True)
class EdgeCounts:
    """Counts behind an edge P/R/F1: true positives and the two set sizes."""

    tp: int
    n_pred: int
    n_gold: int

    @property
    def prf(self) -> PRF:
        return prf(self.tp, self.n_pred, self.n_gold)


def edge_counts(pred: Iterable[Hashable], gold: Iterable[Hashable]) -> EdgeCounts:
    """Compare two edge collections as sets (duplicates count once).

    >>> edge_counts([(0, 1), (1, 2), (1, 2)], [(0, 1), (0, 2)])
    EdgeCounts(tp=1, n_pred=2, n_gold=2)
    """
    p, g = set(pred), set(gold)
    return EdgeCounts(len(p & g), len(p), len(g))


def micro_prf(counts: Iterable[EdgeCounts]) -> PRF:
    """P/R/F1 from counts summed over examples (large graphs weigh more).

    >>> micro_prf([EdgeCounts(1, 2, 2), EdgeCounts(0, 0, 2)])
    PRF(precision=0.5, recall=0.25, f1=0.3333333333333333)
    """
    tp = n_pred = n_gold = 0
    for c in counts:
        tp, n_pred, n_gold = tp + c.tp, n_pred + c.n_pred, n_gold + c.n_gold
    return prf(tp, n_pred, n_gold)


def macro_prf(scores: Sequence[PRF]) -> PRF:
    """Mean of per-example precision, recall and F1 (F1 is the mean F1, not F1 of means).

    >>> macro_prf([PRF(1.0, 0.5, 2 / 3), PRF(0.0, 0.0, 0.0)])
    PRF(precision=0.5, recall=0.25, f1=0.3333333333333333)
    """
    return PRF(mean(s.precision for s in scores), mean(s.recall for s in scores), mean(s.f1 for s in scores))


def exact_match(pred: Iterable[Hashable], gold: Iterable[Hashable]) -> bool:
    """True when the two edge collections are equal as sets.

    >>> exact_match([(1, 2), (0, 1)], [(0, 1), (1, 2)])
    True
    """
    return set(pred) == set(gold)


def build_digraph(
    nodes: Iterable[Hashable],
    edges: Iterable[tuple[Hashable, Hashable]],
    *,
    node_label: Callable[[Hashable], Any] | None = None,
    edge_labels: Sequence[Any] | None = None,
) -> nx.DiGraph:
    """A DiGraph with every node listed (isolated ones included) and the given edges.

    Edges to nodes not in ``nodes`` add those nodes: an edge to an unknown step is part of
    what was predicted.  ``node_label(n)`` and ``edge_labels[i]`` set the ``"label"``
    attribute used by labelled GED.
    """
    g = nx.DiGraph()
    for n in nodes:
        g.add_node(n, **({"label": node_label(n)} if node_label else {}))
    for i, (a, b) in enumerate(edges):
        for n in (a, b):
            if n not in g:
                g.add_node(n, **({"label": node_label(n)} if node_label else {}))
        g.add_edge(a, b, **({"label": edge_labels[i]} if edge_labels is not None else {}))
    return g


def is_isomorphic(g1: nx.DiGraph, g2: nx.DiGraph) -> bool:
    """Unlabelled directed isomorphism (structure only, as CoCoGen reports it)."""
    return bool(nx.is_isomorphic(g1, g2))


@dataclass(frozen=True)
class GED:
    """A graph edit distance and how much to trust it.

    ``value`` is the best (lowest) edit cost found, so always an upper bound; ``lower`` a
    proven lower bound.  ``method`` is ``"exact"`` (search completed, or bounds met),
    ``"timeout"`` (exact search stopped at the time limit; best found), ``"approx"`` (graph
    too large: the first path of networkx's search) or ``"bound"`` (nothing found in time:
    delete everything and insert everything).
    """

    value: float
    lower: float
    method: Literal["exact", "timeout", "approx", "bound"]
    seconds: float

    @property
    def exact(self) -> bool:
        return self.method == "exact"

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "lower": self.lower, "method": self.method, "seconds": round(self.seconds, 4)}


def _labels(g: nx.DiGraph, key: str | None, kind: Literal["node", "edge"]) -> Counter[Any]:
    items = g.nodes(data=True) if kind == "node" else g.edges(data=True)
    return Counter((d.get(key) if key else None) for *_, d in items)


def ged_lower_bound(
    g1: nx.DiGraph, g2: nx.DiGraph, *, node_label: str | None = None, edge_label: str | None = None
) -> float:
    """A lower bound on the unit-cost GED from label multisets.

    Every edit path pairs nodes; at most ``|common labels|`` pairs cost nothing and every
    other node of the larger graph costs at least 1 (substitution, deletion or insertion).
    The same holds for edges, and node and edge costs add up.  Without labels this is
    ``|n1 - n2| + |m1 - m2|``.

    >>> a = build_digraph([0, 1, 2], [(0, 1), (1, 2)])
    >>> b = build_digraph([0, 1], [(0, 1)])
    >>> ged_lower_bound(a, b)
    2.0
    """
    n_common = sum((_labels(g1, node_label, "node") & _labels(g2, node_label, "node")).values())
    e_common = sum((_labels(g1, edge_label, "edge") & _labels(g2, edge_label, "edge")).values())
    n = max(g1.number_of_nodes(), g2.number_of_nodes()) - n_common
    m = max(g1.number_of_edges(), g2.number_of_edges()) - e_common
    return float(n + m)


def _eq(key: str | None) -> Callable[[dict[str, Any], dict[str, Any]], bool] | None:
    if key is None:
        return None
    return lambda a, b: a.get(key) == b.get(key)


def graph_edit_distance(
    g1: nx.DiGraph,
    g2: nx.DiGraph,
    *,
    node_label: str | None = None,
    edge_label: str | None = None,
    exact_max_nodes: int = DEFAULT_EXACT_MAX_NODES,
    timeout: float = DEFAULT_GED_TIMEOUT,
) -> GED:
    """Unit-cost graph edit distance, exact when affordable, otherwise bounded and labelled so.

    Parameters
    ----------
    g1, g2 : networkx.DiGraph
        The graphs (reference first, by convention; the distance is symmetric).
    node_label, edge_label : str, optional
        Attribute compared for equality: a node (edge) substitution costs 0 when the labels
        are equal and 1 otherwise.  ``None`` compares structure only.
    exact_max_nodes : int
        Largest graph (in nodes) for which the exact search is attempted.
    timeout : float
        Seconds allowed for the search of one pair.

    Returns
    -------
    GED

    Examples
    --------
    >>> a = build_digraph([0, 1, 2], [(0, 1), (1, 2)])
    >>> b = build_digraph([0, 1, 2], [(0, 1), (0, 2)])
    >>> r = graph_edit_distance(a, b)
    >>> (r.value, r.method)
    (2.0, 'exact')
    """
    t0 = time.perf_counter()
    lower = ged_lower_bound(g1, g2, node_label=node_label, edge_label=edge_label)
    trivial = float(g1.number_of_nodes() + g1.number_of_edges() + g2.number_of_nodes() + g2.number_of_edges())
    nm, em = _eq(node_label), _eq(edge_label)
    small = max(g1.number_of_nodes(), g2.number_of_nodes()) <= exact_max_nodes

    best: float | None = None
    paths = nx.optimize_edit_paths(g1, g2, node_match=nm, edge_match=em, strictly_decreasing=True, timeout=timeout)
    for _, _, cost in paths:
        best = float(cost)
        if not small or best <= lower:  # first path is all we wait for on large graphs
            break
    elapsed = time.perf_counter() - t0

    if best is None:
        return GED(trivial, lower, "bound", elapsed)
    if best <= lower:
        method: Literal["exact", "timeout", "approx", "bound"] = "exact"
    elif not small:
        method = "approx"
    elif elapsed >= timeout:  # networkx returns silently on timeout; the clock tells us
        method = "timeout"
    else:
        method = "exact"
    return GED(best, lower, method, elapsed)


@dataclass(frozen=True)
class DegreeStats:
    """Size and degree summary of one graph."""

    n_nodes: int
    n_edges: int
    avg_degree: float  # mean of in+out degree over nodes (0 for an empty graph)
    max_in_degree: int
    max_out_degree: int
    n_sources: int
    n_sinks: int
    is_dag: bool
    is_weakly_connected: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def degree_stats(g: nx.DiGraph) -> DegreeStats:
    """Counts and degree statistics of ``g``.

    >>> s = degree_stats(build_digraph([0, 1, 2, 3], [(0, 1), (0, 2), (1, 3), (2, 3)]))
    >>> (s.n_nodes, s.n_edges, s.avg_degree, s.max_in_degree, s.n_sources, s.n_sinks, s.is_dag)
    (4, 4, 2.0, 2, 1, 1, True)
    """
    n = g.number_of_nodes()
    if n == 0:
        return DegreeStats(0, 0, 0.0, 0, 0, 0, 0, True, False)
    ins = dict(g.in_degree())
    outs = dict(g.out_degree())
    return DegreeStats(
        n_nodes=n,
        n_edges=g.number_of_edges(),
        avg_degree=sum(ins.values()) * 2 / n,
        max_in_degree=max(ins.values()),
        max_out_degree=max(outs.values()),
        n_sources=sum(1 for v in ins.values() if v == 0),
        n_sinks=sum(1 for v in outs.values() if v == 0),
        is_dag=nx.is_directed_acyclic_graph(g),
        is_weakly_connected=nx.is_weakly_connected(g),
    )
