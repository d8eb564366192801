"""The Learn page's presenter path, without Streamlit: larger type, and the paper's Codex beside the offline model.

For a class with no API key: :func:`recorded_examples` lists inputs the paper's Codex
answered (its recorded outputs, replayed), and :func:`side_by_side` puts the recorded
answer and the offline model's answer to the *same* input and prompt next to each other.

Examples
--------
>>> "font-size" in PRESENTER_CSS and "stMain" in PRESENTER_CSS
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocogen.backends.base import Backend
from cocogen.errors import CocogenError
from cocogen.pipeline import Result, generate
from cocogen.prompts import Prompt
from cocogen.settings import data_dir
from cocogen.tasks.base import Format, Task, get_task
from cocogen.types import Graph

__all__ = ["PRESENTER_CSS", "Answer", "recorded_tasks", "recorded_examples", "side_by_side"]

# Larger type for a projector: the main area's text, code and headings (the sidebar keeps its size).
PRESENTER_CSS = """<style>
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li { font-size: 1.35rem; line-height: 1.5; }
[data-testid="stMain"] h1 { font-size: 2.9rem; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 2rem; }
[data-testid="stMain"] pre, [data-testid="stMain"] code { font-size: 1.05rem !important; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.1rem; }
</style>"""


@dataclass(frozen=True)
class Answer:
    """One column: who answered, and the result (or the sentence that says why there is none)."""

    label: str
    result: Result | None
    error: str | None = None


def recorded_tasks(root: Path | None = None) -> list[str]:
    """Tasks whose recorded Codex outputs are in the data directory."""
    from cocogen.tasks import REGISTRY

    base = root or data_dir()
    return [t.name for t in REGISTRY.values() if t.recorded_outputs and (base / t.recorded_outputs).is_file()]


def recorded_examples(
    task: Task | str, limit: int = 30, root: Path | None = None
) -> list[tuple[str, Graph, Graph | None]]:
    """``(example id, query, reference)`` of the first ``limit`` inputs the paper's Codex answered for ``task``."""
    from cocogen.evaluate import load_predictions

    t = get_task(task) if isinstance(task, str) else task
    if not t.recorded_outputs:
        return []
    preds = load_predictions((root or data_dir()) / t.recorded_outputs, t.name)
    return [
        (it.id, it.query, it.reference if isinstance(it.reference, t.graph_type) else None)
        for it in preds.items
        if it.query is not None
    ][:limit]


def side_by_side(
    task: Task,
    fmt: Format,
    query: Graph,
    example_id: str,
    prompt: Prompt,
    answerers: Sequence[tuple[str, Backend]],
    *,
    params: Any = None,
    cache: Any = None,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """Each backend's answer to the same query and prompt; a failing one gives its sentence, the others still run."""
    out = []
    for label, backend in answerers:
        try:
            res = generate(
                task, fmt, query, backend, prompt=prompt, params=params, cache=cache, example_id=example_id
            )
            answer = Answer(label, res)
        except CocogenError as e:
            answer = Answer(label, None, e.user_message())
        out.append(answer)
        if on_answer is not None:
            on_answer(answer)
    return out
