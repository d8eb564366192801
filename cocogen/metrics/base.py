"""Result types shared by every metric module: per-example rows, aggregate scores, signatures.

Every metric module turns ``(prediction, reference)`` pairs into :class:`ExampleScore` rows
and the rows into one :class:`Score`.  Two rules hold everywhere:

* an example whose completion could not be parsed is **kept**: it is a row with
  ``parsed=False`` whose metrics are the worst value (0 for accuracies and F1, 1 for a
  normalised distance), so averages are always over *all* ``n`` examples;
* the parse rate is stored beside the averages (:attr:`Score.parse_rate`), so no average is
  ever shown without it.

Metrics that need model weights (a stance classifier, BERTScore...) are either computed by a
plug-in or reported in :attr:`Score.unavailable` with the reason; they are never estimated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

__all__ = [
    "PRF",
    "prf",
    "ExampleScore",
    "Score",
    "MetricSpec",
    "METRICS",
    "MetricOptions",
    "MetricBase",
    "TaskMetric",
    "CONVENTIONS",
    "mean",
    "make_signature",
    "parse_signature",
    "format_value",
]


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1, each in ``[0, 1]``."""

    precision: float
    recall: float
    f1: float

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}precision": self.precision, f"{prefix}recall": self.recall, f"{prefix}f1": self.f1}


def prf(tp: int, n_pred: int, n_gold: int) -> PRF:
    """Precision/recall/F1 from counts, with an explicit convention for empty sets.

    ``precision = tp / n_pred`` and ``recall = tp / n_gold``.  When a denominator is 0 the
    value is 1 only if *both* sets are empty (nothing to find and nothing claimed), else 0:
    an empty prediction against a non-empty reference scores 0 everywhere, like a failure.

    Parameters
    ----------
    tp : int
        Items both predicted and in the reference.
    n_pred, n_gold : int
        Sizes of the predicted and reference sets.

    Returns
    -------
    PRF

    Examples
    --------
    >>> prf(2, 4, 2)
    PRF(precision=0.5, recall=1.0, f1=0.6666666666666666)
    >>> prf(0, 0, 0)
    PRF(precision=1.0, recall=1.0, f1=1.0)
    >>> prf(0, 0, 3)
    PRF(precision=0.0, recall=0.0, f1=0.0)
    """
    if tp < 0 or tp > n_pred or tp > n_gold:
        raise ValueError(f"inconsistent counts: tp={tp}, n_pred={n_pred}, n_gold={n_gold}")
    both_empty = n_pred == 0 and n_gold == 0
    p = tp / n_pred if n_pred else float(both_empty)
    r = tp / n_gold if n_gold else float(both_empty)
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return PRF(p, r, f)


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; ``nan`` for no values (so an empty run never looks like a perfect one).

    >>> mean([1, 0, 0.5])
    0.5
    >>> import math; math.isnan(mean([]))
    True
    """
    vals = list(values)
    return math.fsum(vals) / len(vals) if vals else math.nan


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is displayed: label, scale (``percent`` shows ×100), direction."""

    label: str
    percent: bool = True
    higher_is_better: bool = True
    description: str = ""


_SHORT = {"precision": "P", "recall": "R", "f1": "F1"}

# Display information for every metric key used by the task modules.  Keys not listed are
# shown as plain numbers.
METRICS: dict[str, MetricSpec] = {
    # ExplaGraphs (official evaluator)
    "sa": MetricSpec("SA", description="stance accuracy"),
    "stca": MetricSpec("StCA", description="structurally correct graphs with the right stance (official checks)"),
    "ged": MetricSpec(
        "GED", higher_is_better=False, description="graph edit distance, normalised as the official evaluator does"
    ),
    "g_bleu_f1": MetricSpec("G-BLEU F1", description="edge-matched sentence BLEU (official matching)"),
    "g_rouge_f1": MetricSpec("G-ROUGE F1", description="edge-matched ROUGE-2 precision (official matching)"),
    "seca": MetricSpec("SeCA", description="semantic correctness (needs the official stance classifier)"),
    "g_bertscore_f1": MetricSpec("G-BertScore F1", description="edge-matched BERTScore (needs model weights)"),
    "ea": MetricSpec("EA", description="edge importance accuracy (needs model weights)"),
    "edge_f1": MetricSpec("edge F1", description="F1 of (concept; relation; concept) triples"),
    "concept_f1": MetricSpec("concept F1", description="F1 of concepts"),
    # proScript
    "bleu": MetricSpec("BLEU", percent=False, description="corpus BLEU (sacrebleu) of steps in topological order"),
    "rouge_l": MetricSpec("ROUGE-L", description="ROUGE-L F1 (rouge-score, stemmed) of steps in topological order"),
    "isomorphic": MetricSpec("iso", description="partial order isomorphic to the reference"),
    "graph_ged": MetricSpec(
        "GED", percent=False, higher_is_better=False, description="graph edit distance of the partial orders"
    ),
    "exact_match": MetricSpec("EM", description="predicted edge set equals the reference"),
    "edge_precision": MetricSpec("edge P"),
    "edge_recall": MetricSpec("edge R"),
    "micro_edge_f1": MetricSpec("edge F1 (micro)", description="F1 from summed counts"),
    "micro_edge_precision": MetricSpec("edge P (micro)"),
    "micro_edge_recall": MetricSpec("edge R (micro)"),
    "edge_ged": MetricSpec("GED", percent=False, higher_is_better=False, description="edges inserted + deleted"),
    "sentence_bleu": MetricSpec("sentence BLEU", percent=False, description="mean sentence BLEU (sacrebleu)"),
    "pred_nodes": MetricSpec("nodes (pred)", percent=False, higher_is_better=False),
    "gold_nodes": MetricSpec("nodes (gold)", percent=False, higher_is_better=False),
    "pred_edges": MetricSpec("edges (pred)", percent=False, higher_is_better=False),
    "gold_edges": MetricSpec("edges (gold)", percent=False, higher_is_better=False),
    "pred_avg_degree": MetricSpec("avg degree (pred)", percent=False, higher_is_better=False),
    "gold_avg_degree": MetricSpec("avg degree (gold)", percent=False, higher_is_better=False),
    "pred_is_dag": MetricSpec("DAG (pred)", description="predicted partial order is a non-empty DAG"),
    "struct_correct": MetricSpec("struct. correct", description="passes the official checks, whatever the stance"),
    # ProPara (official leaderboard evaluator)
    "precision": MetricSpec("P", description="official overall precision"),
    "recall": MetricSpec("R", description="official overall recall"),
    "f1": MetricSpec("F1", description="official overall F1"),
    **{
        f"{q}_{m}": MetricSpec(f"{q} {_SHORT[m]}", description=f"official {q} question, {m}")
        for q in ("inputs", "outputs", "conversions", "moves")
        for m in ("precision", "recall", "f1")
    },
    # always present
    "parse_rate": MetricSpec("parsed", description="examples whose completion parsed"),
}


def format_value(key: str, value: float | None, digits: int = 2) -> str:
    """Display a metric value: ×100 for proportions, ``n/a`` when unavailable.

    >>> format_value("stca", 0.452)
    '45.20'
    >>> format_value("bleu", 12.3456)
    '12.35'
    >>> format_value("seca", None)
    'n/a'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    spec = METRICS.get(key)
    v = value * 100 if spec is not None and spec.percent else value
    return f"{v:.{digits}f}"


@dataclass
class ExampleScore:
    """The metrics of one example.

    ``parsed`` is False when no graph could be read from the completion; its ``values`` then
    hold the worst score of every metric.  ``info`` carries explanations (which structural
    check failed, which GED method was used...), ``problems`` the parser's findings.
    """

    id: str
    parsed: bool
    values: dict[str, float | None]
    info: dict[str, Any] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parsed": self.parsed,
            **{k: v for k, v in self.values.items()},
            "info": self.info,
            "problems": self.problems,
        }


@dataclass
class Score:
    """Aggregate result of one evaluation.

    Attributes
    ----------
    task : str
        Task name.
    values : dict
        Metric key → average over all ``n`` examples (failures included as worst scores);
        ``None`` when the metric could not be computed (see ``unavailable``).
    n, n_failed : int
        Examples evaluated, and those whose completion did not parse.
    counts : dict
        Diagnostic counts (e.g. GED computations that fell back to an approximation).
    unavailable : dict
        Metric key → why it is not available (missing model weights...).
    signature : str
        What produced the numbers, e.g. ``task:explagraphs|fmt:code|model:...|k:8|seed:0``.
    notes : list of str
        Conventions that matter for reading the numbers.
    """

    task: str
    values: dict[str, float | None]
    n: int
    n_failed: int
    counts: dict[str, int] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    signature: str = ""
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parse_rate(self) -> float:
        """Fraction of examples whose completion parsed (``nan`` for an empty run)."""
        return (self.n - self.n_failed) / self.n if self.n else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "signature": self.signature,
            "n": self.n,
            "n_failed": self.n_failed,
            "parse_rate": self.parse_rate,
            "values": dict(self.values),
            "counts": dict(self.counts),
            "unavailable": dict(self.unavailable),
            "notes": list(self.notes),
            **({"extra": self.extra} if self.extra else {}),
        }


_SIGNATURE_ORDER = ("task", "fmt", "model", "k", "select", "seed", "split", "conv")


def _clean(v: object) -> str:
    return str(v).replace("|", "/").replace(":", "-") if v is not None else "-"


def make_signature(**fields: object) -> str:
    """A stable one-line description of what produced a score (like sacrebleu's signatures).

    Known keys come first in a fixed order, the rest sorted; ``None`` values are dropped.

    Examples
    --------
    >>> make_signature(task="demo", fmt="code", model="code-davinci-002", k=8, seed=0)
    'task:demo|fmt:code|model:code-davinci-002|k:8|seed:0'
    >>> make_signature(seed=1, task="demo", zeta=None, ged="exact")
    'task:demo|seed:1|ged:exact'
    """
    keys = [k for k in _SIGNATURE_ORDER if k in fields] + sorted(k for k in fields if k not in _SIGNATURE_ORDER)
    return "|".join(f"{k}:{_clean(fields[k])}" for k in keys if fields[k] is not None)


def parse_signature(signature: str) -> dict[str, str]:
    """Inverse of :func:`make_signature` (values come back as strings).

    >>> parse_signature("task:demo|k:8")
    {'task': 'demo', 'k': '8'}
    """
    out: dict[str, str] = {}
    for part in signature.split("|"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k] = v
    return out


def average_rows(rows: Sequence[ExampleScore], keys: Iterable[str]) -> dict[str, float | None]:
    """Mean of each metric over all rows; ``None`` when any row lacks the value.

    A row lacking a value (``None``) means the metric is not defined for this run, not that
    the example is skipped: averaging over a subset would silently drop examples.
    """
    out: dict[str, float | None] = {}
    for k in keys:
        vals = [r.values.get(k) for r in rows]
        out[k] = None if not vals or any(v is None for v in vals) else mean(v for v in vals if v is not None)
    return out


CONVENTIONS = ("prompt", "gold")


@dataclass(frozen=True)
class MetricOptions:
    """Settings that change a task's numbers; a metric reads those that apply to it.

    ``convention``: which stance is the reference where the task has one (ExplaGraphs);
    ``ged_timeout``: seconds per exact graph edit distance (``None``: the metric's default).
    """

    convention: Literal["prompt", "gold"] = "prompt"
    ged_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            from cocogen.errors import ConfigError

            raise ConfigError(f"Unknown stance convention {self.convention!r}.", hint="Use 'prompt' or 'gold'.")
        if self.ged_timeout is not None and not self.ged_timeout > 0:
            from cocogen.errors import ConfigError

            raise ConfigError(f"The GED timeout must be a positive number of seconds, not {self.ged_timeout!r}.")


class MetricBase:
    """What every task metric shares: its task's name and its options; no extra signature fields."""

    def __init__(self, task: str, options: MetricOptions | None = None) -> None:
        self.task = task
        self.options = options or MetricOptions()

    def signature_fields(self) -> dict[str, object]:
        return {}


class TaskMetric(Protocol):
    """A task's metric, set up once, then fed examples (in the way of sacrebleu's ``Metric``).

    :meth:`score` returns the example's row and the sufficient statistics that
    :meth:`aggregate` sums (texts for corpus BLEU, edge counts for micro F1...), so a corpus
    score is never a mean of sentence scores where it should not be.
    """

    display: ClassVar[tuple[str, ...]]  # metric keys shown in tables, in order
    main: ClassVar[str]  # the key examples are first sorted and filtered by

    def score(
        self,
        example_id: str,
        prediction: Any,
        reference: Any,
        *,
        labels: Mapping[str, Any],
        problems: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[ExampleScore, Any]: ...

    def aggregate(self, rows: Sequence[ExampleScore], stats: Sequence[Any], *, signature: str = "") -> Score: ...

    def signature_fields(self) -> dict[str, object]:
        """Settings to add to the score's signature (``None`` values are left out)."""
        ...
