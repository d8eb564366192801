"""Fixtures around the fake OpenAI server: imported by tests/conftest.py for every test module."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from cocogen.types import Example
from tests.fakes.openai_server import FakeOpenAIServer

# Distinctive, key-shaped and fake: tests grep every file and output for it.
FAKE_KEY = "sk-cocogen-FAKE-a1b2c3d4e5f6-do-not-leak"


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def fake_server(_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    """The session's server, with no faults, no delay and the default answers."""
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch, fake_server: FakeOpenAIServer) -> FakeOpenAIServer:
    """Environment pointing the openai backend at the fake server with the fake key."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "COCOGEN_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COCOGEN_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("COCOGEN_API_KEY", FAKE_KEY)
    return fake_server


def gold_table(task_name: str, fmt_name: str | None, examples: Sequence[Example]) -> dict[str, str]:
    """query text -> the gold completion, so the fake server answers like a perfect model."""
    from cocogen.tasks import get_format, get_task

    task = get_task(task_name)
    fmt = get_format(task, fmt_name)
    table = {}
    for ex in examples:
        full = fmt.render(ex.graph)
        query = fmt.render_query(task.query_of(ex.graph))
        assert full.startswith(query), "a code format's full rendering continues its query"
        table[query] = full[len(query) :]
    return table
