"""The same input through several formats of one task: the paper's code-vs-text comparison.

:func:`compare_formats` runs one query with one model and one set of few-shot examples
through each chosen format (the code prompt, the flattened-text baseline, an alternative
code format), and — given a reference graph — says for each what it got right, missed
and invented, with the task's per-example metrics.  The app's Compare page and the
Learn page show it; it is equally usable from Python.

Examples
--------
With a tiny backend that always answers the same (any object with ``signature()``,
``model`` and ``complete()`` is a backend):

>>> from cocogen.types import Generation
>>> class Echo:
...     name, mode, model = "echo", "completion", "echo"
...     def signature(self): return "echo"
...     def complete(self, prompt, params=None, context=None): return [Generation("")]
>>> out = compare_formats("proscript-script", ["code", "text"], {"goal": "bake a cake", "num_steps": 3}, Echo(), spec=PromptSpec(pool=()))
>>> [(o.format, o.result is not None, o.result.ok) for o in out]
[('code', True, False), ('text', True, False)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cocogen.backends.base import Backend, GenerationParams
from cocogen.diff import DiffSummary, diff_graphs, diff_tables
from cocogen.errors import CocogenError
from cocogen.pipeline import Result, generate
from cocogen.prompts import PromptSpec
from cocogen.streaming import LiveText
from cocogen.tasks.base import Task, get_task
from cocogen.types import Graph, StateTable

__all__ = ["Outcome", "compare_formats", "default_formats", "diff_against", "scores"]


@dataclass(frozen=True)
class Outcome:
    """One format's answer: the pipeline result (or the error that stopped it) and, with a
    reference, what it got right, missed and invented and its per-example metrics."""

    format: str
    kind: str  # "code" or "text"
    result: Result | None
    error: str | None = None
    summary: DiffSummary | None = None
    scores: dict[str, float | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "kind": self.kind,
            "error": self.error,
            "result": self.result.to_dict() if self.result is not None else None,
            "diff": self.summary.to_dict() if self.summary is not None else None,
            "scores": self.scores,
        }


def default_formats(task: Task | str) -> list[str]:
    """The default code format and the text baseline (the paper's comparison).

    Examples
    --------
    >>> default_formats("explagraphs")
    ['code', 'text']
    """
    t = get_task(task) if isinstance(task, str) else task
    names = list(t.formats)
    text = [n for n in names if t.formats[n].kind == "text"]
    return [names[0], *text[:1]]


def diff_against(pred: Graph | None, reference: Graph) -> DiffSummary:
    """Right / missed / invented edges (triples, or table cells for ProPara) of a prediction."""
    if isinstance(reference, StateTable):
        return diff_tables(pred if isinstance(pred, StateTable) else None, reference).summary
    return diff_graphs(pred, reference)[1]


def compare_formats(
    task: Task | str,
    formats: Sequence[str],
    query: Graph | Mapping[str, Any],
    backend: Backend,
    *,
    reference: Graph | None = None,
    spec: PromptSpec | None = None,
    params: GenerationParams | Mapping[str, Any] | None = None,
    cache: Any = None,
    example_id: str | None = None,
    score: Callable[[Result, Graph], dict[str, float | None]] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    live: Callable[[str], LiveText] | None = None,
    merge: bool = False,
) -> list[Outcome]:
    """Generate for ``query`` in each of ``formats`` with the same model and examples.

    A format that fails (the server refuses, the prompt is over budget) gives an
    :class:`Outcome` with ``error`` set; the others still run.  ``score`` computes the
    per-example metrics against ``reference`` (default: :func:`scores`).  ``live(format)``
    gives the :class:`~cocogen.streaming.LiveText` each format's answer is written into.
    ``merge``: each format's ``params.n`` samples are merged into one graph (:mod:`cocogen.merge`).
    """
    t = get_task(task) if isinstance(task, str) else task
    scorer = score or scores
    out: list[Outcome] = []
    for name in formats:
        fmt = t.formats.get(name)
        if fmt is None:
            oc = Outcome(name, "?", None, f"Task {t.name!r} has no format {name!r}.")
        else:
            try:
                res = generate(
                    t, fmt, query, backend, spec=spec, params=params, cache=cache, example_id=example_id,
                    live=live(name) if live is not None else None, merge=merge,
                )  # fmt: skip
            except CocogenError as e:
                oc = Outcome(name, fmt.kind, None, e.user_message())
            else:
                summary = metrics = None
                if reference is not None:
                    summary = diff_against(res.graph, reference)
                    metrics = scorer(res, reference)
                oc = Outcome(name, fmt.kind, res, None, summary, metrics)
        out.append(oc)
        if on_outcome is not None:
            on_outcome(oc)
    return out


def scores(result: Result, reference: Graph) -> dict[str, float | None]:
    """The task's per-example metrics of a result against ``reference``, as ``cocogen eval`` computes them.

    The completion is scored through :func:`cocogen.evaluate.evaluate_items`, so an
    unparsable answer gets the worst score exactly as in a batch evaluation.
    """
    from cocogen.evaluate import Item, display_metrics, evaluate_items

    labels = get_task(result.task).labels(result.query, reference, {})
    item = Item("0", result.completion, result.query, reference, labels)
    row = evaluate_items(result.task, result.format, [item]).rows[0]
    values = {k: v for k, v in row.values.items() if v is None or isinstance(v, (int, float))}
    shown = [k for k in display_metrics(result.task) if values.get(k) is not None]
    # Per-example rows may use other keys than the averages (ProPara's process_* scores).
    return {k: values[k] for k in shown} if shown else {k: v for k, v in values.items() if v is not None}
