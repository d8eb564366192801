"""The task contract: what every registered task must do, whatever it is.

A new task passes this file with no edit here: every test is parametrized over the
registry.  Per-task behaviour (exact renderings, each parser's problems) is tested in the
task's own test file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from cocogen.errors import DataError, InputError
from cocogen.jsonl import read_jsonl
from cocogen.metrics.base import METRICS, ExampleScore, MetricOptions, Score
from cocogen.prompts import PromptSpec, build_prompt
from cocogen.settings import data_dir
from cocogen.tasks import REGISTRY
from cocogen.tasks.base import Format, Reference, Task, task_for_graph
from cocogen.types import Example, Graph, ParseResult

TASKS = list(REGISTRY.values())
TASK_FORMATS = [(t, f) for t in TASKS for f in t.formats.values()]
ROWS_PER_SPLIT = 100  # in the quick loop; the slow test reads every row


def _ids(value: Any) -> str:
    if isinstance(value, tuple):
        return "-".join(_ids(v) for v in value)
    return getattr(value, "name", str(value))


def _rows(task: Task, split: str) -> list[Example]:
    try:
        return task.load(split)
    except DataError as e:
        if "does not exist" in str(e):
            pytest.skip(f"{task.name}/{split}: the data is not here ({e})")
        raise


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every scalar of a graph's ``to_dict()`` with the path to it: a task-independent view of its items."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield (*path, value)


def output_items(task: Task, graph: Graph | None) -> set[tuple[Any, ...]]:
    """The items a model writes: leaves of the graph that its query does not already have."""
    if graph is None:
        return set()
    given = set(_leaves(task.query_of(graph).to_dict()))
    return {leaf for leaf in _leaves(graph.to_dict()) if leaf not in given}


# --- the protocol ------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS, ids=_ids)
def test_declares_what_front_ends_read(task: Task) -> None:
    assert task.name and task.title and task.description and task.splits
    assert task.formats, "at least one format"
    first = next(iter(task.formats.values()))
    assert first.kind == "code", "the first format is the default, the paper's code format"
    assert {f.name for f in task.formats.values()} == set(task.formats)
    assert isinstance(task.graph_type, type) and hasattr(task.graph_type, "from_dict")
    assert {f.name for f in task.input_fields} == set(task.sample_input)
    metric = task.metric()
    assert metric.display and all(k in METRICS for k in metric.display), "every shown metric has a label"
    assert task.recorded_outputs is None or isinstance(task.recorded_outputs, str)
    assert REGISTRY[task.name] is task


@pytest.mark.parametrize("task", TASKS, ids=_ids)
def test_fewshot_examples_are_graphs_of_the_task(task: Task) -> None:
    shots = task.fewshot()
    assert shots and len({e.id for e in shots}) == len(shots)
    for ex in shots:
        assert isinstance(ex.graph, task.graph_type)
        assert task.graph_type.from_dict(json.loads(json.dumps(ex.graph.to_dict()))) == ex.graph
        assert output_items(task, ex.graph), f"{ex.id} has an output to show"
        q = task.query_of(ex.graph)
        assert task.from_input(task.to_input(q)) == q, f"{ex.id}: our own examples are valid, normalised input"
        assert task_for_graph(ex.graph).graph_type is task.graph_type


# --- sample input → prompt → parse -------------------------------------------------------------


@pytest.mark.parametrize(("task", "fmt"), TASK_FORMATS, ids=_ids)
def test_sample_input_to_prompt_to_parse(task: Task, fmt: Format) -> None:
    query = task.from_input(task.sample_input)
    assert isinstance(query, task.graph_type) and not output_items(task, query)
    assert task.from_input(task.to_input(query)) == query
    shots = task.fewshot()
    assert task.to_input(query) not in [task.to_input(task.query_of(e.graph)) for e in shots]

    prompt = build_prompt(task, fmt, query, PromptSpec(k=2))
    assert prompt.text.endswith(prompt.query_text) and prompt.query_text == fmt.render_query(query)
    assert len(prompt.examples) == 2 and prompt.prefix.count(fmt.separator) == 2
    assert prompt.stop and prompt.stop[0] == fmt.separator

    # The model's answer is a continuation of the query text: the continuation of a shipped
    # example parses back to the example, and an empty or junk answer is a result, never an error.
    ex = shots[0]
    q = task.query_of(ex.graph)
    full, head = fmt.render(ex.graph), fmt.render_query(q)
    assert full.startswith(head)
    assert fmt.parse(full[len(head) :], q).graph == ex.graph
    for junk in ("", "I cannot help with that.", "```\n```", "\x00" * 3):
        res = fmt.parse(junk, query)
        assert isinstance(res, ParseResult) and (not res.ok or res.problems)


# --- truncation --------------------------------------------------------------------------------


def _cuts(text: str, start: int) -> list[int]:
    """Every cut point after ``start`` for short texts; for long ones every line end plus a spread of others."""
    if len(text) - start <= 600:
        return list(range(start, len(text) + 1))
    line_ends = [i + 1 for i, ch in enumerate(text) if ch == "\n" and i + 1 > start]
    step = max(1, (len(text) - start) // 300)
    return sorted({*range(start, len(text) + 1, step), *line_ends, len(text)})


# Parsers that do not meet the truncation contract yet (their hardening is under way on its own branch).
KNOWN_TRUNCATION_GAPS = {
    ("propara", "text"): "a location cut mid-word is kept without a TRUNCATED problem",
}


@pytest.mark.parametrize(("task", "fmt"), TASK_FORMATS, ids=_ids)
def test_every_truncation_parses_and_keeps_what_was_complete(task: Task, fmt: Format) -> None:
    """A completion cut anywhere never raises; cut at a line end it keeps every item finished before.

    The items of a cut parse are a subset of the full graph's, unless the parser says
    something is wrong; and the correct items found never decrease as the cut moves on.
    """
    gap = KNOWN_TRUNCATION_GAPS.get((task.name, fmt.name))
    if gap:
        pytest.xfail(gap)
    for ex in task.fewshot()[:2]:
        q = task.query_of(ex.graph)
        head = fmt.render_query(q)
        answer = fmt.render(ex.graph)[len(head) :]
        full = output_items(task, ex.graph)
        kept_before: set[tuple[Any, ...]] = set()
        for i in _cuts(answer, 0):
            res = fmt.parse(answer[:i], q)  # must not raise
            assert isinstance(res, ParseResult)
            got = output_items(task, res.graph)
            wrong = got - full
            assert not wrong or not res.clean, (ex.id, i, sorted(wrong)[:3])
            if i == len(answer) or answer[i - 1 : i] == "\n":
                right = got & full
                assert kept_before <= right, (ex.id, i, sorted(kept_before - right)[:3])
                kept_before = right
        assert kept_before == full and fmt.parse(answer, q).graph == ex.graph


# --- round trip over the data ------------------------------------------------------------------


def _round_trip(task: Task, rows: list[Example]) -> None:
    for fmt in task.formats.values():
        for ex in rows:
            text = fmt.render(ex.graph)
            q = task.query_of(ex.graph)
            assert fmt.parse(text, q).graph == ex.graph, (fmt.name, ex.id)
            # Without the query the input comes from the text (a format may normalise it).
            assert isinstance(fmt.parse(text).graph, task.graph_type), (fmt.name, ex.id)
            head = fmt.render_query(q)
            assert text.startswith(head), (fmt.name, ex.id)
            assert fmt.parse(text[len(head) :], q).graph == ex.graph, (fmt.name, ex.id)
    # A row's input typed in by a user gives a query that normalising again leaves alone, or a
    # sentence saying why not (ProPara's data lists a few participants twice in different case,
    # which users may not do, and has double spaces that user input loses).
    rejected = 0
    for ex in rows:
        q = task.query_of(ex.graph)
        try:
            once = task.from_input(task.to_input(q))
        except InputError:
            rejected += 1
            continue
        assert task.from_input(task.to_input(once)) == once, ex.id
        assert task.to_input(once).keys() == task.to_input(q).keys(), ex.id
    assert rejected <= len(rows) // 20, f"{rejected} of {len(rows)} rows are not valid inputs"


SPLITS = [(t, s) for t in TASKS for s in t.splits]


@pytest.mark.parametrize(("task", "split"), SPLITS, ids=_ids)
def test_round_trip_over_the_first_rows_of_every_split(task: Task, split: str) -> None:
    _round_trip(task, _rows(task, split)[:ROWS_PER_SPLIT])


@pytest.mark.slow
@pytest.mark.parametrize(("task", "split"), SPLITS, ids=_ids)
def test_round_trip_over_every_row(task: Task, split: str) -> None:
    _round_trip(task, _rows(task, split))


# --- metric, labels, views -----------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS, ids=_ids)
def test_metric_scores_a_perfect_and_a_failed_prediction(task: Task) -> None:
    metric = task.metric(MetricOptions(ged_timeout=5.0))
    ex = task.fewshot()[0]
    labels = task.labels(task.query_of(ex.graph), ex.graph, ex.meta)
    good, good_stats = metric.score("1", ex.graph, ex.graph, labels=labels)
    bad, bad_stats = metric.score("2", None, ex.graph, labels=labels, problems=[{"kind": "empty", "message": "x"}])
    assert isinstance(good, ExampleScore) and good.parsed and not bad.parsed
    assert bad.problems == [{"kind": "empty", "message": "x"}]
    score = metric.aggregate([good, bad], [good_stats, bad_stats], signature="sig")
    assert isinstance(score, Score) and score.task == task.name and score.signature == "sig"
    assert (score.n, score.n_failed, score.parse_rate) == (2, 1, 0.5)
    main = metric.main
    assert main in good.values, "examples can be sorted by the main metric"
    spec = METRICS.get(main)
    best, worst = good.values[main], bad.values[main]
    assert best is not None and worst is not None and not math.isnan(best)
    if spec is None or spec.higher_is_better:
        assert best > worst
    else:
        assert best < worst


@pytest.mark.parametrize("task", TASKS, ids=_ids)
def test_comparing_a_graph_with_itself_finds_no_difference(task: Task) -> None:
    ex = task.fewshot()[0]
    result = task.diff(ex.graph, ex.graph)
    summary = result[1] if isinstance(result, tuple) else result.summary
    assert summary.right and not summary.missed and not summary.invented
    nothing = task.diff(None, ex.graph)
    summary = nothing[1] if isinstance(nothing, tuple) else nothing.summary
    assert not summary.right and summary.missed
    if isinstance(result, tuple):  # a task drawn as a graph has a view of every graph
        view = task.view(ex.graph)
        assert view.nodes and all(n.status is None for n in view.nodes)


@pytest.mark.parametrize("task", [t for t in TASKS if t.recorded_outputs], ids=_ids)
def test_recorded_outputs_are_read_by_their_task(task: Task) -> None:
    path = data_dir() / str(task.recorded_outputs)
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    rows = read_jsonl(path).rows
    for index, (line, record) in enumerate(rows[:20]):
        assert task.recognizes(record)
        assert [t.name for t in REGISTRY.values() if t.recognizes(record)] == [task.name], "one task per record"
        ref = task.read_recorded(record, path=path, line=line, index=index)
        assert isinstance(ref, Reference) and ref.id
        assert isinstance(ref.query, task.graph_type) and not output_items(task, ref.query)
        # The reference may carry labels the prompt did not show (a gold stance), never other inputs.
        assert task.to_input(task.query_of(ref.graph)).keys() == task.to_input(ref.query).keys()
        assert output_items(task, ref.graph), "a reference has an output to score against"


@pytest.mark.parametrize("task", TASKS, ids=_ids)
def test_elements_are_found_in_every_format(task: Task) -> None:
    """Each element key names a variant whose rendering differs, so confidence can find its text."""
    from cocogen.confidence import element_spans

    graph = task.fewshot()[0].graph
    keys = task.element_keys(graph)
    assert len(keys) == len(set(keys))
    assert task.element_variant(graph, "no such element") is None
    for fmt in task.formats.values():
        query = task.query_of(graph)
        completion = fmt.render(graph)[len(fmt.render_query(query)) :]
        spans = element_spans(task, fmt, query, graph, completion)
        assert set(spans) == set(keys)
        for key, where in spans.items():
            assert where is not None and 0 <= where[0] < where[1] <= len(completion), (fmt.name, key)


@pytest.mark.parametrize("task", TASKS, ids=_ids)
def test_merging_identical_samples_gives_that_sample(task: Task) -> None:
    from cocogen.merge import merge_graphs

    graph = task.fewshot()[0].graph
    merged = merge_graphs(task, task.query_of(graph), [graph, graph, graph])
    assert merged.graph == graph
    assert merged.n == 3
    assert set(merged.agreement) == set(task.element_keys(graph))
    assert all(share == 1.0 for share in merged.agreement.values())
    assert all(task.element_matches(graph, graph).values())


@pytest.mark.parametrize("task", TASKS, ids=_ids)
def test_graph_views_name_their_elements_as_the_task_does(task: Task) -> None:
    """Drawing confidence finds each element of a graph among the view's node and edge keys."""
    graph = task.fewshot()[0].graph
    try:
        view = task.view(graph)
    except TypeError:
        pytest.skip("drawn as a table, not a graph")
    keys = {n.key for n in view.nodes} | {e.key for e in view.edges}
    assert set(task.element_keys(graph)) <= keys
