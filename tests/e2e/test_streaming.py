"""Watching the graph grow in a real browser, and stopping it: ``streamlit run app.py`` + Chromium.

The model is the fake OpenAI-compatible server of ``tests/fakes`` (a real HTTP server in this
process) streaming a seven-step script one line per chunk.  It pauses every stream after a
few lines until the test releases it, so "mid-generation" is a state the test waits for,
not a moment it hopes to catch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.support import (
    GENERATE_TIMEOUT_MS,
    RUN_TIMEOUT_MS,
    Server,
    chromium,
    open_page,
    serve,
    wait_for_run,
    watch,
)
from tests.fakes.fixtures import FAKE_KEY
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.waiting import wait_until

pytestmark = pytest.mark.e2e

SEVEN_STEPS = "".join(
    f'    def step{i}(self):\n        return "{text}"\n\n'
    for i, text in enumerate(["get a shovel", "dig a hole", "put the tree in", "fill the hole", "water it",
                              "add mulch", "plant a tree in the garden"])
) + '    def get_relations(self):\n        return [\n' + "".join(
    f'            "step{i} -> step{i + 1}",\n' for i in range(6)
) + "        ]\n"  # fmt: skip
PAUSE_AFTER = 5  # lines: step0 and step1 finished, step2 begun


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(lambda prompt: SEVEN_STEPS) as srv:
        yield srv


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, model: FakeOpenAIServer) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e-stream")
    env = {
        "COCOGEN_CACHE_DIR": str(tmp / "cache"),
        "COCOGEN_RUNS_DIR": str(tmp / "runs"),
        "COCOGEN_WARMUP": "0",
        "COCOGEN_BASE_URL": model.base_url,
        "COCOGEN_MODEL": "fake-code-model",
        "COCOGEN_API_KEY": FAKE_KEY,
        "COCOGEN_THREADS": "1",  # the local model's test: spin-waiting threads are slow on busy cores
    }
    with serve(env, tmp / "server.log") as server:
        yield server


@pytest.fixture
def page(app: Server, model: FakeOpenAIServer) -> Iterator[Any]:
    """The Playground with the fake server chosen in the sidebar and the cache off (each test streams)."""
    from playwright.sync_api import expect

    model.reset()
    model.responder = lambda prompt: SEVEN_STEPS
    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1500, "height": 1400})
        pg = ctx.new_page()
        pg.seen = watch(pg)  # type: ignore[attr-defined]
        open_page(pg, f"{app.url}/playground", "Playground")
        sidebar = pg.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("OpenAI-compatible server").click()
        expect(sidebar.get_by_role("textbox", name="Model")).to_have_value("fake-code-model", timeout=RUN_TIMEOUT_MS)
        sidebar.get_by_text("Generation settings").click()
        sidebar.get_by_text("Use the completion cache").click()
        wait_for_run(pg)
        yield pg
        ctx.close()
        assert pg.seen.foreign() == [], pg.seen.foreign()  # type: ignore[attr-defined]
    model.release()


def _nodes(page: Any) -> Any:
    return page.locator('[data-testid="stMain"] [data-testid="stGraphVizChart"] svg g.node')


def _no_exception(page: Any) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def test_the_graph_grows_while_the_model_writes(page: Any, model: FakeOpenAIServer) -> None:
    from playwright.sync_api import expect

    model.pause_streams(PAUSE_AFTER)
    page.get_by_role("button", name="Generate").click()
    wait_until(lambda: model.streams_paused == 1, "the stream to pause part-way")
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("Program so far")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(main.locator('[data-testid="stCode"]').filter(has_text="dig a hole")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(_nodes(page).nth(1)).to_be_attached(timeout=RUN_TIMEOUT_MS)  # step0 and step1, drawn live
    mid = _nodes(page).count()
    assert "water it" not in main.inner_text()
    model.release()
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Parse")).to_contain_text(
        "clean", timeout=RUN_TIMEOUT_MS
    )
    wait_for_run(page)
    expect(_nodes(page).nth(6)).to_be_attached(timeout=RUN_TIMEOUT_MS)  # all seven steps
    end = _nodes(page).count()
    assert mid < end, (mid, end)
    _no_exception(page)


def test_stop_keeps_what_was_written(page: Any, model: FakeOpenAIServer) -> None:
    from playwright.sync_api import expect

    model.pause_streams(PAUSE_AFTER)
    page.get_by_role("button", name="Generate").click()
    wait_until(lambda: model.streams_paused == 1, "the stream to pause part-way")
    main = page.locator('[data-testid="stMain"]')
    expect(main.locator('[data-testid="stCode"]').filter(has_text="dig a hole")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    main.get_by_role("button", name="Stop").click()
    expect(main.get_by_text("Stopped: this is what the model had written")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    wait_for_run(page)
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Parse")).to_contain_text("partial")
    expect(_nodes(page).nth(1)).to_be_attached(timeout=RUN_TIMEOUT_MS)  # the two finished steps are drawn
    text = main.inner_text()
    assert "dig a hole" in text and "water it" not in text
    _no_exception(page)


def test_a_click_right_after_typing_asks_for_the_new_input(page: Any, model: FakeOpenAIServer) -> None:
    """Typing a goal and clicking Generate at once (no wait for the rerun the typing causes)."""
    from playwright.sync_api import expect

    goal = page.get_by_role("textbox", name="Goal")
    goal.fill("repot a cactus")  # not confirmed with Enter: the click below sends it
    page.get_by_role("button", name="Generate").click()
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Parse")).to_contain_text(
        "clean", timeout=RUN_TIMEOUT_MS
    )
    wait_for_run(page)
    prompts = [str((r.body or {}).get("prompt", "")) for r in model.completion_requests()]
    assert len(prompts) == 1 and prompts[0].rstrip().endswith("steps = 7"), prompts
    assert 'title = "repot a cactus"' in prompts[0]
    expect(page.locator('[data-testid="stMain"]')).to_contain_text('title = "repot a cactus"')
    _no_exception(page)


def test_compare_streams_each_column(page: Any, model: FakeOpenAIServer) -> None:
    from playwright.sync_api import expect

    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Compare").click()
    expect(page.locator('[data-testid="stMain"] h1').filter(has_text="Compare formats")).to_be_visible(
        timeout=RUN_TIMEOUT_MS
    )
    wait_for_run(page)
    model.pause_streams(PAUSE_AFTER)
    page.get_by_role("button", name="Compare", exact=True).click()
    wait_until(lambda: model.streams_paused == 1, "the code column's stream to pause part-way")
    main = page.locator('[data-testid="stMain"]')
    expect(main.locator('[data-testid="stCode"]').filter(has_text="dig a hole")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(main.get_by_text("Waiting for the formats before it.")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    model.release()
    for name in ("code · code", "text · text"):
        expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(main.get_by_text("Program so far")).to_have_count(0, timeout=RUN_TIMEOUT_MS)
    wait_for_run(page)
    _no_exception(page)


@pytest.mark.slow
def test_two_sessions_share_the_local_model_in_turn(app: Server) -> None:
    """Two browsers, the real local model: the second waits in line, and the first's Stop lets it in."""
    from playwright.sync_api import expect

    with chromium() as browser:
        first, second = (browser.new_context(viewport={"width": 1500, "height": 1200}).new_page() for _ in range(2))
        for pg in (first, second):
            open_page(pg, f"{app.url}/playground", "Playground")  # the local model is the default backend
        for pg in (first, second):
            # Long answers: the second request surely arrives while the first is written, and the second is
            # still being written when its own Stop is pressed (a 7-step answer can end before the click lands).
            steps = pg.get_by_role("spinbutton", name="Num steps")
            steps.fill("30")
            steps.press("Enter")
            wait_for_run(pg)
        first.get_by_role("button", name="Generate").click()
        expect(first.get_by_text("Writing…")).to_be_visible(timeout=GENERATE_TIMEOUT_MS)  # it has the model
        second.get_by_role("button", name="Generate").click()
        expect(second.get_by_text("Waiting for the model: 1 request is before yours")).to_be_visible(
            timeout=RUN_TIMEOUT_MS
        )
        # In the page, not the header's own Stop (Streamlit shows one while a script run is long).
        first.locator('[data-testid="stMain"]').get_by_role("button", name="Stop").click()
        expect(first.get_by_text("Stopped: this is what the model had written")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(second.get_by_text("Writing…")).to_be_visible(timeout=GENERATE_TIMEOUT_MS)  # its turn now
        second.locator('[data-testid="stMain"]').get_by_role("button", name="Stop").click()
        expect(second.get_by_text("Stopped: this is what the model had written")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        for pg in (first, second):
            _no_exception(pg)


GRAPH = '[data-testid="stMain"] [data-testid="stGraphVizChart"]'


def test_the_live_graph_is_not_redrawn_while_nothing_changes(page: Any, model: FakeOpenAIServer) -> None:
    """No flicker: the panel reruns a few times a second, but an unchanged graph keeps its SVG."""
    from playwright.sync_api import expect

    model.pause_streams(PAUSE_AFTER)
    page.get_by_role("button", name="Generate").click()
    wait_until(lambda: model.streams_paused == 1, "the stream to pause part-way")
    expect(_nodes(page).nth(1)).to_be_attached(timeout=RUN_TIMEOUT_MS)
    expect(page.locator('[data-testid="stMain"] [data-testid="stCode"]').filter(has_text="dig a hole")).to_be_visible(
        timeout=RUN_TIMEOUT_MS
    )
    page.evaluate(
        """(graph) => {
          window.__svg = document.querySelector(graph + ' svg');
          window.__changes = 0;
          new MutationObserver((m) => { window.__changes += m.length; }).observe(
            document.querySelector(graph), {subtree: true, childList: true, attributes: true, characterData: true});
        }""",
        GRAPH,
    )
    clock = page.get_by_text("Writing…")
    for _ in range(2):  # two redraws of the panel (its clock moves on each second)
        before = clock.inner_text()
        expect(clock).not_to_have_text(before, timeout=RUN_TIMEOUT_MS)
    same, changes = page.evaluate(
        "(graph) => [window.__svg === document.querySelector(graph + ' svg'), window.__changes]", GRAPH
    )
    assert same and changes == 0, (same, changes)
    model.release()
    expect(_nodes(page).nth(6)).to_be_attached(timeout=RUN_TIMEOUT_MS)


def test_stop_on_compare_keeps_the_column_written_and_drops_the_rest(page: Any, model: FakeOpenAIServer) -> None:
    from playwright.sync_api import expect

    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Compare").click()
    expect(page.locator('[data-testid="stMain"] h1').filter(has_text="Compare formats")).to_be_visible(
        timeout=RUN_TIMEOUT_MS
    )
    wait_for_run(page)
    model.pause_streams(PAUSE_AFTER)
    page.get_by_role("button", name="Compare", exact=True).click()
    wait_until(lambda: model.streams_paused == 1, "the code column's stream to pause part-way")
    main = page.locator('[data-testid="stMain"]')
    expect(main.locator('[data-testid="stCode"]').filter(has_text="dig a hole")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    main.get_by_role("button", name="Stop").click()
    expect(main.get_by_text("Stopped: this is what the model had written")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    wait_for_run(page)
    expect(page.get_by_role("heading", name="code · code")).to_be_visible()
    expect(page.get_by_role("heading", name="text · text")).to_have_count(0)  # never started
    expect(_nodes(page).nth(1)).to_be_attached(timeout=RUN_TIMEOUT_MS)
    assert len(model.completion_requests()) == 1
    _no_exception(page)
