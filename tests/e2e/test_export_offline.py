"""The exported HTML file in a real Chromium from file://, with every other request blocked and counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocogen.export import ExportPart, to_html, write_html
from cocogen.types import ExplaGraph
from tests.e2e.support import chromium

pytestmark = pytest.mark.e2e

GOLD = ExplaGraph("Cars should be banned.", "Cars pollute.", "support",
                  (("cars", "capable of", "pollution"), ("pollution", "causes", "harm")))  # fmt: skip
PRED = ExplaGraph("Cars should be banned.", "Cars pollute.", "support",
                  (("cars", "capable of", "pollution"), ("cars", "is a", "vehicle")))  # fmt: skip


def test_the_exported_file_shows_an_svg_offline_and_asks_for_nothing(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    part = ExportPart("explagraphs", "code", "class ExplaGraph:\n", '    self.graph = "(cars; is a; vehicle)"\n', PRED,
                      reference=GOLD, prompt="the few-shot examples\n")  # fmt: skip
    dest = write_html(tmp_path / "example.html", to_html("An exported example", [part]))
    asked: list[str] = []

    def block(route) -> None:  # noqa: ANN001 - playwright's Route
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            asked.append(route.request.url)
            route.abort()

    with chromium() as browser:
        ctx = browser.new_context(offline=True)
        ctx.route("**/*", block)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(dest.as_uri())
        svg = page.locator(".graph svg")
        expect(svg).to_be_visible()
        expect(svg.locator("g.node")).to_have_count(4)  # cars, pollution, harm (missing), vehicle (extra)
        expect(page.locator("details").first).not_to_have_attribute("open", "")
        page.emulate_media(media="print")
        expect(svg).to_be_visible()
        page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
        expect(page.locator("details").first).to_have_attribute("open", "")
        ctx.close()
    assert asked == [], f"the file asked for {asked}"
    assert errors == [], errors  # the CSP let the page's own script run and blocked nothing it needs
