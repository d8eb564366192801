"""Sharing in a real browser: a permalink opened in a fresh context, the export button, presenter keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.support import RUN_TIMEOUT_MS, Server, chromium, open_page, serve, watch

pytestmark = pytest.mark.e2e

BELIEF = "Libraries should stay open at night."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("permalink")
    env = {
        "COCOGEN_RUNS_DIR": str(tmp / "runs"),
        "COCOGEN_CACHE_DIR": str(tmp / "cache"),
        "COCOGEN_WARMUP": "0",  # the address is under test, not the model
        "COCOGEN_DATA_DIR": os.environ.get("COCOGEN_DATA_DIR", str(tmp / "no-data")),
    }
    with serve(env, tmp / "server.log") as srv:
        yield srv


def _belief_in(url: str) -> bool:
    return BELIEF in parse_qs(urlsplit(url).query).get("in", [""])[0]


def test_a_copied_address_opens_the_same_input_in_a_new_browser(server: Server) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        first = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = first.new_page()
        seen = watch(page)
        open_page(page, f"{server.url}/playground?task=explagraphs&temp=0.35", "Playground")
        belief = page.get_by_role("textbox", name="Belief")
        belief.fill(BELIEF)
        belief.press("Enter")
        page.wait_for_url(_belief_in, timeout=RUN_TIMEOUT_MS)  # the address follows the view
        copied = page.url
        assert parse_qs(urlsplit(copied).query)["temp"] == ["0.35"]
        assert seen.foreign() == [] and not seen.errors, (seen.foreign(), seen.errors)
        first.close()

        fresh = browser.new_context(viewport={"width": 1500, "height": 1000})  # no cookies, no session
        page = fresh.new_page()
        open_page(page, copied, "Playground")
        expect(page.get_by_role("textbox", name="Belief")).to_have_value(BELIEF, timeout=RUN_TIMEOUT_MS)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Generation settings").click()
        expect(sidebar.get_by_text("0.35", exact=True)).to_be_visible(timeout=RUN_TIMEOUT_MS)
        fresh.close()


def test_a_garbled_address_opens_the_page_with_one_warning(server: Server) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        page = browser.new_context().new_page()
        open_page(page, f"{server.url}/playground?task=explagraphs&in=%7Bbroken&k=lots", "Playground")
        main = page.locator('[data-testid="stMain"]')
        expect(main.get_by_text("The link's input is not valid JSON", exact=False)).to_be_visible()
        expect(main.get_by_text("The link's k ('lots') is not a whole number", exact=False)).to_be_visible()
        assert main.locator('[data-testid="stException"]').count() == 0


def test_presenter_mode_steps_with_the_arrow_keys(server: Server) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
        open_page(page, f"{server.url}/learn", "Learn how CoCoGen works")
        main = page.locator('[data-testid="stMain"]')
        expect(main.get_by_text("Step 1 of 7")).to_be_visible()
        main.get_by_text("Presenter mode").click()
        heading = main.locator("h1").filter(has_text="Learn how CoCoGen works")
        expect(heading).to_have_css("font-size", "46.4px", timeout=RUN_TIMEOUT_MS)  # 2.9rem: the larger type
        heading.click()  # focus the page, not the toggle
        page.keyboard.press("ArrowRight")
        expect(main.get_by_text("Step 2 of 7")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        page.keyboard.press("ArrowRight")
        expect(main.get_by_text("Step 3 of 7")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        page.keyboard.press("ArrowLeft")
        expect(main.get_by_text("Step 2 of 7")).to_be_visible(timeout=RUN_TIMEOUT_MS)


def test_the_inspect_detail_view_exports_one_html_file(server: Server, tmp_path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    if not (Path(os.environ.get("COCOGEN_DATA_DIR", "")) / "cocogen").is_dir():
        pytest.skip("the datasets are not available (set COCOGEN_DATA_DIR)")
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True).new_page()
        open_page(page, f"{server.url}/inspect", "Inspect a run")
        button = page.get_by_role("button", name="Example (.html)")
        expect(button).to_be_visible(timeout=RUN_TIMEOUT_MS)  # the first recorded outputs' first example
        with page.expect_download(timeout=RUN_TIMEOUT_MS) as info:
            button.click()
        saved = tmp_path / info.value.suggested_filename
        info.value.save_as(saved)
    html = saved.read_text(encoding="utf-8")
    assert saved.suffix == ".html" and "<svg" in html and "Reference vs prediction" in html


def test_a_link_to_a_scored_answer_opens_it_and_exports_it_with_its_reference(server: Server, tmp_path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    if not (Path(os.environ.get("COCOGEN_DATA_DIR", "")) / "cocogen").is_dir():
        pytest.skip("the datasets are not available (set COCOGEN_DATA_DIR)")
    link = f"{server.url}/playground?task=explagraphs&backend=replay&ref=cocogen-dev:0&go=1"
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True).new_page()
        seen = watch(page)
        open_page(page, link, "Playground")
        button = page.get_by_role("button", name="Example (.html)")
        expect(button).to_be_visible(timeout=RUN_TIMEOUT_MS)  # the paper's answer, generated on opening
        with page.expect_download(timeout=RUN_TIMEOUT_MS) as info:
            button.click()
        saved = tmp_path / info.value.suggested_filename
        info.value.save_as(saved)
        assert seen.foreign() == [] and not seen.errors, (seen.foreign(), seen.errors)
    html = saved.read_text(encoding="utf-8")
    assert "Reference vs prediction" in html and "<svg" in html and "StCA" in html and "reference: " in html
