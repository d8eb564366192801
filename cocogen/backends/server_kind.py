"""Which kind of OpenAI-compatible server answers, and how to hand it a grammar.

Servers agree on the OpenAI API but not on how a request asks for constrained output:

=========  =========================================================  =================
kind       field in the request body                                  detected by
=========  =========================================================  =================
llamacpp   ``grammar`` (GBNF): llama.cpp's ``llama-server`` and        ``/v1/models``
           llama-cpp-python's ``python -m llama_cpp.server``           (``owned_by``),
                                                                       ``/props``
vllm       ``structured_outputs: {grammar}`` (vLLM >= 0.12)            ``/version``
ollama     none (its OpenAI API takes no grammar)                      ``/api/version``
openai     none                                                        the host name
=========  =========================================================  =================

Detection costs one to three cheap GET requests, made once per backend (the caller
caches the answer); a server it cannot tell is ``"unknown"`` and gets no grammar.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["SERVER_KINDS", "ServerKind", "constraint_body", "detect_server_kind", "grammar_of", "mentions_constraint"]

ServerKind = Literal["auto", "llamacpp", "vllm", "ollama", "openai", "unknown"]
SERVER_KINDS: tuple[str, ...] = ("auto", "llamacpp", "vllm", "ollama", "openai")
GRAMMAR_KINDS = frozenset({"llamacpp", "vllm"})

# ``owned_by`` of the models a server lists, per kind.
_OWNERS = {"me": "llamacpp", "llamacpp": "llamacpp", "vllm": "vllm", "library": "ollama"}
_DETECT_TIMEOUT_S = 5.0


def constraint_body(kind: str, grammar: str) -> dict[str, Any] | None:
    """The extra request fields that make a server of ``kind`` enforce ``grammar``; ``None``: it cannot.

    Examples
    --------
    >>> constraint_body("llamacpp", 'root ::= "a"')
    {'grammar': 'root ::= "a"'}
    >>> constraint_body("vllm", 'root ::= "a"')
    {'structured_outputs': {'grammar': 'root ::= "a"'}}
    >>> constraint_body("ollama", 'root ::= "a"') is None
    True
    """
    if kind == "llamacpp":
        return {"grammar": grammar}
    if kind == "vllm":
        return {"structured_outputs": {"grammar": grammar}}
    return None


def grammar_of(body: dict[str, Any]) -> str | None:
    """The grammar in request fields made by :func:`constraint_body` (``None``: there is none).

    Examples
    --------
    >>> grammar_of(constraint_body("vllm", 'root ::= "a"'))
    'root ::= "a"'
    >>> grammar_of({}) is None
    True
    """
    outputs = body.get("structured_outputs")
    grammar = outputs.get("grammar") if isinstance(outputs, dict) else body.get("grammar")
    return grammar if isinstance(grammar, str) else None


def mentions_constraint(message: str) -> bool:
    """Does a server's error message blame the constraint field (so a retry without it may work)?

    Examples
    --------
    >>> mentions_constraint("Extra inputs are not permitted: structured_outputs")
    True
    >>> mentions_constraint("model not found")
    False
    """
    low = message.lower()
    return any(word in low for word in ("grammar", "structured_output", "gbnf", "extra inputs", "unrecognized"))


def _get_json(url: str, api_key: str | None) -> Any:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - the user's own server URL
    with urllib.request.urlopen(req, timeout=_DETECT_TIMEOUT_S) as resp:  # noqa: S310
        return json.loads(resp.read(1_000_000).decode("utf-8", "replace"))


def detect_server_kind(base_url: str, api_key: str | None = None) -> str:
    """The kind of server at ``base_url`` (ending in ``/v1``): one of :data:`SERVER_KINDS` but ``auto``, or ``unknown``.

    Never raises: a server that does not answer a probe is simply not of that kind.
    """
    parts = urlsplit(base_url)
    if (parts.hostname or "").endswith("openai.com"):
        return "openai"
    v1 = base_url.rstrip("/")
    root = v1[: -len("/v1")] if v1.endswith("/v1") else v1
    probes: list[tuple[str, Any]] = [
        (f"{v1}/models", _kind_from_models),
        (f"{root}/props", lambda d: "llamacpp" if isinstance(d, dict) and "default_generation_settings" in d else None),
        (f"{root}/version", lambda d: "vllm" if isinstance(d, dict) and "version" in d else None),
        (f"{root}/api/version", lambda d: "ollama" if isinstance(d, dict) and "version" in d else None),
    ]
    for url, read in probes:
        try:
            kind = read(_get_json(url, api_key))
        except (OSError, ValueError, urllib.error.URLError):
            continue  # no such endpoint (404), not JSON, or no answer: not this kind
        if kind:
            return kind
    return "unknown"


def _kind_from_models(listing: Any) -> str | None:
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        return None
    owners = {m.get("owned_by") for m in data if isinstance(m, dict)}
    kinds = {_OWNERS[o] for o in owners if isinstance(o, str) and o in _OWNERS}
    return kinds.pop() if len(kinds) == 1 else None
