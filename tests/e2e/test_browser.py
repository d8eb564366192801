"""End to end in a real browser: ``streamlit run app.py`` driven by headless Chromium.

The server is the real command a user types, on a free port on 127.0.0.1, with the real
local model (Gemma 3 270M through llama.cpp) loading in the background.  Screenshots go to
``artifacts/screenshots/`` (``docs/screenshot.png`` is refreshed by ``python -m
tests.e2e.screenshot``, never by a test).  Every test also checks that the browser asked no
other host than this machine for anything.

Run with ``python -m pytest -m e2e tests/e2e``; the server log is printed at teardown.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    GENERATE_TIMEOUT_MS,
    RUN_TIMEOUT_MS,
    Server,
    chromium,
    open_page,
    serve,
    shot,
    wait_for_run,
    watch,
)

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


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
def app(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Server]:
    """``streamlit run app.py`` with the local model loading in the background."""
    tmp = tmp_path_factory.mktemp("e2e")
    runs = tmp / "runs"
    _hostile_run(runs / "hostile.jsonl")
    env = {
        "COCOGEN_RUNS_DIR": str(runs),
        "COCOGEN_CACHE_DIR": str(tmp / "cache"),  # nothing cached: the model really generates
        "COCOGEN_DATA_DIR": str(data_dir),
        "COCOGEN_WARMUP": "1",
        # One llama.cpp thread: on a machine whose few cores are busy with other work, threads
        # that spin-wait for each other make generation 10-30x slower (measured here).
        "COCOGEN_THREADS": "1",
    }
    with serve(env, tmp / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = ctx.new_page()
    pg.seen = watch(pg)  # type: ignore[attr-defined]
    yield pg
    ctx.close()
    assert pg.seen.foreign() == [], f"requests left this machine: {pg.seen.foreign()}"  # type: ignore[attr-defined]


def _main(page: Any) -> Any:
    return page.locator('[data-testid="stMain"]')


def _no_exception(page: Any) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert "Traceback" not in _main(page).inner_text()


# Set at document start: records whether the home page's title and picture were in the page
# while the sidebar still said the model was loading (checked on every DOM change).
DRAWN_WHILE_LOADING = """
window.__drawnWhileLoading = false;
new MutationObserver(() => {
  const title = document.querySelector('[data-testid="stMain"] h1');
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  if (title && title.textContent.includes('CoCoGen Studio') && sidebar
      && sidebar.textContent.includes('loading the model')) {
    window.__drawnWhileLoading = true;
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


# --- tests (in order: the model loads in the background while the first ones run) ---------------------


def test_first_page_does_not_wait_for_the_model(app: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.add_init_script(DRAWN_WHILE_LOADING)
    open_page(page, app.url, "CoCoGen Studio")
    print(f"health after {app.health_s:.2f} s; home drawn {time.perf_counter() - app.started_at:.2f} s after start")
    expect(page.locator('[data-testid="stGraphVizChart"] svg').first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    assert page.evaluate("window.__drawnWhileLoading"), "the page was complete while the model was still loading"
    _no_exception(page)
    shot(page, "home")


@pytest.mark.parametrize(
    ("path", "heading"),
    [("", "CoCoGen Studio"), ("playground", "Playground"), ("compare", "Compare formats"),
     ("inspect", "Inspect a run"), ("evaluate", "Evaluate"), ("learn", "Learn how CoCoGen works")],
)  # fmt: skip
def test_every_page_loads_without_an_exception(app: Server, page: Any, path: str, heading: str) -> None:
    open_page(page, f"{app.url}/{path}", heading)
    _no_exception(page)
    assert not page.seen.errors, page.seen.errors
    shot(page, f"page-{path or 'home'}")


def test_playground_generates_with_the_local_model(app: Server, page: Any) -> None:
    from playwright.sync_api import expect

    open_page(page, f"{app.url}/playground", "Playground")
    page.get_by_role("button", name="Generate").click()
    parse = page.locator('[data-testid="stMetric"]').filter(has_text="Parse")
    expect(parse).to_contain_text("clean", timeout=GENERATE_TIMEOUT_MS)
    wait_for_run(page, GENERATE_TIMEOUT_MS)
    _no_exception(page)
    expect(_main(page)).to_contain_text("def step0(self):")  # the generated class is shown
    svg = page.locator('[data-testid="stGraphVizChart"] svg')
    expect(svg.first.locator("g.node").nth(1)).to_be_attached(timeout=RUN_TIMEOUT_MS)  # an SVG graph of the steps
    shot(page, "playground", height=1500)


def test_compare_shows_both_columns(app: Server, page: Any) -> None:
    from playwright.sync_api import expect

    open_page(page, f"{app.url}/compare", "Compare formats")
    page.get_by_role("button", name="Compare", exact=True).click()
    for name in ("code · code", "text · text"):
        expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=GENERATE_TIMEOUT_MS)
    wait_for_run(page, GENERATE_TIMEOUT_MS)
    _no_exception(page)
    shot(page, "compare")


def _pick(page: Any, label: str, option: str) -> None:
    """Choose ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()


def test_inspect_filters_and_opens_a_detail_view(app: Server, page: Any) -> None:
    from playwright.sync_api import expect

    open_page(page, f"{app.url}/inspect", "Inspect a run")
    caption = page.get_by_text("of 396 examples")
    expect(caption).to_have_text("396 of 396 examples", timeout=RUN_TIMEOUT_MS)
    search = page.get_by_role("textbox", name="Search")
    search.fill("marriage")
    search.press("Enter")
    expect(caption).not_to_have_text("396 of 396 examples", timeout=RUN_TIMEOUT_MS)
    shown = int(caption.inner_text().split()[0])
    assert 0 < shown < 396
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Example 2 of")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    wait_for_run(page)
    expect(page.locator('[data-testid="stGraphVizChart"] svg g.node').nth(1)).to_be_attached(timeout=RUN_TIMEOUT_MS)
    expect(_main(page)).to_contain_text("matched")
    _no_exception(page)
    shot(page, "inspect")


def test_a_hostile_label_raises_no_dialog(app: Server, page: Any) -> None:
    from playwright.sync_api import expect

    open_page(page, f"{app.url}/inspect", "Inspect a run")
    _pick(page, "Run file", "run · hostile.jsonl")
    expect(page.get_by_text("Reference vs prediction")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    svg = page.locator('[data-testid="stGraphVizChart"] svg').first
    expect(svg).to_contain_text("onerror=alert(1)", timeout=RUN_TIMEOUT_MS)  # the label is drawn as text
    page.get_by_text("Interactive").click()  # the pyvis view: vis.js sets tooltips as HTML
    iframe = page.locator('[data-testid="stIFrame"]')
    frame = page.frame_locator('[data-testid="stIFrame"]')
    frame.locator("canvas").first.wait_for(timeout=RUN_TIMEOUT_MS)
    # Stop the layout, then find where the hostile node is drawn (pyvis's page keeps `network`
    # and `nodes` as globals) and hover over it until its tooltip opens.
    spot = frame.locator("body").evaluate(
        """() => {
          network.stopSimulation();
          const node = nodes.get().find(n => String(n.title).includes('onerror'));
          const at = network.canvasToDOM(network.getPositions([node.id])[node.id]);
          const canvas = document.querySelector('canvas').getBoundingClientRect();
          return {x: canvas.left + at.x, y: canvas.top + at.y};
        }"""
    )
    iframe.scroll_into_view_if_needed()  # the mouse only reaches what is in the window
    box = iframe.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + spot["x"] - 20, box["y"] + spot["y"] - 20)
    page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"], steps=5)
    tooltip = frame.locator("div.vis-tooltip")
    expect(tooltip).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(tooltip).to_contain_text(HOSTILE)  # shown as text...
    assert tooltip.locator("img").count() == 0, "...and no <img> element came out of the label"
    assert frame.locator("img").count() == 0
    assert _main(page).locator('img[src="x"]').count() == 0
    _no_exception(page)
    shot(page, "hostile")
    assert page.seen.dialogs == [], f"a label ran script: {page.seen.dialogs}"
