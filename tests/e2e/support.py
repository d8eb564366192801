"""A real ``streamlit run app.py`` on a free port of 127.0.0.1, and a real Chromium to drive it.

Used by the browser tests and by ``python -m tests.e2e.screenshot``.  Playwright drives the
system Chromium (``shutil.which("chromium")``; never ``playwright install``).  Helpers wait for
conditions (an element, a text, the script state), never for a fixed time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"  # never docs/: see tests/e2e/screenshot.py
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
START_TIMEOUT_S = 120  # `streamlit run` importing everything on two busy cores
RUN_TIMEOUT_MS = 120_000  # one script run (no model call) on a loaded machine
GENERATE_TIMEOUT_MS = 300_000  # a cold local model on two busy cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    log_path: Path
    started_at: float  # time.perf_counter() when `streamlit run` was started
    health_s: float = 0.0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve(env: Mapping[str, str], log_path: Path) -> Iterator[Server]:
    """Run ``streamlit run app.py`` (cwd: the repository) until the block ends; print its log after."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]  # fmt: skip
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", log_path, t0)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{server.log()}")
            time.sleep(0.2)  # polling interval, not a wait for luck: the loop waits for the health check
        server.health_s = time.perf_counter() - t0
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        log.close()
        print("\n----- streamlit server log -----\n" + server.log() + "\n----- end of server log -----")


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless system Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """What a page did besides drawing: dialogs it opened, script errors, every URL it asked for."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        """Requests to another host than this machine (``data:`` and ``blob:`` URLs never leave it)."""
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about", "chrome-extension"):
                continue
            if parts.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out


def watch(page: Any) -> Watched:
    """Record dialogs (and dismiss them), page errors and every request and WebSocket of ``page``."""
    seen = Watched()

    def on_dialog(d: Any) -> None:
        seen.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.on("request", lambda r: seen.urls.append(r.url))
    page.on("websocket", lambda ws: seen.urls.append(ws.url))
    return seen


def wait_for_run(page: Any, timeout: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the app has finished its current script run.

    Only safe where a run is known to have started (after ``goto``, or after an element of
    the new run appeared); after a click, wait for what the click produces instead.
    """
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout)


def open_page(page: Any, url: str, heading: str, timeout: int = RUN_TIMEOUT_MS) -> None:
    """Load ``url`` and wait for the page's title and the end of its run."""
    from playwright.sync_api import expect

    page.goto(url, timeout=timeout, wait_until="commit")  # then wait for what the app draws
    expect(page.locator('[data-testid="stMain"] h1').filter(has_text=heading)).to_be_visible(timeout=timeout)
    wait_for_run(page, timeout)


def shot(page: Any, name: str, height: int | None = None, directory: Path = SHOTS) -> Path:
    """Screenshot the whole window; ``height`` enlarges it first (Streamlit scrolls inside the page)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    if height is not None:
        page.set_viewport_size({"width": 1500, "height": height})
        wait_for_run(page)
    page.screenshot(path=str(path))
    return path
