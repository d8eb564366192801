"""A real HTTP file server on 127.0.0.1 with Range requests, a request log and a broken-connection fault.

Serves a folder laid out like the data dir (a mirror for ``cocogen data download``).
``Mirror.cut[path] = n`` makes the next request for ``path`` send ``n`` bytes of the body
and close the connection, as a network that drops mid-download does.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Mirror", "serve_files", "closed_url"]


@dataclass
class Mirror:
    url: str
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    cut: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before the connection drops (once)


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    mirror: Mirror

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        rel = self.path.lstrip("/")
        self.mirror.requests.append((rel, self.headers.get("Range")))
        path = Path(self.directory) / rel
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        start = 0
        if m := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or ""):
            start = int(m.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if rel in self.mirror.cut:
            self.wfile.write(body[start : start + self.mirror.cut.pop(rel)])
            self.close_connection = True  # the rest never comes: a broken connection
            return
        self.wfile.write(body[start:])


@contextmanager
def serve_files(root: Path) -> Iterator[Mirror]:
    """Serve ``root`` until the block ends."""
    state = Mirror("")
    handler = type("Handler", (_RangeHandler,), {"mirror": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def closed_url() -> str:
    """The address of a port nothing listens on (a machine with no network to reach)."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as s:
        port = s.server_address[1]
    return f"http://127.0.0.1:{port}"
