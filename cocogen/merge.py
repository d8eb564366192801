"""Sample and merge: several sampled graphs for one input → one graph, each element with its agreement.

MIDGARD (ACL 2024) showed that merging sampled graphs can beat one greedy graph.  The
task plug-in decides what an element is and how elements of different samples match
(``Task.merge``); this module holds the task-free pieces it uses:

- :func:`norm_text` — the normalised text that counts as "the same concept";
- :func:`similarity` and :func:`match_to_anchor` — matching items (proScript steps) of one
  sample to those of an anchor sample by text similarity, one to one;
- :func:`kept_by_votes` — edges kept by vote share, every cycle broken by dropping its
  lowest-voted edge (with networkx);
- :func:`merge_graphs` — the entry point: ``Merged(graph, agreement, n)``.

Agreement is the share of samples that have an element (1.0: every sample).  It is shown
as confidence is, but it is a different number: how often the model says it when asked
again, not the probability it gave once.

Examples
--------
>>> kept_by_votes({("a", "b"): 3, ("b", "a"): 1, ("b", "c"): 2}, n=3)
[('a', 'b'), ('b', 'c')]
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import networkx as nx

from cocogen.errors import InputError
from cocogen.types import Graph

__all__ = [
    "DEFAULT_MIN_SHARE",
    "DEFAULT_SAMPLE_TEMPERATURE",
    "DEFAULT_MIN_SIMILARITY",
    "Merged",
    "norm_text",
    "similarity",
    "match_to_anchor",
    "kept_by_votes",
    "majority",
    "merge_graphs",
]

# Samples for a merge are drawn at this temperature unless one is given.
DEFAULT_SAMPLE_TEMPERATURE = 0.7
# An element is kept when at least half of the samples have it.
DEFAULT_MIN_SHARE = 0.5
# Two proScript steps are "the same step" from this difflib ratio of their normalised words.
DEFAULT_MIN_SIMILARITY = 0.6

K = TypeVar("K", bound=Hashable)
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Merged:
    """The merged graph, the agreement of each of its elements (key → share in [0, 1]) and the sample count."""

    graph: Graph
    agreement: dict[str, float] = field(default_factory=dict)
    n: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"graph": self.graph.to_dict(), "agreement": dict(self.agreement), "n_samples": self.n}


def norm_text(text: str) -> str:
    """Words only, lower case: ``"Boil  the Water."`` and ``"boil the water"`` are the same.

    >>> norm_text("Boil  the Water.")
    'boil the water'
    """
    return " ".join(_WORDS.findall(text.lower()))


def similarity(a: str, b: str) -> float:
    """difflib's ratio of the two texts' normalised words, in [0, 1].

    >>> similarity("Boil the water.", "boil the water"), round(similarity("boil water", "buy a car"), 2)
    (1.0, 0.0)
    """
    wa, wb = norm_text(a).split(), norm_text(b).split()
    if not wa and not wb:
        return 1.0
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def match_to_anchor(anchor: Sequence[str], other: Sequence[str], min_similarity: float) -> dict[int, int]:
    """One-to-one matching of ``other``'s items to ``anchor``'s: ``{index in other: index in anchor}``.

    A maximum-weight bipartite matching (networkx) over the pairs at least
    ``min_similarity`` alike, so two steps never merge into one.
    """
    g = nx.Graph()
    for i, a in enumerate(anchor):
        for j, b in enumerate(other):
            s = similarity(a, b)
            if s >= min_similarity:
                g.add_edge(("anchor", i), ("other", j), weight=s)
    pairs = nx.max_weight_matching(g)
    out: dict[int, int] = {}
    for u, v in pairs:
        a, o = (u, v) if u[0] == "anchor" else (v, u)
        out[o[1]] = a[1]
    return out


def kept_by_votes(votes: Mapping[tuple[K, K], int], n: int, min_share: float = DEFAULT_MIN_SHARE) -> list[tuple[K, K]]:
    """The edges with at least ``min_share`` of ``n`` votes, as a DAG, in the order of ``votes``.

    While the kept edges have a cycle, its lowest-voted edge (the later one on a tie) is
    dropped.
    """
    if n < 1:
        raise InputError("A merge needs at least one sample.")
    kept = [e for e, v in votes.items() if v / n >= min_share and e[0] != e[1]]
    order = {e: i for i, e in enumerate(kept)}
    g = nx.DiGraph(kept)
    while True:
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            break
        weakest = min(((u, v) for u, v, *_ in cycle), key=lambda e: (votes[e], -order[e]))
        g.remove_edge(*weakest)
    return [e for e in kept if g.has_edge(*e)]


def majority(values: Sequence[K]) -> tuple[K, float]:
    """The most common value (the earliest on a tie) and its share.

    >>> majority(["x", "y", "y"])
    ('y', 0.6666666666666666)
    """
    if not values:
        raise InputError("A majority needs at least one value.")
    counts: dict[K, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    best = max(counts, key=lambda v: counts[v])  # max keeps the first of equal counts
    return best, counts[best] / len(values)


def merge_graphs(task: Any, query: Graph, graphs: Sequence[Graph | None]) -> Merged:
    """Merge sampled ``graphs`` for ``query`` with ``task``'s own rules (``task.merge``).

    Samples that did not parse (``None``) are left out; with none left this raises
    :class:`~cocogen.errors.InputError`.
    """
    usable = [g for g in graphs if g is not None]
    if not usable:
        raise InputError("None of the samples gave a graph to merge.")
    graph, agreement = task.merge(query, usable)
    return Merged(graph, {k: float(v) for k, v in agreement.items()}, len(usable))
