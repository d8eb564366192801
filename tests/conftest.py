"""Shared fixtures.  Data comes from ``$COCOGEN_DATA_DIR`` or the ``../shared/data`` checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SHARED = REPO.parent / "shared" / "data"
if "COCOGEN_DATA_DIR" not in os.environ and _SHARED.is_dir():
    os.environ["COCOGEN_DATA_DIR"] = str(_SHARED)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("COCOGEN_DATA_DIR", ""))
    if not (d / "cocogen").is_dir():
        pytest.skip("the datasets are not available (set COCOGEN_DATA_DIR)")
    return d


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never write completions or downloads into the user's real cache during tests."""
    monkeypatch.setenv("COCOGEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cocogen-cache"))


# The fake OpenAI-compatible server (tests/fakes/openai_server.py) for backend and run tests.
from tests.fakes.fixtures import _server, api_env, fake_server  # noqa: E402,F401
