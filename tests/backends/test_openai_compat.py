"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import logging
import time

import pytest

from cocogen.backends import GenerationParams, make_backend
from cocogen.backends.openai_compat import OpenAIBackend, extract_code, public_url, strip_repeated_prefix
from cocogen.errors import BackendError, ConfigError
from tests.fakes.fixtures import FAKE_KEY
from tests.fakes.openai_server import FakeOpenAIServer, default_responder

PROMPT = 'class A:\n    x = "a"\n# END\n\nclass B:\n    x = "b"\n'


def backend(**kw: object) -> OpenAIBackend:
    b = make_backend("openai", **{"model": "code-model", "max_retries": 3, "timeout": 10.0, **kw})
    assert isinstance(b, OpenAIBackend)
    return b


def test_completion_request_and_answer(api_env: FakeOpenAIServer) -> None:
    gens = backend().complete(
        PROMPT, GenerationParams(stop=("# END",), max_tokens=33, temperature=0.2, top_p=0.9, seed=7)
    )
    assert [g.text for g in gens] == [default_responder(PROMPT)]
    g = gens[0]
    assert g.finish_reason == "stop" and g.prompt_tokens and g.completion_tokens and g.seconds and not g.cached
    (req,) = api_env.completion_requests()
    assert req.path == "/v1/completions"
    assert req.body == {
        "model": "code-model",
        "prompt": PROMPT,
        "max_tokens": 33,
        "temperature": 0.2,
        "top_p": 0.9,
        "n": 1,
        "stop": ["# END"],
        "seed": 7,
        "logprobs": 1,  # one alternative per token: the log-probabilities come back (token_logprobs)
    }
    # The key travels in the Authorization header and nowhere else.
    assert req.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert FAKE_KEY.encode() not in req.raw


def test_n_samples(api_env: FakeOpenAIServer) -> None:
    gens = backend().complete(PROMPT, GenerationParams(n=3))
    assert len(gens) == 3 and len({g.text for g in gens}) == 1


def test_at_most_four_stop_sequences_are_sent(api_env: FakeOpenAIServer) -> None:
    backend().complete(PROMPT, GenerationParams(stop=("a", "b", "c", "d", "e")))
    assert api_env.completion_requests()[0].body["stop"] == ["a", "b", "c", "d"]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, api_env: FakeOpenAIServer) -> None:
    monkeypatch.setenv("COCOGEN_MODEL", "env-model")
    b = make_backend("openai")
    assert b.model == "env-model" and b.signature().startswith(f"openai|url={api_env.base_url}|")
    b.complete("x")
    assert api_env.completion_requests()[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    # OPENAI_* names work too.
    monkeypatch.delenv("COCOGEN_BASE_URL")
    monkeypatch.delenv("COCOGEN_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", api_env.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY + "-2")
    make_backend("openai").complete("y")
    assert api_env.completion_requests()[1].headers["authorization"] == f"Bearer {FAKE_KEY}-2"


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COCOGEN_MODEL", "COCOGEN_API_KEY", "OPENAI_API_KEY", "COCOGEN_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="No model"):
        make_backend("openai")
    with pytest.raises(ConfigError, match="No API key") as e:
        make_backend("openai", model="m")
    assert "COCOGEN_API_KEY" in e.value.hint
    with pytest.raises(ConfigError, match="Unknown mode"):
        make_backend("openai", model="m", base_url="http://127.0.0.1:9/v1", mode="edit")


def test_self_hosted_server_needs_no_key(monkeypatch: pytest.MonkeyPatch, fake_server: FakeOpenAIServer) -> None:
    for name in ("COCOGEN_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    make_backend("openai", model="m", base_url=fake_server.base_url).complete("x")
    assert fake_server.completion_requests()[0].headers["authorization"] == "Bearer no-key-required"


def test_signature_is_stable_and_secret_free() -> None:
    a = OpenAIBackend("m", base_url="https://user:pw@example.com/v1/?k=1", api_key=FAKE_KEY)
    b = OpenAIBackend("m", base_url="https://example.com/v1", api_key="sk-other-key-0123456789")
    assert a.signature() == b.signature() == "openai|url=https://example.com/v1|model=m|mode=auto"
    assert OpenAIBackend("m", base_url="https://example.com/v1", api_key="k", mode="chat").signature() != a.signature()
    assert FAKE_KEY not in repr(a) and "pw" not in a.signature()
    assert public_url(None) == "default"


# --- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "drop", "429", "malformed"])
def test_transient_faults_are_retried(api_env: FakeOpenAIServer, fault: str) -> None:
    api_env.inject(fault, times=2, seconds=0.05)
    gens = backend().complete(PROMPT)
    assert gens[0].text == default_responder(PROMPT)
    assert len(api_env.completion_requests()) == 3


def test_retry_after_is_honoured(api_env: FakeOpenAIServer) -> None:
    # The client's own backoff would wait about 0.5 s; the server asks for 1.5 s.
    api_env.inject("429", seconds=1.5)
    t0 = time.monotonic()
    backend().complete(PROMPT)
    elapsed = time.monotonic() - t0
    first, second = api_env.completion_requests()
    assert second.at - first.at >= 1.5
    assert 1.5 <= elapsed < 5.0


def test_permanent_failure_raises_a_retryable_backend_error(api_env: FakeOpenAIServer) -> None:
    api_env.inject("500", times=None)
    with pytest.raises(BackendError, match="server error") as e:
        backend(max_retries=2).complete(PROMPT)
    assert e.value.retryable and e.value.status == 500
    assert len(api_env.completion_requests()) == 3  # the first try and two retries
    assert FAKE_KEY not in str(e.value) + e.value.hint


def test_timeout_is_a_retryable_backend_error(api_env: FakeOpenAIServer) -> None:
    api_env.inject("slow", times=None, seconds=1.0)
    with pytest.raises(BackendError, match="did not answer in time") as e:
        backend(timeout=0.2, max_retries=0).complete(PROMPT)
    assert e.value.retryable


def test_unknown_model_is_not_retried_and_does_not_fall_back(api_env: FakeOpenAIServer) -> None:
    api_env.set_unknown("nope")
    b = backend(model="nope", max_retries=3)
    with pytest.raises(BackendError, match="no such model") as e:
        b.complete(PROMPT)
    assert e.value.status == 404 and not e.value.retryable and "--model" in e.value.hint
    assert [r.path for r in api_env.completion_requests()] == ["/v1/completions"]
    assert b.mode == "completion"


def test_no_key_in_logs(api_env: FakeOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api_env.inject("500", times=1)
    api_env.inject("429", times=1, seconds=0.01)
    backend().complete(PROMPT)
    assert caplog.records  # the client did log its retries
    assert FAKE_KEY not in caplog.text


# --- chat --------------------------------------------------------------------------------------


def test_chat_mode_sends_instructions_and_extracts_the_fence(api_env: FakeOpenAIServer) -> None:
    b = backend(mode="chat")
    gens = b.complete(PROMPT, GenerationParams(stop=("# END",)))
    assert gens[0].text == default_responder(PROMPT)
    assert gens[0].raw is not None and gens[0].raw["endpoint"] == "chat" and "```" in gens[0].raw["reply"]
    (req,) = api_env.completion_requests()
    assert req.path == "/v1/chat/completions"
    system, user = req.body["messages"]
    assert system["role"] == "system" and "continuation" in system["content"]
    assert user == {"role": "user", "content": PROMPT}


def test_chat_answer_repeating_the_query_is_trimmed(api_env: FakeOpenAIServer) -> None:
    api_env.responder = lambda prompt: 'class B:\n    x = "b"\n    y = "c"\n'
    gens = backend(mode="chat").complete(PROMPT, GenerationParams(stop=("# END",)))
    assert gens[0].text == '    y = "c"\n'


def test_auto_falls_back_to_chat_for_chat_only_models(api_env: FakeOpenAIServer) -> None:
    api_env.set_chat_only("chatty")
    b = backend(model="chatty")
    assert b.mode == "completion"
    first = b.complete(PROMPT)
    second = b.complete(PROMPT + "\n")
    assert first[0].text == default_responder(PROMPT)
    assert second[0].text == default_responder(PROMPT + "\n")
    assert b.mode == "chat"
    paths = [r.path for r in api_env.completion_requests()]
    # One refused completions request, then chat only: the decision is remembered.
    assert paths == ["/v1/completions", "/v1/chat/completions", "/v1/chat/completions"]


def test_auto_stays_on_completions_when_they_work(api_env: FakeOpenAIServer) -> None:
    b = backend()
    b.complete(PROMPT)
    b.complete(PROMPT)
    assert b.mode == "completion"
    assert {r.path for r in api_env.completion_requests()} == {"/v1/completions"}


def test_completion_mode_never_falls_back(api_env: FakeOpenAIServer) -> None:
    api_env.set_chat_only("chatty")
    with pytest.raises(BackendError, match="404") as e:
        backend(model="chatty", mode="completion").complete(PROMPT)
    assert "chat" in str(e.value)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("```python\nx = 1\n```", "x = 1\n"),
        ("Here you go:\n```\nx = 1\n```\nAnything else?", "x = 1\n"),
        ("```py\nx = 1\n", "x = 1\n"),  # cut by a stop sequence before the closing fence
        ("x = 1\n", "x = 1\n"),
        ("```python\na\n```\n```python\nb\n```", "a\n"),
    ],
)
def test_extract_code(reply: str, expected: str) -> None:
    assert extract_code(reply) == expected


def test_strip_repeated_prefix_cases() -> None:
    q = "class B:\n    def f(self):\n        return 1\n"
    assert strip_repeated_prefix(q + "    y = 2\n", q) == "    y = 2\n"
    assert strip_repeated_prefix("\n        return 1\n    y = 2\n", q) == "    y = 2\n"
    # Repeating only the start of the query (then diverging) is not a repetition of its tail.
    assert strip_repeated_prefix("class B:\n    z = 3\n", q) == "class B:\n    z = 3\n"
    assert strip_repeated_prefix("", q) == ""
