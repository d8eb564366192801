"""End to end in a real browser: ``streamlit run app.py`` driven by headless Chromium.

The server is the real command a user types, on a free port on 127.0.0.1, with the real
local model (Gemma 3 270M through llama.cpp) loading in the background.  Playwright
drives the system Chromium (``/usr/bin/chromium``; no browser download).  Screenshots go
to ``artifacts/screenshots/``; the Playground one becomes ``docs/screenshot.png``.

Run with ``python -m pytest -m e2e tests/e2e``; the server log is printed at teardown.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
GENERATE_TIMEOUT_MS = 240_000  # a cold local model on 2 busy cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hostile_run(path: Path) -> None:
    """A real run file (written by ``run_batch``) whose model output is hostile HTML."""
    from cocogen.runs import run_batch
    from cocogen.tasks import get_task
    from cocogen.types import Generation

    completion = f'        self.graph = "({HOSTILE}; causes; <script>alert(2)</script>)(war; causes; {HOSTILE})"\n'

    class Hostile:  # any object with these members is a backend
        name, mode, model = "hostile", "completion", "hostile"

        def signature(self) -> str:
            return "hostile"

        def complete(self, prompt: str, params: Any = None, context: Any = None) -> list[Generation]:
            return [Generation(completion, "stop", 1, 20, 0.0)]

    rows = get_task("explagraphs").load("cocogen-dev")[:2]
    run_batch("explagraphs", "code", Hostile(), rows, path, progress=False)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[dict[str, Any]]:
    """``streamlit run app.py`` on a free port; yields its URL and startup time, prints its log after."""
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("e2e")
    runs = tmp / "runs"
    _hostile_run(runs / "hostile.jsonl")
    port = _free_port()
    env = {
        **os.environ,
        "COCOGEN_RUNS_DIR": str(runs),
        "COCOGEN_CACHE_DIR": str(tmp / "cache"),  # nothing cached: the model really generates
        "COCOGEN_DATA_DIR": str(data_dir),
        "COCOGEN_WARMUP": "1",
        # One llama.cpp thread: on a machine whose few cores are busy with other work, threads
        # that spin-wait for each other make generation 10-30x slower (measured here).
        "COCOGEN_THREADS": os.environ.get("COCOGEN_THREADS", "1"),
    }
    log_path = tmp / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed at teardown
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield {"url": url, "t0": t0, "health_s": time.perf_counter() - t0, "runs": runs}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        print("\n----- streamlit server log -----\n" + log_path.read_text() + "\n----- end of server log -----")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = ctx.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.page_errors = []  # type: ignore[attr-defined]

    def on_dialog(d: Any) -> None:
        pg.dialogs.append(d.message)  # type: ignore[attr-defined]
        d.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("pageerror", lambda e: pg.page_errors.append(str(e)))  # type: ignore[attr-defined]
    yield pg
    ctx.close()


def _settle(page: Any, timeout: int = 60_000) -> None:
    """Wait until the script has finished running (and a moment for the last deltas)."""
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=timeout)
    page.wait_for_timeout(400)


def _no_exception(page: Any) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()
    assert "Traceback" not in page.locator('[data-testid="stMain"]').inner_text()


def _shot(page: Any, name: str, height: int | None = None) -> Path:
    """Screenshot the page; ``height`` enlarges the window first (Streamlit scrolls inside the page)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if height is not None:
        page.set_viewport_size({"width": 1500, "height": height})
        page.wait_for_timeout(800)  # let the layout and the graph settle at the new size
    page.screenshot(path=str(path))
    return path


def _open(page: Any, app: dict[str, Any], path: str) -> None:
    page.goto(f"{app['url']}/{path}")
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=60_000)
    _settle(page)


# --- tests (in order: the model loads in the background while the first ones run) ---------------------


def test_first_page_is_interactive_quickly(app: dict[str, Any], page: Any) -> None:
    _open(page, app, "")
    shown_s = time.perf_counter() - app["t0"]
    print(f"health after {app['health_s']:.2f} s; home page drawn {shown_s:.2f} s after `streamlit run`")
    assert page.get_by_role("heading", name="CoCoGen Studio").is_visible()
    assert page.locator('[data-testid="stGraphVizChart"] svg').count() >= 1
    assert shown_s < 10, (
        "the first page must not wait for the model (target 5 s; 4.3 s measured here, browser start included)"
    )
    _no_exception(page)
    _shot(page, "home")


@pytest.mark.parametrize("path", ["", "playground", "compare", "inspect", "evaluate", "learn"])
def test_every_page_loads_without_an_exception(app: dict[str, Any], page: Any, path: str) -> None:
    _open(page, app, path)
    _no_exception(page)
    assert not page.page_errors, page.page_errors
    _shot(page, f"page-{path or 'home'}")


def test_playground_generates_with_the_local_model(app: dict[str, Any], page: Any) -> None:
    _open(page, app, "playground")
    page.get_by_role("button", name="Generate").click()
    page.locator('[data-testid="stMetric"]').filter(has_text="Parse").wait_for(timeout=GENERATE_TIMEOUT_MS)
    _settle(page, GENERATE_TIMEOUT_MS)
    _no_exception(page)
    assert page.locator('[data-testid="stMetric"]').filter(has_text="Parse").filter(has_text="clean").count() == 1
    main = page.locator('[data-testid="stMain"]')
    assert "def step0(self):" in main.inner_text(), "the generated class is shown"
    svg = page.locator('[data-testid="stGraphVizChart"] svg')
    svg.first.wait_for(timeout=30_000)
    assert svg.first.locator("g.node").count() >= 2, "an SVG graph of the steps"
    shot = _shot(page, "playground", height=1500)
    shutil.copyfile(shot, REPO / "docs" / "screenshot.png")


def test_compare_shows_both_columns(app: dict[str, Any], page: Any) -> None:
    _open(page, app, "compare")
    page.get_by_role("button", name="Compare", exact=True).click()
    code = page.get_by_role("heading", name="code · code")
    text = page.get_by_role("heading", name="text · text")
    code.wait_for(timeout=GENERATE_TIMEOUT_MS)
    text.wait_for(timeout=GENERATE_TIMEOUT_MS)
    _settle(page, GENERATE_TIMEOUT_MS)
    _no_exception(page)
    assert code.is_visible() and text.is_visible()
    _shot(page, "compare")


def _pick(page: Any, label: str, option: str) -> None:
    """Choose ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()
    _settle(page)


def test_inspect_filters_and_opens_a_detail_view(app: dict[str, Any], page: Any) -> None:
    _open(page, app, "inspect")
    page.get_by_text("StCA").first.wait_for(timeout=60_000)
    caption = page.get_by_text("of 396 examples")
    assert caption.inner_text().startswith("396 of 396")
    search = page.get_by_role("textbox", name="Search")
    search.fill("marriage")
    search.press("Enter")
    _settle(page)
    shown = int(page.get_by_text("of 396 examples").inner_text().split()[0])
    assert 0 < shown < 396
    page.get_by_role("button", name="Next").click()
    _settle(page)
    assert page.get_by_text("Example 2 of").is_visible()
    assert page.locator('[data-testid="stGraphVizChart"] svg g.node').count() >= 2
    assert "matched" in page.locator('[data-testid="stMain"]').inner_text()
    _no_exception(page)
    _shot(page, "inspect")


def test_a_hostile_label_raises_no_dialog(app: dict[str, Any], page: Any) -> None:
    _open(page, app, "inspect")
    _pick(page, "Run file", "run · hostile.jsonl")
    page.get_by_text("Reference vs prediction").wait_for(timeout=30_000)
    svg = page.locator('[data-testid="stGraphVizChart"] svg')
    svg.first.wait_for(timeout=30_000)
    drawn = svg.first.text_content() or ""
    assert "onerror=alert(1)" in drawn, "the label is drawn as text"
    page.get_by_text("Interactive").click()  # the pyvis view: vis.js tooltips are HTML
    frame_el = page.locator('[data-testid="stIFrame"]')
    frame_el.wait_for(timeout=30_000)
    frame = page.frame_locator('[data-testid="stIFrame"]')
    frame.locator("canvas").first.wait_for(timeout=30_000)
    box = frame.locator("canvas").first.bounding_box()
    if box:  # hover over the drawing so tooltips open
        for fx, fy in ((0.5, 0.5), (0.3, 0.4), (0.7, 0.6), (0.5, 0.3)):
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            page.wait_for_timeout(300)
    page.wait_for_timeout(1500)
    assert frame.locator("img").count() == 0, "no <img> element came out of a label"
    assert page.locator('[data-testid="stMain"] img[src="x"]').count() == 0
    _no_exception(page)
    _shot(page, "hostile")
    assert page.dialogs == [], f"a label ran script: {page.dialogs}"
