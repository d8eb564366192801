"""Score prediction files against references (the library behind ``cocogen eval`` and ``cocogen report``).

Two prediction formats are read:

* **run files** written by ``cocogen run`` (:mod:`cocogen.runs`): a header line, then one
  record per example with at least ``id``, ``task``, ``format``, ``input``, ``completion``,
  ``reference`` and ``status``;
* **recorded outputs** in CoCoGen's release format: one object per line with
  ``codex_response`` (the raw completion) and/or ``generated_code`` (prompt + completion),
  plus the reference fields of the task, which the task's own reader
  (:meth:`~cocogen.tasks.base.Task.read_recorded`) understands.

Every completion is parsed again with the task format's parser
(:meth:`~cocogen.tasks.base.Format.parse` with the query), never executed.  Every reference
is scored: an example whose generation failed, whose completion does not parse, or that has
no prediction at all is a failure row (worst score), never dropped, and the parse rate is
reported beside the averages.

References default to those embedded in the predictions file; ``--references`` takes a split
name of the task (``dev``, ``cocogen-test`` ...), a JSONL file of ``{"id", "graph"}`` rows or
of recorded-output rows, or a file format of the task's own
(:meth:`~cocogen.tasks.base.Task.read_references`, e.g. ProPara's official ``answers.tsv``).

Nothing here names a task: the task plug-in supplies the reader, the labels and the metric.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocogen.errors import ConfigError, DataError, InputError
from cocogen.jsonl import field_of, read_jsonl
from cocogen.metrics.base import (
    CONVENTIONS,
    METRICS,
    ExampleScore,
    MetricOptions,
    Score,
    format_value,
    make_signature,
)
from cocogen.tasks.base import REGISTRY, Format, Reference, Task, get_format, get_task
from cocogen.types import Example, Graph, ParseResult, Problem, ProblemKind

__all__ = [
    "Item",
    "Predictions",
    "Evaluation",
    "load_predictions",
    "evaluate_items",
    "evaluate_file",
    "detect_task",
    "display_metrics",
    "main_metric",
    "table_rows",
    "parsed_cell",
    "CONVENTIONS",
]

def display_metrics(task: str | Task) -> tuple[str, ...]:
    """The metric keys shown in tables for ``task``, in order (every value is in the JSON output)."""
    t = get_task(task) if isinstance(task, str) else task
    return tuple(t.metric().display)


def main_metric(task: str | Task) -> str:
    """The metric a task's examples are first sorted and filtered by."""
    t = get_task(task) if isinstance(task, str) else task
    return t.metric().main


@dataclass
class Item:
    """One example to score: the model text (``None`` when generation failed) and the references.

    ``labels`` are what the task's metric needs besides the graphs (see
    :meth:`~cocogen.tasks.base.Task.labels`).
    """

    id: str
    completion: str | None
    query: Graph | None
    reference: Any  # the task's graph, or a task-specific reference object (ProPara's answer grid)
    labels: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why there is no completion


@dataclass
class Predictions:
    """A predictions file read into items, with what the signature needs."""

    path: str
    kind: str  # "run" or "recorded"
    task: str
    format: str
    items: list[Item]
    meta: dict[str, Any] = field(default_factory=dict)  # model, k, select, seed, split
    duplicates: int = 0  # records whose id an earlier record already had (the last one is kept)
    cut_tail: bool = False  # the last line was cut mid-write and was left out


@dataclass
class Evaluation:
    """Per-example rows and the aggregate score of one predictions file."""

    score: Score
    rows: list[ExampleScore]
    seconds: float = 0.0
    source: str = ""
    stats: list[Any] = field(default_factory=list, repr=False)  # the metric's per-row statistics, for resampling

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "seconds": round(self.seconds, 3), **self.score.to_dict()}


# --------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------


def detect_task(record: Mapping[str, Any]) -> str | None:
    """The task of a recorded-output record: its ``task`` field, else the first task that recognizes it."""
    if isinstance(record.get("task"), str):
        return record["task"]
    from cocogen import tasks as _  # noqa: F401  (imports register the built-in tasks)

    return next((t.name for t in REGISTRY.values() if t.recognizes(record)), None)


def _completion_of(rec: Mapping[str, Any], path: Path, line: int) -> str | None:
    """The model's own text in a recorded-output record (a field of the wrong type is a :class:`DataError`)."""
    d = dict(rec)
    resp = field_of(d, "codex_response", dict, path=path, line=line)
    gen = field_of(d, "generated_code", str, path=path, line=line)
    prompt = field_of(d, "input_prompt_code", str, path=path, line=line)
    if resp is not None:
        field_of(resp, "model", str, path=path, line=line, where="codex_response.")
        choices = field_of(resp, "choices", list, path=path, line=line, where="codex_response.")
        if choices:
            first = choices[0]
            if not isinstance(first, dict):
                raise DataError("codex_response.choices[0] must be an object with a 'text'", path=str(path), line=line)
            text = field_of(first, "text", str, path=path, line=line, where="codex_response.choices[0].")
            if text is not None:
                return text
    if gen is not None:
        if prompt is not None and gen.startswith(prompt):
            return gen[len(prompt) :]
        return gen  # a full rendering; the parsers read that too
    return None


def _model_of(rec: Mapping[str, Any]) -> str | None:
    resp = rec.get("codex_response")
    model = resp.get("model") if isinstance(resp, dict) else None
    return model if isinstance(model, str) else None


def _recorded_item(t: Task, rec: Mapping[str, Any], path: Path, line: int, index: int = 0) -> Item:
    completion = _completion_of(rec, path, line)
    ref = t.read_recorded(rec, path=path, line=line, index=index)
    return Item(ref.id, completion, ref.query, ref.graph, t.labels(ref.query, ref.graph, ref.meta))


def _last_per_id(items: Sequence[Item]) -> tuple[list[Item], int]:
    """One item per id, the last one recorded (the run-file rule), and how many were dropped."""
    latest: dict[str, Item] = {}
    for it in items:
        latest.pop(it.id, None)  # re-insert: the order is that of the latest record
        latest[it.id] = it
    return list(latest.values()), len(items) - len(latest)


def _is_run_file(rows: Sequence[tuple[int, dict[str, Any]]]) -> bool:
    return rows[0][1].get("kind") == "header" or any("completion" in d and "status" in d for _, d in rows[:3])


def load_predictions(path: str | Path, task: str | None = None, fmt: str | None = None) -> Predictions:
    """Read a run file or a recorded-output file into :class:`Item` s.

    Raises
    ------
    DataError
        For a missing or malformed file (naming the file and line).
    ConfigError
        When the task cannot be determined or disagrees with the file.
    """
    p = Path(path)
    lines = read_jsonl(p, allow_cut_tail=True)
    records = lines.rows
    if not records:
        raise DataError("the file holds no records", path=str(p))
    if _is_run_file(records):
        return _load_run(p, task, fmt)
    rec_task = task or detect_task(records[0][1])
    if rec_task is None:
        raise ConfigError(f"Cannot tell the task of {p}.", hint="Pass --task.")
    t = get_task(rec_task)
    f = get_format(t, fmt)
    # A repeated example (the file concatenated twice, a retried row) is scored once, as in run files.
    items, duplicates = _last_per_id([_recorded_item(t, d, p, ln, i) for i, (ln, d) in enumerate(records)])
    model = next((m for _, d in records if (m := _model_of(d))), None)
    return Predictions(str(p), "recorded", t.name, f.name, items, {"model": model}, duplicates, lines.cut_tail)


# The fields of a run header and of its records that evaluation reads, and their JSON types.
_HEADER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "task": str,
    "format": str,
    "split": str,
    "model": str,
    "prompt": dict,
}
_PROMPT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "k": int,
    "selection": str,
    "select": str,
    "selection_seed": int,
    "seed": int,
}
_RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "task": str,
    "format": str,
    "status": str,
    "completion": str,
    "input": dict,
    "reference": dict,
    "error": (dict, str),
}


def _check_fields(d: dict[str, Any], spec: Mapping[str, type | tuple[type, ...]], p: Path, line: int, where: str = "") -> None:
    for key, types in spec.items():
        field_of(d, key, types, path=p, line=line, where=where)


def _error_message(r: dict[str, Any], p: Path, line: int) -> str:
    err = r.get("error")
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        message = field_of(err, "message", str, path=p, line=line, where="error.")
        if message is not None:
            return message
    return "generation failed"


def _load_run(p: Path, task: str | None, fmt: str | None) -> Predictions:
    from cocogen.runs import read_run

    run = read_run(p)
    header = run.header or {}
    if run.header is not None:
        h_line = run.header_line or 1
        _check_fields(header, _HEADER_FIELDS, p, h_line)
        _check_fields(header.get("prompt") or {}, _PROMPT_FIELDS, p, h_line, where="prompt.")
    for r in run.records:
        _check_fields(r, _RECORD_FIELDS, p, run.lines[r["id"]])
        _error_message(r, p, run.lines[r["id"]])  # checks error.message whatever the status
    r_task = header.get("task") or next((r.get("task") for r in run.records if r.get("task")), None)
    if task and r_task and task != r_task:
        raise ConfigError(f"{p} is a {r_task!r} run, not {task!r}.", hint=f"Use --task {r_task} or another file.")
    name = task or r_task
    if not name:
        raise ConfigError(f"Cannot tell the task of {p}.", hint="Pass --task.")
    t = get_task(name)
    f = get_format(
        t, fmt or header.get("format") or next((r.get("format") for r in run.records if r.get("format")), None)
    )
    items: list[Item] = []
    for r in run.records:
        line = run.lines[r["id"]]
        ref_d = r.get("reference")
        reference = _graph_from_dict(t, ref_d, p, line) if ref_d is not None else None
        query: Graph | None = None
        if r.get("input") is not None:
            try:
                query = t.from_input(r["input"])
            except InputError:
                query = None
        if query is None and reference is not None:
            query = t.query_of(reference)
        ok = r.get("status", "ok") == "ok" and isinstance(r.get("completion"), str)
        err = None if ok else _error_message(r, p, line)
        labels = t.labels(query, reference, {}) if reference is not None else {}
        items.append(Item(str(r["id"]), r.get("completion") if ok else None, query, reference, labels, err))
    prompt = header.get("prompt") or {}
    meta = {
        "model": header.get("model"),
        "k": prompt.get("k"),
        "select": prompt.get("selection", prompt.get("select")),
        "seed": prompt.get("selection_seed", prompt.get("seed")),
        "split": header.get("split"),
    }
    return Predictions(str(p), "run", t.name, f.name, items, meta, run.duplicates, run.partial_tail)


def _graph_from_dict(t: Task, d: Mapping[str, Any], path: Path | None = None, line: int | None = None) -> Graph:
    try:
        return t.graph_type.from_dict(d)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise DataError(f"malformed {t.name} reference ({e})", path=str(path) if path else None, line=line) from None


# --------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------


def _load_references(t: Task, spec: str) -> dict[str, Any]:
    """References by id (Examples, Reference objects or graphs) from a split, a task file or a JSONL file."""
    p = Path(spec)
    if not p.exists() and spec in t.splits:
        return {ex.id: ex for ex in t.load(spec)}
    if not p.exists():
        raise InputError(
            f"--references {spec!r} is neither a file nor a split of {t.name}.", hint=f"Splits: {', '.join(t.splits)}."
        )
    own = t.read_references(p)
    if own is not None:
        return own
    # The same rule as for predictions: a cut last line is left out, the last row of an id wins.
    rows = read_jsonl(p, allow_cut_tail=True).rows
    if all("graph" in d and "id" in d and isinstance(d["graph"], dict) for _, d in rows):
        for ln, d in rows:
            field_of(d, "id", (str, int), path=p, line=ln)
        return {str(d["id"]): _graph_from_dict(t, d["graph"], p, ln) for ln, d in rows}
    out: dict[str, Any] = {}
    for i, (ln, d) in enumerate(rows):
        ref = t.read_recorded(d, path=p, line=ln, index=i)
        out[ref.id] = ref
    return out


def _apply_references(t: Task, pred: Predictions, refs: Mapping[str, Any]) -> tuple[list[Item], int]:
    """Pair every reference with its prediction (a missing one becomes a failure item)."""
    by_id = {it.id: it for it in pred.items}
    items: list[Item] = []
    for rid, ref in refs.items():
        meta: Mapping[str, Any] = {}
        ref_query: Graph | None = None
        if isinstance(ref, Reference):
            graph, meta, ref_query = ref.graph, ref.meta, ref.query
        elif isinstance(ref, Example):
            graph, meta = ref.graph, ref.meta
        else:
            graph = ref
        if ref_query is None and isinstance(graph, t.graph_type):
            ref_query = t.query_of(graph)
        it = by_id.get(rid)
        query = it.query if it is not None and it.query is not None else ref_query
        labels = t.labels(query, graph, meta)
        if it is None:
            items.append(Item(rid, None, ref_query, graph, labels, error="no prediction for this reference"))
        else:
            items.append(Item(rid, it.completion, it.query, graph, labels, it.error))
    unmatched = sum(1 for i in pred.items if i.id not in refs)
    return items, unmatched


def _labels_from_split(t: Task, pred: Predictions) -> list[Item]:
    """A run records the query; what its metric needs from the dataset row (a gold label) comes from the split."""
    split = pred.meta.get("split")
    if not split or split not in t.splits:
        return pred.items
    try:
        rows = {ex.id: ex for ex in t.load(split)}
    except (DataError, ConfigError):
        return pred.items  # no data here: such labels are reported as unavailable
    out = []
    for it in pred.items:
        ex = rows.get(it.id)
        if ex is None or it.reference is None:
            out.append(it)
            continue
        labels = t.labels(it.query, it.reference, ex.meta)
        out.append(Item(it.id, it.completion, it.query, it.reference, labels, it.error))
    return out


# --------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------


def _parse(fmt: Format, item: Item) -> ParseResult:
    if item.completion is None:
        return ParseResult(None, (Problem(ProblemKind.EMPTY, item.error or "no completion"),))
    return fmt.parse(item.completion, item.query)


def evaluate_items(
    task: str | Task,
    fmt: str | Format,
    items: Sequence[Item],
    *,
    convention: str = "prompt",
    signature: str = "",
    ged_timeout: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Parse and score every item with the task's metric; return the rows and the aggregate.

    Parameters
    ----------
    task : str or Task
        The task (or its name).
    fmt : str or Format
        The format whose parser reads the completions.
    items : sequence of Item
        Examples to score; items without a reference are an error.
    convention : {"prompt", "gold"}
        Which stance is the reference, for a task with one (see :class:`MetricOptions`).
    ged_timeout : float, optional
        Seconds allowed per exact GED computation (default: the metric's).
    """
    t = get_task(task) if isinstance(task, str) else task
    f = get_format(t, fmt) if isinstance(fmt, str) else fmt
    metric = t.metric(MetricOptions(convention=convention, ged_timeout=ged_timeout))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    rows: list[ExampleScore] = []
    stats: list[Any] = []
    for i, item in enumerate(items):
        if item.reference is None:
            raise DataError(f"example {item.id} has no reference", hint="Pass --references.")
        res = _parse(f, item)
        row, stat = metric.score(
            item.id, res.graph, item.reference, labels=item.labels, problems=[p.to_dict() for p in res.problems]
        )
        if item.error:
            row.info["error"] = item.error
        rows.append(row)
        stats.append(stat)
        if progress:
            progress(i + 1, len(items))
    if not rows:
        raise DataError("nothing to evaluate: no examples")
    score = metric.aggregate(rows, stats, signature=signature)
    return Evaluation(score, rows, time.perf_counter() - t0, stats=stats)


def evaluate_file(
    predictions: str | Path,
    *,
    task: str | None = None,
    references: str | None = None,
    convention: str = "prompt",
    fmt: str | None = None,
    ged_timeout: float | None = None,
    ids: Collection[str] | None = None,
) -> Evaluation:
    """Evaluate one predictions file (see the module docstring for formats and references).

    ``ids`` scores only the examples with those ids (a grid asking for the first rows of a
    run file that holds more); ``None`` scores every one.
    """
    options = MetricOptions(convention=convention, ged_timeout=ged_timeout)  # type: ignore[arg-type]
    pred = load_predictions(predictions, task, fmt)
    t = get_task(pred.task)
    items = pred.items
    unmatched = 0
    if references:
        items, unmatched = _apply_references(t, pred, _load_references(t, references))
    elif pred.kind == "run":
        items = _labels_from_split(t, pred)
    if ids is not None:
        wanted = {str(i) for i in ids}
        items = [it for it in items if it.id in wanted]
    sig = make_signature(
        task=pred.task,
        fmt=pred.format,
        model=pred.meta.get("model"),
        k=pred.meta.get("k"),
        select=pred.meta.get("select"),
        seed=pred.meta.get("seed"),
        split=pred.meta.get("split"),
        **t.metric(options).signature_fields(),
    )
    ev = evaluate_items(t, pred.format, items, convention=convention, signature=sig, ged_timeout=ged_timeout)
    ev.source = str(predictions)
    if pred.duplicates:
        ev.score.counts["duplicate_records"] = pred.duplicates
        ev.score.notes.append(
            f"{pred.duplicates} records repeat an example recorded before them; each example was scored once (its last record)"
        )
    if pred.cut_tail:
        ev.score.notes.append(f"the last line of {pred.path} was cut mid-write (a killed run) and was left out")
    if unmatched:
        ev.score.counts["unmatched_predictions"] = unmatched
        ev.score.notes.append(f"{unmatched} predictions have no reference and were not scored")
    missing = sum(1 for r in ev.rows if r.info.get("error") == "no prediction for this reference")
    if missing:
        ev.score.counts["missing_predictions"] = missing
    return ev


# --------------------------------------------------------------------------------------
# Tables (shared by the CLI and the app)
# --------------------------------------------------------------------------------------


def parsed_cell(score: Score) -> str:
    """``parsed/n (rate%)``, the cell every table shows first."""
    rate = score.parse_rate
    pct = "n/a" if math.isnan(rate) else f"{rate * 100:.1f}%"
    return f"{score.n - score.n_failed}/{score.n} ({pct})"


def table_rows(score: Score) -> list[tuple[str, str, str]]:
    """``(key, label, value)`` of the metrics shown for ``score``'s task, parse rate first."""
    try:
        keys: Sequence[str] = display_metrics(score.task)
    except ConfigError:
        keys = tuple(score.values)
    out = [("parse_rate", "parsed", parsed_cell(score))]
    for k in keys:
        if k not in score.values:
            continue
        spec = METRICS.get(k)
        label = k if spec is None else spec.label + (" ↑" if spec.higher_is_better else " ↓")
        out.append((k, label, format_value(k, score.values[k])))
    return out
