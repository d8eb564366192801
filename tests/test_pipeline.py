"""prompt → backend → parser, end to end against the real fake server and the real tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cocogen.backends import GenerationParams, make_backend
from cocogen.cache import CompletionCache
from cocogen.cli import main
from cocogen.errors import BackendError, InputError
from cocogen.pipeline import generate
from cocogen.prompts import PromptSpec
from cocogen.tasks import get_task
from cocogen.types import Example
from tests.fakes.fixtures import FAKE_KEY, gold_table
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def eg_rows(data_dir: Path) -> list[Example]:
    return get_task("explagraphs").load("dev")[:5]


@pytest.fixture
def gold_server(api_env: FakeOpenAIServer, eg_rows: list[Example]) -> FakeOpenAIServer:
    api_env.responder = _responder(gold_table("explagraphs", None, eg_rows))
    return api_env


def _responder(table: dict[str, str]):  # noqa: ANN202 - a small closure
    from tests.fakes.openai_server import table_responder

    return table_responder(table)


def test_generate_parses_the_models_answer(
    gold_server: FakeOpenAIServer, eg_rows: list[Example], tmp_path: Path
) -> None:
    task = get_task("explagraphs")
    ex = eg_rows[0]
    backend = make_backend("openai", model="code-model")
    cache = CompletionCache(tmp_path / "c.sqlite")
    r = generate(task, None, ex.graph, backend, spec=PromptSpec(k=3), cache=cache, example_id=ex.id)
    assert r.ok and r.graph == ex.graph and r.problems == ()
    assert r.code == r.prompt.query_text + r.completion
    assert r.format == "code" and r.model == "code-model" and FAKE_KEY not in r.backend
    (req,) = gold_server.completion_requests()
    assert req.body["prompt"] == r.prompt.text and req.body["stop"] == list(r.prompt.stop)
    assert len(r.prompt.examples) == 3
    u = r.usage()
    assert u["cached"] is False and u["prompt_tokens"] and u["total_s"] >= u["model_s"] > 0
    d = r.to_dict()
    assert set(d) == {"ok", "code", "graph", "problems", "usage", "confidence", "runner_up"}
    assert d["graph"] == ex.graph.to_dict()
    assert set(d["confidence"]) == set(task.element_keys(ex.graph))  # every element, None without logprobs
    assert FAKE_KEY not in json.dumps(d)

    # The same request again is a cache hit: no new HTTP request, same answer.
    again = generate(task, None, ex.graph, backend, spec=PromptSpec(k=3), cache=cache)
    assert again.cached and again.graph == r.graph and len(gold_server.completion_requests()) == 1
    # A different parameter is a different key.
    generate(task, None, ex.graph, backend, spec=PromptSpec(k=3), cache=cache, params={"max_tokens": 99})
    assert len(gold_server.completion_requests()) == 2
    assert FAKE_KEY.encode() not in (tmp_path / "c.sqlite").read_bytes()


def test_input_fields_chat_fallback_and_samples(gold_server: FakeOpenAIServer, eg_rows: list[Example]) -> None:
    task = get_task("explagraphs")
    ex = eg_rows[1]
    gold_server.set_chat_only("chatty")
    backend = make_backend("openai", model="chatty")
    r = generate("explagraphs", "code", task.to_input(ex.graph), backend, params=GenerationParams(n=2))
    assert r.ok and r.graph == ex.graph and len(r.samples) == 2
    assert backend.mode == "chat"
    assert r.to_dict()["samples"][1]["graph"] == ex.graph.to_dict()


def test_stop_override_and_bad_input(gold_server: FakeOpenAIServer, eg_rows: list[Example]) -> None:
    backend = make_backend("openai", model="m")
    generate("explagraphs", None, eg_rows[2].graph, backend, params={"stop": ["\n\n"]})
    assert gold_server.completion_requests()[0].body["stop"] == ["\n\n"]
    with pytest.raises(InputError):
        generate("explagraphs", None, {"belief": "", "argument": "", "stance": "support"}, backend)


def test_backend_errors_propagate(api_env: FakeOpenAIServer, eg_rows: list[Example]) -> None:
    api_env.inject("500", times=None)
    backend = make_backend("openai", model="m", max_retries=0)
    with pytest.raises(BackendError) as e:
        generate("explagraphs", None, eg_rows[0].graph, backend)
    assert e.value.retryable


def test_cli_generate_json(
    gold_server: FakeOpenAIServer, eg_rows: list[Example], capsys: pytest.CaptureFixture[str]
) -> None:
    task = get_task("explagraphs")
    ex = eg_rows[3]
    args = ["generate", "--task", "explagraphs", "--input", json.dumps(task.to_input(ex.graph))]
    args += ["--backend", "openai", "--model", "code-model", "--base-url", gold_server.base_url, "--json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert set(d) == {"ok", "code", "graph", "problems", "usage", "confidence", "runner_up"}
    assert d["ok"] and d["graph"] == ex.graph.to_dict() and d["problems"] == []
    assert FAKE_KEY not in out + err

    # Plain output: the code, the graph; exit status 1 when nothing could be recovered.
    gold_server.responder = lambda prompt: "I cannot help with that.\n"
    assert main(args[:-1] + ["--no-cache"]) == 1
    out, err = capsys.readouterr()
    assert "class ExplaGraph" in out and "null" in out and FAKE_KEY not in out + err


def test_cli_generate_replay(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = get_task("propara").load("cocogen-test")[0]
    fields = get_task("propara").to_input(ex.graph)
    assert main(["generate", "--task", "propara", "--input", json.dumps(fields), "--backend", "replay", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] and d["usage"]["model"] == "code-davinci:002"


def test_cli_generate_reports_backend_errors(
    api_env: FakeOpenAIServer, eg_rows: list[Example], capsys: pytest.CaptureFixture[str]
) -> None:
    api_env.inject("401", times=None)
    fields = json.dumps(get_task("explagraphs").to_input(eg_rows[0].graph))
    assert main(["generate", "--task", "explagraphs", "--input", fields, "--backend", "openai", "--model", "m"]) == 1
    out, err = capsys.readouterr()
    assert "rejected the API key" in err and "COCOGEN_API_KEY" in err
    assert FAKE_KEY not in out + err
