"""Shared fixtures.  Data comes from ``$COCOGEN_DATA_DIR`` or the ``../shared/data`` checkout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
_SHARED = REPO.parent / "shared" / "data"
if "COCOGEN_DATA_DIR" not in os.environ and _SHARED.is_dir():
    os.environ["COCOGEN_DATA_DIR"] = str(_SHARED)
# One llama.cpp thread for the in-process model, as the e2e servers and bench_quality use: on
# busy cores llama.cpp's threads spin-wait for each other (2 threads beside a CPU hog decode
# an order of magnitude slower), and the greedy answers the tests read are the benchmark's.
os.environ.setdefault("COCOGEN_THREADS", "1")


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


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server with the bundled model, for the whole run.

    Yields its base URL (``http://127.0.0.1:<port>/v1``).  One thread: on busy shared cores
    more threads are slower.  Skipped where the server extra or the model is missing.
    """
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")
    from cocogen.backends.llamacpp import default_model_path

    model = default_model_path()
    if not model.exists():
        pytest.skip(f"the bundled model is not at {model}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "cocogen.backends.llama_server", "--model", str(model), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "4096"]
    cmd += ["--chat_format", "gemma"]  # else llama-cpp-python falls back to Llama 2's [INST] <<SYS>> template
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"

    def answers() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the llama.cpp server exited ({proc.returncode}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5):  # noqa: S310 - our own local server
                return True
        except OSError:
            return False

    try:
        try:
            wait_until(answers, "the llama.cpp server to list its model", timeout=300)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{_tail(log)}") from None
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "server log (last lines):\n" + "\n".join(text.splitlines()[-lines:])
