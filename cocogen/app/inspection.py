"""Looking at a run example by example: metrics, problems, predicted and reference graphs.

:func:`inspect_file` reads a run file of ours or the paper's recorded outputs (through
:func:`cocogen.evaluate.evaluate_file`, so the numbers are the ones ``cocogen eval``
prints), parses every completion again (never executing it) and returns one
:class:`Row` per example.  :func:`filter_rows` is the search the app's Inspect page
offers: by problem kind, metric range and text.

Examples
--------
>>> import os, pathlib                                              # doctest: +SKIP
>>> run = inspect_file(pathlib.Path(os.environ["COCOGEN_DATA_DIR"]) /
...                    "cocogen/outputs/explagraphs/dev_output.jsonl")  # doctest: +SKIP
>>> len(run.rows), run.score.values["stca"]                         # doctest: +SKIP
(396, 0.452...)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocogen.app.confidence import Sureness
from cocogen.confidence import Confidence
from cocogen.evaluate import display_metrics, evaluate_file, load_predictions
from cocogen.metrics.base import Score
from cocogen.tasks.base import get_format, get_task
from cocogen.types import ExplaGraph, Graph, Problem, Script, StateTable

__all__ = ["Row", "InspectedRun", "inspect_file", "filter_rows", "rows_table", "main_metric"]


@dataclass(frozen=True)
class Row:
    """One example of a run, everything the detail view shows."""

    id: str
    parsed: bool
    values: dict[str, float | None]
    problems: tuple[Problem, ...]
    pred: Graph | None
    gold: Graph | None
    query: Graph | None
    given: str  # the query text the model continued
    completion: str | None
    prompt: str | None = None  # the whole prompt, when the file recorded it
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    # How sure the model was of each element of ``pred`` (from the run record; empty: not recorded).
    sureness: Sureness = field(default_factory=Sureness)

    @property
    def least_sure(self) -> float | None:
        """The lowest confidence (or agreement) among the prediction's elements, ``None`` without any."""
        known = [v for v in self.sureness.values.values() if v is not None]
        return min(known) if known else None

    @property
    def problem_kinds(self) -> tuple[str, ...]:
        return tuple(sorted({p.kind.value for p in self.problems}))

    def text(self) -> str:
        """Everything a text search looks at: input, completion, problems."""
        parts = [self.id, self.given, self.completion or "", *(p.message for p in self.problems), self.error or ""]
        return "\n".join(parts).lower()


@dataclass(frozen=True)
class InspectedRun:
    path: str
    kind: str  # "run" or "recorded"
    task: str
    format: str
    score: Score
    rows: tuple[Row, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics shown for this task, in display order, that the rows have."""
        present: dict[str, None] = {}
        for r in self.rows:
            present.update(dict.fromkeys(k for k, v in r.values.items() if v is not None))
        keys = [k for k in display_metrics(self.task) if k in present]
        # Per-example rows may carry other keys than the averages (ProPara: process_* per paragraph).
        keys += sorted((k for k in present if k not in keys), key=lambda k: (not k.startswith("process_"), k))
        return tuple(keys)

    @property
    def problem_kinds(self) -> tuple[str, ...]:
        return tuple(sorted({k for r in self.rows for k in r.problem_kinds}))


def inspect_file(path: str | Path, *, task: str | None = None, fmt: str | None = None) -> InspectedRun:
    """Evaluate a predictions file and keep, per example, what is needed to look at it.

    Raises :class:`~cocogen.errors.DataError` for a missing or malformed file.
    """
    p = Path(path)
    preds = load_predictions(p, task, fmt)
    ev = evaluate_file(p, task=preds.task, fmt=preds.format)
    t = get_task(preds.task)
    f = get_format(t, preds.format)
    items = {it.id: it for it in preds.items}
    prompts: dict[str, dict[str, Any]] = {}
    if preds.kind == "run":
        from cocogen.runs import read_run

        prompts = read_run(p).by_id()
    rows = []
    for er in ev.rows:
        it = items.get(er.id)
        query = it.query if it is not None else None
        completion = it.completion if it is not None else None
        res = f.parse(completion, query) if completion is not None else None
        rec = prompts.get(er.id, {})
        given = rec.get("query_text") or (f.render_query(query) if query is not None else "")
        gold = it.reference if it is not None and isinstance(it.reference, (Script, ExplaGraph, StateTable)) else None
        rows.append(
            Row(
                id=er.id,
                parsed=er.parsed,
                values={k: v for k, v in er.values.items() if isinstance(v, (int, float)) or v is None},
                problems=tuple(Problem.from_dict(d) for d in er.problems),
                pred=res.graph if res is not None else None,
                gold=gold,
                query=query,
                given=given,
                completion=completion,
                prompt=rec.get("prompt"),
                error=(it.error if it is not None else None) or er.info.get("error"),
                info=er.info,
                sureness=_sureness(rec),
            )
        )
    return InspectedRun(str(p), preds.kind, preds.task, preds.format, ev.score, tuple(rows), dict(preds.meta))


def _sureness(rec: dict[str, Any]) -> Sureness:
    """A run record's agreement (a merged answer) or confidence; nothing for other files."""
    agreement = rec.get("agreement")
    if isinstance(agreement, dict):
        return Sureness(Confidence.from_dict({"values": agreement}).values, {}, "agreement")
    conf = Confidence.from_dict(rec.get("confidence"))
    return Sureness(conf.values, conf.runner_up, "confidence")


def main_metric(task: str) -> str:
    """The metric a task's examples are first sorted and filtered by (the task's own; else the parse rate)."""
    from cocogen import evaluate
    from cocogen.errors import ConfigError

    try:
        return evaluate.main_metric(task)
    except ConfigError:
        return "parse_rate"


def filter_rows(
    rows: Sequence[Row],
    *,
    kinds: Iterable[str] = (),
    clean_only: bool = False,
    failed_only: bool = False,
    metric: str | None = None,
    low: float | None = None,
    high: float | None = None,
    text: str = "",
) -> list[int]:
    """Indices of the rows that pass every filter given.

    ``kinds``: rows with at least one problem of these kinds; ``metric`` with ``low``/
    ``high``: value within the range (inclusive; rows without the metric are dropped);
    ``text``: case-insensitive substring of the input, completion or problems.

    Examples
    --------
    >>> from cocogen.types import ProblemKind
    >>> r = [Row("a", True, {"f1": 0.5}, (), None, None, None, "x", "y"),
    ...      Row("b", False, {"f1": 0.0}, (Problem(ProblemKind.EMPTY, "empty"),), None, None, None, "z", "")]
    >>> filter_rows(r, kinds=["empty"]), filter_rows(r, metric="f1", low=0.2), filter_rows(r, text="X")
    ([1], [0], [0])
    """
    wanted = set(kinds)
    needle = text.strip().lower()
    out = []
    for i, r in enumerate(rows):
        if wanted and not wanted & set(r.problem_kinds):
            continue
        if clean_only and r.problems:
            continue
        if failed_only and r.parsed:
            continue
        if metric is not None and (low is not None or high is not None):
            v = r.values.get(metric)
            if v is None or (low is not None and v < low) or (high is not None and v > high):
                continue
        if needle and needle not in r.text():
            continue
        out.append(i)
    return out


def rows_table(run: InspectedRun, indices: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Table rows (plain dicts) for the given examples: id, parse state, problems, the task's metrics."""
    from cocogen.app.state import example_title

    t = get_task(run.task)
    out = []
    for i in indices if indices is not None else range(len(run.rows)):
        r = run.rows[i]
        d: dict[str, Any] = {
            "#": i,
            "id": r.id,
            "input": example_title(t, _as_example(r), 60) if r.query is not None else "",
            "parsed": r.parsed,
            "problems": ", ".join(r.problem_kinds),
        }
        for k in run.metrics:
            d[k] = r.values.get(k)
        if any(x.least_sure is not None for x in run.rows):
            d["least sure"] = r.least_sure
        out.append(d)
    return out


def _as_example(r: Row) -> Any:
    from cocogen.types import Example

    return Example(r.id, r.query)  # type: ignore[arg-type]
