"""Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama, LM Studio, ...).

Two ways to ask for a completion:

``completion``
    The legacy ``/v1/completions`` endpoint: the code prompt goes in as is and the model
    continues it.  This is what code models and most self-hosted servers serve, and what
    the paper used.
``chat``
    ``/v1/chat/completions`` for chat-only models: the prompt is sent as a completion task
    with short instructions, and the continuation is read back out of the reply's code
    fence, with any repeated part of the query removed.
``auto`` (default)
    Try ``completion``; if the server says the model or endpoint does not support it,
    switch to ``chat`` for the rest of this backend's life.

Retries, timeouts and ``Retry-After`` are the ``openai`` client's own (``max_retries``,
``timeout``).  The only retry added here is for a 200 answer whose body is not valid
JSON, which the client does not retry.  The API key is handed to the client and never
stored in the signature, the run files, the cache or any message.

Constrained output (``constrain=True``): the task plug-in derives a grammar for the query
(:mod:`cocogen.grammar`) and the request carries it in the field the server's kind reads
(:mod:`cocogen.backends.server_kind`; ``server_kind="auto"`` asks the server once).  A
server that cannot take it, or rejects it, answers unconstrained, and the answer's
``raw["warning"]`` says so in one sentence.  So does a server that takes the grammar
but silently ignores it: a completion answer that the grammar does not accept
(:mod:`cocogen.gbnf`) gives it away.  A refused or ignored grammar is not sent again by
the same backend, and its :meth:`~OpenAIBackend.signature` then stops saying
``constrain``, so that the unconstrained answers are cached as what they are.  An
answer that closes a cycle (which no grammar can forbid) is asked again from just before
the faulty choice (``raw["retried"]`` says why), so that it parses clean.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from cocogen.backends.base import GenerationParams, RequestContext, translate_errors
from cocogen.backends.server_kind import (
    SERVER_KINDS,
    constraint_body,
    detect_server_kind,
    grammar_of,
    mentions_constraint,
)
from cocogen.errors import BackendError, ConfigError
from cocogen.gbnf import accepts
from cocogen.settings import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from cocogen.types import Generation

if TYPE_CHECKING:
    from cocogen.streaming import LiveText

__all__ = ["OpenAIBackend", "extract_code", "strip_repeated_prefix", "CHAT_INSTRUCTIONS"]

# A constrained answer is asked again at most this many times where it closes a cycle
# (ExplaGraphs has at most 8 triples; an edge list rarely needs more).
_MAX_GRAMMAR_RETRIES = 8

CHAT_INSTRUCTIONS = (
    "You are a code completion engine. The user message is the beginning of a Python file: "
    "finished examples, each followed by a line '# END', and then an unfinished program. "
    "Continue the unfinished program exactly in the style of the examples. Reply with only the "
    "continuation in a single ```python code block: do not repeat the given lines, do not explain, "
    "and stop where the examples write '# END'."
)

# Placeholder for servers that need no key (vLLM, llama.cpp server, Ollama): the client
# insists on one.  It is not a secret.
NO_KEY = "no-key-required"

_FALLBACK_HINTS = re.compile(r"not supported|chat model|chat/completions|does not support|unsupported|not found", re.I)
_FENCE_OPEN = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$", re.M)
_FENCE_CLOSE = re.compile(r"^[ \t]*```[ \t]*$", re.M)

# Why a constraint field is in ``OpenAIBackend._refused`` when no 4xx refused it: the server
# took it and answered as if it had not been sent.
_IGNORED = "ignored: the answer did not follow the grammar"

Mode = Literal["auto", "completion", "chat"]
log = logging.getLogger(__name__)

# The LiveText of the streaming request this thread is making (see complete_streaming): the
# request code is the same for both ways of asking, only _call reads the answer differently.
_LIVE: contextvars.ContextVar[LiveText | None] = contextvars.ContextVar("cocogen_openai_live", default=None)


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def public_url(url: str | None) -> str:
    """The URL without credentials or query string (safe to log and to key caches by).

    Examples
    --------
    >>> public_url("https://user:secret@api.example.com/v1?key=abc")
    'https://api.example.com/v1'
    """
    if not url:
        return "default"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def extract_code(reply: str) -> str:
    """The body of the first fenced code block of a chat reply, or the whole reply without one.

    An unclosed fence (the reply was cut by a stop sequence or ``max_tokens``) keeps
    everything after the opening line.

    Examples
    --------
    >>> extract_code("Sure!\\n```python\\n    x = 1\\n```\\nDone.")
    '    x = 1\\n'
    >>> extract_code("```python\\n    x = 1\\n")
    '    x = 1\\n'
    >>> extract_code("    x = 1\\n")
    '    x = 1\\n'
    """
    m = _FENCE_OPEN.search(reply)
    if not m:
        return reply
    start = m.end() + 1 if m.end() < len(reply) and reply[m.end()] == "\n" else m.end()
    close = _FENCE_CLOSE.search(reply, start)
    return reply[start : close.start()] if close else reply[start:]


def strip_repeated_prefix(answer: str, query_text: str) -> str:
    """Remove the part of ``query_text`` a chat model repeated at the start of its answer.

    Chat models often restate the unfinished program (all of it, or its last lines)
    before continuing.  Lines are compared without surrounding whitespace; the repeated
    lines must be a run of query lines that ends at the query's last non-blank line.

    Examples
    --------
    >>> q = "class A:\\n    def __init__(self):\\n        self.x = 1\\n"
    >>> strip_repeated_prefix("class A:\\n    def __init__(self):\\n        self.x = 1\\n        self.y = 2\\n", q)
    '        self.y = 2\\n'
    >>> strip_repeated_prefix("        self.x = 1\\n        self.y = 2\\n", q)
    '        self.y = 2\\n'
    >>> strip_repeated_prefix("        self.y = 2\\n", q)
    '        self.y = 2\\n'
    """
    if query_text and answer.startswith(query_text):
        return answer[len(query_text) :]
    q = [ln.strip() for ln in query_text.splitlines() if ln.strip()]
    lines = answer.splitlines(keepends=True)
    # Index of the first non-blank answer line.
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if not q or first is None:
        return answer
    best = 0  # number of answer lines (from `first`) that repeat the query's tail
    for start in range(len(q)):
        run = q[start:]
        i, matched = first, 0
        while matched < len(run) and i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            if lines[i].strip() != run[matched]:
                break
            matched += 1
            i += 1
        if matched == len(run):
            best = i
            break  # the earliest start is the longest repetition
    return "".join(lines[best:]) if best else answer


class OpenAIBackend:
    """Completions from an OpenAI-compatible server.

    Parameters
    ----------
    model
        Model name; default ``$COCOGEN_MODEL``.
    base_url
        Server URL ending in ``/v1``; default ``$COCOGEN_BASE_URL``, ``$OPENAI_BASE_URL``,
        else OpenAI's.
    api_key
        Default ``$COCOGEN_API_KEY``, ``$OPENAI_API_KEY``; may be omitted for a
        self-hosted server.
    mode
        ``"auto"``, ``"completion"`` or ``"chat"`` (see the module docstring).
    client
        A ready ``openai.OpenAI`` client (then ``base_url``/``api_key``/``timeout``/
        ``max_retries`` are taken from it).
    server_kind
        ``"auto"`` (ask the server once), ``"llamacpp"``, ``"vllm"``, ``"ollama"`` or
        ``"openai"``: which request field carries a grammar (see the module docstring).
    constrain
        Send the task's grammar for the query, so the answer parses (servers that take one).
    logprobs
        Ask for per-token log-probabilities (``Generation.token_logprobs``); a server that
        refuses them is asked again without, once.
    """

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        mode: Mode = "auto",
        client: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        chat_instructions: str = CHAT_INSTRUCTIONS,
        server_kind: str = "auto",
        constrain: bool = False,
        logprobs: bool = True,
    ) -> None:
        if mode not in ("auto", "completion", "chat"):
            raise ConfigError(f"Unknown mode {mode!r} for the openai backend.", hint="Choose auto, completion or chat.")
        if server_kind not in SERVER_KINDS:
            raise ConfigError(
                f"Unknown server kind {server_kind!r} for the openai backend.",
                hint=f"Choose {', '.join(SERVER_KINDS)}.",
            )
        self.server_kind = server_kind
        self.constrain = bool(constrain)
        self._detected: str | None = None if server_kind == "auto" else server_kind
        # Optional request fields this server refused (then never sent again), with why.
        self._refused: dict[str, str] = {}
        self._want_logprobs = bool(logprobs)
        model = model or _env("COCOGEN_MODEL")
        if not model:
            raise ConfigError(
                "No model was chosen for the openai backend.", hint="Pass --model NAME or set COCOGEN_MODEL."
            )
        self._model = model
        self._configured_mode: Mode = mode
        self._resolved: Literal["completion", "chat"] | None = None if mode == "auto" else mode
        self._mode_lock = threading.Lock()
        self.chat_instructions = chat_instructions
        self.max_retries = max_retries
        if client is None:
            import openai

            base_url = base_url or _env("COCOGEN_BASE_URL", "OPENAI_BASE_URL")
            key = api_key or _env("COCOGEN_API_KEY", "OPENAI_API_KEY")
            if not key:
                if base_url is None:
                    raise ConfigError(
                        "No API key for the OpenAI API.",
                        hint="Set COCOGEN_API_KEY (or OPENAI_API_KEY), or point --base-url at a self-hosted server.",
                    )
                key = NO_KEY
            client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        self._client = client
        self._secret = str(getattr(client, "api_key", "") or "")
        self.base_url = public_url(str(getattr(client, "base_url", base_url) or ""))

    # --- identity -----------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self._model

    @property
    def mode(self) -> Literal["completion", "chat"]:
        """The endpoint in use (``completion`` until ``auto`` has had to fall back)."""
        return self._resolved or "completion"

    def signature(self) -> str:
        """Backend, server, model and mode; never the key.

        ``constrain`` is part of it only while the grammar is still sent: once the server
        refused or ignored it, this backend's answers are unconstrained ones.

        Examples
        --------
        >>> OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", api_key="sk-secret-123456789").signature()
        'openai|url=http://127.0.0.1:9/v1|model=m|mode=auto'
        """
        sig = f"openai|url={self.base_url}|model={self._model}|mode={self._configured_mode}"
        if self._configured_mode != "completion" and self.chat_instructions != CHAT_INSTRUCTIONS:
            import hashlib

            sig += f"|instructions={hashlib.sha256(self.chat_instructions.encode()).hexdigest()[:12]}"
        if self.constrain and not any(k != "logprobs" for k in self._refused):
            from cocogen.grammar import GRAMMAR_VERSION

            sig += f"|constrain=gbnf{GRAMMAR_VERSION}|kind={self.server_kind}"
        return sig

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.signature()!r})"

    @property
    def provider(self) -> str:
        return f"the model server at {self.base_url}"

    # --- requests -----------------------------------------------------------------------

    def complete(
        self, prompt: str, params: GenerationParams | None = None, context: RequestContext | None = None
    ) -> list[Generation]:
        p = params or GenerationParams()
        kwargs: dict[str, Any] = {
            "model": self._model,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "n": p.n,
        }
        if p.stop:
            kwargs["stop"] = list(p.stop)[:4]  # the OpenAI API accepts at most 4
        if p.seed is not None:
            kwargs["seed"] = p.seed
        warning = None
        extra: dict[str, Any] = {}
        if self.constrain:
            body, warning = self._constraint(context)
            extra.update(body or {})
        gens, warned = self._complete_refusing(prompt, kwargs, extra, context)
        # Servers that ignore `n` (llama-cpp-python's) answer once: ask again for the rest.
        while len(gens) < p.n:
            more = {**kwargs, "n": p.n - len(gens)}
            if p.seed is not None:
                more["seed"] = p.seed + len(gens)
            got, warned_more = self._complete_refusing(prompt, more, extra, context)
            warned = warned or warned_more
            gens += got
        warning = warned or warning or self._ignored_warning(gens, extra, p)
        if extra and not any(k in self._refused for k in extra):
            gens = [self._ask_again_where_faulty(prompt, g, kwargs, context) for g in gens]
        if warning:
            gens = [dataclasses.replace(g, raw={**(g.raw or {}), "warning": warning}) for g in gens]
        return gens[: p.n]

    def _ask_again_where_faulty(
        self, prompt: str, gen: Generation, kwargs: dict[str, Any], context: RequestContext | None
    ) -> Generation:
        """Ask again from where a constrained answer first breaks a rule its grammar cannot state.

        A grammar cannot forbid a concept or an edge that closes a cycle; the task finds the
        first one (:meth:`~cocogen.tasks.base.Task.grammar_retry`) and the server goes on
        from just before it, with a grammar that leaves that choice out: the model's next
        choice there, as the local decoder's refusals give.  A completion goes on from the
        prompt and the part that stands; a chat reply cannot be continued, so the same
        question is asked again with a grammar that writes that part first
        (:meth:`~cocogen.grammar.Retry.whole`).  The reasons go to ``raw["retried"]``.
        """
        from cocogen.tasks import get_task

        if context is None or context.task is None or context.query is None:
            return gen
        task = get_task(context.task)
        fmt_name = context.format or next(iter(task.formats))
        reasons: list[str] = []
        while len(reasons) < _MAX_GRAMMAR_RETRIES and gen.finish_reason != "length":
            retry = task.grammar_retry(fmt_name, context.query, gen.text)
            if retry is None:
                break
            chat = self._resolved == "chat"
            body = constraint_body(self._kind(), retry.whole() if chat else retry.grammar)
            if body is None:
                break
            fields = {**body, **({"logprobs": True} if self._want_logprobs and "logprobs" not in self._refused else {})}
            asked = {**kwargs, "n": 1, "extra_body": fields}
            try:
                if chat:
                    [more] = self._complete_once(prompt, asked, context)
                else:
                    [more] = self._complete_once(prompt + retry.keep, asked, context, retry.keep)
            except BackendError as e:
                if _blamed_field(e, fields) is None:
                    raise
                # Refusing this grammar says nothing about the first one: keep sending that.
                log.warning("%s refused the grammar to go on from; the answer stays as it was: %s", self.provider, e)
                break
            if chat:
                seconds = more.seconds + gen.seconds if more.seconds is not None and gen.seconds is not None else None
                gen = dataclasses.replace(more, seconds=seconds)
            else:
                gen = _continued(gen, retry.keep, more)
            reasons.append(retry.reason)
        if reasons:
            gen = dataclasses.replace(gen, raw={**(gen.raw or {}), "retried": reasons})
        return gen

    def _complete_once(
        self, prompt: str, kwargs: dict[str, Any], context: RequestContext | None, shown_prefix: str = ""
    ) -> list[Generation]:
        """One request to the endpoint in use; ``shown_prefix``: the answer written before this
        request (a retry's kept part), shown before it while streaming."""
        if self._resolved == "chat":
            return self._chat(prompt, kwargs, context)
        try:
            return self._completion(prompt, kwargs, shown_prefix)
        except BackendError as e:
            if self._configured_mode == "auto" and self._resolved is None and _says_unsupported(e):
                with self._mode_lock:
                    self._resolved = "chat"
                return self._chat(prompt, kwargs, context)
            raise

    def _complete_refusing(
        self, prompt: str, kwargs: dict[str, Any], extra: dict[str, Any], context: RequestContext | None
    ) -> tuple[list[Generation], str | None]:
        """One request with the optional fields (grammar, logprobs) this server has not refused.

        A 4xx that names one of them drops it for this backend's life and asks again;
        the second element is then the one-sentence warning.
        """
        warning = None
        while True:
            fields = {k: v for k, v in extra.items() if k not in self._refused}
            if self._want_logprobs and "logprobs" not in self._refused:
                fields["logprobs"] = True
            try:
                return self._complete_once(
                    prompt, {**kwargs, "extra_body": fields} if fields else kwargs, context
                ), warning
            except BackendError as e:
                blamed = _blamed_field(e, fields)
                if blamed is None:
                    raise
                self._refused[blamed] = str(e)
                if blamed != "logprobs":
                    warning = (
                        f"{self.provider} refused the output constraint, so this answer was generated unconstrained."
                    )
                    log.warning("%s", warning)

    def _ignored_warning(self, gens: list[Generation], extra: dict[str, Any], p: GenerationParams) -> str | None:
        """The one-sentence warning when the server was sent the grammar and answered without it; else ``None``.

        Servers that do not know a field may drop it without a word (an older vLLM, or a
        server of another kind than configured).  Only completion answers are checked: a
        chat answer is the code read out of a reply that servers may reshape (strip it,
        split off reasoning), so a mismatch there would prove nothing.
        """
        grammar = grammar_of(extra)
        if grammar is None or any(k in self._refused for k in extra):
            return None  # not sent, or refused with a 4xx (which warned already)
        for g in gens:
            if (g.raw or {}).get("endpoint") != "completions":
                continue
            # Only an answer that ended by itself with no stop sequence to cut it must be whole;
            # one cut by max_tokens, a stop sequence or the user can only be a start.
            whole = g.finish_reason == "stop" and not p.stop
            if not accepts(grammar, g.text, prefix=not whole):
                break
        else:
            return None
        with self._mode_lock:
            first = not any(k in self._refused for k in extra)
            self._refused.update(dict.fromkeys(extra, _IGNORED))
        warning = f"{self.provider} ignored the output constraint, so this answer is unconstrained."
        if first:  # concurrent requests may all notice it: say it once
            log.warning("%s", warning)
        return warning

    def _constraint(self, context: RequestContext | None) -> tuple[dict[str, Any] | None, str | None]:
        """The request fields that constrain this request, or why there are none (one sentence)."""
        if context is None or context.task is None or context.query is None:
            return None, "Output was not constrained: the request did not say which task and input it is for."
        from cocogen.tasks import get_format, get_task

        task = get_task(context.task)
        fmt_name = context.format or next(iter(task.formats))
        get_format(task, fmt_name)
        grammar = task.grammar(fmt_name, context.query)
        if grammar is None:
            return (
                None,
                f"Output was not constrained: the {fmt_name!r} format of {task.name} has no grammar for this input.",
            )
        kind = self._kind()
        body = constraint_body(kind, grammar)
        if body is None:
            return None, f"Output was not constrained: {self.provider} ({kind}) takes no grammar."
        why = [self._refused[k] for k in body if k in self._refused]
        if why:
            how = "ignored" if _IGNORED in why else "refused"
            return None, f"Output was not constrained: {self.provider} {how} the grammar before."
        return body, None

    def _kind(self) -> str:
        """The server's kind, asked of the server once when configured ``auto``."""
        if self._detected is None:
            detected = detect_server_kind(str(getattr(self._client, "base_url", "")), self._secret or None)
            with self._mode_lock:
                self._detected = self._detected or detected
        return self._detected

    def complete_streaming(
        self,
        prompt: str,
        params: GenerationParams | None = None,
        context: RequestContext | None = None,
        *,
        live: LiveText,
    ) -> list[Generation]:
        """:meth:`complete` with ``stream=True``: the answer so far is written into ``live``
        chunk by chunk, and :meth:`LiveText.stop <cocogen.streaming.LiveText.stop>` closes the
        stream (the generations then end with what arrived, ``finish_reason="stopped"``)."""
        token = _LIVE.set(live)
        try:
            return self.complete(prompt, params, context)
        finally:
            _LIVE.reset(token)

    def _call(self, fn: Any, *, shown: Callable[[str], str] | None = None, **kwargs: Any) -> tuple[Any, float]:
        """One request through the client, plus our retry of unparseable 200 answers.

        ``shown`` turns the answer so far into the completion a streaming request shows.
        """
        attempt = 0
        live = _LIVE.get()
        while True:
            t0 = time.perf_counter()
            try:
                with translate_errors(self.provider, [self._secret]):
                    if live is not None:
                        resp = _read_stream(fn, kwargs, live, shown or (lambda text: text), self.provider)
                    else:
                        resp = fn(**kwargs)
                return resp, time.perf_counter() - t0
            except BackendError as e:
                malformed = e.status is None and "not valid JSON" in str(e)
                if not malformed or attempt >= self.max_retries:
                    raise
                attempt += 1
                time.sleep(min(0.25 * 2**attempt, 4.0))

    def _completion(self, prompt: str, kwargs: dict[str, Any], shown_prefix: str = "") -> list[Generation]:
        extra = kwargs.get("extra_body") or {}
        if extra.get("logprobs") is True:  # the completions endpoint counts alternatives: 1 is enough
            kwargs = {**kwargs, "extra_body": {**extra, "logprobs": 1}}
        shown = (lambda text: shown_prefix + text) if shown_prefix else None
        resp, seconds = self._call(self._client.completions.create, shown=shown, prompt=prompt, **kwargs)
        if self._configured_mode == "auto" and self._resolved is None:
            with self._mode_lock:
                self._resolved = self._resolved or "completion"
        usage = getattr(resp, "usage", None)
        p_tok = getattr(usage, "prompt_tokens", None)
        c_tok = getattr(usage, "completion_tokens", None)
        choices = sorted(resp.choices or [], key=lambda c: c.index or 0)
        if not choices:
            raise BackendError(f"{self.provider} returned no completion.", retryable=True)
        per = c_tok // len(choices) if isinstance(c_tok, int) and len(choices) > 1 else c_tok
        return [
            Generation(
                text=c.text or "",
                finish_reason=c.finish_reason,
                prompt_tokens=p_tok,
                completion_tokens=per,
                seconds=seconds,
                raw={"id": resp.id, "model": resp.model, "endpoint": "completions"},
                token_logprobs=_completion_logprobs(getattr(c, "logprobs", None)),
            )
            for c in choices
        ]

    def _chat(self, prompt: str, kwargs: dict[str, Any], context: RequestContext | None) -> list[Generation]:
        messages = [
            {"role": "system", "content": self.chat_instructions},
            {"role": "user", "content": prompt},
        ]
        extra = kwargs.get("extra_body") or {}
        if extra.get("logprobs") is True:  # llama-cpp-python returns chat logprobs only with top_logprobs set
            kwargs = {**kwargs, "extra_body": {**extra, "top_logprobs": 1}}
        query_text = context.query_text if context is not None and context.query_text else _last_query(prompt, kwargs)
        resp, seconds = self._call(
            self._client.chat.completions.create,
            shown=lambda reply: strip_repeated_prefix(extract_code(reply), query_text),
            messages=messages,
            **kwargs,
        )
        usage = getattr(resp, "usage", None)
        p_tok = getattr(usage, "prompt_tokens", None)
        c_tok = getattr(usage, "completion_tokens", None)
        choices = sorted(resp.choices or [], key=lambda c: c.index or 0)
        if not choices:
            raise BackendError(f"{self.provider} returned no answer.", retryable=True)
        per = c_tok // len(choices) if isinstance(c_tok, int) and len(choices) > 1 else c_tok
        gens = []
        for c in choices:
            reply = (c.message.content if c.message else None) or ""
            gens.append(
                Generation(
                    text=strip_repeated_prefix(extract_code(reply), query_text),
                    finish_reason=c.finish_reason,
                    prompt_tokens=p_tok,
                    completion_tokens=per,
                    seconds=seconds,
                    raw={"id": resp.id, "model": resp.model, "endpoint": "chat", "reply": reply},
                    token_logprobs=_chat_logprobs(getattr(c, "logprobs", None)),
                )
            )
        return gens


def _continued(gen: Generation, keep: str, more: Generation) -> Generation:
    """``gen`` cut to its first ``len(keep)`` characters and continued by ``more`` (one answer)."""
    logprobs = None
    if gen.token_logprobs is not None and more.token_logprobs is not None:
        kept: list[tuple[str, float]] = []
        at = 0
        for text, logprob in gen.token_logprobs:
            if at >= len(keep):
                break
            kept.append((text[: len(keep) - at], logprob))  # a token the cut splits keeps its start
            at += len(text)
        logprobs = (*kept, *more.token_logprobs)

    def total(a: float | int | None, b: float | int | None) -> Any:
        return a + b if a is not None and b is not None else None

    return dataclasses.replace(
        gen,
        text=keep + more.text,
        finish_reason=more.finish_reason,
        completion_tokens=total(gen.completion_tokens, more.completion_tokens),
        seconds=total(gen.seconds, more.seconds),
        token_logprobs=logprobs,
    )


def _read_stream(
    fn: Any, kwargs: dict[str, Any], live: LiveText, shown: Callable[[str], str], provider: str = "the server"
) -> Any:
    """Ask with ``stream=True`` and gather the chunks into the shape of a whole answer.

    Completion chunks carry ``choices[i].text``, chat chunks ``choices[i].delta.content``;
    the answer of choice 0 so far goes to ``live`` after every chunk.  The request is read
    in a helper thread, so a Stop returns at once even while the server is silent (a
    socket read cannot be interrupted); the helper closes the stream at its next chunk,
    or when the client's read timeout ends the wait.  A stream that ends without saying
    why (no ``finish_reason``: the server went away mid-answer) is a retryable
    :class:`BackendError`, so a cut answer is never taken, nor cached, for a whole one.
    """
    from cocogen.streaming import STOPPED

    chunks: queue.Queue[Any] = queue.Queue()
    end, stopped = object(), object()

    def pump() -> None:
        stream = None
        try:
            try:
                stream = fn(**kwargs, stream=True, stream_options={"include_usage": True})
            except Exception as e:
                if getattr(e, "status_code", None) != 400 or "stream_options" not in str(e):
                    raise
                stream = fn(**kwargs, stream=True)  # a server that does not know the usage option
            for chunk in stream:
                chunks.put(chunk)
                if live.stopped:
                    break
        except Exception as e:  # noqa: BLE001 - raised again in the caller's thread
            chunks.put(e)
        finally:
            chunks.put(end)
            if stream is not None:
                stream.close()

    threading.Thread(target=pump, name="cocogen-openai-stream", daemon=True).start()
    forget = live.on_stop(lambda: chunks.put(stopped))
    texts: dict[int, list[str]] = {}
    finish: dict[int, str | None] = {}
    logprobs: dict[int, list[Any]] = {}
    chat = False
    ident = model = usage = None
    try:
        while (chunk := chunks.get()) is not end and chunk is not stopped:
            if isinstance(chunk, Exception):
                raise chunk
            ident, model = chunk.id or ident, chunk.model or model
            usage = getattr(chunk, "usage", None) or usage
            for c in chunk.choices or []:
                delta = getattr(c, "delta", None)
                chat = chat or delta is not None
                piece = (delta.content if delta is not None else c.text) or ""
                texts.setdefault(c.index or 0, []).append(piece)
                finish[c.index or 0] = c.finish_reason or finish.get(c.index or 0)
                if getattr(c, "logprobs", None) is not None:
                    logprobs.setdefault(c.index or 0, []).append(c.logprobs)
            if 0 in texts:
                live.write(shown("".join(texts[0])))
    finally:
        forget()
    if not live.stopped and any(finish.get(i) is None for i in texts or {0: []}):
        raise BackendError(
            f"{provider} ended its answer before finishing it (the stream stopped).",
            retryable=True,
            hint="Try again; the text written so far is shown.",
        )
    if live.stopped:
        texts = texts or {0: []}
        finish = dict.fromkeys(texts, STOPPED)
    choices = []
    for i in sorted(texts):
        text = "".join(texts[i])
        choices.append(
            SimpleNamespace(
                index=i,
                text=text,
                message=SimpleNamespace(content=text) if chat else None,
                finish_reason=finish.get(i),
                logprobs=_joined_logprobs(logprobs.get(i, [])),
            )
        )
    return SimpleNamespace(id=ident, model=model, usage=usage, choices=choices)


def _joined_logprobs(parts: list[Any]) -> Any:
    """The ``logprobs`` of a whole answer from those of its chunks (chat ``content`` lists, or
    the completion endpoint's parallel ``tokens`` / ``token_logprobs`` / … lists)."""
    if not parts:
        return None
    if any(getattr(p, "content", None) is not None for p in parts):
        return SimpleNamespace(content=[t for p in parts for t in (getattr(p, "content", None) or [])])
    fields = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
    joined = {f: [x for p in parts for x in (getattr(p, f, None) or [])] for f in fields}
    return SimpleNamespace(**{f: v or None for f, v in joined.items()})


def _last_query(prompt: str, kwargs: dict[str, Any]) -> str:
    """Without a :class:`RequestContext`, the query is what follows the last separator."""
    stops = kwargs.get("stop") or []
    if stops and stops[0] in prompt:
        return prompt.rsplit(stops[0], 1)[-1].lstrip("\n")
    return prompt


def _says_unsupported(e: BackendError) -> bool:
    """Does this error mean "use the chat endpoint for this model"?"""
    return e.status in (404, 400, 405, 501) and bool(_FALLBACK_HINTS.search(str(e)) or e.status in (405, 501))


def _blamed_field(e: BackendError, fields: dict[str, Any]) -> str | None:
    """The optional request field a 4xx answer blames, if any."""
    if e.status is None or not 400 <= e.status < 500 or e.status in (401, 403, 404, 429):
        return None
    msg = str(e).lower()
    for name in fields:
        if name != "logprobs" and (name.lower() in msg or mentions_constraint(msg)):
            return name
    return "logprobs" if "logprobs" in fields and "logprob" in msg else None


def _completion_logprobs(lp: Any) -> tuple[tuple[str, float], ...] | None:
    """``(token, log-prob)`` pairs from a completions choice's ``logprobs`` (``tokens``/``token_logprobs``)."""
    tokens = getattr(lp, "tokens", None) if lp is not None else None
    values = getattr(lp, "token_logprobs", None) if lp is not None else None
    if not isinstance(tokens, list) or not isinstance(values, list) or len(tokens) != len(values):
        return None
    try:
        return tuple((str(t), float(v)) for t, v in zip(tokens, values, strict=True) if v is not None)
    except (TypeError, ValueError):
        return None


def _chat_logprobs(lp: Any) -> tuple[tuple[str, float], ...] | None:
    """``(token, log-prob)`` pairs from a chat choice's ``logprobs.content``."""
    content = getattr(lp, "content", None) if lp is not None else None
    if not isinstance(content, list):
        return None
    try:
        return tuple((str(item.token), float(item.logprob)) for item in content)
    except (AttributeError, TypeError, ValueError):
        return None
