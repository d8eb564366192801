"""The backend interface: parameters, the registry, error translation against a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest

from cocogen.backends import (
    BACKENDS,
    Backend,
    GenerationParams,
    make_backend,
    redact,
    register_backend,
    translate_errors,
)
from cocogen.errors import BackendError, ConfigError
from cocogen.settings import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE
from tests.fakes.fixtures import FAKE_KEY
from tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]


def test_params_defaults_come_from_settings() -> None:
    p = GenerationParams()
    assert (p.max_tokens, p.temperature, p.n, p.seed, p.stop) == (
        DEFAULT_MAX_TOKENS,
        DEFAULT_TEMPERATURE,
        1,
        None,
        None,
    )


def test_params_reject_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="Unknown generation parameter 'max_token'") as e:
        GenerationParams.from_dict({"max_token": 10})
    assert "max_tokens" in e.value.hint
    for bad in ({"temperature": 3}, {"n": 0}, {"max_tokens": 0}, {"top_p": 0}, {"seed": "x"}):
        with pytest.raises(ConfigError):
            GenerationParams.from_dict(bad)


def test_params_are_hashable_and_normalise_stop() -> None:
    a = GenerationParams(stop=["# END"])  # type: ignore[arg-type]
    b = GenerationParams.from_dict({"stop": ("# END",)})
    assert a == b and hash(a) == hash(b)
    assert a.to_dict()["stop"] == ["# END"]
    assert a.replace(n=3).n == 3
    with pytest.raises(ConfigError):
        a.replace(bogus=1)


def test_registry_names_and_unknown_backend() -> None:
    assert set(BACKENDS) >= {"openai", "replay", "local"}
    with pytest.raises(ConfigError, match="Unknown backend 'gpt'"):
        make_backend("gpt")


def test_unknown_option_is_a_config_error(api_env: FakeOpenAIServer) -> None:
    with pytest.raises(ConfigError, match="no option 'temperatur'"):
        make_backend("openai", model="m", temperatur=0.3)


def test_missing_optional_dependency_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Make `import llama_cpp` fail the way it does where the package is not installed.
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    monkeypatch.setitem(sys.modules, "llama_cpp.llama_cpp", None)
    # The local backend loads its model (and llama_cpp) on first use; either step may report it.
    with pytest.raises(ConfigError) as e:
        make_backend("local", model=str(tmp_path / "absent.gguf")).complete("x = ", GenerationParams(max_tokens=1))
    assert "llama" in (str(e.value) + e.value.hint).lower()


def test_importing_the_library_does_not_import_backends_dependencies() -> None:
    code = (
        "import sys, cocogen.backends, cocogen.pipeline, cocogen.runs, cocogen.cache; "
        "print(sorted(m for m in ('llama_cpp', 'cocogen.backends.llamacpp', 'streamlit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_a_factory_can_be_registered() -> None:
    from cocogen.backends.replay import ReplayBackend

    register_backend("replay-copy", ReplayBackend)
    try:
        with pytest.raises(ConfigError, match="needs a recorded file"):
            make_backend("replay-copy")
    finally:
        BACKENDS.pop("replay-copy")


def test_openai_backend_satisfies_the_protocol(api_env: FakeOpenAIServer) -> None:
    b = make_backend("openai", model="m")
    assert isinstance(b, Backend)
    assert b.mode == "completion"
    assert FAKE_KEY not in b.signature() and FAKE_KEY not in repr(b)


@pytest.mark.parametrize(
    ("fault", "status", "retryable"),
    [("500", 500, True), ("429", 429, True), ("not_supported", 404, False)],
)
def test_translate_errors_maps_real_sdk_errors(
    fake_server: FakeOpenAIServer, fault: str, status: int, retryable: bool
) -> None:
    client = openai.OpenAI(api_key=FAKE_KEY, base_url=fake_server.base_url, max_retries=0)
    fake_server.inject(fault, seconds=0.01)
    with pytest.raises(BackendError) as e, translate_errors("the fake server", [FAKE_KEY]):
        client.completions.create(model="m", prompt="x")
    assert e.value.status == status and e.value.retryable is retryable
    assert e.value.hint


def test_translate_errors_connection_and_timeout() -> None:
    # A port nobody listens on: connection refused.
    with FakeOpenAIServer() as srv:
        url = srv.base_url
    client = openai.OpenAI(api_key=FAKE_KEY, base_url=url, max_retries=0)
    with pytest.raises(BackendError, match="Could not reach") as e, translate_errors("the fake server"):
        client.completions.create(model="m", prompt="x")
    assert e.value.retryable and e.value.status is None


def test_translate_errors_timeout(fake_server: FakeOpenAIServer) -> None:
    fake_server.inject("slow", seconds=1.0)
    client = openai.OpenAI(api_key=FAKE_KEY, base_url=fake_server.base_url, max_retries=0, timeout=0.2)
    with pytest.raises(BackendError, match="did not answer in time") as e, translate_errors("the fake server"):
        client.completions.create(model="m", prompt="x")
    assert e.value.retryable


def test_translate_errors_redacts_echoed_keys() -> None:
    with pytest.raises(BackendError) as e, translate_errors("srv", [FAKE_KEY]):
        raise ConnectionError(f"proxy said: bad header Authorization: Bearer {FAKE_KEY}")
    assert FAKE_KEY not in str(e.value) and "***" in str(e.value)


def test_translate_errors_leaves_programming_errors_alone() -> None:
    with pytest.raises(KeyError), translate_errors("srv"):
        raise KeyError("bug")


def test_redact_key_shapes() -> None:
    assert redact(f"x {FAKE_KEY} y") == "x *** y"
    assert redact("Authorization: Bearer abcdefghijkl") == "Authorization: Bearer ***"
