"""Score prediction files against references: ``cocogen eval`` and ``cocogen report``.

Two prediction formats are read:

* **run files** written by ``cocogen run`` (:mod:`cocogen.runs`): a header line, then one
  record per example with at least ``id``, ``task``, ``format``, ``input``, ``completion``,
  ``reference`` and ``status``;
* **recorded outputs** in CoCoGen's release format: one object per line with
  ``codex_response`` (the raw completion) and/or ``generated_code`` (prompt + completion),
  plus the reference fields of the task (``belief``/``argument``/``stance``/``orig_stance``/
  ``graph`` for ExplaGraphs, ``id``/``steps``/``questions`` for ProPara, ``reference_code``
  otherwise).

Every completion is parsed again with the task format's parser
(:meth:`~cocogen.tasks.base.Format.parse` with the query), never executed.  Every reference
is scored: an example whose generation failed, whose completion does not parse, or that has
no prediction at all is a failure row (worst score), never dropped, and the parse rate is
reported beside the averages.

References default to those embedded in the predictions file; ``--references`` takes a split
name of the task (``dev``, ``cocogen-test`` ...), a JSONL file of ``{"id", "graph"}`` rows or
of dataset rows the task's loader reads, or, for ProPara, an official ``answers.tsv``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocogen.errors import ConfigError, DataError, InputError
from cocogen.metrics import explagraphs as eg_metrics
from cocogen.metrics import propara as pp_metrics
from cocogen.metrics import proscript as ps_metrics
from cocogen.metrics.base import METRICS, ExampleScore, Score, format_value, make_signature
from cocogen.tasks.base import Format, get_format, get_task
from cocogen.types import ExplaGraph, Graph, ParseResult, Problem, ProblemKind, Script, StateTable

__all__ = [
    "Item",
    "Predictions",
    "Evaluation",
    "load_predictions",
    "evaluate_items",
    "evaluate_file",
    "detect_task",
    "DISPLAY",
    "cmd_eval",
    "cmd_report",
]

CONVENTIONS = ("prompt", "gold")

# Metrics shown in tables, per task, in order (every value is in the JSON output).
DISPLAY: dict[str, tuple[str, ...]] = {
    "explagraphs": (
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
    ),
    "propara": ("precision", "recall", "f1", "inputs_f1", "outputs_f1", "conversions_f1", "moves_f1"),
    "proscript-script": (
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
    ),
    "proscript-edge": ("edge_precision", "edge_recall", "edge_f1", "micro_edge_f1", "exact_match", "edge_ged"),
}


@dataclass
class Item:
    """One example to score: the model text (``None`` when generation failed) and the references."""

    id: str
    completion: str | None
    query: Graph | None
    reference: Any  # the task's graph, or a ProPara ProcessGrid from an answers file
    stances: dict[str, str | None] = field(default_factory=dict)  # ExplaGraphs only
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


@dataclass
class Evaluation:
    """Per-example rows and the aggregate score of one predictions file."""

    score: Score
    rows: list[ExampleScore]
    seconds: float = 0.0
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "seconds": round(self.seconds, 3), **self.score.to_dict()}


# --------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("the file does not exist", path=str(path)) from None
    except UnicodeDecodeError:
        raise DataError("the file is not UTF-8 text", path=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot be read ({e.strerror})", path=str(path)) from None
    out: list[tuple[int, dict[str, Any]]] = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON ({e.msg})", path=str(path), line=i) from None
        if not isinstance(d, dict):
            raise DataError("each line must be a JSON object", path=str(path), line=i)
        out.append((i, d))
    if not out:
        raise DataError("the file has no records", path=str(path))
    return out


def detect_task(record: Mapping[str, Any]) -> str | None:
    """Guess the task of a recorded-output record from its fields (``None`` if unsure).

    >>> detect_task({"belief": "b", "argument": "a", "graph": "(x; is a; y)"})
    'explagraphs'
    >>> detect_task({"steps": ["Init", "s"], "questions": []})
    'propara'
    """
    if isinstance(record.get("task"), str):
        return record["task"]
    if {"belief", "argument"} <= record.keys():
        return "explagraphs"
    if {"steps", "questions"} <= record.keys():
        return "propara"
    if "flatten_input_for_edge_prediction" in record and "reference_code" in record:
        code = str(record.get("input_prompt_code", ""))
        return "proscript-edge" if "def step" in code else "proscript-script"
    return None


def _completion_of(rec: Mapping[str, Any]) -> str | None:
    """The model's own text in a recorded-output record."""
    try:
        return str(rec["codex_response"]["choices"][0]["text"])
    except (KeyError, IndexError, TypeError):
        pass
    gen, prompt = rec.get("generated_code"), rec.get("input_prompt_code")
    if isinstance(gen, str):
        if isinstance(prompt, str) and gen.startswith(prompt):
            return gen[len(prompt) :]
        return gen  # a full rendering; the parsers read that too
    return None


def _model_of(rec: Mapping[str, Any]) -> str | None:
    try:
        return str(rec["codex_response"]["model"])
    except (KeyError, TypeError):
        return None


_PROPARA_Q = "the location/state of "


def _recorded_item(task: str, fmt: Format, rec: Mapping[str, Any], path: Path, line: int, index: int = 0) -> Item:
    completion = _completion_of(rec)
    if task == "explagraphs":
        from cocogen.tasks.explagraphs import example_id, parse_triples

        try:
            belief, argument, stance = str(rec["belief"]), str(rec["argument"]), str(rec["stance"])
            gold = rec.get("orig_stance")
            triples, problems = parse_triples(str(rec["graph"]))
        except KeyError as e:
            raise DataError(f"the record has no {e.args[0]!r} field", path=str(path), line=line) from None
        if problems:
            raise DataError(f"malformed reference graph: {problems[0].message}", path=str(path), line=line)
        ref = ExplaGraph(belief, argument, str(gold) if gold else stance, triples)
        return Item(
            example_id(belief, argument),
            completion,
            ExplaGraph(belief, argument, stance),
            ref,
            {"prompt": stance, "gold": str(gold) if gold else None},
        )
    if task == "propara":
        try:
            steps, questions = rec["steps"], rec["questions"]
            participants = [str(q["question"])[len(_PROPARA_Q) :] for q in questions]
            states = [tuple(str(a) for a in q["answers"]) for q in questions]
            pid = str(rec["id"])
        except (KeyError, TypeError) as e:
            raise DataError(f"not a ProPara record ({e})", path=str(path), line=line) from None
        if not steps or steps[0] != "Init":
            raise DataError("'steps' must start with 'Init'", path=str(path), line=line)
        sentences = tuple(str(s) for s in steps[1:])
        return Item(
            pid,
            completion,
            StateTable(sentences, tuple(participants)),
            StateTable(sentences, tuple(participants), tuple(states)),
        )
    # Any other task: the reference is the released reference code, read by our parser.
    code = rec.get("reference_code")
    if not isinstance(code, str):
        raise DataError("the record has no 'reference_code' to take the reference from", path=str(path), line=line)
    parsed = fmt.parse(code)
    if parsed.graph is None:
        raise DataError("the reference code could not be parsed", path=str(path), line=line)
    # CoCoGen's proScript records carry no id; its only released split is dev, whose rows our
    # loader names dev-0000, dev-0001, ... in file order.
    rid = str(rec["id"]) if "id" in rec else f"dev-{index:04d}"
    return Item(rid, completion, get_task(task).query_of(parsed.graph), parsed.graph)


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
    records = _read_jsonl(p)
    first = records[0][1]
    if first.get("kind") == "header" or any("completion" in d and "status" in d for _, d in records[:3]):
        return _load_run(p, task, fmt)
    rec_task = task or detect_task(first)
    if rec_task is None:
        raise ConfigError(f"Cannot tell the task of {p}.", hint="Pass --task.")
    t = get_task(rec_task)
    f = get_format(t, fmt)
    items = [_recorded_item(t.name, f, d, p, ln, i) for i, (ln, d) in enumerate(records)]
    model = next((m for _, d in records if (m := _model_of(d))), None)
    return Predictions(str(p), "recorded", t.name, f.name, items, {"model": model})


def _load_run(p: Path, task: str | None, fmt: str | None) -> Predictions:
    from cocogen.runs import read_run

    run = read_run(p)
    header = run.header or {}
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
        ref_d = r.get("reference")
        reference = _graph_from_dict(t.name, ref_d) if isinstance(ref_d, dict) else None
        query: Graph | None = None
        if isinstance(r.get("input"), dict):
            try:
                query = t.from_input(r["input"])
            except InputError:
                query = None
        if query is None and reference is not None:
            query = t.query_of(reference)
        ok = r.get("status", "ok") == "ok" and isinstance(r.get("completion"), str)
        err = None if ok else str((r.get("error") or {}).get("message", "generation failed"))
        stances: dict[str, str | None] = {}
        if t.name == "explagraphs" and isinstance(query, ExplaGraph):
            stances = {"prompt": query.stance, "gold": None}
        items.append(Item(str(r["id"]), r.get("completion") if ok else None, query, reference, stances, err))
    prompt = header.get("prompt") or {}
    meta = {
        "model": header.get("model"),
        "k": prompt.get("k"),
        "select": prompt.get("select"),
        "seed": prompt.get("seed"),
        "split": header.get("split"),
    }
    return Predictions(str(p), "run", t.name, f.name, items, meta)


def _graph_from_dict(task: str, d: Mapping[str, Any]) -> Graph:
    try:
        if task == "explagraphs":
            return ExplaGraph.from_dict(d)
        if task == "propara":
            return StateTable.from_dict(d)
        return Script.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"malformed {task} reference ({e})") from None


# --------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------


def _load_references(task: str, spec: str) -> dict[str, Any]:
    """Reference graphs by id from a split name, an answers.tsv, or a JSONL file."""
    t = get_task(task)
    p = Path(spec)
    if not p.exists() and spec in t.splits:
        return {ex.id: ex for ex in t.load(spec)}
    if task == "propara" and p.suffix == ".tsv":
        return {str(pid): grid for pid, grid in pp_metrics.read_action_file(p).items()}
    if not p.exists():
        raise InputError(
            f"--references {spec!r} is neither a file nor a split of {task}.", hint=f"Splits: {', '.join(t.splits)}."
        )
    rows = _read_jsonl(p)
    if all("graph" in d and "id" in d and isinstance(d["graph"], dict) for _, d in rows):
        return {str(d["id"]): _graph_from_dict(task, d["graph"]) for _, d in rows}
    f = get_format(t)
    out: dict[str, Any] = {}
    for i, (ln, d) in enumerate(rows):
        it = _recorded_item(task, f, d, p, ln, i)
        out[it.id] = it
    return out


def _apply_references(pred: Predictions, refs: Mapping[str, Any]) -> tuple[list[Item], int]:
    """Pair every reference with its prediction (a missing one becomes a failure item)."""
    t = get_task(pred.task)
    by_id = {it.id: it for it in pred.items}
    items: list[Item] = []
    for rid, ref in refs.items():
        meta: Mapping[str, Any] = {}
        stances: dict[str, str | None] = {}
        if isinstance(ref, Item):
            graph, stances = ref.reference, dict(ref.stances)
        elif hasattr(ref, "graph") and hasattr(ref, "meta"):  # a dataset Example
            graph, meta = ref.graph, ref.meta
        else:
            graph = ref
        it = by_id.get(rid)
        if pred.task == "explagraphs" and isinstance(graph, ExplaGraph):
            gold = meta.get("gold_stance", stances.get("gold"))
            prompt_stance = it.query.stance if it is not None and isinstance(it.query, ExplaGraph) else None
            stances = {"prompt": prompt_stance or meta.get("prompt_stance") or graph.stance, "gold": gold}
            if gold:
                graph = ExplaGraph(graph.belief, graph.argument, gold, graph.triples)
        if it is None:
            query = t.query_of(graph) if not isinstance(graph, pp_metrics.ProcessGrid) else None
            items.append(Item(rid, None, query, graph, stances, error="no prediction for this reference"))
        else:
            items.append(Item(rid, it.completion, it.query, graph, stances or it.stances, it.error))
    unmatched = sum(1 for i in pred.items if i.id not in refs)
    return items, unmatched


# --------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------


def _parse(fmt: Format, item: Item) -> ParseResult:
    if item.completion is None:
        return ParseResult(None, (Problem(ProblemKind.EMPTY, item.error or "no completion"),))
    return fmt.parse(item.completion, item.query)


def evaluate_items(
    task: str,
    fmt: str | Format,
    items: Sequence[Item],
    *,
    convention: str = "prompt",
    signature: str = "",
    ged_timeout: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Parse and score every item; return the rows and the aggregate.

    Parameters
    ----------
    task : str
        Task name.
    fmt : str or Format
        The format whose parser reads the completions.
    items : sequence of Item
        Examples to score; items without a reference are an error.
    convention : {"prompt", "gold"}
        ExplaGraphs only: which stance is the reference (see :mod:`cocogen.metrics.explagraphs`).
    ged_timeout : float, optional
        Seconds allowed per exact GED computation (default: the task module's).
    """
    if convention not in CONVENTIONS:
        raise ConfigError(f"Unknown stance convention {convention!r}.", hint="Use 'prompt' or 'gold'.")
    t = get_task(task)
    f = get_format(t, fmt) if isinstance(fmt, str) else fmt
    t0 = time.perf_counter()
    rows: list[ExampleScore] = []
    extras: list[Any] = []
    for i, item in enumerate(items):
        if item.reference is None:
            raise DataError(f"example {item.id} has no reference", hint="Pass --references.")
        res = _parse(f, item)
        problems = [p.to_dict() for p in res.problems]
        g = res.graph
        if t.name == "explagraphs":
            kw = {"ged_timeout": ged_timeout} if ged_timeout else {}
            row, extra = eg_metrics.score_example(
                item.id,
                g if isinstance(g, ExplaGraph) else None,
                item.reference,
                stances=item.stances or {"prompt": item.reference.stance, "gold": None},
                convention=convention,  # type: ignore[arg-type]
                problems=problems,
                **kw,
            )
        elif t.name == "propara":
            row, extra = pp_metrics.score_example(
                item.id, g if isinstance(g, StateTable) else None, item.reference, problems=problems
            )
        elif t.name == "proscript-script":
            kw = {"ged_timeout": ged_timeout} if ged_timeout else {}
            row, extra = ps_metrics.score_generation(
                item.id, g if isinstance(g, Script) else None, item.reference, problems=problems, **kw
            )
        elif t.name == "proscript-edge":
            row, extra = ps_metrics.score_edges(
                item.id, g if isinstance(g, Script) else None, item.reference, problems=problems
            )
        else:  # pragma: no cover - every registered task is handled above
            raise ConfigError(f"No metrics for task {t.name!r}.")
        if item.error:
            row.info["error"] = item.error
        rows.append(row)
        extras.append(extra)
        if progress:
            progress(i + 1, len(items))
    if not rows:
        raise DataError("nothing to evaluate: no examples")
    if t.name == "explagraphs":
        score = eg_metrics.aggregate(rows, extras, convention=convention, signature=signature)  # type: ignore[arg-type]
    elif t.name == "propara":
        score = pp_metrics.aggregate(rows, extras, signature=signature)
    elif t.name == "proscript-script":
        score = ps_metrics.aggregate_generation(rows, extras, signature=signature)
    else:
        score = ps_metrics.aggregate_edges(rows, extras, signature=signature)
    return Evaluation(score, rows, time.perf_counter() - t0)


def evaluate_file(
    predictions: str | Path,
    *,
    task: str | None = None,
    references: str | None = None,
    convention: str = "prompt",
    fmt: str | None = None,
    ged_timeout: float | None = None,
) -> Evaluation:
    """Evaluate one predictions file (see the module docstring for formats and references)."""
    pred = load_predictions(predictions, task, fmt)
    items = pred.items
    unmatched = 0
    if references:
        items, unmatched = _apply_references(pred, _load_references(pred.task, references))
    elif pred.task == "explagraphs" and pred.kind == "run":
        items = _gold_stances_from_split(pred)
    sig = make_signature(
        task=pred.task,
        fmt=pred.format,
        model=pred.meta.get("model"),
        k=pred.meta.get("k"),
        select=pred.meta.get("select"),
        seed=pred.meta.get("seed"),
        split=pred.meta.get("split"),
        conv=convention if pred.task == "explagraphs" else None,
    )
    ev = evaluate_items(pred.task, pred.format, items, convention=convention, signature=sig, ged_timeout=ged_timeout)
    ev.source = str(predictions)
    if unmatched:
        ev.score.counts["unmatched_predictions"] = unmatched
        ev.score.notes.append(f"{unmatched} predictions have no reference and were not scored")
    missing = sum(1 for r in ev.rows if r.info.get("error") == "no prediction for this reference")
    if missing:
        ev.score.counts["missing_predictions"] = missing
    return ev


def _gold_stances_from_split(pred: Predictions) -> list[Item]:
    """Our ExplaGraphs runs record the prompt stance; the gold label comes from the split."""
    split = pred.meta.get("split")
    if not split:
        return pred.items
    try:
        rows = {ex.id: ex for ex in get_task("explagraphs").load(split)}
    except (DataError, ConfigError):
        return pred.items  # no data here: the gold convention is reported as unavailable
    out = []
    for it in pred.items:
        ex = rows.get(it.id)
        gold = ex.meta.get("gold_stance") if ex is not None else None
        ref = it.reference
        if gold and isinstance(ref, ExplaGraph):
            ref = ExplaGraph(ref.belief, ref.argument, gold, ref.triples)
        out.append(Item(it.id, it.completion, it.query, ref, {**it.stances, "gold": gold}, it.error))
    return out


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def _parsed_cell(score: Score) -> str:
    rate = score.parse_rate
    pct = "n/a" if math.isnan(rate) else f"{rate * 100:.1f}%"
    return f"{score.n - score.n_failed}/{score.n} ({pct})"


def _table_rows(score: Score) -> list[tuple[str, str, str]]:
    """``(key, label, value)`` of the metrics shown for ``score``'s task, parse rate first."""
    keys = DISPLAY.get(score.task, tuple(score.values))
    out = [("parse_rate", "parsed", _parsed_cell(score))]
    for k in keys:
        if k not in score.values:
            continue
        spec = METRICS.get(k)
        label = k if spec is None else spec.label + (" ↑" if spec.higher_is_better else " ↓")
        out.append((k, label, format_value(k, score.values[k])))
    return out


def _print_eval(ev: Evaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    s = ev.score
    other = s.extra.get("other_convention") if s.task == "explagraphs" else None
    table = Table(title=f"{s.task}: {s.n} examples", caption=s.signature)
    table.add_column("metric")
    table.add_column(f"{s.extra.get('convention', '')} stance" if other else "value", justify="right")
    if other:
        table.add_column(f"{other['convention']} stance", justify="right")
    for key, label, value in _table_rows(s):
        cells = [label, value]
        if other:
            cells.append(format_value(key, other[key]) if key in other else "")
        table.add_row(*cells)
    con = Console()
    con.print(table)
    for k, why in s.unavailable.items():
        con.print(f"[dim]{METRICS[k].label if k in METRICS else k}: not available — {why}[/dim]")
    for n in s.notes:
        con.print(f"[dim]note: {n}[/dim]")
    counts = ", ".join(f"{k}={v}" for k, v in s.counts.items() if v)
    if counts:
        con.print(f"[dim]counts: {counts}[/dim]")
    con.print(f"[dim]{ev.seconds:.2f} s[/dim]")


def _write_rows(path: str, rows: Sequence[ExampleScore]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    except OSError as e:
        raise InputError(f"Cannot write {path}: {e.strerror}.") from None


def cmd_eval(args: argparse.Namespace) -> int:
    """``cocogen eval``: per-example rows to ``--out``, averages as a table or ``--json``."""
    ev = evaluate_file(
        args.predictions,
        task=getattr(args, "task", None),
        references=getattr(args, "references", None),
        convention=getattr(args, "convention", None) or "prompt",
        fmt=getattr(args, "format", None),
        ged_timeout=getattr(args, "ged_timeout", None),
    )
    out = getattr(args, "out", None)
    if out:
        _write_rows(out, ev.rows)
    if getattr(args, "json", False):
        json.dump(ev.to_dict(), sys.stdout, ensure_ascii=False, indent=2, default=_json_default)
        sys.stdout.write("\n")
    else:
        _print_eval(ev)
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


def _run_label(ev: Evaluation, i: int) -> str:
    from cocogen.metrics.base import parse_signature

    sig = parse_signature(ev.score.signature)
    parts = [sig.get("fmt", ""), sig.get("model", "")]
    return f"{i}: " + " ".join(p for p in parts if p and p != "-") if any(parts) else f"{i}: {Path(ev.source).name}"


def cmd_report(args: argparse.Namespace) -> int:
    """``cocogen report RUN...``: evaluate several runs and compare them side by side."""
    convention = getattr(args, "convention", None) or "prompt"
    evals = [evaluate_file(r, task=getattr(args, "task", None), convention=convention) for r in args.runs]
    if getattr(args, "json", False):
        json.dump([e.to_dict() for e in evals], sys.stdout, ensure_ascii=False, indent=2, default=_json_default)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    con = Console()
    by_task: dict[str, list[tuple[int, Evaluation]]] = {}
    for i, e in enumerate(evals, start=1):
        by_task.setdefault(e.score.task, []).append((i, e))
    for task, group in by_task.items():
        table = Table(title=f"{task}: {len(group)} run(s)")
        table.add_column("metric")
        for i, e in group:
            table.add_column(_run_label(e, i), justify="right")
        first = _table_rows(group[0][1].score)
        cols = [{k: v for k, _, v in _table_rows(e.score)} for _, e in group]
        for key, label, _ in first:
            table.add_row(label, *[c.get(key, "") for c in cols])
        con.print(table)
        for i, e in group:
            con.print(f"[dim]{i}: {e.source}  ({e.score.signature})[/dim]")
    return 0
