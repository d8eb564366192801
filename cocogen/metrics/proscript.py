"""proScript metrics: script generation (text + structure) and edge prediction.

**Script generation** compares generated steps with the reference as text and the partial
orders as graphs:

* BLEU (sacrebleu, corpus level; sentence BLEU per example) and ROUGE-L F1 (rouge-score,
  stemmed) of the steps written in topological order, lower-cased, each without a final
  period, joined by ``". "`` — the way CoCoGen linearises a script before scoring it.
  Ties in the order are broken by step index; a cyclic prediction keeps its written order
  (and says so in the row's ``info``);
* isomorphism and graph edit distance of the two partial orders (structure only, as CoCoGen
  computes them), node/edge counts and degree statistics of both sides.

**Edge prediction** (the steps are given) compares ``stepA -> stepB`` edges: per-example
precision, recall, F1 and exact match, their means (macro), P/R/F1 from summed counts
(micro), and the edge edit distance: with the steps fixed, nodes cannot be relabelled, so
the GED is the number of edges to insert plus those to delete.

An example whose completion did not parse is scored as an empty prediction: BLEU/ROUGE of an
empty text, no edges, GED to the empty graph — the worst score of every metric.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import networkx as nx

from cocogen.metrics.base import ExampleScore, MetricBase, Score, mean
from cocogen.metrics.structure import (
    DEFAULT_EXACT_MAX_NODES,
    DEFAULT_GED_TIMEOUT,
    EdgeCounts,
    build_digraph,
    degree_stats,
    edge_counts,
    graph_edit_distance,
    is_isomorphic,
    micro_prf,
)
from cocogen.types import Script

__all__ = [
    "topological_steps",
    "script_text",
    "score_generation",
    "aggregate_generation",
    "score_edges",
    "aggregate_edges",
]


def _valid_edges(script: Script) -> list[tuple[int, int]]:
    n = len(script.steps)
    return [(a, b) for a, b in script.edges if 0 <= a < n and 0 <= b < n]


def topological_steps(script: Script) -> tuple[list[str], bool]:
    """Steps in topological order (ties by index) and whether a cycle forced written order.

    Edges to steps that do not exist are ignored for the order.

    >>> topological_steps(Script("g", 3, ("c", "a", "b"), ((1, 2), (2, 0))))
    (['a', 'b', 'c'], False)
    >>> topological_steps(Script("g", 2, ("x", "y"), ((0, 1), (1, 0))))
    (['x', 'y'], True)
    """
    g = build_digraph(range(len(script.steps)), _valid_edges(script))
    try:
        order = list(nx.lexicographical_topological_sort(g, key=lambda i: i))
    except nx.NetworkXUnfeasible:
        return list(script.steps), True
    return [script.steps[i] for i in order], False


def script_text(steps: Sequence[str]) -> str:
    """CoCoGen's linearisation: lower-case, final period dropped, ``". "``-joined, final period.

    >>> script_text(["Go to the store.", "Buy milk"])
    'go to the store. buy milk.'
    >>> script_text([])
    ''
    """
    if not steps:
        return ""
    cleaned = [(s[:-1] if s.endswith(".") else s).lower().strip() for s in steps]
    return ". ".join(cleaned) + "."


@functools.lru_cache(maxsize=1)
def _rouge_l() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def _graph(script: Script | None) -> nx.DiGraph:
    if script is None:
        return nx.DiGraph()
    return build_digraph(range(len(script.steps)), script.edges)


def score_generation(
    example_id: str,
    prediction: Script | None,
    reference: Script,
    *,
    problems: Sequence[Mapping[str, Any]] = (),
    exact_max_nodes: int = DEFAULT_EXACT_MAX_NODES,
    ged_timeout: float = DEFAULT_GED_TIMEOUT,
) -> tuple[ExampleScore, tuple[str, str]]:
    """Score one generated script; also return ``(hypothesis, reference)`` texts for corpus BLEU.

    Examples
    --------
    >>> ref = Script("bake", 3, ("buy flour", "mix", "bake"), ((0, 1), (1, 2)))
    >>> row, texts = score_generation("1", ref, ref)
    >>> row.values["rouge_l"], row.values["isomorphic"], row.values["graph_ged"]
    (1.0, 1.0, 0.0)
    >>> score_generation("2", None, ref)[0].values["graph_ged"]  # nothing predicted: build it all
    5.0
    """
    import sacrebleu

    info: dict[str, Any] = {}
    ref_steps, _ = topological_steps(reference)
    ref_text = script_text(ref_steps)
    if prediction is not None:
        pred_steps, cyclic = topological_steps(prediction)
        if cyclic:
            info["cycle"] = True
        unknown = len(prediction.edges) - len(_valid_edges(prediction))
        if unknown:
            info["edges_to_unknown_steps"] = unknown
    else:
        pred_steps = []
    hyp = script_text(pred_steps)
    g_pred, g_ref = _graph(prediction), _graph(reference)
    ged = graph_edit_distance(g_ref, g_pred, exact_max_nodes=exact_max_nodes, timeout=ged_timeout)
    info["ged"] = ged.to_dict()
    sp, sr = degree_stats(g_pred), degree_stats(g_ref)
    values: dict[str, float | None] = {
        "sentence_bleu": sacrebleu.sentence_bleu(hyp, [ref_text]).score if hyp else 0.0,
        "rouge_l": _rouge_l().score(ref_text, hyp)["rougeL"].fmeasure if hyp else 0.0,
        "isomorphic": float(is_isomorphic(g_pred, g_ref)),
        "graph_ged": ged.value,
        "pred_nodes": float(sp.n_nodes),
        "pred_edges": float(sp.n_edges),
        "gold_nodes": float(sr.n_nodes),
        "gold_edges": float(sr.n_edges),
        "pred_avg_degree": sp.avg_degree,
        "gold_avg_degree": sr.avg_degree,
        "pred_is_dag": float(sp.is_dag and sp.n_nodes > 0),
    }
    return ExampleScore(str(example_id), prediction is not None, values, info, list(problems)), (hyp, ref_text)


def _ged_counts(rows: Sequence[ExampleScore]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        g = r.info.get("ged")
        if isinstance(g, dict):
            k = f"ged_{g['method']}"
            out[k] = out.get(k, 0) + 1
    return out


def aggregate_generation(
    rows: Sequence[ExampleScore], texts: Sequence[tuple[str, str]], *, task: str, signature: str = ""
) -> Score:
    """Corpus BLEU plus the mean of every per-example value (failures included)."""
    from sacrebleu.metrics import BLEU

    hyps = [h for h, _ in texts]
    refs = [r for _, r in texts]
    metric = BLEU()
    bleu = metric.corpus_score(hyps, [refs])
    keys = ["rouge_l", "sentence_bleu", "isomorphic", "graph_ged", "pred_nodes", "gold_nodes", "pred_edges"]
    keys += ["gold_edges", "pred_avg_degree", "gold_avg_degree", "pred_is_dag"]
    values: dict[str, float | None] = {"bleu": bleu.score}
    for k in keys:
        values[k] = mean(float(r.values[k] or 0.0) for r in rows)
    counts = _ged_counts(rows)
    counts["cyclic"] = sum(1 for r in rows if r.info.get("cycle"))
    notes = ["steps in topological order, lower-cased, joined by '. ' (CoCoGen's linearisation)"]
    if any(k not in ("ged_exact", "cyclic") for k in counts):
        notes.append("some GED values are upper bounds, not exact (see counts)")
    return Score(
        task=task,
        values=values,
        n=len(rows),
        n_failed=sum(1 for r in rows if not r.parsed),
        counts=counts,
        signature=signature,
        notes=notes,
        extra={"bleu_signature": str(metric.get_signature())},
    )


def _edge_keys(pred: Script, ref: Script) -> tuple[set[Any], set[Any]]:
    """Edges of both sides in comparable form: indices when the steps agree, else step texts."""
    if tuple(pred.steps) == tuple(ref.steps) or not pred.steps:
        return set(pred.edges), set(ref.edges)

    def norm(s: Script) -> set[Any]:
        t = [" ".join(x.lower().split()) for x in s.steps]
        return {(t[a] if 0 <= a < len(t) else a, t[b] if 0 <= b < len(t) else b) for a, b in s.edges}

    return norm(pred), norm(ref)


def score_edges(
    example_id: str,
    prediction: Script | None,
    reference: Script,
    *,
    problems: Sequence[Mapping[str, Any]] = (),
) -> tuple[ExampleScore, EdgeCounts]:
    """Score one edge prediction; also return the counts for micro averages.

    Examples
    --------
    >>> ref = Script("g", 3, ("a", "b", "c"), ((0, 1), (1, 2)))
    >>> pred = Script("g", 3, ("a", "b", "c"), ((0, 1), (0, 2)))
    >>> row, c = score_edges("1", pred, ref)
    >>> row.values["edge_f1"], row.values["exact_match"], row.values["edge_ged"], c
    (0.5, 0.0, 2.0, EdgeCounts(tp=1, n_pred=2, n_gold=2))
    """
    info: dict[str, Any] = {}
    if prediction is None:
        p_edges: set[Any] = set()
        g_edges = set(reference.edges)
    else:
        p_edges, g_edges = _edge_keys(prediction, reference)
        if tuple(prediction.steps) != tuple(reference.steps) and prediction.steps:
            info["steps_differ"] = True
        g = build_digraph(range(len(prediction.steps)), prediction.edges)
        if not nx.is_directed_acyclic_graph(g):
            info["cycle"] = True
    c = edge_counts(p_edges, g_edges)
    s = c.prf
    values: dict[str, float | None] = {
        "edge_precision": s.precision,
        "edge_recall": s.recall,
        "edge_f1": s.f1,
        "exact_match": float(prediction is not None and p_edges == g_edges),
        "edge_ged": float(len(p_edges ^ g_edges)),
        "pred_edges": float(c.n_pred),
        "gold_edges": float(c.n_gold),
    }
    return ExampleScore(str(example_id), prediction is not None, values, info, list(problems)), c


def aggregate_edges(
    rows: Sequence[ExampleScore], counts: Sequence[EdgeCounts], *, task: str, signature: str = ""
) -> Score:
    """Macro (mean per-example) and micro (summed counts) edge scores, exact match, GED."""
    values: dict[str, float | None] = {}
    for k in ("edge_precision", "edge_recall", "edge_f1", "exact_match", "edge_ged", "pred_edges", "gold_edges"):
        values[k] = mean(float(r.values[k] or 0.0) for r in rows)
    m = micro_prf(counts)
    values.update({"micro_edge_precision": m.precision, "micro_edge_recall": m.recall, "micro_edge_f1": m.f1})
    return Score(
        task=task,
        values=values,
        n=len(rows),
        n_failed=sum(1 for r in rows if not r.parsed),
        counts={"cyclic": sum(1 for r in rows if r.info.get("cycle"))},
        signature=signature,
        notes=[
            "edge P/R/F1: mean of per-example values (macro); micro_* from summed counts",
            "GED with the steps given = edges inserted + edges deleted",
        ],
    )


class ScriptGenerationMetric(MetricBase):
    """proScript script generation: corpus BLEU, ROUGE-L, isomorphism, GED, degree statistics."""

    display: ClassVar[tuple[str, ...]] = (
        "bleu",
        "rouge_l",
        "isomorphic",
        "graph_ged",
        "pred_nodes",
        "gold_nodes",
        "pred_edges",
        "gold_edges",
        "pred_avg_degree",
        "gold_avg_degree",
    )
    main: ClassVar[str] = "rouge_l"

    def score(
        self,
        example_id: str,
        prediction: Any,
        reference: Any,
        *,
        labels: Mapping[str, Any],
        problems: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[ExampleScore, tuple[str, str]]:
        kw = {"ged_timeout": self.options.ged_timeout} if self.options.ged_timeout else {}
        pred = prediction if isinstance(prediction, Script) else None
        return score_generation(example_id, pred, reference, problems=problems, **kw)

    def aggregate(self, rows: Sequence[ExampleScore], stats: Sequence[Any], *, signature: str = "") -> Score:
        return aggregate_generation(rows, stats, task=self.task, signature=signature)


class EdgePredictionMetric(MetricBase):
    """proScript edge prediction: edge P/R/F1 (macro and micro), exact match, GED."""

    display: ClassVar[tuple[str, ...]] = (
        "edge_precision",
        "edge_recall",
        "edge_f1",
        "micro_edge_f1",
        "exact_match",
        "edge_ged",
    )
    main: ClassVar[str] = "edge_f1"

    def score(
        self,
        example_id: str,
        prediction: Any,
        reference: Any,
        *,
        labels: Mapping[str, Any],
        problems: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[ExampleScore, EdgeCounts]:
        pred = prediction if isinstance(prediction, Script) else None
        return score_edges(example_id, pred, reference, problems=problems)

    def aggregate(self, rows: Sequence[ExampleScore], stats: Sequence[Any], *, signature: str = "") -> Score:
        return aggregate_edges(rows, stats, task=self.task, signature=signature)
