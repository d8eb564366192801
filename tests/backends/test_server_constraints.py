"""The openai backend's constrained output and log-probabilities against the fake server: the paths a real server cannot show.

What a server that takes the grammar does with it is tested with the real llama.cpp
server in test_llama_server.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from cocogen.backends.base import GenerationParams, RequestContext
from cocogen.backends.openai_compat import OpenAIBackend
from cocogen.backends.server_kind import detect_server_kind
from cocogen.cache import CompletionCache, cache_key
from cocogen.grammar import GRAMMAR_VERSION
from cocogen.pipeline import complete_cached
from cocogen.prompts import PromptSpec
from cocogen.runs import read_run, run_batch
from cocogen.tasks import get_task
from cocogen.types import Example, Script

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


# --- answers that close a cycle: asked again ----------------------------------------------------

CARS = {"belief": "Cars pollute.", "argument": "Cars make smoke.", "stance": "support"}
CHAIN = (("cars", "causes", "smoke"), ("smoke", "causes", "pollution"))


def cars_answer(*triples: tuple[str, str, str]) -> tuple[Any, Any, str]:
    """The ExplaGraphs code format, the CARS query, and the completion that writes ``triples``."""
    from dataclasses import replace

    task = get_task("explagraphs")
    fmt = task.formats["code"]
    query = task.from_input(CARS)
    return fmt, query, fmt.render(replace(query, triples=triples))[len(fmt.render_query(query)) :]


def test_an_answer_that_closes_a_cycle_is_asked_again_from_before_the_faulty_concept(api_env: Any) -> None:
    """The server follows the grammar but closes a cycle (no grammar can forbid one): the backend
    asks it to go on from before the faulty concept, with a grammar that leaves that concept out."""
    from cocogen.gbnf import accepts

    task = get_task("explagraphs")
    fmt, query, cyclic = cars_answer(*CHAIN, ("pollution", "causes", "cars"))
    fixed = cars_answer(*CHAIN, ("pollution", "causes", "acid rain"))[2]
    head = fmt.render_query(query)
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
    # Through the pipeline, the run record and the CLI's JSON say what was asked again.
    from cocogen.pipeline import generate

    api_env.responder = lambda p: fixed[len(keep) :] if p.endswith(head + keep) else cyclic
    result = generate(task, "code", query, b, spec=PromptSpec(k=1))
    assert result.parse.clean and result.usage()["retried"] == ["(pollution; causes; cars) closes a cycle"]


def test_a_chat_reply_that_closes_a_cycle_is_asked_again_with_its_good_part_written_first(api_env: Any) -> None:
    """A chat reply cannot be continued: the same question goes again, the grammar writing the part that stands."""
    from cocogen.gbnf import accepts

    task = get_task("explagraphs")
    fmt, query, cyclic = cars_answer(*CHAIN, ("pollution", "causes", "cars"))
    fixed = cars_answer(*CHAIN, ("pollution", "causes", "acid rain"))[2]
    head = fmt.render_query(query)
    replies = iter([cyclic, fixed])
    api_env.responder = lambda p: next(replies)  # the fake server puts it in a code fence of its reply
    b = OpenAIBackend("fake-model", mode="chat", constrain=True, server_kind="llamacpp")
    context = RequestContext(task=task.name, format="code", query=query)
    [gen] = b.complete(head, GenerationParams(max_tokens=200), context)
    first, again = api_env.completion_requests()
    assert again.path.endswith("/chat/completions") and again.body["messages"] == first.body["messages"]
    keep = task.grammar_retry("code", query, cyclic).keep
    assert accepts(again.body["grammar"], fixed) and not accepts(again.body["grammar"], cyclic)
    assert not accepts(again.body["grammar"], keep.replace("smoke", "fumes") + fixed[len(keep) :])  # written first
    assert gen.text == fixed and (gen.raw or {})["retried"] == ["(pollution; causes; cars) closes a cycle"]


def test_an_unconstrained_answer_is_not_asked_again(api_env: Any) -> None:
    task = get_task("explagraphs")
    _, query, cyclic = cars_answer(("cars", "causes", "smoke"), ("smoke", "causes", "cars"), ("cars", "is a", "vehicle"))
    api_env.responder = lambda p: cyclic
    context = RequestContext(task=task.name, format="code", query=query)
    OpenAIBackend("fake-model", server_kind="llamacpp").complete("x", GenerationParams(max_tokens=50), context)
    assert len(api_env.completion_requests()) == 1
# --- servers that take the grammar field: did they obey it? ----------------------------------

# A gold answer to QUERY (three steps, the edges in the grammar's order): what an obeying server writes.
ANSWER = Script("make a cup of tea", 3, ("boil water", "pour it", "make a cup of tea"), ((0, 1), (1, 2)))
WHOLE = GenerationParams(max_tokens=200, stop=())  # no stop sequence: a "stop" answer must be whole


def _context() -> RequestContext:
    task = get_task("proscript-script")
    return RequestContext(task=task.name, format="code", query=task.from_input(QUERY))


def _gold_completion() -> str:
    fmt = get_task("proscript-script").formats["code"]
    return fmt.render(ANSWER)[len(fmt.render_query(Script("make a cup of tea", 3))) :]


@pytest.mark.parametrize(("kind", "field"), [("llamacpp", "grammar"), ("vllm", "structured_outputs")])
def test_a_server_that_ignores_the_grammar_is_found_out_and_not_sent_it_again(
    api_env: Any, caplog: pytest.LogCaptureFixture, kind: str, field: str
) -> None:
    """The fake server takes any field and answers as it always does: not what the grammar allows."""
    b = OpenAIBackend("fake-model", constrain=True, server_kind=kind)
    assert "constrain=" in b.signature()
    with caplog.at_level(logging.WARNING, logger="cocogen.backends.openai_compat"):
        [gen] = b.complete("x", GenerationParams(max_tokens=5, stop=("# END",)), _context())
        [again] = b.complete("y", GenerationParams(max_tokens=5, stop=("# END",)), _context())
    assert (gen.raw or {})["warning"] == f"{b.provider} ignored the output constraint, so this answer is unconstrained."
    first, second = (r.body or {} for r in api_env.completion_requests())
    assert field in first and field not in second
    assert (again.raw or {})["warning"] == f"Output was not constrained: {b.provider} ignored the grammar before."
    assert "constrain" not in b.signature()
    assert b.signature() == OpenAIBackend("fake-model").signature()  # it now answers like an unconstrained one
    assert [r.getMessage() for r in caplog.records] == [gen.raw["warning"]]  # type: ignore[index]


def test_a_server_that_obeys_the_grammar_gets_no_warning(api_env: Any) -> None:
    gold = _gold_completion()
    api_env.responder = lambda prompt: gold if prompt == "whole" else gold[: len(gold) // 2]
    b = OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp")
    [whole] = b.complete("whole", WHOLE, _context())
    # Half an answer is fine where a stop sequence may have cut it.
    [cut] = b.complete("cut", GenerationParams(max_tokens=200, stop=("# END",)), _context())
    assert (whole.text, cut.text) == (gold, gold[: len(gold) // 2])
    assert "warning" not in (whole.raw or {}) and "warning" not in (cut.raw or {})
    assert all("grammar" in (r.body or {}) for r in api_env.completion_requests())
    assert b.signature().endswith(f"|constrain=gbnf{GRAMMAR_VERSION}|kind=llamacpp")


def test_half_an_answer_that_says_it_ended_by_itself_was_not_constrained(api_env: Any) -> None:
    """No stop sequence and ``finish_reason: stop``: a server that obeyed would have written it all."""
    gold = _gold_completion()
    api_env.responder = lambda prompt: gold[: len(gold) // 2]
    b = OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp")
    [gen] = b.complete("x", WHOLE, _context())
    assert "ignored the output constraint" in (gen.raw or {}).get("warning", "")


def test_chat_answers_are_not_checked(api_env: Any) -> None:
    """A chat answer is code read out of a reply servers may reshape, so it proves nothing either way."""
    b = OpenAIBackend("fake-model", mode="chat", constrain=True, server_kind="llamacpp")
    [gen] = b.complete("x", WHOLE, _context())
    assert "warning" not in (gen.raw or {})
    assert "constrain=" in b.signature()


@pytest.mark.parametrize("server", ["refuses", "ignores"])
def test_an_unconstrained_fallback_is_cached_as_unconstrained(api_env: Any, tmp_path: Path, server: str) -> None:
    if server == "refuses":
        api_env.reject_field("grammar")
    cache = CompletionCache(tmp_path / "c.sqlite")
    b = OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp")
    constrained = b.signature()
    [fallback] = complete_cached(b, "x", WHOLE, context=_context(), cache=cache)
    assert "unconstrained" in (fallback.raw or {})["warning"]
    assert cache.get(cache_key(constrained, "x", WHOLE.to_dict())) is None
    # Filed under what it is: an unconstrained backend's answer (its warning kept with it).
    [hit] = complete_cached(OpenAIBackend("fake-model"), "x", WHOLE, cache=cache)
    assert hit.cached and hit.text == fallback.text and (hit.raw or {})["warning"] == (fallback.raw or {})["warning"]
    # The same server now honours grammars: a fresh constrained backend asks it, and gets a constrained answer.
    api_env.reset()
    gold = _gold_completion()
    api_env.responder = lambda prompt: gold
    fresh = OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp")
    [gen] = complete_cached(fresh, "x", WHOLE, context=_context(), cache=cache)
    assert not gen.cached and gen.text == gold and "warning" not in (gen.raw or {})
    assert "grammar" in (api_env.completion_requests()[-1].body or {})
    [again] = complete_cached(
        OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp"), "x", WHOLE, context=_context(), cache=cache
    )
    assert again.cached and again.text == gold


def test_a_run_whose_server_ignored_the_grammar_resumes(api_env: Any, tmp_path: Path) -> None:
    """The header is written before any request, so a fresh backend at resume time matches it."""
    examples = [Example(f"ex{i}", Script(f"make a cup of tea number {i}", 3)) for i in range(3)]
    out = tmp_path / "run.jsonl"

    def backend() -> OpenAIBackend:
        return OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp", max_retries=0)

    first = run_batch("proscript-script", "code", backend(), examples[:2], out, concurrency=1, progress=False)
    assert first.ok == 2
    run = read_run(out)
    assert run.header is not None and f"|constrain=gbnf{GRAMMAR_VERSION}|" in run.header["backend"]
    assert [("constrain=" in r["backend"]) for r in run.records] == [False, False]  # both answers were free
    asked = len(api_env.completion_requests())
    again = run_batch("proscript-script", "code", backend(), examples, out, concurrency=1, progress=False)
    assert (again.skipped, again.ok) == (2, 1)
    assert len(api_env.completion_requests()) == asked + 1


def test_a_refused_grammar_to_go_on_from_keeps_the_answer_and_the_constraint(api_env: Any) -> None:
    task = get_task("explagraphs")
    _, query, cyclic = cars_answer(("cars", "causes", "smoke"), ("smoke", "causes", "cars"), ("cars", "is a", "vehicle"))

    def answer_then_refuse_grammars(prompt: str) -> str:
        api_env.reject_field("grammar")  # from the next request on
        return cyclic

    api_env.responder = answer_then_refuse_grammars
    b = OpenAIBackend("fake-model", constrain=True, server_kind="llamacpp")
    context = RequestContext(task=task.name, format="code", query=query)
    [gen] = b.complete("x", GenerationParams(max_tokens=50), context)
    assert gen.text == cyclic and "retried" not in (gen.raw or {}) and "warning" not in (gen.raw or {})
    assert len(api_env.completion_requests()) == 2  # the answer, then the refused retry
    assert "|constrain=" in b.signature()  # the first grammar was taken: still sent
