"""The sidebar's server settings: server kind, constrained output and timeout reach the backend."""

from __future__ import annotations

from cocogen.app.state import BackendChoice
from cocogen.grammar import GRAMMAR_VERSION
from tests.app.support import finished, start
from tests.fakes.openai_server import FakeOpenAIServer


def test_server_settings_reach_the_built_backend() -> None:
    choice = BackendChoice(
        "openai", model="m", base_url="http://127.0.0.1:9/v1", server_kind="llamacpp", server_constrain=True, timeout=7
    )
    backend = choice.build()
    assert backend.signature().endswith(f"|constrain=gbnf{GRAMMAR_VERSION}|kind=llamacpp")
    assert backend._client.timeout == 7
    assert choice.describe().endswith(", constrained output")
    assert choice.cache_id() != BackendChoice("openai", model="m", base_url="http://127.0.0.1:9/v1").cache_id()
    assert choice.to_dict()["timeout"] == 7


def test_the_sidebar_sets_server_kind_constraint_and_timeout(fake_server: FakeOpenAIServer) -> None:
    at = start(server=fake_server)
    assert at.selectbox(key="openai_server_kind").value == "auto"
    assert at.toggle(key="openai_constrain").value is False
    assert at.number_input(key="openai_timeout").value == 60.0
    at.selectbox(key="openai_server_kind").set_value("vllm")
    at.toggle(key="openai_constrain").set_value(True)
    at.number_input(key="openai_timeout").set_value(300.0).run()
    assert not at.exception, at.exception
    choice = at.session_state["backend_choice"]
    assert (choice.server_kind, choice.server_constrain, choice.timeout) == ("vllm", True, 300.0)


def test_the_playground_says_when_a_server_answered_unconstrained(server: FakeOpenAIServer) -> None:
    """The fake server is of no known kind: the answer comes, with the backend's one-sentence note."""
    at = start("playground", server=server, task="explagraphs", openai_constrain=True)
    finished(at.button(key="pg_generate").click().run())
    assert not at.exception and not at.error, [e.value for e in at.error]
    notes = [str(w.value) for w in at.warning]
    assert any(n.startswith("Output was not constrained:") for n in notes), notes
