"""A small, real OpenAI-compatible HTTP server for tests and benchmarks.

It listens on ``127.0.0.1`` (an OS-chosen port), serves ``/v1/completions``,
``/v1/chat/completions`` and ``/v1/models`` with deterministic answers, records every
request (path, headers, body, time), and injects faults on demand: slow answers, 429 with
``Retry-After``, 500, malformed JSON, dropped connections, and the "chat model not
supported on completions" error of chat-only models.  It is deliberately stdlib-only
(``http.server``) so it exercises the real network path of the ``openai`` client.

Examples
--------
>>> import json, urllib.request
>>> with FakeOpenAIServer() as srv:
...     body = json.dumps({"model": "m", "prompt": "x = "}).encode()
...     req = urllib.request.Request(srv.base_url + "/completions", body, {"Content-Type": "application/json"})
...     answer = json.load(urllib.request.urlopen(req))
>>> answer["choices"][0]["text"] == default_responder("x = ")
True
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAIServer", "Fault", "RecordedRequest", "default_responder", "table_responder", "SEPARATOR"]

SEPARATOR = "# END\n\n"
CHAT_ONLY_MESSAGE = (
    "This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?"
)

Responder = Callable[[str], str]


def default_responder(prompt: str) -> str:
    """A deterministic completion that depends on the whole prompt."""
    return f"    # completion {hashlib.sha256(prompt.encode()).hexdigest()[:12]}\n"


def table_responder(table: Mapping[str, str], default: Responder | None = None) -> Responder:
    """Answer with ``table[query]`` where ``query`` is the end of the prompt after the last example.

    Keys are query texts (what follows the last ``# END`` block); a prompt that ends with
    a key gets its value.  Unknown prompts get ``default(prompt)`` or an empty completion.
    """
    exact = dict(table)

    def respond(prompt: str) -> str:
        tail = prompt.rsplit(SEPARATOR, 1)[-1]
        if tail in exact:
            return exact[tail]
        for key, value in exact.items():  # queries rendered after a different separator
            if prompt.endswith(key):
                return value
        return default(prompt) if default else ""

    return respond


@dataclass
class Fault:
    """One injected failure.  ``kind`` is one of ``slow``, ``401`` (echoing the key), ``429``,
    ``500``, ``malformed``, ``drop``, ``not_supported``; ``times=None`` repeats forever; ``match`` limits it to
    prompts containing that text; ``seconds`` is the delay (slow) or Retry-After (429)."""

    kind: str
    times: int | None = 1
    match: str | None = None
    seconds: float = 0.0
    path: str | None = None  # only this endpoint, e.g. "/v1/completions"


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    raw: bytes
    at: float  # time.monotonic() when the request arrived
    handled_s: float = 0.0


@dataclass
class _State:
    responder: Responder = default_responder
    delay: float = 0.0
    chat_only_models: set[str] = field(default_factory=set)
    unknown_models: set[str] = field(default_factory=set)
    # Request fields answered with a 400 naming them (a server that takes no grammar).
    rejected_fields: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The gate (see FakeOpenAIServer.hold_after): answer `hold_after` requests, hold the rest.
    hold_after: int | None = None
    admitted: int = 0
    held: int = 0
    gate: threading.Event = field(default_factory=threading.Event)
    # Streamed answers (``"stream": true``): one chunk per line, `stream_delay` seconds apart;
    # with `stream_hold_after` set, every stream pauses after that many chunks until release().
    stream_delay: float = 0.0
    stream_hold_after: int | None = None
    stream_gate: threading.Event = field(default_factory=threading.Event)
    streams_paused: int = 0
    stream_cut: bool = False  # paused streams end by dropping the connection instead of going on
    chunks_sent: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do: the client reuses connections
    # Buffer the response and send headers and body in one segment: written separately they
    # meet Nagle's algorithm and delayed ACKs, adding ~40 ms to every request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    # --- plumbing -------------------------------------------------------------------------

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(obj).encode(), headers)

    def _send_raw(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": "fake", "code": status}}, headers)

    def _take_fault(self, path: str, prompt: str) -> Fault | None:
        st = self.server.state
        with st.lock:
            for f in st.faults:
                if f.path and f.path != path:
                    continue
                if f.match is not None and f.match not in prompt:
                    continue
                if f.times is not None:
                    f.times -= 1
                    if f.times <= 0:
                        st.faults.remove(f)
                return f
        return None

    # --- endpoints ------------------------------------------------------------------------

    def do_GET(self) -> None:
        started = time.perf_counter()
        self._record(b"", None, time.monotonic(), started)
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [{"id": "fake-code-model", "object": "model"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        arrived = time.monotonic()
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        path = self.path.split("?")[0].rstrip("/")
        rec = self._record(raw, body, arrived, started)
        if not isinstance(body, dict):
            self._error(400, "request body is not JSON")
            return
        if path == "/v1/completions":
            prompt = body.get("prompt")
            prompt = prompt if isinstance(prompt, str) else json.dumps(prompt)
        elif path == "/v1/chat/completions":
            msgs = body.get("messages") or []
            prompt = "\n".join(str(m.get("content", "")) for m in msgs if m.get("role") == "user")
        else:
            self._error(404, f"no route {self.path}")
            return

        st = self.server.state
        with st.lock:
            held = st.hold_after is not None and st.admitted >= st.hold_after
            st.admitted += 1
            st.held += held
        if held:
            st.gate.wait()
            with st.lock:
                st.held -= 1
        fault = self._take_fault(path, prompt)
        delay = st.delay + (fault.seconds if fault and fault.kind == "slow" else 0.0)
        if delay:
            time.sleep(delay)
        if fault is not None:
            if fault.kind == "429":
                self._error(429, "Rate limit reached for requests", {"Retry-After": f"{fault.seconds:g}"})
                return self._done(rec, started)
            if fault.kind == "401":
                # A careless server that echoes the credential it was given.
                self._error(401, f"Incorrect API key provided: {self.headers.get('Authorization', '')}.")
                return self._done(rec, started)
            if fault.kind == "500":
                self._error(500, "The server had an error while processing your request.")
                return self._done(rec, started)
            if fault.kind == "malformed":
                self._send_raw(200, b'{"id": "cmpl-broken", "choices": [{"text": "trunc')
                return self._done(rec, started)
            if fault.kind == "drop":
                # Close the socket without answering: the client sees a dropped connection.
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return self._done(rec, started)
            if fault.kind == "not_supported" and path == "/v1/completions":
                self._error(404, CHAT_ONLY_MESSAGE)
                return self._done(rec, started)

        model = str(body.get("model", ""))
        if model in st.unknown_models:
            self._error(404, f"The model `{model}` does not exist or you do not have access to it.")
            return self._done(rec, started)
        if path == "/v1/completions" and model in st.chat_only_models:
            self._error(404, CHAT_ONLY_MESSAGE)
            return self._done(rec, started)
        refused = sorted(st.rejected_fields & set(body))
        if refused:
            self._error(400, f"Extra inputs are not permitted: {refused[0]}")
            return self._done(rec, started)
        n = int(body.get("n") or 1)
        text = st.responder(prompt)
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(path, model, prompt, text, n, usage, bool(body.get("logprobs")))
            return self._done(rec, started)
        if path == "/v1/completions":
            choices = [{"text": text, "index": i, "logprobs": None, "finish_reason": "stop"} for i in range(n)]
            obj = "text_completion"
        else:
            content = f"Here is the continuation:\n```python\n{text}```\n"
            choices = [
                {"index": i, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                for i in range(n)
            ]
            obj = "chat.completion"
        p_tok, c_tok = len(prompt.split()), len(text.split())
        self._send_json(
            200,
            {
                "id": f"cmpl-{hashlib.sha1(prompt.encode()).hexdigest()[:10]}",
                "object": obj,
                "created": 0,
                "model": model,
                "choices": choices,
                "usage": {"prompt_tokens": p_tok, "completion_tokens": c_tok * n, "total_tokens": p_tok + c_tok * n},
            },
        )
        self._done(rec, started)

    def _stream(self, path: str, model: str, prompt: str, text: str, n: int, usage: bool, logprobs: bool) -> None:
        """Server-sent events as OpenAI sends them: one chunk per line of the answer, then ``[DONE]``.

        With ``logprobs``, each chunk says its line is one token of log-probability -0.5.
        """
        st = self.server.state
        chat = path == "/v1/chat/completions"
        pieces = text.splitlines(keepends=True)
        if chat:
            pieces = ["Here is the continuation:\n```python\n", *pieces, "```\n"]
        ident = f"cmpl-{hashlib.sha1(prompt.encode()).hexdigest()[:10]}"
        obj = "chat.completion.chunk" if chat else "text_completion"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def send(choices: list[dict[str, Any]], extra: Mapping[str, Any] | None = None) -> None:
            event = {"id": ident, "object": obj, "created": 0, "model": model, "choices": choices, **(extra or {})}
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()

        try:
            for k, piece in enumerate(pieces):
                if st.stream_hold_after is not None and k == st.stream_hold_after:
                    with st.lock:
                        st.streams_paused += 1
                    st.stream_gate.wait()
                    with st.lock:
                        st.streams_paused -= 1
                    if st.stream_cut:
                        self.connection.shutdown(socket.SHUT_RDWR)  # the server died mid-answer
                        return
                elif k and st.stream_delay:
                    time.sleep(st.stream_delay)
                if chat:
                    lp: Any = {"content": [{"token": piece, "logprob": -0.5, "bytes": None, "top_logprobs": []}]}
                    choices = [
                        {
                            "index": i,
                            "delta": {"content": piece},
                            "logprobs": lp if logprobs else None,
                            "finish_reason": None,
                        }
                        for i in range(n)
                    ]
                else:
                    lp = {"tokens": [piece], "token_logprobs": [-0.5], "top_logprobs": None, "text_offset": [k]}
                    choices = [
                        {"index": i, "text": piece, "logprobs": lp if logprobs else None, "finish_reason": None}
                        for i in range(n)
                    ]
                send(choices)
                with st.lock:
                    st.chunks_sent += 1
            end: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
            end.update({"delta": {}} if chat else {"text": "", "logprobs": None})
            send([{**end, "index": i} for i in range(n)])
            if usage:
                p_tok, c_tok = len(prompt.split()), len(text.split())
                send(
                    [],
                    {
                        "usage": {
                            "prompt_tokens": p_tok,
                            "completion_tokens": c_tok * n,
                            "total_tokens": p_tok + c_tok * n,
                        }
                    },
                )
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client closed the stream (a Stop)

    def _record(self, raw: bytes, body: Any, arrived: float, started: float) -> RecordedRequest:
        st = self.server.state
        rec = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw, arrived)
        with st.lock:
            st.requests.append(rec)
        return rec

    def _done(self, rec: RecordedRequest, started: float) -> None:
        # Server-side handling time, injected delay included.
        rec.handled_s = time.perf_counter() - started


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many concurrent clients in the benchmark
    allow_reuse_address = True

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is part of the tests, not a server bug.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer() as srv:`` or :meth:`start`; ``srv.base_url`` ends in ``/v1``."""

    def __init__(self, responder: Responder = default_responder, *, delay: float = 0.0) -> None:
        self.state = _State(responder=responder, delay=delay)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> FakeOpenAIServer:
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # configuration
    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def delay(self) -> float:
        return self.state.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.state.delay = seconds

    @property
    def responder(self) -> Responder:
        return self.state.responder

    @responder.setter
    def responder(self, fn: Responder) -> None:
        self.state.responder = fn

    def set_chat_only(self, *models: str) -> None:
        with self.state.lock:
            self.state.chat_only_models = set(models)

    def set_unknown(self, *models: str) -> None:
        """These model names get OpenAI's 404 "model does not exist" on every endpoint."""
        with self.state.lock:
            self.state.unknown_models = set(models)

    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        match: str | None = None,
        seconds: float = 0.0,
        path: str | None = None,
    ) -> Fault:
        if kind not in {"slow", "401", "429", "500", "malformed", "drop", "not_supported"}:
            raise ValueError(f"unknown fault {kind!r}")
        f = Fault(kind, times, match, seconds, path)
        with self.state.lock:
            self.state.faults.append(f)
        return f

    def reject_field(self, *names: str) -> None:
        """Answer requests that carry any of these body fields with a 400 naming the field."""
        with self.state.lock:
            self.state.rejected_fields = set(names)

    def hold_after(self, n: int) -> None:
        """Answer the next ``n`` completion requests, then hold every later one until :meth:`release`.

        Lets a test act (cancel, interrupt, kill) while a run is known to be part-way, on
        a machine of any speed.
        """
        with self.state.lock:
            self.state.hold_after, self.state.admitted = n, 0
            self.state.gate.clear()

    def release(self) -> None:
        """Answer the held requests and stop holding (streams paused by :meth:`pause_streams` go on)."""
        with self.state.lock:
            self.state.hold_after = None
            self.state.gate.set()
            self.state.stream_hold_after = None
            self.state.stream_gate.set()

    def pause_streams(self, after: int) -> None:
        """Pause every streamed answer after ``after`` chunks (lines) until :meth:`release`."""
        with self.state.lock:
            self.state.stream_hold_after = after
            self.state.stream_cut = False
            self.state.stream_gate.clear()

    def cut_streams(self) -> None:
        """End the paused streams by dropping their connections (a server that dies mid-answer)."""
        with self.state.lock:
            self.state.stream_cut = True
            self.state.stream_hold_after = None
            self.state.stream_gate.set()

    @property
    def streams_paused(self) -> int:
        """How many streamed answers are waiting at their pause now."""
        with self.state.lock:
            return self.state.streams_paused

    @property
    def stream_delay(self) -> float:
        return self.state.stream_delay

    @stream_delay.setter
    def stream_delay(self, seconds: float) -> None:
        """Seconds between the chunks of a streamed answer."""
        self.state.stream_delay = seconds

    @property
    def held(self) -> int:
        """How many requests are waiting at the gate now."""
        with self.state.lock:
            return self.state.held

    def reset(self) -> None:
        """Forget faults, recorded requests and custom answers (between tests)."""
        self.release()
        with self.state.lock:
            self.state.faults.clear()
            self.state.requests.clear()
            self.state.chat_only_models = set()
            self.state.unknown_models = set()
            self.state.rejected_fields = set()
            self.state.delay = 0.0
            self.state.stream_delay = 0.0
            self.state.stream_cut = False
            self.state.responder = default_responder

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    def completion_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/v1/")]


def _main(argv: list[str] | None = None) -> None:  # pragma: no cover - used by bench/ and by hand
    """``python -m tests.fakes.openai_server [--delay S] [--gold TASK:SPLIT]``: print the URL, serve."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    ap.add_argument("--gold", help="answer the queries of TASK:SPLIT with their gold completions")
    args = ap.parse_args(argv)
    responder: Responder = default_responder
    if args.gold:
        from cocogen.tasks import get_task

        name, _, split = args.gold.partition(":")
        task = get_task(name)
        fmt = next(iter(task.formats.values()))
        table = {}
        for ex in task.load(split or task.splits[0]):
            query = fmt.render_query(task.query_of(ex.graph))
            table[query] = fmt.render(ex.graph)[len(query) :]
        responder = table_responder(table, default_responder)
    srv = FakeOpenAIServer(responder, delay=args.delay).start()
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":  # pragma: no cover
    _main()
