"""Confidence and sample-and-merge on the pages (AppTest, the real fake server on 127.0.0.1, real run files)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cocogen.runs import run_batch
from cocogen.tasks import get_task
from cocogen.types import Generation, Script
from tests.app.support import finished, start
from tests.fakes.openai_server import FakeOpenAIServer


def _chart_sources(at: Any) -> str:
    return "\n".join(str(e.proto) for e in at.get("graphviz_chart"))


def test_playground_merges_samples_and_shows_agreement(server: FakeOpenAIServer) -> None:
    at = start("playground", server=server, task="proscript-edge")
    at.toggle(key="pg_merge").set_value(True).run()
    at.number_input(key="pg_samples").set_value(3).run()
    before = len(server.requests)
    finished(at.button(key="pg_generate").click().run())
    assert not at.exception and not at.error, [e.value for e in at.error]
    body = server.requests[before].body
    assert body["n"] == 3 and body["temperature"] > 0, "merged samples are sampled, not greedy"
    expanders = [e.label for e in at.expander]
    assert "The 3 samples behind the merge" in expanders
    assert any(label.startswith("How sure — agreement per element") for label in expanders)
    # The fake server answers the same three times: every edge is in every sample.
    assert "agreement 1.00" in _chart_sources(at)
    assert {m.label: m.value for m in at.metric}["Parse"] == "clean"


def test_playground_says_when_the_server_gives_no_probabilities(server: FakeOpenAIServer) -> None:
    server.reject_field("logprobs")  # a server without log-probabilities (the backend then stops asking)
    at = start("playground", server=server, task="proscript-edge")
    finished(at.button(key="pg_generate").click().run())
    assert not at.exception
    assert any("Confidence: not available" in c.value for c in at.caption)
    assert "confidence 0" not in _chart_sources(at), "no made-up number"


class _SureBackend:
    """Answers each query with its reference's edges and per-line token log-probabilities."""

    name, mode, model = "sure", "completion", "sure"

    def __init__(self, fmt: Any, rows: list[Any]) -> None:
        self.fmt, self.gold = fmt, {r.graph.goal: r.graph for r in rows}

    def signature(self) -> str:
        return "sure"

    def complete(self, prompt: str, params: Any = None, context: Any = None) -> list[Generation]:
        q = context.query
        g = self.gold[q.goal]
        wrong = Script(g.goal, g.num_steps, g.steps, g.edges[:-1] + ((g.edges[-1][1], g.edges[-1][0]),))
        text = self.fmt.render(wrong)[len(self.fmt.render_query(q)) :]
        lines = text.splitlines(keepends=True)
        probs = [0.2 if f"step{wrong.edges[-1][0]} -> step{wrong.edges[-1][1]}" in ln else 0.9 for ln in lines]
        return [
            Generation(
                text, "stop", token_logprobs=tuple((ln, math.log(p)) for ln, p in zip(lines, probs, strict=True))
            )
        ]


def _sure_run(path: Path) -> None:
    task = get_task("proscript-edge")
    rows = task.load("dev")[:3]
    run_batch(task, "code", _SureBackend(task.formats["code"], rows), rows, path, progress=False)  # type: ignore[arg-type]


def test_inspect_orders_least_sure_first_and_draws_confidence(tmp_path: Path) -> None:
    path = tmp_path / "sure.jsonl"
    _sure_run(path)
    at = start("inspect", backend="replay", insp_file="__other__", insp_file_path=str(path))
    assert not at.exception and not at.error, [e.value for e in at.error]
    least = [c for c in at.checkbox if c.label == "Least sure first"]
    assert least, "a run with confidence can be ordered by it"
    table = at.dataframe[0].value
    assert list(table["least sure"]) == [0.2, 0.2, 0.2]
    at.toggle(key="insp_sure").set_value(True).run()
    assert not at.exception
    source = _chart_sources(at)
    assert "confidence 0.20" in source and "confidence 0.90" in source


def test_compare_merges_each_format(server: FakeOpenAIServer) -> None:
    at = start("compare", server=server, task="proscript-edge")
    at.toggle(key="cmp_merge").set_value(True).run()
    before = len(server.requests)
    finished(at.button(key="cmp_go").click().run())
    assert not at.exception and not at.error, [e.value for e in at.error]
    asked = server.requests[before:]
    assert asked and all(r.body["n"] == 5 for r in asked)
    assert sum(e.label == "The 5 samples behind the merge" for e in at.expander) == len(asked)
