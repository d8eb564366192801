"""The openai backend's constrained output and log-probabilities against the fake server: the paths a real server cannot show.

What a server that takes the grammar does with it is tested with the real llama.cpp
server in test_llama_server.py.
"""

from __future__ import annotations

from typing import Any

from cocogen.backends.base import GenerationParams, RequestContext
from cocogen.backends.openai_compat import OpenAIBackend
from cocogen.backends.server_kind import detect_server_kind
from cocogen.grammar import GRAMMAR_VERSION
from cocogen.tasks import get_task

QUERY = {"goal": "make a cup of tea", "num_steps": 3}


def test_a_server_without_logprobs_gives_none(api_env: Any) -> None:
    """The fake server answers ``logprobs: null``: not available, not zero."""
    b = OpenAIBackend("fake-model")
    [gen] = b.complete("x", GenerationParams(max_tokens=5))
    assert gen.token_logprobs is None


def test_constraining_a_server_that_takes_no_grammar_says_so_once(api_env: Any) -> None:
    """The fake server is of no known kind: the answer comes unconstrained, with a one-sentence warning."""
    b = OpenAIBackend("fake-model", constrain=True)
    task = get_task("proscript-script")
    query = task.from_input(QUERY)
    context = RequestContext(task=task.name, format="code", query=query)
    [gen] = b.complete("x", GenerationParams(max_tokens=5), context)
    warning = (gen.raw or {}).get("warning", "")
    assert warning.startswith("Output was not constrained:") and warning.endswith("takes no grammar.")
    assert not any("grammar" in (r.body or {}) for r in api_env.completion_requests())


def test_a_server_that_rejects_the_grammar_field_answers_unconstrained(api_env: Any) -> None:
    api_env.reject_field("grammar")
    b = OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp")
    task = get_task("proscript-script")
    context = RequestContext(task=task.name, format="code", query=task.from_input(QUERY))
    [gen] = b.complete("x", GenerationParams(max_tokens=5), context)
    assert "refused the output constraint" in (gen.raw or {}).get("warning", "")
    sent = [r.body or {} for r in api_env.completion_requests()]
    assert "grammar" in sent[0] and "grammar" not in sent[-1]
    [again] = b.complete("y", GenerationParams(max_tokens=5), context)
    assert "grammar" not in (api_env.completion_requests()[-1].body or {})  # refused once: not sent again
    assert "refused the grammar before" in (again.raw or {}).get("warning", "")


def test_a_server_of_no_known_kind_is_unknown(api_env: Any) -> None:
    assert detect_server_kind(api_env.base_url) == "unknown"


def test_the_constraint_is_part_of_the_signature() -> None:
    free = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1")
    constrained = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", constrain=True, server_kind="vllm")
    assert "constrain" not in free.signature()
    assert constrained.signature().endswith(f"|constrain=gbnf{GRAMMAR_VERSION}|kind=vllm")


def test_the_cli_sends_the_grammar_to_a_server_of_the_kind_given(api_env: Any, capsys: Any) -> None:
    import json

    from cocogen.cli import main
    from cocogen.types import Script

    fmt = get_task("proscript-script").formats["code"]
    answer = Script("make a cup of tea", 3, ("boil water", "pour it", "make a cup of tea"), ((0, 1), (1, 2)))
    query_text = fmt.render_query(Script("make a cup of tea", 3))
    api_env.responder = lambda prompt: fmt.render(answer)[len(query_text) :]
    argv = ["generate", "--task", "proscript-script", "--backend", "openai", "--model", "fake-model", "--no-cache"]
    argv += ["--input", json.dumps(QUERY), "--constrain", "--server-kind", "llamacpp"]
    assert main(argv) == 0
    (req,) = api_env.completion_requests()
    assert (req.body or {})["grammar"].startswith("root ::= ")
    assert main([*argv[:-3], "--no-constrain"]) == 0
    assert "grammar" not in (api_env.completion_requests()[-1].body or {})
    capsys.readouterr()


def test_an_answer_that_closes_a_cycle_is_asked_again_from_before_the_faulty_concept(api_env: Any) -> None:
    """The server follows the grammar but closes a cycle (no grammar can forbid one): the backend
    asks it to go on from before the faulty concept, with a grammar that leaves that concept out."""
    from dataclasses import replace

    from tests.gbnf import accepts

    task = get_task("explagraphs")
    fmt = task.formats["code"]
    query = task.from_input({"belief": "Cars pollute.", "argument": "Cars make smoke.", "stance": "support"})
    head = fmt.render_query(query)
    chain = (("cars", "causes", "smoke"), ("smoke", "causes", "pollution"))

    def written(*triples: tuple[str, str, str]) -> str:
        return fmt.render(replace(query, triples=(*chain, *triples)))[len(head) :]

    cyclic, fixed = written(("pollution", "causes", "cars")), written(("pollution", "causes", "acid rain"))
    prompt = "<few-shot examples>\n" + head
    keep = task.grammar_retry("code", query, cyclic).keep
    api_env.responder = lambda p: fixed[len(keep) :] if p == prompt + keep else cyclic
    b = OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp")
    context = RequestContext(task=task.name, format="code", query=query)
    [gen] = b.complete(prompt, GenerationParams(max_tokens=200), context)
    assert gen.text == fixed
    assert (gen.raw or {})["retried"] == ["(pollution; causes; cars) closes a cycle"]
    first, again = api_env.completion_requests()
    assert again.body["prompt"] == prompt + keep
    assert accepts(again.body["grammar"], fixed[len(keep) :])
    assert not accepts(again.body["grammar"], cyclic[len(keep) :])
    assert fmt.parse(gen.text, query).clean


def test_an_unconstrained_answer_is_not_asked_again(api_env: Any) -> None:
    from dataclasses import replace

    task = get_task("explagraphs")
    fmt = task.formats["code"]
    query = task.from_input({"belief": "Cars pollute.", "argument": "Cars make smoke.", "stance": "support"})

    triples = (("cars", "causes", "smoke"), ("smoke", "causes", "cars"), ("cars", "is a", "vehicle"))
    cyclic = fmt.render(replace(query, triples=triples))[len(fmt.render_query(query)) :]
    api_env.responder = lambda p: cyclic
    context = RequestContext(task=task.name, format="code", query=query)
    OpenAIBackend("fake-model", server_kind="llamacpp").complete("x", GenerationParams(max_tokens=50), context)
    assert len(api_env.completion_requests()) == 1
