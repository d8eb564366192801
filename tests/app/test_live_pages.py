"""The pages' side of live generation in AppTest: a click is answered once, with the input it came with.

AppTest sends a widget change and a click in one run, as a browser does when Generate is
clicked right after typing in a field.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cocogen.app.live import LiveJob
from tests.app.support import finished, start, texts
from tests.fakes.openai_server import FakeOpenAIServer

GOAL = "w:in:proscript-script:goal"
SEVEN_STEPS = "".join(f'    def step{i}(self):\n        return "do part {i}"\n\n' for i in range(7)) + (
    "    def get_relations(self):\n        return [\n"
    + "".join(f'            "step{i} -> step{i + 1}",\n' for i in range(6))
    + "        ]\n"
)


@pytest.fixture
def model(server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    """The app tests' server answering every prompt with seven steps (its table is put back after)."""
    table, seen = server.responder, len(server.requests)
    server.responder = lambda prompt: SEVEN_STEPS
    server.seen = seen  # type: ignore[attr-defined]
    yield server
    server.release()
    server.responder = table


def _prompts(server: FakeOpenAIServer) -> list[str]:
    new = server.requests[server.seen :]  # type: ignore[attr-defined]
    return [str((r.body or {}).get("prompt", "")) for r in new if r.path.startswith("/v1/")]


def test_a_click_sent_with_a_new_input_generates_for_that_input(model: FakeOpenAIServer) -> None:
    at = start("playground", server=model, task="proscript-script")
    at.text_input(key=GOAL).set_value("repot a cactus")
    finished(at.button(key="pg_generate").click().run())
    assert not at.exception and not at.error
    prompts = _prompts(model)
    assert len(prompts) == 1 and 'title = "repot a cactus"' in prompts[0].rsplit("# END", 1)[-1]
    assert at.session_state["pg_result"].query.goal == "repot a cactus"
    at.run()  # later runs do not ask again
    assert len(_prompts(model)) == 1


def test_a_click_with_an_input_that_cannot_be_asked_is_dropped(model: FakeOpenAIServer) -> None:
    at = start("playground", server=model, task="proscript-script")
    at.text_input(key=GOAL).set_value("")
    at.button(key="pg_generate").click().run()
    assert not at.exception
    assert at.error, "the input's problem is said"
    assert "live:pg" not in at.session_state
    at.text_input(key=GOAL).set_value("repot a cactus").run()  # fixing the input does not generate by itself
    assert "live:pg" not in at.session_state and _prompts(model) == []
    assert "Press **Generate**" in texts(at) or "Press Generate" in texts(at)


def test_a_new_click_replaces_a_running_generation(model: FakeOpenAIServer) -> None:
    model.pause_streams(2)
    at = start("playground", server=model, task="proscript-script")
    at.button(key="pg_generate").click().run()
    first = at.session_state["live:pg"]
    assert isinstance(first, LiveJob)
    at.text_input(key=GOAL).set_value("repot a cactus")
    at.button(key="pg_generate").click().run()
    assert first.wait(60) and first.state == "stopped"  # the first one let go of the server's stream
    model.release()
    finished(at)
    assert at.session_state["pg_result"].query.goal == "repot a cactus"
    assert not at.exception and not at.error


def test_a_server_dying_mid_answer_keeps_the_text_so_far_on_the_page(model: FakeOpenAIServer) -> None:
    from tests.fakes.waiting import wait_until

    model.pause_streams(5)
    at = start("playground", server=model, task="proscript-script")
    at.button(key="pg_generate").click().run()
    job = at.session_state["live:pg"]
    wait_until(lambda: model.streams_paused == 1 and "do part 1" in job.lanes[0].live.text, "part of the answer")
    model.cut_streams()
    assert job.wait(60) and job.state == "failed"
    at.run()
    assert not at.exception
    assert at.error and "ended its answer before finishing it" in at.error[0].value
    shown = texts(at)
    assert "do part 1" in shown and "do part 3" not in shown  # the code so far
    assert "pg_result" not in at.session_state  # a cut answer is not shown as the answer
