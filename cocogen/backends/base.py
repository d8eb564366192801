"""The one interface every model backend implements, its parameters, and the registry.

A backend turns a prompt string into one or more :class:`~cocogen.types.Generation`
objects.  Three are built in: ``"openai"`` (any OpenAI-compatible server),
``"replay"`` (recorded completions from a file) and ``"local"`` (an embedded llama.cpp
model).  They are registered by *import path* and imported only when asked for, so a
missing optional dependency (``llama_cpp``) is reported as a :class:`ConfigError` when
that backend is chosen, never as an ``ImportError`` when :mod:`cocogen` is imported.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from cocogen.errors import BackendError, CocogenError, ConfigError
from cocogen.settings import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE
from cocogen.types import Generation, Graph

if TYPE_CHECKING:
    from cocogen.prompts import Prompt

__all__ = [
    "Backend",
    "BACKENDS",
    "GenerationParams",
    "RequestContext",
    "make_backend",
    "register_backend",
    "translate_errors",
    "redact",
]

DEFAULT_TOP_P = 1.0
Mode = Literal["completion", "chat"]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters of one request, with the project's named defaults.

    ``stop=None`` means "the prompt's own stop sequences" (the format's ``# END`` etc.).

    Examples
    --------
    >>> p = GenerationParams.from_dict({"temperature": 0.7, "n": 2})
    >>> (p.temperature, p.n, p.max_tokens == DEFAULT_MAX_TOKENS)
    (0.7, 2, True)
    >>> GenerationParams.from_dict({"temprature": 0.7})
    Traceback (most recent call last):
    ...
    cocogen.errors.ConfigError: Unknown generation parameter 'temprature'.
    """

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # Normalise so that equal settings give equal cache keys and run headers.
        if self.stop is not None and not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be a positive integer, not {self.max_tokens!r}.")
        if not 0.0 <= float(self.temperature) <= 2.0:
            raise ConfigError(f"temperature must be between 0 and 2, not {self.temperature!r}.")
        if not 0.0 < float(self.top_p) <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], not {self.top_p!r}.")
        if not isinstance(self.n, int) or not 1 <= self.n <= 16:
            raise ConfigError(f"n (samples per input) must be an integer from 1 to 16, not {self.n!r}.")
        if self.seed is not None and not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer or None, not {self.seed!r}.")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> GenerationParams:
        """Build from a mapping, rejecting unknown keys with a :class:`ConfigError`."""
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise ConfigError(
                    f"Unknown generation parameter {key!r}.", hint=f"Known parameters: {', '.join(sorted(known))}."
                )
        return cls(**d)

    def replace(self, **changes: Any) -> GenerationParams:
        """A copy with some fields changed (unknown keys rejected like :meth:`from_dict`)."""
        return self.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stop"] = list(self.stop) if self.stop is not None else None
        return d


@dataclass(frozen=True)
class RequestContext:
    """What a backend may know about a request besides the prompt string.

    Backends that need nothing more ignore it.  The replay backend matches recorded
    completions by ``example_id`` or by the prompt's query text; the local backend can
    derive decoding constraints from ``task``/``format``/``query`` and reuse its KV cache
    of ``prompt.prefix``.
    """

    task: str | None = None
    format: str | None = None
    query: Graph | None = None
    example_id: str | None = None
    prompt: Prompt | None = None

    @property
    def query_text(self) -> str | None:
        return self.prompt.query_text if self.prompt is not None else None


@runtime_checkable
class Backend(Protocol):
    """A model that completes prompts.

    ``signature()`` is a stable, secret-free string naming the backend, model and every
    setting that changes its output; it keys the completion cache and is written into
    run files, so it must never contain an API key.  An optional class attribute
    ``cacheable = False`` keeps a backend's answers out of the completion cache.  An optional
    method ``complete_streaming(prompt, params, context, *, live)`` writes the answer so far
    into a :class:`cocogen.streaming.LiveText` while decoding and ends early when it is
    stopped (see :mod:`cocogen.streaming`); without it, the answer is shown when complete.
    """

    name: str
    mode: Mode

    @property
    def model(self) -> str: ...

    def signature(self) -> str: ...

    def complete(
        self, prompt: str, params: GenerationParams | None = None, context: RequestContext | None = None
    ) -> list[Generation]:
        """Return ``params.n`` completions of ``prompt`` (fewer only if the backend has fewer).

        ``params.stop`` is used as given (``None``: no stop sequence); callers that want the
        prompt's own stops resolve them first, as :func:`cocogen.pipeline.complete_cached` does.
        ``context`` says what else is known about the request; backends that need nothing ignore it.
        """
        ...


# name -> "module:attribute" (imported lazily) or a factory callable.
BACKENDS: dict[str, str | Callable[..., Backend]] = {
    "openai": "cocogen.backends.openai_compat:OpenAIBackend",
    "replay": "cocogen.backends.replay:ReplayBackend",
    "local": "cocogen.backends.llamacpp:LlamaCppBackend",
}

# Python modules whose absence means "install this extra", per backend.
_INSTALL_HINTS = {
    "llama_cpp": "Install it with `pip install llama-cpp-python` (or choose --backend openai or replay).",
    "openai": "Install it with `pip install openai`.",
}


def register_backend(name: str, target: str | Callable[..., Backend]) -> None:
    """Add or replace a backend: ``target`` is ``"module:attr"`` or a factory."""
    BACKENDS[name] = target


def _resolve(name: str) -> Callable[..., Backend]:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ConfigError(f"Unknown backend {name!r}.", hint=f"Choose one of: {', '.join(BACKENDS)}.") from None
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise ConfigError(f"The {name!r} backend is not available in this installation ({module_name}).") from e
        raise ConfigError(
            f"The {name!r} backend needs the Python package {missing!r}, which is not installed.",
            hint=_INSTALL_HINTS.get(missing.split(".")[0], f"Install {missing!r}."),
        ) from e
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"The {name!r} backend is not available in this installation ({target}).") from None


def make_backend(name: str, **options: Any) -> Backend:
    """Build a backend by name; ``options`` go to its constructor (``None`` values dropped).

    Examples
    --------
    >>> make_backend("nope")
    Traceback (most recent call last):
    ...
    cocogen.errors.ConfigError: Unknown backend 'nope'.
    """
    factory = _resolve(name)
    kwargs = {k: v for k, v in options.items() if v is not None}
    try:
        return factory(**kwargs)
    except ModuleNotFoundError as e:
        # A backend that imports its heavy dependency only when built (llama_cpp).
        missing = e.name or "?"
        raise ConfigError(
            f"The {name!r} backend needs the Python package {missing!r}, which is not installed.",
            hint=_INSTALL_HINTS.get(missing.split(".")[0], f"Install {missing!r}."),
        ) from e
    except TypeError as e:
        # An option the backend does not take: say which, instead of a bare TypeError.
        m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if m:
            raise ConfigError(f"The {name!r} backend has no option {m.group(1)!r}.") from None
        raise


_SECRET_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI-style keys
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
)


def redact(text: str, secrets: Sequence[str | None] = ()) -> str:
    """Replace known secrets and key-shaped strings in ``text`` by ``***``.

    Examples
    --------
    >>> redact("bad key sk-abcdefghijklmnop given")
    'bad key *** given'
    >>> redact("token=hunter2hunter2", ["hunter2hunter2"])
    'token=***'
    """
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    for pat in _SECRET_PATTERNS:
        text = pat.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


def _status_error(provider: str, status: int, detail: str) -> BackendError:
    detail = f": {detail}" if detail else "."
    if status == 401:
        return BackendError(
            f"{provider} rejected the API key (401){detail}",
            status=status,
            hint="Set COCOGEN_API_KEY (or OPENAI_API_KEY) to a valid key for this server.",
        )
    if status == 403:
        return BackendError(
            f"{provider} refused the request (403){detail}",
            status=status,
            hint="The key may lack access to this model.",
        )
    if status == 404:
        return BackendError(
            f"{provider} has no such model or endpoint (404){detail}",
            status=status,
            hint="Check --model and --base-url (the base URL usually ends in /v1).",
        )
    if status == 429:
        quota = "quota" in detail.lower() and "insufficient" in detail.lower()
        return BackendError(
            f"{provider} is rate limiting requests (429){detail}",
            status=status,
            retryable=not quota,
            hint="Add credit to the account." if quota else "Lower --concurrency or set --rpm.",
        )
    if status in (408, 409) or status >= 500:
        return BackendError(
            f"{provider} failed with a server error ({status}){detail}",
            status=status,
            retryable=True,
            hint="Try again later; re-running a batch resumes it.",
        )
    return BackendError(f"{provider} rejected the request ({status}){detail}", status=status)


def _error_detail(err: Exception) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        msg = body.get("message")
        if msg is None and isinstance(body.get("error"), dict):
            msg = body["error"].get("message")
        if isinstance(msg, str):
            return msg
    msg = getattr(err, "message", None) or str(err)
    return str(msg)


@contextmanager
def translate_errors(provider: str, secrets: Sequence[str | None] = ()) -> Iterator[None]:
    """Turn an SDK or network exception raised inside the block into a :class:`BackendError`.

    ``retryable`` says whether the same request may succeed later (rate limits, server
    errors, timeouts, dropped connections); ``status`` is the HTTP status when there was
    one.  Messages are passed through :func:`redact` so a server that echoes the
    key cannot leak it into logs or run files.

    Examples
    --------
    >>> with translate_errors("test server"):
    ...     raise TimeoutError("read timed out")
    Traceback (most recent call last):
    ...
    cocogen.errors.BackendError: test server did not answer in time: read timed out
    """
    try:
        yield
    except CocogenError:
        raise
    except Exception as e:  # noqa: BLE001 - mapped to BackendError below, the rest re-raised
        mapped = _map_exception(provider, e)
        if mapped is None:
            raise
        mapped.args = (redact(str(mapped), secrets),)
        mapped.hint = redact(mapped.hint, secrets)
        raise mapped from None


def _map_exception(provider: str, e: Exception) -> BackendError | None:
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a hard requirement
        openai = None  # type: ignore[assignment]

    if openai is not None:
        if isinstance(e, openai.APITimeoutError):
            return BackendError(
                f"{provider} did not answer in time.",
                retryable=True,
                hint="The server may be overloaded; raise --timeout (seconds to wait for an answer) or lower --concurrency.",
            )
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e.__context__
            why = f" ({type(cause).__name__}: {cause})" if cause else ""
            return BackendError(
                f"Could not reach {provider}{why}.",
                retryable=True,
                hint="Check --base-url and that the server is running.",
            )
        if isinstance(e, openai.APIStatusError):
            return _status_error(provider, e.status_code, _error_detail(e))
        if isinstance(e, openai.APIResponseValidationError):
            return BackendError(f"{provider} sent a response in an unexpected shape.", retryable=True)
        if isinstance(e, openai.OpenAIError):
            return BackendError(f"{provider} failed: {e}", retryable=False)
    if isinstance(e, TimeoutError):
        return BackendError(f"{provider} did not answer in time: {e}", retryable=True)
    if isinstance(e, (ConnectionError, OSError)):
        return BackendError(f"Could not reach {provider}: {e}", retryable=True)
    if isinstance(e, ValueError) and type(e).__name__ == "JSONDecodeError":
        return BackendError(f"{provider} sent a response that is not valid JSON.", retryable=True)
    return None
