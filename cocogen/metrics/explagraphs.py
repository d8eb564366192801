"""ExplaGraphs metrics with the semantics of the official evaluator.

The official evaluator (``swarnaHub/ExplaGraphs``, ``metrics/eval.py``) works on the bracket
string ``(c1; rel; c2)(...)``, lower-cased, split at ``")("`` and each edge at ``"; "``:

* **SA** — the predicted stance equals the reference stance;
* **StCA** — SA, and the graph passes every structural check, in this order: at least 3
  edges; every edge has 3 parts; every concept is non-empty with at most 3 words (split at
  single spaces) and every relation is one of the 28; at least two distinct concepts occur
  (as substrings) in the belief and two in the argument; the graph is a weakly connected
  DAG;
* **GED** — for a structurally correct graph with the right stance, the exact graph edit
  distance to the reference (nodes labelled by concept, edges by relation, unit costs)
  divided by ``|V_gold| + |E_gold| + 17``; otherwise 1;
* **G-BLEU / G-ROUGE** — for those same graphs, every predicted edge is compared with every
  reference edge (sentence BLEU over spaCy-style tokens; ROUGE-2 precision, stemmed), the
  best one-to-one matching is found, and its total divided by the number of predicted
  (precision) and reference (recall) edges; other examples score 0.

Every average is over all examples.  This module re-implements those rules (no code of the
evaluator is used); the tokenizer emulates the evaluator's spaCy tokenizer (whitespace, then
``;`` split off), since spaCy itself is not a dependency.

Which stance is "the reference" is a convention: CoCoGen writes a stance into the prompt
(for 55 of its 396 dev rows it differs from the dataset label) and scores against that
prompt stance (``convention="prompt"``, the paper's numbers); ``convention="gold"`` scores
against the dataset label.  :func:`aggregate` reports the other convention beside the chosen
one when both stances are known.

Also reported (our additions): edge and concept precision/recall/F1 of every parsed graph,
regardless of stance and structure.  SeCA, G-BertScore and EA need model weights: they are
computed only by a registered :class:`ModelMetric`, otherwise reported as not available.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import networkx as nx

from cocogen.metrics.base import ExampleScore, MetricBase, Score, mean, prf
from cocogen.metrics.structure import DEFAULT_GED_TIMEOUT, GED, graph_edit_distance
from cocogen.types import ExplaGraph

__all__ = [
    "CHECKS",
    "Convention",
    "bracket_string",
    "official_edges",
    "structural_checks",
    "official_ged",
    "graph_matching",
    "edge_tokens",
    "ModelMetric",
    "MODEL_METRICS",
    "MODEL_METRIC_KEYS",
    "register_model_metric",
    "ExampleParts",
    "score_example",
    "aggregate",
]

Convention = Literal["prompt", "gold"]

# The structural checks, in the evaluator's order (it stops at the first failure).
CHECKS = ("edge_count", "edge_format", "edge_structure", "belief_argument_concepts", "connected_dag")

# ExplaGraphs allows at most 8 edges, so the worst prediction is a 9-node, 8-edge chain:
# the evaluator normalises GED by |V_gold| + |E_gold| + 8 + 9.
_GED_SLACK = 17

# ExplaGraphs graphs have at most ~10 nodes; exact GED is what the evaluator computes.
EXACT_MAX_NODES = 25
GED_TIMEOUT = max(DEFAULT_GED_TIMEOUT, 30.0)


def _relations() -> frozenset[str]:
    from cocogen.tasks.explagraphs import RELATIONS

    return frozenset(RELATIONS)


def bracket_string(triples: Sequence[Sequence[str]]) -> str:
    """The ExplaGraphs string of a triple list.

    >>> bracket_string([("a", "causes", "b"), ("b", "is a", "c")])
    '(a; causes; b)(b; is a; c)'
    >>> bracket_string([])
    ''
    """
    return "".join(f"({'; '.join(t)})" for t in triples)


def official_edges(graph: str) -> list[str]:
    """The evaluator's edge list: lower-case, drop the outer brackets, split at ``")("``.

    >>> official_edges("(A; causes; B)(b; is a; c)")
    ['a; causes; b', 'b; is a; c']
    >>> official_edges("")
    ['']
    """
    return graph.lower()[1:-1].split(")(")


def structural_checks(
    edges: Sequence[str], belief: str, argument: str, relations: frozenset[str] | None = None
) -> dict[str, bool | None]:
    """Run the evaluator's structural checks in order; later checks are ``None`` after a failure.

    ``belief`` and ``argument`` are compared lower-cased, by substring, as the evaluator does.

    Examples
    --------
    >>> rel = frozenset({"causes", "is a"})
    >>> e = official_edges("(dogs; causes; joy)(joy; is a; good)(good; causes; pets)")
    >>> structural_checks(e, "dogs bring joy", "pets are good", rel)["connected_dag"]
    True
    >>> structural_checks(e[:2], "dogs bring joy", "pets are good", rel)
    {'edge_count': False, 'edge_format': None, 'edge_structure': None, 'belief_argument_concepts': None, 'connected_dag': None}
    """
    rel = relations if relations is not None else _relations()
    belief, argument = belief.lower(), argument.lower()
    parts = [e.split("; ") for e in edges]

    def structure() -> bool:
        for c in parts:
            if c[0] == "" or len(c[0].split(" ")) > 3 or c[2] == "" or len(c[2].split(" ")) > 3:
                return False
            if c[1] not in rel:
                return False
        return True

    def concepts() -> bool:
        in_b = {x for c in parts for x in (c[0], c[2]) if x in belief}
        in_a = {x for c in parts for x in (c[0], c[2]) if x in argument}
        return len(in_b) >= 2 and len(in_a) >= 2

    def dag() -> bool:
        g = nx.DiGraph()
        g.add_edges_from((c[0], c[2]) for c in parts)
        return bool(nx.is_weakly_connected(g) and nx.is_directed_acyclic_graph(g))

    tests = {
        "edge_count": lambda: len(edges) >= 3,
        "edge_format": lambda: all(len(c) == 3 for c in parts),
        "edge_structure": structure,
        "belief_argument_concepts": concepts,
        "connected_dag": dag,
    }
    out: dict[str, bool | None] = dict.fromkeys(CHECKS)
    for name in CHECKS:
        ok = tests[name]()
        out[name] = ok
        if not ok:
            break
    return out


def _official_graph(edges: Sequence[str]) -> nx.DiGraph:
    g = nx.DiGraph()
    for e in edges:
        p = e.split("; ")
        g.add_node(p[0], label=p[0])
        g.add_node(p[2], label=p[2])
        g.add_edge(p[0], p[2], label=p[1])
    return g


def official_ged(
    gold_graph: str, pred_graph: str, *, exact_max_nodes: int = EXACT_MAX_NODES, timeout: float = GED_TIMEOUT
) -> tuple[float, GED]:
    """Normalised GED between a reference and a structurally correct predicted graph.

    Returns the normalised value (``ged / (|V_gold| + |E_gold| + 17)``) and the raw
    :class:`~cocogen.metrics.structure.GED` (which says whether it is exact).

    >>> v, raw = official_ged("(a; causes; b)(b; causes; c)", "(a; causes; b)(b; is a; c)")
    >>> raw.value, raw.method, round(v, 4)
    (1.0, 'exact', 0.0455)
    """
    g1 = _official_graph(official_edges(gold_graph))
    g2 = _official_graph(official_edges(pred_graph))
    raw = graph_edit_distance(
        g1, g2, node_label="label", edge_label="label", exact_max_nodes=exact_max_nodes, timeout=timeout
    )
    norm = g1.number_of_nodes() + g1.number_of_edges() + _GED_SLACK
    return min(raw.value / norm, 1.0), raw


_SPLIT_EDGE = re.compile(r"[)(]")


def edge_tokens(edge: str) -> list[str]:
    """Tokens of one edge as the evaluator's spaCy tokenizer makes them.

    That tokenizer splits at whitespace and then splits ``;`` off inside a token (not at its
    very start).

    >>> edge_tokens("dogs; capable of; joy")
    ['dogs', ';', 'capable', 'of', ';', 'joy']
    """
    out: list[str] = []
    for tok in edge.split():
        start = 0
        for i, ch in enumerate(tok):
            if ch == ";" and i != 0:
                if i > start:
                    out.append(tok[start:i])
                out.append(";")
                start = i + 1
        if start < len(tok):
            out.append(tok[start:])
    return out


@functools.lru_cache(maxsize=1)
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge2"], use_stemmer=True)


def _bleu(reference: list[str], hypothesis: list[str]) -> float:
    from nltk.translate.bleu_score import sentence_bleu

    with warnings.catch_warnings():  # nltk warns for every zero n-gram count
        warnings.simplefilter("ignore")
        return float(sentence_bleu([reference], hypothesis))


def _matched(scores: list[list[float]]) -> float:
    """Total score of the best one-to-one matching of rows to columns."""
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(scores, maximize=True)
    return float(sum(scores[i][j] for i, j in zip(r, c, strict=True)))


def graph_matching(gold_graph: str, pred_graph: str) -> dict[str, float]:
    """G-BLEU and G-ROUGE precision/recall/F1 of one pair of graphs (the evaluator's matching).

    >>> m = graph_matching("(a; causes; b)(b; is a; c)", "(a; causes; b)(b; is a; c)")
    >>> round(m["g_bleu_f1"], 3), round(m["g_rouge_f1"], 3)
    (1.0, 1.0)
    """
    gold = [_SPLIT_EDGE.sub("", e.strip()) for e in gold_graph.lower().split(")(")]
    pred = [_SPLIT_EDGE.sub("", e.strip()) for e in pred_graph.lower().split(")(")]
    gt, pt = [edge_tokens(e) for e in gold], [edge_tokens(e) for e in pred]
    rouge = _rouge()
    bleu_m = [[_bleu(g, p) for g in gt] for p in pt]
    rouge_m = [[rouge.score(g, p)["rouge2"].precision for g in gold] for p in pred]
    out: dict[str, float] = {}
    for name, m in (("g_bleu", bleu_m), ("g_rouge", rouge_m)):
        total = _matched(m)
        p, r = total / len(pred), total / len(gold)
        out[f"{name}_precision"], out[f"{name}_recall"] = p, r
        out[f"{name}_f1"] = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return out


# --------------------------------------------------------------------------------------
# Model-based metrics: pluggable, never estimated
# --------------------------------------------------------------------------------------


class ModelMetric(Protocol):
    """A metric that needs model weights (SeCA, G-BertScore, EA).

    ``unavailable_reason()`` returns ``None`` when the model is ready, else one sentence
    saying what is missing.  ``score`` returns one value in ``[0, 1]`` per example (the
    evaluator gives 0 to examples that are not structurally correct with the right stance).
    """

    key: str

    def unavailable_reason(self) -> str | None: ...

    def score(self, examples: Sequence[ExampleParts]) -> list[float]: ...


MODEL_METRIC_KEYS: dict[str, str] = {
    "seca": "SeCA needs the ExplaGraphs RoBERTa stance classifier (model weights are not shipped)",
    "g_bertscore_f1": "G-BertScore needs a BERTScore model (model weights are not shipped)",
    "ea": "EA needs the ExplaGraphs edge-importance model (model weights are not shipped)",
}
MODEL_METRICS: dict[str, ModelMetric] = {}


def register_model_metric(metric: ModelMetric) -> None:
    """Make a model-based metric available to :func:`aggregate` (replaces one with the same key)."""
    if metric.key not in MODEL_METRIC_KEYS:
        raise ValueError(f"unknown model metric {metric.key!r}; expected one of {sorted(MODEL_METRIC_KEYS)}")
    MODEL_METRICS[metric.key] = metric


# --------------------------------------------------------------------------------------
# Per-example scoring
# --------------------------------------------------------------------------------------


@dataclass
class ExampleParts:
    """Convention-independent pieces of one example, kept so both conventions can be reported."""

    id: str
    parsed: bool
    pred_graph: str  # bracket string of the parsed graph ("" when unparsed)
    gold_graph: str
    belief: str
    argument: str
    pred_stance: str | None
    stances: dict[str, str | None]  # convention -> reference stance
    structurally_correct: bool
    ged_if_correct: float  # normalised GED used when the stance is right too
    matching: dict[str, float] = field(default_factory=dict)

    def stance_ok(self, convention: Convention) -> bool | None:
        ref = self.stances.get(convention)
        if ref is None:
            return None
        return bool(self.parsed and self.pred_stance is not None and self.pred_stance == ref)


_MATCH_KEYS = tuple(f"{m}_{s}" for m in ("g_bleu", "g_rouge") for s in ("precision", "recall", "f1"))


def _norm_triples(triples: Sequence[Sequence[str]]) -> set[tuple[str, ...]]:
    return {tuple(" ".join(x.lower().split()) for x in t) for t in triples}


def score_example(
    example_id: str,
    prediction: ExplaGraph | None,
    reference: ExplaGraph,
    *,
    stances: Mapping[str, str | None],
    convention: Convention = "prompt",
    problems: Sequence[Mapping[str, Any]] = (),
    ged_timeout: float = GED_TIMEOUT,
) -> tuple[ExampleScore, ExampleParts]:
    """Score one example under ``convention`` (and keep what the other convention needs).

    Parameters
    ----------
    prediction : ExplaGraph or None
        The parsed graph; ``None`` when the completion did not parse (scores 0, GED 1).
    reference : ExplaGraph
        The gold graph (its belief and argument are used for the concept check).
    stances : mapping
        ``{"prompt": stance written in the prompt, "gold": dataset label}``; a value may be
        ``None`` when unknown.
    convention : {"prompt", "gold"}
        Which reference stance decides SA (and so StCA, GED, G-BLEU, G-ROUGE).
    """
    gold = bracket_string(reference.triples)
    parsed = prediction is not None
    pred = bracket_string(prediction.triples) if prediction is not None else ""
    info: dict[str, Any] = {}
    checks = structural_checks(official_edges(pred), reference.belief, reference.argument) if parsed else {}
    struct_ok = parsed and all(v is True for v in checks.values())
    info["checks"] = checks
    ged_if = 1.0
    matching: dict[str, float] = {}
    if struct_ok:
        ged_if, raw = official_ged(gold, pred, timeout=ged_timeout)
        info["ged"] = raw.to_dict()
        matching = graph_matching(gold, pred)
    parts = ExampleParts(
        id=str(example_id),
        parsed=parsed,
        pred_graph=pred,
        gold_graph=gold,
        belief=reference.belief,
        argument=reference.argument,
        pred_stance=prediction.stance if prediction is not None else None,
        stances=dict(stances),
        structurally_correct=struct_ok,
        ged_if_correct=ged_if,
        matching=matching,
    )
    values = _convention_values(parts, convention)
    # Our additions: triple- and concept-level overlap of every parsed graph.
    pt = _norm_triples(prediction.triples) if prediction is not None else set()
    gt = _norm_triples(reference.triples)
    e = prf(len(pt & gt), len(pt), len(gt))
    pc = {x for t in pt for x in (t[0], t[-1])}
    gc = {x for t in gt for x in (t[0], t[-1])}
    c = prf(len(pc & gc), len(pc), len(gc))
    values.update(e.to_dict("edge_"))
    values.update(c.to_dict("concept_"))
    values["struct_correct"] = float(struct_ok)
    other: Convention = "gold" if convention == "prompt" else "prompt"
    if parts.stances.get(other) is not None:
        ov = _convention_values(parts, other)
        info[f"{other}_stance"] = {k: ov[k] for k in ("sa", "stca", "ged")}
    return ExampleScore(str(example_id), parsed, values, info, list(problems)), parts


def _convention_values(parts: ExampleParts, convention: Convention) -> dict[str, float | None]:
    ok = parts.stance_ok(convention)
    stca = bool(ok) and parts.structurally_correct
    vals: dict[str, float | None] = {
        "sa": None if ok is None else float(ok),
        "stca": None if ok is None else float(stca),
        "ged": None if ok is None else (parts.ged_if_correct if stca else 1.0),
    }
    for k in _MATCH_KEYS:
        vals[k] = None if ok is None else (parts.matching.get(k, 0.0) if stca else 0.0)
    return vals


def aggregate(
    rows: Sequence[ExampleScore],
    parts: Sequence[ExampleParts],
    *,
    task: str,
    convention: Convention = "prompt",
    signature: str = "",
) -> Score:
    """Averages over all examples, the other stance convention beside, model metrics if any."""
    keys = ["sa", "stca", "ged", *_MATCH_KEYS, "edge_precision", "edge_recall", "edge_f1"]
    keys += ["concept_precision", "concept_recall", "concept_f1", "struct_correct"]
    values: dict[str, float | None] = {}
    for k in keys:
        vals = [r.values.get(k) for r in rows]
        values[k] = None if not vals or any(v is None for v in vals) else mean(v for v in vals if v is not None)

    unavailable: dict[str, str] = {}
    for key, reason in MODEL_METRIC_KEYS.items():
        m = MODEL_METRICS.get(key)
        why = reason if m is None else m.unavailable_reason()
        if why:
            values[key], unavailable[key] = None, why
        else:
            assert m is not None
            per = m.score(parts)
            for r, v in zip(rows, per, strict=True):
                r.values[key] = v
            values[key] = mean(per)

    ged_methods: dict[str, int] = {}
    for r in rows:
        g = r.info.get("ged")
        if g:
            ged_methods[g["method"]] = ged_methods.get(g["method"], 0) + 1
    counts = {
        "stance_known_prompt": sum(1 for p in parts if p.stances.get("prompt") is not None),
        "stance_known_gold": sum(1 for p in parts if p.stances.get("gold") is not None),
        "structurally_correct": sum(1 for p in parts if p.structurally_correct),
        **{f"ged_{k}": v for k, v in sorted(ged_methods.items())},
    }
    extra: dict[str, Any] = {"convention": convention}
    other: Convention = "gold" if convention == "prompt" else "prompt"
    if parts and all(p.stances.get(other) is not None for p in parts):
        ov = [_convention_values(p, other) for p in parts]
        extra["other_convention"] = {
            "convention": other,
            **{k: mean(float(v[k] or 0.0) for v in ov) for k in ("sa", "stca", "ged", "g_bleu_f1", "g_rouge_f1")},
        }
    notes = [
        f"stance convention: {convention} ("
        + ("the stance written in the prompt, as CoCoGen scores" if convention == "prompt" else "the dataset label")
        + ")",
        "official ExplaGraphs checks and GED normalisation; unparsed examples count as wrong (GED 1)",
    ]
    if any(k != "ged_exact" for k in counts if k.startswith("ged_")):
        notes.append("some GED values are not exact (see counts)")
    return Score(
        task=task,
        values=values,
        n=len(rows),
        n_failed=sum(1 for r in rows if not r.parsed),
        counts=counts,
        unavailable=unavailable,
        signature=signature,
        notes=notes,
        extra=extra,
    )


class ExplaGraphsMetric(MetricBase):
    """The official ExplaGraphs evaluator (SA, StCA, GED, G-BLEU/G-ROUGE) plus triple and concept F1.

    ``labels`` of an example: ``{"prompt": stance written in the prompt, "gold": dataset label}``.
    """

    display: ClassVar[tuple[str, ...]] = (
        "sa",
        "stca",
        "ged",
        "g_bleu_f1",
        "g_rouge_f1",
        "edge_f1",
        "concept_f1",
        "seca",
        "g_bertscore_f1",
        "ea",
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
    ) -> tuple[ExampleScore, ExampleParts]:
        kw = {"ged_timeout": self.options.ged_timeout} if self.options.ged_timeout else {}
        stances = {"prompt": labels.get("prompt"), "gold": labels.get("gold")}
        if not labels:
            stances = {"prompt": reference.stance, "gold": None}
        pred = prediction if isinstance(prediction, ExplaGraph) else None
        return score_example(
            example_id,
            pred,
            reference,
            stances=stances,
            convention=self.options.convention,
            problems=problems,
            **kw,
        )

    def aggregate(self, rows: Sequence[ExampleScore], stats: Sequence[Any], *, signature: str = "") -> Score:
        return aggregate(rows, stats, task=self.task, convention=self.options.convention, signature=signature)

    def signature_fields(self) -> dict[str, object]:
        return {"conv": self.options.convention}
