"""A drawable view of a graph, and the difference between a predicted and a reference graph.

Every front end that draws a graph (DOT, SVG, pyvis, the app) goes through
:class:`GraphView`: nodes and edges with display labels and, for a comparison, a status
each — ``"matched"`` (in both), ``"missing"`` (only in the reference) or ``"extra"``
(only in the prediction, i.e. invented).  ProPara state tables are compared cell by cell
by :func:`diff_tables` instead.

Matching rules (stated here because the colours a user sees depend on them):

- **proScript**: steps are matched by normalised text (lower case, single spaces, no final
  full stop); for script generation, where a model rarely repeats a reference step word
  for word, remaining steps are then paired greedily by string similarity
  (:data:`STEP_SIMILARITY` or more).  Edges match when both ends match.
- **ExplaGraphs**: concepts match by normalised text; an edge matches when source,
  relation and target all match (a right pair of concepts with another relation counts
  as one missing and one invented edge, as the edge-level metrics count it).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from cocogen.types import ExplaGraph, Graph, Script, StateTable

__all__ = [
    "Status",
    "Node",
    "Edge",
    "GraphView",
    "DiffSummary",
    "CellDiff",
    "view_of",
    "script_view",
    "explagraph_view",
    "compare",
    "diff_graphs",
    "diff_scripts",
    "diff_explagraphs",
    "diff_tables",
    "normalise",
    "STEP_SIMILARITY",
]

Status = Literal["matched", "missing", "extra"]
STATUSES: tuple[Status, ...] = ("matched", "missing", "extra")
STEP_SIMILARITY = 0.6  # difflib ratio above which two differently worded steps are taken as the same


@dataclass(frozen=True)
class Node:
    """A node to draw: a stable ``id``, its text, a short ``tag`` (``step3``) and a comparison status."""

    id: str
    label: str
    tag: str = ""
    status: Status | None = None
    key: str = ""  # the task's element key (``Task.element_keys``), for confidence and agreement


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str = ""
    status: Status | None = None
    key: str = ""  # the task's element key, e.g. "step0 -> step3"


@dataclass(frozen=True)
class GraphView:
    """Nodes and edges ready to draw; ``title`` is a caption (goal, or belief and stance)."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    title: str = ""
    kind: Literal["script", "explagraph"] = "script"

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def counts(self) -> dict[str, int]:
        """Edge and node counts per status, e.g. ``{"edges_matched": 3, ...}`` (only for diffs)."""
        out: dict[str, int] = {}
        for what, items in (("nodes", self.nodes), ("edges", self.edges)):
            for s in STATUSES:
                out[f"{what}_{s}"] = sum(1 for x in items if x.status == s)
        return out


@dataclass(frozen=True)
class DiffSummary:
    """What a prediction got right, missed and invented, as readable one-line items."""

    right: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    invented: tuple[str, ...] = ()
    unit: str = "edges"  # what the items are: edges, triples or cells

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit,
            "right": list(self.right),
            "missed": list(self.missed),
            "invented": list(self.invented),
        }


def normalise(text: str) -> str:
    """The form two labels are compared in.

    Examples
    --------
    >>> normalise("  Walk to the  Store. ")
    'walk to the store'
    """
    return re.sub(r"\s+", " ", text).strip().rstrip(".").strip().lower()


# --- one graph ---------------------------------------------------------------------------


def view_of(graph: Graph) -> GraphView:
    """The drawable view of a graph (no statuses), as its task draws it.

    Raises ``TypeError`` for a task shown as a table (ProPara).

    Examples
    --------
    >>> v = view_of(Script("bake a cake", 2, ("mix", "bake"), ((0, 1),)))
    >>> [(n.id, n.tag, n.label) for n in v.nodes], [(e.src, e.dst) for e in v.edges]
    ([('s0', 'step0', 'mix'), ('s1', 'step1', 'bake')], [('s0', 's1')])
    """
    from cocogen.tasks.base import task_for_graph

    return task_for_graph(graph).view(graph)


def script_view(graph: Script) -> GraphView:
    """A proScript script: one node per step, edges as written."""
    nodes = tuple(Node(f"s{i}", s, f"step{i}", key=f"step{i}") for i, s in enumerate(graph.steps))
    n = len(nodes)
    # Edges naming steps that do not exist are drawn against a placeholder node, so the
    # user sees the model's mistake rather than losing it.
    extra: dict[int, Node] = {}
    edges = []
    for a, b in graph.edges:
        for i in (a, b):
            if not 0 <= i < n and i not in extra:
                extra[i] = Node(f"s{i}", "(no such step)", f"step{i}")
        edges.append(Edge(f"s{a}", f"s{b}", key=f"step{a} -> step{b}"))
    return GraphView(nodes + tuple(extra.values()), tuple(edges), title=graph.goal, kind="script")


def explagraph_view(graph: ExplaGraph) -> GraphView:
    """An ExplaGraph: one node per (normalised) concept, one labelled edge per triple."""
    ids: dict[str, str] = {}
    nodes_l: list[Node] = []

    def nid(concept: str) -> str:
        key = normalise(concept)
        if key not in ids:
            ids[key] = f"c{len(ids)}"
            nodes_l.append(Node(ids[key], concept.strip()))
        return ids[key]

    edges_l = [Edge(nid(a), nid(b), r.strip(), key="; ".join((a, r, b))) for a, r, b in graph.triples]
    title = f"{graph.belief} — {graph.stance}" if graph.stance else graph.belief
    return GraphView(tuple(nodes_l), tuple(edges_l), title=title, kind="explagraph")


# --- prediction against reference --------------------------------------------------------


def _align_steps(pred: tuple[str, ...], gold: tuple[str, ...], fuzzy: bool) -> dict[int, int]:
    """Map predicted step indices to reference step indices (one-to-one)."""
    pairs: dict[int, int] = {}
    used: set[int] = set()
    gold_norm = [normalise(g) for g in gold]
    for i, p in enumerate(pred):
        key = normalise(p)
        for j, g in enumerate(gold_norm):
            if j not in used and g == key:
                pairs[i] = j
                used.add(j)
                break
    if fuzzy:
        scored = sorted(
            (
                (-difflib.SequenceMatcher(None, normalise(p), gold_norm[j]).ratio(), i, j)
                for i, p in enumerate(pred)
                if i not in pairs
                for j in range(len(gold))
                if j not in used
            ),
        )
        for neg, i, j in scored:
            if -neg < STEP_SIMILARITY:
                break
            if i in pairs or j in used:
                continue
            pairs[i] = j
            used.add(j)
    return pairs


def diff_scripts(pred: Graph | None, gold: Script) -> tuple[GraphView, DiffSummary]:
    """A predicted script against the reference (``None``: nothing predicted, all missing)."""
    if pred is None:
        pred = replace(gold, steps=(), edges=())
    if not isinstance(pred, Script):
        raise TypeError(f"Cannot compare a {type(pred).__name__} with a Script.")
    # Edge prediction gives the model the reference steps; generation makes it write its own.
    same_steps = [normalise(s) for s in pred.steps] == [normalise(s) for s in gold.steps]
    align = _align_steps(pred.steps, gold.steps, fuzzy=not same_steps)
    g_to_p = {j: i for i, j in align.items()}
    nodes: list[Node] = []
    for i, s in enumerate(pred.steps):
        nodes.append(Node(f"p{i}", s, f"step{i}", "matched" if i in align else "extra"))
    for j, s in enumerate(gold.steps):
        if j not in g_to_p:
            nodes.append(Node(f"g{j}", s, f"ref step{j}", "missing"))

    def pid(i: int) -> str:
        return f"p{i}"

    def gid(j: int) -> str:
        return f"p{g_to_p[j]}" if j in g_to_p else f"g{j}"

    known = {n.id for n in nodes}
    for i in {x for e in pred.edges for x in e}:
        if pid(i) not in known:
            nodes.append(Node(pid(i), "(no such step)", f"step{i}", "extra"))
            known.add(pid(i))
    gold_edges = {(gid(a), gid(b)) for a, b in gold.edges if 0 <= a < len(gold.steps) and 0 <= b < len(gold.steps)}
    pred_edges: list[tuple[str, str]] = []
    for a, b in pred.edges:
        if (pid(a), pid(b)) not in pred_edges:
            pred_edges.append((pid(a), pid(b)))
    edges = [Edge(a, b, "", "matched" if (a, b) in gold_edges else "extra") for a, b in pred_edges]
    edges += [Edge(a, b, "", "missing") for a, b in sorted(gold_edges) if (a, b) not in set(pred_edges)]
    view = GraphView(tuple(nodes), tuple(edges), title=gold.goal or pred.goal, kind="script")
    label = {n.id: f"{n.tag}: {n.label}" if n.tag else n.label for n in nodes}

    def item(e: Edge) -> str:
        return f"{label[e.src]} → {label[e.dst]}"

    return view, _summary(edges, item, "edges")


def diff_explagraphs(pred: Graph | None, gold: ExplaGraph) -> tuple[GraphView, DiffSummary]:
    """A predicted ExplaGraph against the reference (``None``: nothing predicted, all missing)."""
    if pred is None:
        pred = replace(gold, triples=())
    if not isinstance(pred, ExplaGraph):
        raise TypeError(f"Cannot compare a {type(pred).__name__} with an ExplaGraph.")
    ids: dict[str, str] = {}
    in_pred: set[str] = set()
    in_gold: set[str] = set()
    labels: dict[str, str] = {}

    def nid(concept: str, side: set[str]) -> str:
        key = normalise(concept)
        if key not in ids:
            ids[key] = f"c{len(ids)}"
            labels[ids[key]] = concept.strip()
        side.add(ids[key])
        return ids[key]

    p_tr = [(nid(a, in_pred), normalise(r), nid(b, in_pred)) for a, r, b in pred.triples]
    g_tr = [(nid(a, in_gold), normalise(r), nid(b, in_gold)) for a, r, b in gold.triples]
    g_set = set(g_tr)
    p_set = set(p_tr)
    nodes = tuple(
        Node(i, labels[i], "", "matched" if i in in_pred and i in in_gold else "extra" if i in in_pred else "missing")
        for i in ids.values()
    )
    edges: list[Edge] = []
    seen: set[tuple[str, str, str]] = set()
    for t in p_tr:
        if t not in seen:
            seen.add(t)
            edges.append(Edge(t[0], t[2], t[1], "matched" if t in g_set else "extra"))
    for t in g_tr:
        if t not in p_set and t not in seen:
            seen.add(t)
            edges.append(Edge(t[0], t[2], t[1], "missing"))
    title = f"{gold.belief} — {gold.stance}" if gold.stance else gold.belief
    view = GraphView(nodes, tuple(edges), title=title, kind="explagraph")

    def item(e: Edge) -> str:
        return f"({labels[e.src]}; {e.label}; {labels[e.dst]})"

    return view, _summary(edges, item, "triples")


def _summary(edges: Iterable[Edge], item: object, unit: str) -> DiffSummary:
    by: dict[str, list[str]] = {s: [] for s in STATUSES}
    for e in edges:
        if e.status is not None:
            by[e.status].append(item(e))  # type: ignore[operator]
    return DiffSummary(tuple(by["matched"]), tuple(by["missing"]), tuple(by["extra"]), unit)


def diff_graphs(pred: Graph | None, gold: Graph) -> tuple[GraphView, DiffSummary]:
    """Merge a prediction and its reference into one coloured view, and summarise the difference.

    A missing prediction (nothing parsed) is an empty graph: everything is ``missing``.

    Examples
    --------
    >>> gold = Script("g", 3, ("a", "b", "c"), ((0, 1), (1, 2)))
    >>> pred = Script("g", 3, ("a", "b", "c"), ((0, 1), (0, 2)))
    >>> view, s = diff_graphs(pred, gold)
    >>> s.right, s.missed, s.invented
    (('step0: a → step1: b',), ('step1: b → step2: c',), ('step0: a → step2: c',))
    """
    result = compare(pred, gold)
    if not isinstance(result, tuple):
        raise TypeError(f"{type(gold).__name__} is compared cell by cell: use compare() or diff_tables().")
    return result


def compare(pred: Graph | None, gold: Graph) -> tuple[GraphView, DiffSummary] | CellDiff:
    """Prediction against reference the way the reference's task compares them.

    A coloured graph and its summary for graph tasks, a :class:`CellDiff` for tables.
    """
    from cocogen.tasks.base import task_for_graph

    return task_for_graph(gold).diff(pred, gold)


# --- ProPara -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellDiff:
    """A ProPara state table compared cell by cell.

    ``rows`` are the time steps (``Init`` then each sentence), ``columns`` the participants;
    ``pred[t][p]``/``gold[t][p]`` the values (``""`` where a table has no such cell) and
    ``status[t][p]`` ``"matched"`` or ``"extra"`` (a wrong or invented value).
    """

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    pred: tuple[tuple[str, ...], ...]
    gold: tuple[tuple[str, ...], ...]
    status: tuple[tuple[Status, ...], ...]
    summary: DiffSummary = field(default_factory=DiffSummary)

    @property
    def accuracy(self) -> float:
        cells = [s for row in self.status for s in row]
        return sum(s == "matched" for s in cells) / len(cells) if cells else 0.0


def table_rows(table: StateTable) -> tuple[str, ...]:
    return ("Init", *table.sentences)


def _cell(table: StateTable | None, p: int, t: int) -> str:
    if table is None or p >= len(table.states) or t >= len(table.states[p]):
        return ""
    return table.states[p][t]


def diff_tables(pred: Graph | None, gold: StateTable) -> CellDiff:
    """Compare a predicted ProPara table with the reference, cell by cell (normalised text).

    Examples
    --------
    >>> gold = StateTable(("Water falls.",), ("water",), (("cloud", "ground"),))
    >>> pred = StateTable(("Water falls.",), ("water",), (("cloud", "sea"),))
    >>> d = diff_tables(pred, gold)
    >>> d.status, d.summary.missed
    ((('matched',), ('extra',)), ('water after step 1: ground',))
    """
    if pred is not None and not isinstance(pred, StateTable):
        raise TypeError(f"Cannot compare a {type(pred).__name__} with a StateTable.")
    rows = table_rows(gold)
    cols = gold.participants
    pv, gv, st = [], [], []
    right, missed, invented = [], [], []
    for t in range(len(rows)):
        prow, grow, srow = [], [], []
        for p, name in enumerate(cols):
            pc, gc = _cell(pred, p, t), _cell(gold, p, t)
            ok = normalise(pc) == normalise(gc) and pc != ""
            prow.append(pc)
            grow.append(gc)
            srow.append("matched" if ok else "extra")
            when = "before the first step" if t == 0 else f"after step {t}"
            if ok:
                right.append(f"{name} {when}: {gc}")
            else:
                missed.append(f"{name} {when}: {gc}")
                if pc:
                    invented.append(f"{name} {when}: {pc}")
        pv.append(tuple(prow))
        gv.append(tuple(grow))
        st.append(tuple(srow))
    return CellDiff(
        rows, cols, tuple(pv), tuple(gv), tuple(st), DiffSummary(tuple(right), tuple(missed), tuple(invented), "cells")
    )
