"""The libraries behind the app's pages, without Streamlit: drawing, diffs, sessions, comparisons,
background runs and inspection.  Backends are real (the fake server is real HTTP)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cocogen import render
from cocogen.app.compare import compare_formats, default_formats, scores
from cocogen.app.inspection import filter_rows, inspect_file, main_metric, rows_table
from cocogen.app.jobs import BatchJob, run_path
from cocogen.app.state import (
    BackendChoice,
    BackendRegistry,
    GenerationSettings,
    example_text,
    move,
    parse_example,
    truncated_parse,
)
from cocogen.diff import diff_graphs, diff_tables, view_of
from cocogen.errors import ConfigError, InputError
from cocogen.prompts import PromptSpec
from cocogen.tasks import get_task
from cocogen.types import ExplaGraph, Generation, ProblemKind, Script, StateTable
from tests.app.support import HOSTILE, SECRET, synth
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.waiting import DEADLINE_S, wait_until


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"

# --- render: everything drawn is escaped --------------------------------------------------------------

EVIL = HOSTILE + '</script><script>alert(2)</script> "q" \\ end\\'


def test_dot_escapes_labels_and_never_uses_html_labels() -> None:
    s = Script(EVIL, 2, (EVIL, "b"), ((0, 1),))
    src = render.to_dot(s).source
    assert "label=<" not in src  # HTML-like labels start with '<' unquoted
    for line in src.splitlines():
        if "label=" in line:
            # every label is one quoted DOT string: quotes inside are escaped
            value = line.split("label=", 1)[1]
            assert value.startswith('"')
            assert re.fullmatch(r'"(?:[^"\\]|\\.)*".*', value)


def test_svg_has_the_text_and_no_markup() -> None:
    if not render.dot_available():
        pytest.skip("Graphviz dot is not installed")
    svg = render.to_svg(ExplaGraph("b", "a", "support", ((EVIL, "causes", "x"),)))
    assert svg is not None and svg.lstrip().startswith(("<?xml", "<!--", "<svg"))
    assert "<img" not in svg and "<script>" not in svg
    assert "&lt;img src=x" in svg


def test_pyvis_page_is_offline_and_escaped() -> None:
    page = render.to_pyvis_html(Script("g", 2, (EVIL, "b"), ((0, 1),)))
    assert "cdn.jsdelivr" not in page and "cdnjs" not in page  # no network needed
    assert "vis.Network" in page
    data = page[page.index("nodes = new vis.DataSet(") :].split("\n", 1)[0]
    assert "<" not in data and ">" not in data, "node data cannot close the <script> element"
    assert "\\u003cimg src=x" in data, "the tooltip is the label as text (vis.js shows it as text)"


def test_long_and_odd_labels_are_clipped_and_cleaned() -> None:
    label = render.dot_label("x\x00y\n" + "word " * 200)
    assert "\x00" not in label and len(label) < render.MAX_LABEL + 40


def test_propara_frames() -> None:
    gold = StateTable(("Rain falls.", "Water flows."), ("water",), (("cloud", "ground", "river"),))
    pred = StateTable(gold.sentences, gold.participants, (("cloud", "ground", "sea"),))
    frame = render.state_frame(gold)
    assert list(frame["step"]) == ["Init", "Rain falls.", "Water flows."]
    values, status = render.diff_frame(diff_tables(pred, gold))
    assert list(values["water"]) == ["cloud", "ground", "sea ≠ river"]
    assert list(status["water"]) == ["matched", "matched", "extra"]
    html = render.style_diff_frame(diff_tables(pred, gold)).to_html()
    assert render.COLOURS["extra"]["fill"] in html


# --- diff -----------------------------------------------------------------------------------------------


def test_edge_prediction_diff_is_by_step() -> None:
    gold = Script("g", 3, ("a", "b", "c"), ((0, 1), (1, 2)))
    view, s = diff_graphs(Script("g", 3, ("a", "b", "c"), ((0, 1), (2, 1))), gold)
    assert s.right == ("step0: a → step1: b",)
    assert s.missed == ("step1: b → step2: c",) and s.invented == ("step2: c → step1: b",)
    assert view.counts()["edges_matched"] == 1 and all(n.status == "matched" for n in view.nodes)


def test_generation_diff_aligns_reworded_steps() -> None:
    gold = Script("bake", 3, ("buy flour", "mix the dough", "bake it"), ((0, 1), (1, 2)))
    pred = Script("bake", 3, ("buy some flour", "mix the dough", "eat"), ((0, 1), (1, 2)))
    view, s = diff_graphs(pred, gold)
    statuses = {n.label: n.status for n in view.nodes}
    assert statuses == {"buy some flour": "matched", "mix the dough": "matched", "eat": "extra", "bake it": "missing"}
    assert len(s.right) == 1 and len(s.missed) == 1 and len(s.invented) == 1


def test_explagraph_diff_relation_matters_and_nothing_parsed_is_all_missing() -> None:
    gold = ExplaGraph("b", "a", "support", (("x", "causes", "y"), ("y", "is a", "z")))
    _, s = diff_graphs(ExplaGraph("b", "a", "support", (("X", "causes", "y"), ("y", "part of", "z"))), gold)
    assert s.right == ("(X; causes; y)",) and s.missed == ("(y; is a; z)",) and s.invented == ("(y; part of; z)",)
    view, s = diff_graphs(None, gold)
    assert not s.right and len(s.missed) == 2 and {n.status for n in view.nodes} == {"missing"}


def test_edges_to_unknown_steps_are_drawn_not_dropped() -> None:
    v = view_of(Script("g", 2, ("a", "b"), ((0, 5),)))
    assert [n.label for n in v.nodes][-1] == "(no such step)" and v.edges[0].dst == "s5"


# --- session ---------------------------------------------------------------------------------------------


def test_backend_choice_keeps_the_key_to_itself() -> None:
    a = BackendChoice("openai", model="m", base_url="http://127.0.0.1:9/v1", api_key=SECRET)
    b = BackendChoice("openai", model="m", base_url="http://127.0.0.1:9/v1", api_key=SECRET + "x")
    for text in (repr(a), str(a.to_dict()), a.describe(), str(a.cache_id())):
        assert SECRET not in text
    assert a.cache_id() != b.cache_id(), "another key is another backend"
    assert SECRET not in a.build().signature()


def test_local_choice_builds_lazily_and_honours_constraints() -> None:
    free = BackendChoice("local", constrained=False).build()
    assert free.signature().endswith(":free") and BackendChoice("local").build().signature() != free.signature()


def test_registry_reports_failures_and_builds_in_background() -> None:
    reg = BackendRegistry()
    bad = BackendChoice("openai", base_url="http://127.0.0.1:9/v1")  # no model
    with pytest.raises(ConfigError, match="No model was chosen"):
        reg.get(bad)
    assert reg.status(bad)[0] == "failed"
    good = BackendChoice("replay")
    assert reg.status(good, "explagraphs")[0] == "idle"
    warmed: list[Any] = []
    reg.start(good, "explagraphs", warm=lambda b: (time.sleep(0.2), warmed.append(b)))
    backend = reg.get(good, "explagraphs", timeout=DEADLINE_S)
    assert reg.get(good, "explagraphs") is backend, "built once"
    wait_until(lambda: reg.status(good, "explagraphs")[0] == "ready", "the warm-up to finish")
    assert warmed == [backend]


def test_editing_an_example_round_trips_through_the_parser() -> None:
    task = get_task("proscript-script")
    ex = task.fewshot()[0]
    for fmt in task.formats:
        text = example_text(task, fmt, ex)
        assert parse_example(task, fmt, text, ex.id).graph == ex.graph
    broken = example_text(task, "code", ex).replace("return [", "return ", 1)
    with pytest.raises(InputError, match="does not parse"):
        parse_example(task, "code", broken, ex.id)
    with pytest.raises(InputError, match="empty"):
        parse_example(task, "code", "  ", ex.id)


def test_move_and_settings() -> None:
    assert move([1, 2, 3], 2, -2) == [3, 1, 2] and move([1], 5, 1) == [1]
    assert GenerationSettings(max_tokens=64, seed=3).params().to_dict()["max_tokens"] == 64


def test_truncated_parse_keeps_what_is_complete() -> None:
    task = get_task("proscript-script")
    fmt = task.formats["code"]
    full = synth(task.from_input({"goal": "wash the car", "num_steps": 6}))
    query = task.query_of(full)
    completion = fmt.render(full)[len(fmt.render_query(query)) :]
    cut, res = truncated_parse(fmt, completion, query, 0.6)
    assert completion.startswith(cut) and res.graph is not None
    assert 0 < len(res.graph.steps) < 6
    assert any(p.kind == ProblemKind.TRUNCATED for p in res.problems)


# --- compare ---------------------------------------------------------------------------------------------


def test_compare_formats_scores_against_the_reference(server: FakeOpenAIServer, data_dir: Path) -> None:
    task = get_task("explagraphs")
    row = task.load("cocogen-dev")[0]
    backend = BackendChoice("openai", model="m", base_url=server.base_url).build()
    out = compare_formats(task, default_formats(task), row.graph, backend, reference=row.graph)
    assert [o.format for o in out] == ["code", "text"]
    for o in out:
        assert o.error is None and o.result.parse.clean
        assert o.summary.missed == () and len(o.summary.right) == len(row.graph.triples)
        assert o.scores["edge_f1"] == pytest.approx(1.0) and o.scores["stca"] is not None
    assert json.dumps([o.to_dict() for o in out])


def test_compare_reports_errors_per_format(server: FakeOpenAIServer) -> None:
    backend = BackendChoice("openai", model="m", base_url=server.base_url).build()
    out = compare_formats("proscript-script", ["code", "nope"], {"goal": "x", "num_steps": 3}, backend, spec=PromptSpec(pool=()))
    assert out[0].error is None and out[1].error is not None and "no format 'nope'" in out[1].error


def test_scores_of_an_unparsable_answer_are_the_worst(server: FakeOpenAIServer, data_dir: Path) -> None:
    task = get_task("proscript-edge")
    row = task.load("dev")[3]  # the server has no answer for this one: an empty completion
    backend = BackendChoice("openai", model="m", base_url=server.base_url).build()
    (o,) = compare_formats(task, ["code"], row.graph, backend, reference=row.graph)
    assert not o.result.ok and o.scores["edge_f1"] == 0.0
    assert scores(o.result, row.graph) == o.scores


# --- background runs --------------------------------------------------------------------------------------


class _Answering:
    """A backend that answers ``self.graph = "(a; causes; b)"``; with ``hold_after=n`` the answers
    after the n-th wait until :meth:`release` (to cancel a run known to be part-way)."""

    name, mode, model = "answering", "completion", "answering"

    def __init__(self, hold_after: int | None = None) -> None:
        self.hold_after = hold_after
        self.calls = 0
        self.gate = threading.Event()
        self._lock = threading.Lock()

    def signature(self) -> str:
        return "answering"

    def release(self) -> None:
        self.gate.set()

    def complete(self, prompt: str, params: Any = None, context: Any = None) -> list[Generation]:
        with self._lock:
            self.calls += 1
            held = self.hold_after is not None and self.calls > self.hold_after
        if held:
            self.gate.wait()
        return [Generation('        self.graph = "(a; causes; b)"\n', "stop", 1, 5, 0.0)]


def test_batch_job_cancel_and_resume(tmp_path: Path, data_dir: Path) -> None:
    task = get_task("explagraphs")
    rows = task.load("cocogen-dev")[:12]
    out = run_path("explagraphs", "code", "cocogen-dev", "answering", {"k": 2}, tmp_path)
    kw: dict[str, Any] = {"spec": PromptSpec(k=2, token_budget=None), "concurrency": 2}
    backend = _Answering(hold_after=3)
    job = BatchJob("explagraphs", "code", backend, rows, out, **kw).start()  # type: ignore[arg-type]
    wait_until(lambda: job.progress is not None and job.progress.done >= 3, "3 examples done")
    assert job.running
    job.cancel()
    backend.release()  # the requests in flight finish and are recorded
    assert job.wait(DEADLINE_S) and job.state == "cancelled"
    assert 3 <= job.progress.done <= 3 + 2 and "examples" in job.describe()
    again = BatchJob("explagraphs", "code", _Answering(), rows, out, **kw).start()  # type: ignore[arg-type]
    assert again.wait(DEADLINE_S) and again.state == "done" and again.fraction == 1.0
    assert again.summary.skipped == job.progress.done
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()[1:]]
    assert sorted(ids) == sorted(r.id for r in rows)


def test_batch_job_failure_is_reported(tmp_path: Path, data_dir: Path) -> None:
    task = get_task("explagraphs")
    backend = BackendChoice("openai", model="m", base_url=_closed_port_url()).build()
    job = BatchJob(
        "explagraphs", "code", backend, task.load("cocogen-dev")[:2], tmp_path / "r.jsonl",
        spec=PromptSpec(k=0, token_budget=None),
    ).start()  # fmt: skip
    assert job.wait(DEADLINE_S)
    # Unreachable is not fatal: every example is tried, recorded as failed, and the job is done.
    assert job.state == "done" and job.error is None
    assert (job.summary.ok, job.summary.failed) == (0, 2)
    assert "2 failed" in job.describe()


# --- inspection ---------------------------------------------------------------------------------------------


def test_inspect_a_run_file(tmp_path: Path, data_dir: Path) -> None:
    task = get_task("explagraphs")
    out = tmp_path / "run.jsonl"
    job = BatchJob("explagraphs", "code", _Answering(), task.load("cocogen-dev")[:5], out,  # type: ignore[arg-type]
                   spec=PromptSpec(k=2, token_budget=None)).start()  # fmt: skip
    assert job.wait(DEADLINE_S)
    run = inspect_file(out)
    assert run.kind == "run" and run.task == "explagraphs" and len(run.rows) == 5
    r = run.rows[0]
    assert r.pred == ExplaGraph(r.query.belief, r.query.argument, r.query.stance, (("a", "causes", "b"),))
    assert r.gold is not None and r.prompt and r.prompt.endswith(r.given)
    assert "edge_f1" in run.metrics and main_metric("explagraphs") == "edge_f1"
    table = rows_table(run)
    assert [t["id"] for t in table] == [x.id for x in run.rows] and "edge_f1" in table[0]
    assert filter_rows(run.rows, text=r.id.upper()) == [0]
    assert filter_rows(run.rows, metric="edge_f1", low=0.5) == []


def test_inspect_recorded_propara_outputs(data_dir: Path) -> None:
    run = inspect_file(data_dir / "cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl")
    assert run.kind == "recorded" and len(run.rows) == 54
    assert run.score.values["f1"] == pytest.approx(0.6388, abs=1e-3)
    assert run.metrics[0] == "process_f1" and all(isinstance(r.gold, StateTable) for r in run.rows)
    assert "truncated" in run.problem_kinds
    truncated = filter_rows(run.rows, kinds=["truncated"])
    assert truncated and all("truncated" in run.rows[i].problem_kinds for i in truncated)
