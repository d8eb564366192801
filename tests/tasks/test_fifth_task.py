"""A fifth task is one module plus one registry line: a toy task goes through everything.

The task below lives only in this file.  Registered, it passes the contract suite and is
served by the CLI, prompts, generation, batch runs, evaluation, replay and diffs with no
edit anywhere in the library.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import pytest

from cocogen.backends import GenerationParams, RequestContext, make_backend
from cocogen.cli import main
from cocogen.diff import DiffSummary, Edge, GraphView, Node, compare
from cocogen.errors import DataError
from cocogen.evaluate import evaluate_file
from cocogen.jsonl import read_jsonl
from cocogen.metrics.base import METRICS, ExampleScore, MetricOptions, MetricSpec, Score, mean, prf
from cocogen.pipeline import generate
from cocogen.prompts import PromptSpec
from cocogen.runs import run_batch
from cocogen.tasks import REGISTRY
from cocogen.tasks.base import CODE_SEPARATOR, ELEMENT_MARKER, InputField, TaskBase, read_fewshot, validate_input
from cocogen.types import Example, Generation, ParseResult, Problem, ProblemKind
from tests.tasks import test_contract as contract


@dataclass(frozen=True)
class ItemList:
    """The toy graph: ``n`` items of a topic, in order."""

    topic: str
    n: int
    items: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "n": self.n, "items": list(self.items)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemList:
        return cls(str(d["topic"]), int(d["n"]), tuple(str(x) for x in d.get("items") or ()))


class ListCode:
    """``# topic (n items)`` then a Python list literal, one string per line."""

    name = "code"
    kind: Literal["code", "text"] = "code"
    description = "a Python list"
    separator = CODE_SEPARATOR

    def render_query(self, graph: Any) -> str:
        return f"# {graph.topic} ({graph.n} items)\nitems = [\n"

    def render(self, graph: Any) -> str:
        return self.render_query(graph) + "".join(f"    {json.dumps(x)},\n" for x in graph.items) + "]\n"

    def stop(self) -> list[str]:
        return [self.separator]

    def parse(self, text: str, query: Any = None) -> ParseResult:
        lines = text.split("\n")
        if query is None:
            head = lines[0][2:] if lines and lines[0].startswith("# ") else ""
            topic, _, rest = head.rpartition(" (")
            if not topic or not rest.endswith(" items)") or not rest[: -len(" items)")].isdigit():
                return ParseResult(None, (Problem(ProblemKind.SYNTAX, "no '# topic (n items)' line", 1),))
            query = ItemList(topic, int(rest[: -len(" items)")]))
            lines = lines[2:]
        items: list[str] = []
        problems: list[Problem] = []
        closed = False
        for no, line in enumerate(lines, 1):
            body = line.strip()
            if body == "]":
                closed = True
                break
            if not body:
                continue
            try:  # a literal, never executed
                value = ast.literal_eval(body[:-1]) if body.endswith(",") else None
            except (ValueError, SyntaxError):
                value = None
            if isinstance(value, str):
                items.append(value)
            else:
                problems.append(Problem(ProblemKind.TRUNCATED, "an item is cut off", no))
        if not closed and not problems:
            problems.append(Problem(ProblemKind.TRUNCATED, "the list is not closed", None))
        return ParseResult(ItemList(query.topic, query.n, tuple(items)), tuple(problems))


class ItemF1:
    display: ClassVar[tuple[str, ...]] = ("item_f1",)
    main: ClassVar[str] = "item_f1"

    def __init__(self, task: str, options: MetricOptions | None = None) -> None:
        self.task = task

    def score(
        self,
        example_id: str,
        prediction: Any,
        reference: Any,
        *,
        labels: Mapping[str, Any],
        problems: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[ExampleScore, None]:
        pred = set(prediction.items) if isinstance(prediction, ItemList) else set()
        gold = set(reference.items)
        f1 = prf(len(pred & gold), len(pred), len(gold)).f1
        return ExampleScore(example_id, prediction is not None, {"item_f1": f1}, {}, list(problems)), None

    def aggregate(self, rows: Sequence[ExampleScore], stats: Sequence[Any], *, signature: str = "") -> Score:
        return Score(
            self.task,
            {"item_f1": mean(float(r.values["item_f1"] or 0) for r in rows)},
            len(rows),
            sum(1 for r in rows if not r.parsed),
            signature=signature,
        )

    def signature_fields(self) -> dict[str, object]:
        return {}


class ListTask(TaskBase):
    name: ClassVar[str] = "toy-lists"
    title: ClassVar[str] = "Toy lists"
    description: ClassVar[str] = "Name n things of a topic."
    input_fields: ClassVar[tuple[InputField, ...]] = (
        InputField("topic", "str", "What to list.", max_chars=80, one_line=True),
        InputField("n", "int", "How many.", label="number of items", low=1, high=9),
    )
    splits: ClassVar[tuple[str, ...]] = ("dev",)
    graph_type: ClassVar[type] = ItemList
    sample_input: ClassVar[Mapping[str, Any]] = MappingProxyType({"topic": "rivers of Europe", "n": 3})

    def __init__(self, root: Path) -> None:
        self.root = root
        self._formats = MappingProxyType({"code": ListCode()})

    @property
    def formats(self) -> Mapping[str, Any]:
        return self._formats

    def from_input(self, fields: Mapping[str, Any]) -> ItemList:
        v = validate_input(fields, self.input_fields, self.name)
        return ItemList(v["topic"], v["n"])

    def to_input(self, graph: Any) -> dict[str, Any]:
        return {"topic": graph.topic, "n": graph.n}

    def element_keys(self, graph: Any) -> list[str]:
        return [f"item{i}" for i in range(len(graph.items))]

    def element_variant(self, graph: Any, key: str) -> ItemList | None:
        items = [ELEMENT_MARKER if key == f"item{i}" else x for i, x in enumerate(graph.items)]
        return ItemList(graph.topic, graph.n, tuple(items)) if ELEMENT_MARKER in items else None

    def query_of(self, graph: Any) -> ItemList:
        return ItemList(graph.topic, graph.n)

    def load(self, split: str, data_dir: Path | None = None) -> list[Example]:
        rows = read_jsonl(self.root / f"{split}.jsonl")
        return [Example(f"{split}-{i}", ItemList.from_dict(d)) for i, (_, d) in enumerate(rows)]

    def fewshot(self) -> list[Example]:
        def check(d: Any, path: Path, line: int) -> ItemList:
            if not isinstance(d, dict) or not d.get("items"):
                raise DataError("a few-shot list needs items", path=str(path), line=line)
            return ItemList.from_dict(d)

        return read_fewshot(self, check, self.root / "fewshot.jsonl")

    def metric(self, options: MetricOptions | None = None) -> ItemF1:
        return ItemF1(self.name, options)

    def view(self, graph: Any) -> GraphView:
        nodes = tuple(Node(f"i{k}", x) for k, x in enumerate(graph.items))
        edges = tuple(Edge(f"i{k}", f"i{k + 1}") for k in range(len(nodes) - 1))
        return GraphView(nodes, edges, title=graph.topic)

    def diff(self, prediction: Any, reference: Any) -> tuple[GraphView, DiffSummary]:
        pred = set(prediction.items) if prediction is not None else set()
        right = tuple(x for x in reference.items if x in pred)
        missed = tuple(x for x in reference.items if x not in pred)
        invented = tuple(sorted(pred - set(reference.items)))
        return self.view(reference), DiffSummary(right, missed, invented, "items")


FEWSHOT = [
    ItemList("primary colours", 3, ("red", "yellow", "blue")),
    ItemList("planets near the sun", 2, ("Mercury", "Venus")),
    ItemList("days of the weekend", 2, ("Saturday", "Sunday")),
]
DEV = [
    ItemList("seasons", 4, ("spring", "summer", "autumn", "winter")),
    ItemList("noble gases", 2, ("helium", "neon")),
    ItemList("string instruments", 3, ("violin", "viola", 'the "cello"')),
]


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ListTask]:
    (tmp_path / "fewshot.jsonl").write_text(
        "".join(json.dumps({"id": f"shot{i}", "graph": g.to_dict()}) + "\n" for i, g in enumerate(FEWSHOT))
    )
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(g.to_dict()) + "\n" for g in DEV))
    task = ListTask(tmp_path)
    # The "one registry line" and the "one display label" of the how-to, undone after the test.
    monkeypatch.setitem(REGISTRY, task.name, task)
    monkeypatch.setitem(METRICS, "item_f1", MetricSpec("item F1"))
    yield task


class Oracle:
    """A backend that answers every query with the reference's continuation (a fake for the model only)."""

    name, mode, model = "oracle", "completion", "oracle"

    def __init__(self, rows: Sequence[ItemList]) -> None:
        self.answers = {(g.topic, g.n): g for g in rows}

    def signature(self) -> str:
        return "oracle"

    def complete(
        self, prompt: str, params: GenerationParams | None = None, context: RequestContext | None = None
    ) -> list[Generation]:
        assert context is not None and context.query is not None and context.prompt is not None
        gold = self.answers[(context.query.topic, context.query.n)]
        fmt = ListCode()
        return [Generation(fmt.render(gold)[len(fmt.render_query(gold)) :], "stop")]


def test_the_contract_holds_for_the_new_task(toy: ListTask) -> None:
    fmt = toy.formats["code"]
    contract.test_declares_what_front_ends_read(toy)
    contract.test_fewshot_examples_are_graphs_of_the_task(toy)
    contract.test_sample_input_to_prompt_to_parse(toy, fmt)
    contract.test_every_truncation_parses_and_keeps_what_was_complete(toy, fmt)
    contract._round_trip(toy, toy.load("dev"))
    contract.test_metric_scores_a_perfect_and_a_failed_prediction(toy)
    contract.test_comparing_a_graph_with_itself_finds_no_difference(toy)
    contract.test_elements_are_found_in_every_format(toy)
    contract.test_merging_identical_samples_gives_that_sample(toy)


def test_the_cli_serves_the_new_task(toy: ListTask, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["tasks", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["toy-lists"]["inputs"] == ["topic", "n"] and rows["toy-lists"]["metrics"] == ["item_f1"]
    assert main(["prompt", "--task", "toy-lists", "--input", '{"topic": "rivers", "n": 2}', "--k", "2", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["query"] == "# rivers (2 items)\nitems = [\n" and p["examples"] == ["shot0", "shot1"]
    answer = tmp_path / "answer.txt"
    answer.write_text('    "Rhine",\n    "Danube",\n]\n')
    assert main(["parse", "--task", "toy-lists", "--input", '{"topic": "rivers", "n": 2}', str(answer), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["graph"]["items"] == ["Rhine", "Danube"]
    assert main(["prompt", "--task", "toy-lists", "--input", '{"topic": "rivers", "n": 12}']) == 1
    assert capsys.readouterr().err == "error: The number of items must be from 1 to 9, not 12.\n"


def test_generate_run_evaluate_replay_and_diff_the_new_task(toy: ListTask, tmp_path: Path) -> None:
    rows = toy.load("dev")
    oracle = Oracle(DEV)
    r = generate(toy, None, {"topic": "seasons", "n": 4}, oracle, spec=PromptSpec(k=2))  # type: ignore[arg-type]
    assert r.ok and r.graph == DEV[0] and r.prompt.spec == PromptSpec(k=2)

    out = tmp_path / "run.jsonl"
    summary = run_batch(toy, None, oracle, rows, out, spec=PromptSpec(k=1), split="dev", progress=False)  # type: ignore[arg-type]
    assert summary.complete and summary.ok == 3
    header = json.loads(out.read_text().splitlines()[0])
    assert header["task"] == "toy-lists" and header["prompt"]["selection"] == "fixed"

    ev = evaluate_file(out)
    assert ev.score.task == "toy-lists" and ev.score.values == {"item_f1": 1.0} and ev.score.parse_rate == 1.0

    replay = make_backend("replay", path=str(out))
    again = generate(toy, None, DEV[2], replay, spec=PromptSpec(k=1))
    assert again.graph == DEV[2], "replay matched the recorded example by the task's input fields"

    view, diff = compare(ItemList("seasons", 4, ("spring", "monsoon")), DEV[0])  # type: ignore[misc]
    assert diff.right == ("spring",) and diff.invented == ("monsoon",) and len(diff.missed) == 3


def test_the_new_task_merges_by_the_default_rule(toy: ListTask) -> None:
    """Without merge rules of its own, a task's merge is its most common whole answer."""
    from cocogen.merge import merge_graphs

    a, b = ItemList("fruit", 2, ("apple", "pear")), ItemList("fruit", 2, ("plum", "fig"))
    merged = merge_graphs(toy, toy.query_of(a), [b, a, a, None])
    assert merged.graph == a and merged.n == 3
    assert merged.agreement == {"item0": 2 / 3, "item1": 2 / 3}
