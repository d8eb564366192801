"""Helpers for the app's tests: a real OpenAI-compatible server on 127.0.0.1 that answers
each known query with a well-formed graph, and a helper that starts the app in AppTest.

The answers are real renderings of graphs by the task formats (what a perfect model would
write), so everything after the HTTP call — parser, diff, metrics, drawing — runs for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from cocogen.tasks import REGISTRY, get_task
from cocogen.types import ExplaGraph, Graph, Script, StateTable
from tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
HOSTILE = "<img src=x onerror=alert(1)>"
SECRET = "sk-test-DO-NOT-LEAK-0123456789abcdef"


def synth(query: Graph) -> Graph:
    """A complete, well-formed answer for a query (the structure a model should write)."""
    if isinstance(query, Script):
        steps = query.steps or tuple(
            [f"decide to {query.goal}"] + [f"do part {i} of it" for i in range(1, query.num_steps - 1)] + [query.goal]
        )
        return Script(query.goal, len(steps), steps, tuple((i, i + 1) for i in range(len(steps) - 1)))
    if isinstance(query, ExplaGraph):
        triples = (("social media", "capable of", "misinformation"), ("misinformation", "causes", "harm"),
                   ("harm", "not desires", "good"))  # fmt: skip
        return ExplaGraph(query.belief, query.argument, query.stance, triples)
    assert isinstance(query, StateTable)
    return StateTable(
        query.sentences, query.participants, tuple(("?",) * (len(query.sentences) + 1) for _ in query.participants)
    )


def hostile(task: str) -> dict[str, Any]:
    """The sample input of ``task`` with its main text replaced by :data:`HOSTILE`."""
    fields = dict(get_task(task).sample_input)
    for name in ("goal", "belief"):
        if name in fields:
            fields[name] = HOSTILE
    if "participants" in fields:
        fields["participants"] = [HOSTILE, *fields["participants"][1:]]
    return fields


def answers(data_dir: Path | None) -> dict[str, str]:
    """``{query text: completion}`` for the sample inputs and the first row of each split used."""
    table: dict[str, str] = {}
    for task in REGISTRY.values():
        graphs = [synth(task.from_input(task.sample_input)), synth(task.from_input(hostile(task.name)))]
        if data_dir is not None:
            split = {"explagraphs": "cocogen-dev", "propara": "cocogen-test"}.get(task.name, task.splits[0])
            graphs.append(task.load(split)[0].graph)
        for g in graphs:
            for fmt in task.formats.values():
                q = fmt.render_query(task.query_of(g))
                table[q] = fmt.render(g)[len(q) :]
    return table


def start(
    page: str | None = None, *, server: FakeOpenAIServer | None = None, backend: str = "openai", **state: Any
) -> AppTest:
    """Run the app (optionally switched to ``pages/<page>.py``) with a backend chosen in the sidebar."""
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["backend_kind"] = backend
    if server is not None:
        at.session_state["openai_base_url"] = server.base_url
        at.session_state["openai_model"] = "fake-code-model"
        at.session_state["openai_mode"] = "completion"
    at.session_state["gs_cache"] = False  # every test asks the server itself
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


LIVE_KEYS = ("live:pg", "live:cmp", "live:learn", "live:learn_cmp")  # the pages' live generation jobs


def finished(at: AppTest, timeout: float = 90.0) -> AppTest:
    """Wait for the page's generation (a background job since answers stream) to end, then run again.

    AppTest does not tick the live panel's timer, so this run stands in for the redraw that
    shows the final answer.
    """
    from cocogen.app.live import LiveJob

    for key in LIVE_KEYS:
        job = at.session_state[key] if key in at.session_state else None
        if isinstance(job, LiveJob):
            assert job.wait(timeout), f"the generation under {key!r} did not end within {timeout:.0f} s"
    return at.run()


def texts(at: AppTest) -> str:
    """All user-visible text of the current run (to search for leaks or messages)."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "info", "success", "warning", "error", "code", "text", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [str(getattr(e, "proto", "")) for e in at.get("html")]
    return "\n".join(parts)


def task_names() -> list[str]:
    return list(REGISTRY)
