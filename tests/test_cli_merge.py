"""``cocogen generate/run --samples N --merge`` against the real fake server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cocogen.cli import main
from cocogen.runs import read_run
from cocogen.tasks import get_task
from cocogen.types import Script
from tests.fakes.openai_server import FakeOpenAIServer

EDGE = get_task("proscript-edge")
CODE = EDGE.formats["code"]
STEPS = ["decided to make tea", "boil water", "pour water", "make tea"]
QUERY = Script("make tea", 4, tuple(STEPS))


def _answer(*edges: tuple[int, int]) -> str:
    return CODE.render(Script("make tea", 4, tuple(STEPS), edges))[len(CODE.render_query(QUERY)) :]


def test_generate_merges_samples_into_one_graph(api_env: FakeOpenAIServer, capsys: pytest.CaptureFixture) -> None:
    api_env.responder = lambda prompt: _answer((0, 1), (1, 2), (2, 3))
    argv = ["generate", "--task", "proscript-edge", "--backend", "openai", "--model", "m", "--json", "--no-cache",
            "--input", json.dumps({"goal": "make tea", "steps": STEPS}), "--samples", "3", "--merge"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    body = api_env.requests[-1].body
    assert body["n"] == 3 and body["temperature"] == pytest.approx(0.7)
    assert out["merged"] == out["graph"] and len(out["samples"]) == 3
    assert set(out["agreement"]) == {f"step{a} -> step{b}" for a, b in out["graph"]["edges"]}
    assert all(v == 1.0 for v in out["agreement"].values())  # the fake server answers the same each time
    # A server without logprobs: every element is there, and not available.
    assert out["confidence"] and all(v is None for v in out["confidence"].values())


def test_run_merges_and_its_record_answers_with_the_merged_graph(
    api_env: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from cocogen.backends import GenerationParams, make_backend
    from cocogen.runs import run_batch

    rows = EDGE.load("dev")[:1]
    out = tmp_path / "merged.jsonl"
    backend = make_backend("openai", model="m")
    q = EDGE.query_of(rows[0].graph)
    n = len(q.steps)
    chain = CODE.render(Script(q.goal, n, q.steps, tuple((i, i + 1) for i in range(n - 1))))[len(CODE.render_query(q)) :]
    api_env.responder = lambda prompt: chain
    params = GenerationParams(n=3, temperature=0.7)
    run_batch(EDGE, CODE, backend, rows, out, params=params, progress=False, merge=True)
    run = read_run(out)
    assert run.header["merge"] is True
    rec = run.records[0]
    assert rec["merged"] is True and len(rec["samples"]) == 3
    assert CODE.parse(rec["completion"], q).graph == EDGE.graph_type.from_dict(rec["graph"])
    assert rec["agreement"] == {f"step{i} -> step{i + 1}": 1.0 for i in range(n - 1)}
    # The merged completion is what `eval` scores: the chain, perfectly parsed.
    assert main(["eval", "--predictions", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parse_rate"] == 1.0
