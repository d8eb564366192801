"""The task plug-in interface and the registry every front end reads.

A task is a data model (one of :mod:`cocogen.types`' graph types) plus a set of
*formats*.  A format converts a graph to prompt text (the full example, or only the
query part the model must continue) and parses model text back, never executing it.
The first format of a task is its default code format; a format of kind ``"text"`` is
the paper's flattened-text baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from cocogen.errors import ConfigError
from cocogen.types import Example, Graph, ParseResult

__all__ = ["Format", "Task", "REGISTRY", "register", "get_task", "get_format", "CODE_SEPARATOR"]

# The paper separates few-shot examples with a comment line; it doubles as a stop sequence.
CODE_SEPARATOR = "# END"


@runtime_checkable
class Format(Protocol):
    """How one task's graph is written as prompt text, and read back."""

    name: str
    kind: Literal["code", "text"]
    description: str
    separator: str  # line written after every few-shot example; also the first stop sequence

    def render(self, graph: Graph) -> str:
        """The full example: input and output.  ``parse(render(g)).graph == g``."""
        ...

    def render_query(self, graph: Graph) -> str:
        """The prefix the model sees for a query (input only; output fields ignored)."""
        ...

    def parse(self, text: str, query: Graph | None = None) -> ParseResult:
        """Read model text back into a graph.

        ``text`` is either a full rendering or only the model's continuation of
        ``render_query(query)``; with ``query`` given, the input fields come from it.
        """
        ...

    def stop(self) -> list[str]:
        """Stop sequences for a completion of ``render_query``."""
        ...


@dataclass(frozen=True)
class InputField:
    name: str
    kind: Literal["str", "int", "list[str]", "choice"]
    help: str
    choices: tuple[str, ...] = ()


class Task(Protocol):
    """A CoCoGen task.  Implementations register themselves in :data:`REGISTRY`."""

    name: ClassVar[str]  # stable id used by the CLI, run files and the app
    title: ClassVar[str]
    description: ClassVar[str]
    input_fields: ClassVar[tuple[InputField, ...]]
    splits: ClassVar[tuple[str, ...]]

    @property
    def formats(self) -> Mapping[str, Format]: ...

    def from_input(self, fields: Mapping[str, Any]) -> Graph:
        """Build a query graph from user input (raises :class:`InputError` with a clear sentence)."""
        ...

    def to_input(self, graph: Graph) -> dict[str, Any]:
        """The input fields of a graph, as accepted by :meth:`from_input`."""
        ...

    def query_of(self, graph: Graph) -> Graph:
        """The same graph with its output removed."""
        ...

    def load(self, split: str, data_dir: Path | None = None) -> list[Example]:
        """Dataset rows of ``split`` (raises :class:`DataError` naming file and line)."""
        ...

    def fewshot(self) -> list[Example]:
        """Our own few-shot examples shipped in ``assets/``."""
        ...


REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    from cocogen import tasks as _  # noqa: F401  (imports register the built-in tasks)

    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"Unknown task {name!r}.", hint=f"Choose one of: {', '.join(sorted(REGISTRY))} (see `cocogen tasks`)."
        ) from None


def get_format(task: Task | str, fmt: str | None = None) -> Format:
    t = get_task(task) if isinstance(task, str) else task
    if fmt is None:
        return next(iter(t.formats.values()))
    try:
        return t.formats[fmt]
    except KeyError:
        raise ConfigError(
            f"Task {t.name!r} has no format {fmt!r}.", hint=f"Choose one of: {', '.join(t.formats)}."
        ) from None


def default_format_name(task: Task) -> str:
    return next(iter(task.formats))


def text_formats(task: Task) -> Sequence[str]:
    return [n for n, f in task.formats.items() if f.kind == "text"]
