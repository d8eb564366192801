"""How sure the model was: a probability in [0, 1] for every element of an answer, and calibration.

Where the numbers come from
---------------------------
- **The local constrained decoder** records each *decision* (``Generation.raw["decisions"]``):
  the characters of the completion it wrote, and its probability — for a choice among
  alternatives (an edge, a relation, absent / unknown / a location) the model's
  probability of the one taken, renormalised over those offered, with the most likely
  branch not taken (the runner-up); for a free value (a step, a concept) the mean
  probability of its tokens.
- **Token log-probabilities** (``Generation.token_logprobs``: OpenAI-compatible servers'
  ``logprobs``, and the local model decoding freely): every token is a decision of its own.

Where the elements are
----------------------
The task names the elements of its graph (``Task.element_keys``) and, for each, a
variant of the graph that differs only in that element (``Task.element_variant``).  The
part of the format's rendering that changes between the two is where the element is
written; :func:`difflib.SequenceMatcher` maps that span onto the completion the model
actually wrote when it is not the canonical rendering (free output).  An element's
confidence is the *lowest* probability among the decisions that wrote any of its
characters: an edge is as sure as the token that named its target step.

Where there is no such information (a replayed recording, a server without
``logprobs``) every element is ``None``: "not available", never a made-up number.

Calibration
-----------
:func:`calibration` bins confidences and compares each bin's mean confidence with the share
of its elements that are in the reference; the expected calibration error (ECE) is the
count-weighted mean gap.

Examples
--------
>>> c = calibration([(0.9, True), (0.9, False), (0.2, False), (0.2, False)], bins=5)
>>> round(c.ece, 3), [(b.count, round(b.mean_confidence, 2), b.share_in_reference) for b in c.bins if b.count]
(0.3, [(2, 0.2, 0.0), (2, 0.9, 0.5)])
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocogen.errors import DataError, InputError
from cocogen.types import Generation, Graph

__all__ = [
    "Confidence",
    "Span",
    "CalibrationBin",
    "Calibration",
    "element_confidence",
    "element_spans",
    "decisions_of",
    "calibration",
    "calibration_of_run",
    "DEFAULT_BINS",
]

DEFAULT_BINS = 10


@dataclass(frozen=True)
class Span:
    """Characters ``[start, end)`` of a completion that one decision wrote, and its probability."""

    start: int
    end: int
    p: float
    runner_up: float | None = None
    runner_up_label: str | None = None

    def overlap(self, start: int, end: int) -> int:
        """How many of the characters ``[start, end)`` this decision wrote (an empty decision at them: 1)."""
        if self.start == self.end:
            return int(start <= self.start < max(end, start + 1))
        return max(0, min(end, self.end) - max(start, self.start))


def _writers(spans: Sequence[Span], start: int, end: int) -> list[Span]:
    """The decisions that wrote an element at ``[start, end)``.

    Those with at least half of their own text in it, and the one with most text in it.
    Not any overlap: a choice's text runs on to where the next one starts (an edge's
    line break and the next line's indent), and where a format repeats text an element's
    span found by difference may reach a few characters into its neighbour's.
    """
    scored = [(s.overlap(start, end), s) for s in spans]
    hits = [s for o, s in scored if o > 0 and 2 * o >= max(1, s.end - s.start)]
    best = max(scored, key=lambda x: x[0], default=(0, None))
    if best[1] is not None and best[0] > 0 and best[1] not in hits:
        hits.append(best[1])
    return hits


@dataclass(frozen=True)
class Confidence:
    """Per element key: the probability in [0, 1] or ``None`` (not available); the runner-up where known.

    ``source``: ``"choices"`` (the local constrained decoder), ``"tokens"`` (token
    log-probabilities) or ``None`` (nothing to go by).
    """

    values: dict[str, float | None] = field(default_factory=dict)
    runner_up: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str | None = None

    @property
    def available(self) -> bool:
        return any(v is not None for v in self.values.values())

    def to_dict(self) -> dict[str, Any]:
        return {"values": dict(self.values), "runner_up": dict(self.runner_up), "source": self.source}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Confidence:
        if not isinstance(d, Mapping):
            return cls()
        values = d.get("values")
        if not isinstance(values, Mapping):
            return cls()
        clean: dict[str, float | None] = {}
        for k, v in values.items():
            clean[str(k)] = _probability(v)
        runner = d.get("runner_up") if isinstance(d.get("runner_up"), Mapping) else {}
        return cls(clean, {str(k): dict(v) for k, v in runner.items() if isinstance(v, Mapping)}, d.get("source"))


def _probability(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return min(1.0, max(0.0, float(v)))


def decisions_of(generation: Generation) -> tuple[list[Span], str | None]:
    """The decisions behind a completion, in its character offsets, and where they come from."""
    raw = generation.raw if isinstance(generation.raw, Mapping) else {}
    recorded = raw.get("decisions")
    if isinstance(recorded, list):
        spans = []
        for d in recorded:
            if not isinstance(d, Mapping):
                continue
            p = _probability(d.get("p"))
            start, end = d.get("start"), d.get("end")
            if p is None or not isinstance(start, int) or not isinstance(end, int):
                continue
            label = d.get("runner_up_label")
            spans.append(
                Span(start, end, p, _probability(d.get("runner_up")), label if isinstance(label, str) else None)
            )
        return spans, "choices"
    if generation.token_logprobs:
        spans, at = [], 0
        for text, logprob in generation.token_logprobs:
            p = _probability(math.exp(logprob)) if math.isfinite(logprob) else 0.0
            spans.append(Span(at, at + len(text), p if p is not None else 0.0))
            at += len(text)
        return spans, "tokens"
    return [], None


def element_spans(
    task: Any, fmt: Any, query: Graph, graph: Graph, completion: str
) -> dict[str, tuple[int, int] | None]:
    """Where each element of ``graph`` is written in ``completion`` (character offsets), ``None`` where unknown.

    ``completion`` continues ``fmt.render_query(query)``.
    """
    head = fmt.render_query(query)
    canonical = fmt.render(graph)
    written = head + completion
    matcher = None if canonical == written else difflib.SequenceMatcher(None, canonical, written, autojunk=False)
    blocks = matcher.get_matching_blocks() if matcher is not None else []
    out: dict[str, tuple[int, int] | None] = {}
    for key in task.element_keys(graph):
        variant = task.element_variant(graph, key)
        if variant is None:
            out[key] = None
            continue
        span = _changed(canonical, fmt.render(variant))
        if span is not None and matcher is not None:
            span = _mapped(span, blocks)
        if span is None or span[1] <= len(head):
            out[key] = None
            continue
        out[key] = (max(0, span[0] - len(head)), span[1] - len(head))
    return out


def _changed(a: str, b: str) -> tuple[int, int] | None:
    """The part of ``a`` that differs from ``b`` (common prefix and suffix removed)."""
    if a == b:
        return None
    pre = len(_common_prefix(a, b))
    suf = len(_common_prefix(a[pre:][::-1], b[pre:][::-1]))
    start, end = pre, max(pre, len(a) - suf)
    if len(b) < len(a) and len(a) - len(b) == end - start:
        return _settled(a, start, end)
    return start, end


_BOUNDARIES = ("\n", ")", ",", ";")  # in order of preference


def _settled(a: str, start: int, end: int) -> tuple[int, int]:
    """A removed stretch of repetitive text, slid to where it starts after a boundary (a line, a triple).

    Removing ``"step1 -> step4",`` before ``"step1 -> step3",`` leaves the same text as
    removing any rotation of it; of the equivalent positions, the one after a line break
    (else ``)``, ``,``, ``;``) is the item itself.
    """
    while start > 0 and a[start - 1] == a[end - 1]:
        start, end = start - 1, end - 1
    width = end - start
    places = [start]
    while places[-1] + width < len(a) and a[places[-1]] == a[places[-1] + width]:
        places.append(places[-1] + 1)
    for mark in _BOUNDARIES:
        for p in places:
            if p > 0 and a[p - 1] == mark:
                return p, p + width
    return start, end


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def _mapped(span: tuple[int, int], blocks: Sequence[Any]) -> tuple[int, int] | None:
    """``span`` of the canonical text as characters of the written text (through matching blocks)."""
    lo = hi = None
    for a, b, size in blocks:
        s, e = max(span[0], a), min(span[1], a + size)
        if s < e:
            lo = b + (s - a) if lo is None else lo
            hi = b + (e - a)
    return (lo, hi) if lo is not None and hi is not None else None


def element_confidence(task: Any, fmt: Any, query: Graph, graph: Graph | None, generation: Generation) -> Confidence:
    """The model's confidence in each element of ``graph``, parsed from ``generation``'s text.

    Elements get ``None`` when the backend gave no probabilities, or when the element's
    text cannot be found among them.
    """
    if graph is None:
        return Confidence()
    spans, source = decisions_of(generation)
    keys = task.element_keys(graph)
    if not spans:
        return Confidence(dict.fromkeys(keys), {}, None)
    values: dict[str, float | None] = {}
    runner: dict[str, dict[str, Any]] = {}
    for key, where in element_spans(task, fmt, query, graph, generation.text).items():
        hits = _writers(spans, *where) if where is not None else []
        if not hits:
            values[key] = None
            continue
        weakest = min(hits, key=lambda s: s.p)
        values[key] = round(weakest.p, 6)
        if weakest.runner_up is not None:
            runner[key] = {"p": round(weakest.runner_up, 6), "label": weakest.runner_up_label}
    return Confidence(values, runner, source)


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_confidence: float
    share_in_reference: float


@dataclass(frozen=True)
class Calibration:
    """Confidence bins against the share of their elements in the reference, and the ECE (in [0, 1])."""

    bins: tuple[CalibrationBin, ...]
    ece: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"ece": self.ece, "n": self.n, "bins": [b.__dict__ for b in self.bins]}


def calibration(pairs: Iterable[tuple[float, bool]], bins: int = DEFAULT_BINS) -> Calibration:
    """Equal-width bins over [0, 1] of ``(confidence, in the reference)`` pairs; ``None`` confidences are left out.

    A confidence of exactly 1.0 falls in the last bin.  Raises
    :class:`~cocogen.errors.InputError` for fewer than one bin.
    """
    if bins < 1:
        raise InputError(f"Calibration needs at least one bin, not {bins}.")
    sums = [[0, 0.0, 0] for _ in range(bins)]  # count, summed confidence, in reference
    n = 0
    for conf, hit in pairs:
        p = _probability(conf)
        if p is None:
            continue
        i = min(bins - 1, int(p * bins))
        sums[i][0] += 1
        sums[i][1] += p
        sums[i][2] += bool(hit)
        n += 1
    out = []
    ece = 0.0
    for i, (count, total, hits) in enumerate(sums):
        mean = total / count if count else 0.0
        share = hits / count if count else 0.0
        if count:
            ece += count / n * abs(share - mean)
        out.append(CalibrationBin(i / bins, (i + 1) / bins, int(count), mean, share))
    return Calibration(tuple(out), ece, n)


def calibration_of_run(path: str | Path, bins: int = DEFAULT_BINS, *, of: str = "confidence") -> Calibration | None:
    """The calibration of a run file's element confidences (``of="agreement"``: a merged run's agreement).

    Each element of each answer with a confidence is one pair (its confidence, whether the
    reference has it: ``Task.element_matches``).  ``None`` when the run recorded no such
    numbers (a replayed run, a server without ``logprobs``, an older file; a merged run has
    agreement, not confidence).
    Raises :class:`~cocogen.errors.DataError` for a file that is not a readable run.
    """
    from cocogen.runs import read_run
    from cocogen.tasks.base import get_task

    run = read_run(path)
    name = (run.header or {}).get("task") or next((r.get("task") for r in run.records if r.get("task")), None)
    if not isinstance(name, str):
        raise DataError("the run file does not say its task", path=str(path))
    task = get_task(name)
    pairs: list[tuple[float, bool]] = []
    for rec in run.records:
        numbers = rec.get(of)
        conf = Confidence.from_dict({"values": numbers} if of == "agreement" else numbers)
        if rec.get("status") != "ok" or not conf.available:
            continue
        graph, reference = rec.get("graph"), rec.get("reference")
        if not isinstance(graph, Mapping) or not isinstance(reference, Mapping):
            continue
        try:
            found = task.element_matches(task.graph_type.from_dict(graph), task.graph_type.from_dict(reference))
        except (KeyError, TypeError, ValueError):
            continue  # a damaged record is left out, not guessed at
        pairs += [(p, found.get(key, False)) for key, p in conf.values.items() if p is not None]
    return calibration(pairs, bins) if pairs else None
