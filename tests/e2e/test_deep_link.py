"""A fresh server whose first request is a page URL (a bookmarked ``/compare``).

Streamlit runs that first request in its legacy multipage mode, without ``app.py``
(:mod:`cocogen.app.frame`).  The page must still be drawn in the frame: the titled
navigation, the model sidebar — and its settings must follow the user to the next page.
The server is this module's own, so nothing has asked it for a page before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.support import RUN_TIMEOUT_MS, Server, chromium, open_page, serve, shot, watch

pytestmark = pytest.mark.e2e

TITLES = ["Home", "Playground", "Compare", "Inspect", "Evaluate", "Learn"]


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("deep-link")
    env = {
        "COCOGEN_RUNS_DIR": str(tmp / "runs"),
        "COCOGEN_CACHE_DIR": str(tmp / "cache"),
        "COCOGEN_WARMUP": "0",  # the frame is under test here, not the model
        "COCOGEN_DATA_DIR": os.environ.get("COCOGEN_DATA_DIR", str(tmp / "no-data")),
    }
    with serve(env, tmp / "server.log") as server:
        yield server


def _links(page: Any) -> list[str]:
    """The sidebar's page links as shown (the last line: the icon is a ligature of the font).

    Waits until the sidebar holds as many links as there are pages: a rerun draws them anew.
    """
    from playwright.sync_api import expect

    links = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink"]')
    expect(links).to_have_count(len(TITLES), timeout=RUN_TIMEOUT_MS)
    texts = links.all_inner_texts()
    return [t.strip().splitlines()[-1] for t in texts]


def test_a_deep_link_to_a_fresh_server_gets_the_whole_frame(fresh_server: Server) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = ctx.new_page()
        seen = watch(page)
        open_page(page, f"{fresh_server.url}/compare", "Compare formats")  # the server's first request
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_role("heading", name="Model")).to_be_visible()
        expect(sidebar.get_by_text("Local offline model")).to_be_visible()
        assert _links(page) == TITLES, "the titled navigation, not Streamlit's file names"
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0, "Streamlit's own navigation is hidden"
        assert page.title() == "CoCoGen Studio"
        shot(page, "deep-link-compare")

        # The sidebar's settings follow the user to the next page.
        sidebar.get_by_text("Replay of recorded outputs").click()
        expect(sidebar.get_by_text("Recorded outputs", exact=True)).to_be_visible(timeout=RUN_TIMEOUT_MS)
        sidebar.locator('[data-testid="stPageLink"]').filter(has_text="Playground").click()
        expect(page.locator('[data-testid="stMain"] h1').filter(has_text="Playground")).to_be_visible(
            timeout=RUN_TIMEOUT_MS
        )
        expect(sidebar.get_by_text("Recorded outputs", exact=True)).to_be_visible(timeout=RUN_TIMEOUT_MS)
        assert _links(page) == TITLES
        assert page.get_by_role("radio", name="Replay of recorded outputs").is_checked()

        # The address bar's page, reloaded: the same frame again.
        open_page(page, f"{fresh_server.url}/compare", "Compare formats")
        expect(sidebar.get_by_role("heading", name="Model")).to_be_visible()
        assert _links(page) == TITLES

        assert not seen.errors, seen.errors
        assert seen.urls, "requests were recorded"
        assert seen.foreign() == [], f"requests left this machine: {seen.foreign()}"
        ctx.close()
