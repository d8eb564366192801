"""In a real browser: an edge of the interactive view shows the model's confidence as a tooltip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.test_confidence_pages import _sure_run
from tests.e2e.support import RUN_TIMEOUT_MS, Server, chromium, open_page, serve, shot, watch

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e-confidence")
    runs = tmp / "runs"
    _sure_run(runs / "sure.jsonl")
    env = {
        "COCOGEN_RUNS_DIR": str(runs),
        "COCOGEN_CACHE_DIR": str(tmp / "cache"),
        "COCOGEN_DATA_DIR": str(data_dir),
        "COCOGEN_WARMUP": "0",
        "COCOGEN_THREADS": "1",
    }
    with serve(env, tmp / "server.log") as server:
        yield server


@pytest.fixture()
def page(app: Server) -> Iterator[Any]:
    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
        pg = ctx.new_page()
        pg.seen = watch(pg)  # type: ignore[attr-defined]
        yield pg
        ctx.close()
        assert pg.seen.foreign() == [], f"requests left this machine: {pg.seen.foreign()}"  # type: ignore[attr-defined]


def test_an_edge_tooltip_says_how_sure_the_model_was(app: Server, page: Any) -> None:
    from playwright.sync_api import expect

    open_page(page, f"{app.url}/inspect", "Inspect a run")
    page.get_by_role("combobox", name="Run file").click()
    page.get_by_role("option", name="run · sure.jsonl").click()
    expect(page.get_by_text("Draw the model's confidence")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    page.get_by_text("Draw the model's confidence").click()
    # Graphviz writes an edge's tooltip as the xlink:title of a link around it.
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stGraphVizChart"] svg')]
                   .some(svg => svg.outerHTML.includes('confidence 0.20'))""",
        timeout=RUN_TIMEOUT_MS,
    )
    page.get_by_text("Interactive").click()
    iframe = page.locator('[data-testid="stIFrame"]')
    frame = page.frame_locator('[data-testid="stIFrame"]')
    frame.locator("canvas").first.wait_for(timeout=RUN_TIMEOUT_MS)
    # The least sure edge's middle, from pyvis's globals (`network`, `edges`), then hover there.
    spot = frame.locator("body").evaluate(
        """() => {
          const edge = edges.get().find(e => String(e.title).includes('confidence 0.20'));
          const pos = network.getPositions([edge.from, edge.to]);
          const mid = {x: (pos[edge.from].x + pos[edge.to].x) / 2, y: (pos[edge.from].y + pos[edge.to].y) / 2};
          const at = network.canvasToDOM(mid);
          const canvas = document.querySelector('canvas').getBoundingClientRect();
          return {x: canvas.left + at.x, y: canvas.top + at.y};
        }"""
    )
    iframe.scroll_into_view_if_needed()
    box = iframe.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + spot["x"] - 15, box["y"] + spot["y"] - 15)
    page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"], steps=5)
    tooltip = frame.locator("div.vis-tooltip")
    expect(tooltip).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(tooltip).to_contain_text("confidence 0.20")
    shot(page, "confidence-tooltip")
