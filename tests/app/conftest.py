"""Fixtures for the app's tests (see :mod:`tests.app.support`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.support import answers
from tests.fakes.openai_server import FakeOpenAIServer, table_responder


@pytest.fixture(scope="session")
def server() -> Iterator[FakeOpenAIServer]:
    d = Path(os.environ.get("COCOGEN_DATA_DIR", ""))
    with FakeOpenAIServer(table_responder(answers(d if (d / "cocogen").is_dir() else None))) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCOGEN_WARMUP", "0")  # never load the local model in these tests
    monkeypatch.setenv("COCOGEN_RUNS_DIR", str(tmp_path / "runs"))
    for var in ("COCOGEN_API_KEY", "OPENAI_API_KEY", "COCOGEN_BASE_URL", "OPENAI_BASE_URL", "COCOGEN_MODEL"):
        monkeypatch.delenv(var, raising=False)
