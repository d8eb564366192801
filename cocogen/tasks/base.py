"""The task plug-in interface and the registry every front end reads.

A task is a data model (one of :mod:`cocogen.types`' graph types) plus a set of
*formats*.  A format converts a graph to prompt text (the full example, or only the
query part the model must continue) and parses model text back, never executing it.
The first format of a task is its default code format; a format of kind ``"text"`` is
the paper's flattened-text baseline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from cocogen.errors import ConfigError, DataError, InputError
from cocogen.settings import DEFAULT_K
from cocogen.types import Example, Graph, ParseResult

if TYPE_CHECKING:
    from cocogen.grammar import Retry
    from cocogen.metrics.base import MetricOptions, TaskMetric

__all__ = [
    "Format",
    "Task",
    "InputField",
    "Reference",
    "REGISTRY",
    "register",
    "get_task",
    "get_format",
    "task_for_graph",
    "validate_input",
    "read_fewshot",
    "CODE_SEPARATOR",
    "ELEMENT_MARKER",
]

# A text no format changes (letters only): element_variant puts it where an element's text is.
ELEMENT_MARKER = "Zq7ELEMENT7qZ"

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
    """One field a user fills in; :func:`validate_input` checks and normalises it.

    ``kind`` decides the check: ``"str"`` (one text), ``"int"`` (a whole number, also
    given as digits in a string), ``"list[str]"`` (a list of texts, or one text with an
    item per line), ``"choice"`` (one of ``choices``, case-insensitive).  ``label`` names
    the field in messages ("the number of steps"), ``item`` one list item ("step").
    ``low``/``high`` bound an int's value or a list's length; ``max_chars`` each text.
    Texts are stripped; then ``one_line`` rejects a line break (and keeps the text as
    written), ``collapse_spaces`` turns every run of white space into one space, and
    otherwise line breaks and tabs (with the spaces around them) become one space.
    """

    name: str
    kind: Literal["str", "int", "list[str]", "choice"]
    help: str
    choices: tuple[str, ...] = ()
    label: str = ""
    item: str = ""
    low: int | None = None
    high: int | None = None
    max_chars: int | None = None
    one_line: bool = False
    collapse_spaces: bool = False

    @property
    def what(self) -> str:
        return self.label or self.name.replace("_", " ")


_BREAKS = re.compile(r"[ \t]*[\r\n\t\x0b\x0c\x85\u2028\u2029]+[ \t]*")
_SPACES = re.compile(r"\s+")


def _text(value: Any, what: str, field: InputField) -> str:
    if not isinstance(value, str):
        raise InputError(f"The {what} must be text, not {type(value).__name__}.")
    v = value.strip()
    if field.one_line:
        if "\n" in v or "\r" in v:
            raise InputError(f"The {what} must be a single line.")
    elif field.collapse_spaces:
        v = _SPACES.sub(" ", v)
    else:
        v = _BREAKS.sub(" ", v)
    if not v:
        raise InputError(f"The {what} is empty.")
    if field.max_chars is not None and len(v) > field.max_chars:
        raise InputError(f"The {what} is {len(v)} characters long; the limit is {field.max_chars}.")
    return v


def _within(n: int, field: InputField) -> bool:
    return (field.low is None or n >= field.low) and (field.high is None or n <= field.high)


def _bounds(field: InputField) -> str:
    if field.low is not None and field.high is not None:
        return f"from {field.low} to {field.high}"
    return f"at least {field.low}" if field.low is not None else f"at most {field.high}"


def _check_value(field: InputField, value: Any) -> Any:
    what = field.what
    are = "are" if field.kind == "list[str]" else "is"
    if value is None:
        raise InputError(
            f"The {what} {are} missing.", hint=f"Give {'them' if are == 'are' else 'it'} as {field.name!r}."
        )
    if field.kind == "str":
        return _text(value, what, field)
    if field.kind == "choice":
        if isinstance(value, str) and not value.strip():
            raise InputError(f"The {what} is missing.", hint=f"Use one of: {', '.join(field.choices)}.")
        key = value.strip().lower() if isinstance(value, str) else None
        if key not in field.choices:
            options = " or ".join(repr(c) for c in field.choices)
            raise InputError(f"The {what} must be {options}, not {value!r}.")
        return key
    if field.kind == "int":
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"The {what} must be a whole number, not {value!r}.")
        if not _within(value, field):
            raise InputError(f"The {what} must be {_bounds(field)}, not {value}.")
        return value
    # list[str]
    if isinstance(value, str):  # a text area: one item per line
        value = [ln for ln in value.splitlines() if ln.strip()]
    if not isinstance(value, (list, tuple)):
        raise InputError(f"The {what} must be a list of texts, not {type(value).__name__}.")
    if not _within(len(value), field):
        raise InputError(f"Give {_bounds(field)} {what}, not {len(value)}.")
    item = field.item or "item"
    return tuple(_text(v, f"{item} {i}", field) for i, v in enumerate(value, 1))


def validate_input(fields: Any, spec: Sequence[InputField], task: str = "this task") -> dict[str, Any]:
    """The one input validator: check ``fields`` against ``spec`` and return them normalised.

    Texts are stripped and line breaks become single spaces (unless ``one_line``), ints
    may be given as digits, lists as one text with an item per line, choices in any case.
    Raises :class:`InputError` with one sentence for anything else.

    Examples
    --------
    >>> spec = (
    ...     InputField("goal", "str", "What to do.", max_chars=20),
    ...     InputField("num_steps", "int", "How many steps.", label="number of steps", low=2, high=9),
    ... )
    >>> validate_input({"goal": "  make tea ", "num_steps": "5"}, spec)
    {'goal': 'make tea', 'num_steps': 5}
    >>> validate_input({"goal": "tea", "num_steps": 1}, spec)
    Traceback (most recent call last):
    ...
    cocogen.errors.InputError: The number of steps must be from 2 to 9, not 1.
    >>> validate_input({"goal": "tea", "steps": 3}, spec)
    Traceback (most recent call last):
    ...
    cocogen.errors.InputError: Unknown input field 'steps' for this task; expected goal, num_steps.
    """
    names = [f.name for f in spec]
    if not isinstance(fields, Mapping):
        raise InputError(f"The input must be an object with {', '.join(names)}.")
    unknown = sorted(str(k) for k in fields if k not in names)
    if unknown:
        raise InputError(
            f"Unknown input field {', '.join(map(repr, unknown))} for {task}; expected {', '.join(names)}."
        )
    return {f.name: _check_value(f, fields.get(f.name)) for f in spec}


@dataclass(frozen=True)
class Reference:
    """One example to score, as a task reads it from a recorded-output record or a dataset row.

    ``graph`` is the task's graph or another reference object its metric reads (ProPara's
    official answer grid); ``meta`` is what :meth:`Task.labels` reads besides the graphs,
    as in a dataset row's :attr:`Example.meta` (ExplaGraphs: the dataset's stance label).
    """

    id: str
    query: Graph | None
    graph: Any
    meta: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    """A CoCoGen task.  The built-in ones are listed in :data:`cocogen.tasks.BUILTIN_TASKS`.

    Everything the library and the front ends know about a task comes from here: its
    data model (``graph_type``), formats, input fields and a sample input, its data and
    few-shot examples, its metric, how to read the paper's recorded outputs, how to draw
    and compare graphs, and how constrained decoding builds its output.
    """

    name: ClassVar[str]  # stable id used by the CLI, run files and the app
    title: ClassVar[str]
    description: ClassVar[str]
    input_fields: ClassVar[tuple[InputField, ...]]
    splits: ClassVar[tuple[str, ...]]
    graph_type: ClassVar[type]  # the cocogen.types class of this task's graphs
    sample_input: ClassVar[Mapping[str, Any]]  # valid input a first-time user can try (not a few-shot example)
    recorded_outputs: ClassVar[str | None]  # the paper's recorded outputs, relative to the data directory
    default_k: ClassVar[int]  # few-shot examples when the user does not say (PromptSpec.k None)

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

    def metric(self, options: MetricOptions | None = None) -> TaskMetric:
        """The task's metric, set up with ``options`` (sacrebleu style: set up, then score)."""
        ...

    def labels(self, query: Graph | None, reference: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
        """What the metric needs besides the graphs, from the query and a dataset row's ``meta``."""
        ...

    def recognizes(self, record: Mapping[str, Any]) -> bool:
        """Whether a recorded-output record (CoCoGen's release format) belongs to this task."""
        ...

    def read_recorded(self, record: Mapping[str, Any], *, path: Path, line: int, index: int) -> Reference:
        """The query and reference of a recorded-output record (:class:`DataError` at ``path:line``)."""
        ...

    def read_references(self, path: Path) -> dict[str, Any] | None:
        """References from a file format of the task's own (ProPara's answers.tsv); ``None`` if not one."""
        ...

    def view(self, graph: Graph) -> Any:
        """A drawable :class:`cocogen.diff.GraphView` (``TypeError`` for a task shown as a table)."""
        ...

    def diff(self, prediction: Graph | None, reference: Graph) -> Any:
        """Prediction against reference: ``(GraphView, DiffSummary)``, or a ``CellDiff`` for tables."""
        ...

    def plan_constrained(self, decoder: Any, fmt: Format, query: Graph, limits: Any) -> Graph:
        """Build the output graph hole by hole (see :mod:`cocogen.constrained`)."""
        ...

    def grammar(self, format_name: str, query: Graph) -> str | None:
        """A GBNF grammar a model server enforces on the completion of ``query`` (see :mod:`cocogen.grammar`).

        ``None``: this format or input has none, and the server decodes freely.
        """
        ...

    def grammar_retry(self, format_name: str, query: Graph, completion: str) -> Retry | None:
        """Where a completion under :meth:`grammar` first breaks a rule no grammar states (a cycle).

        A :class:`cocogen.grammar.Retry` (the part that stands, a grammar for the rest), or
        ``None`` when there is nothing to ask again.
        """
        ...

    def free_values(self, graph: Graph) -> list[str]:
        """The texts a model writes freely in an answer (proScript steps, ExplaGraphs concepts):
        what the local decoder refuses to copy from an unrelated example (:func:`cocogen.constrained.copied_values`).
        Empty where the values are chosen, not written (ProPara's places are spans of the paragraph)."""
        ...

    def subject(self, graph: Graph) -> str:
        """What a graph's input is about, in words (a goal; a belief and its argument)."""
        ...

    def element_keys(self, graph: Graph) -> list[str]:
        """The elements of an answer the model wrote (steps, edges, triples, cells), by stable key.

        These keys name the entries of a generation's ``confidence`` and a merge's ``agreement``.
        """
        ...

    def element_variant(self, graph: Graph, key: str) -> Graph | None:
        """``graph`` with element ``key`` changed (removed, or its text replaced by :data:`ELEMENT_MARKER`).

        A rendering of the variant differs from the graph's only where the element is written,
        which tells where the element's text lies; ``None`` for an unknown key.
        """
        ...

    def merge(self, query: Graph, graphs: Sequence[Graph]) -> tuple[Graph, dict[str, float]]:
        """Several sampled answers for ``query`` → one graph and each of its elements' agreement in [0, 1]."""
        ...

    def element_matches(self, prediction: Graph, reference: Graph) -> dict[str, bool]:
        """For each element of ``prediction``: whether the reference has it (for calibration)."""
        ...


class TaskBase:
    """Defaults for the optional parts of :class:`Task`: a new task subclasses it and overrides what it has."""

    name: ClassVar[str]
    recorded_outputs: ClassVar[str | None] = None
    default_k: ClassVar[int] = DEFAULT_K

    def labels(self, query: Graph | None, reference: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def recognizes(self, record: Mapping[str, Any]) -> bool:
        return False

    def read_recorded(self, record: Mapping[str, Any], *, path: Path, line: int, index: int) -> Reference:
        raise DataError(f"task {self.name!r} has no reader for recorded outputs", path=str(path), line=line)

    def read_references(self, path: Path) -> dict[str, Any] | None:
        return None

    def view(self, graph: Graph) -> Any:
        raise TypeError(f"{type(graph).__name__} has no graph view.")

    def plan_constrained(self, decoder: Any, fmt: Format, query: Graph, limits: Any) -> Graph:
        from cocogen.constrained import Unsupported

        raise Unsupported(f"no constrained decoding for task {self.name!r}")

    def grammar(self, format_name: str, query: Graph) -> str | None:
        return None

    def grammar_retry(self, format_name: str, query: Graph, completion: str) -> Retry | None:
        return None

    def free_values(self, graph: Graph) -> list[str]:
        return []

    def subject(self, graph: Graph) -> str:
        return ""

    def element_keys(self, graph: Graph) -> list[str]:
        return []

    def element_variant(self, graph: Graph, key: str) -> Graph | None:
        return None

    def element_matches(self, prediction: Graph, reference: Graph) -> dict[str, bool]:
        """Without rules of its own, an element is in the reference when the reference has its key."""
        have = set(self.element_keys(reference))
        return {key: key in have for key in self.element_keys(prediction)}

    def merge(self, query: Graph, graphs: Sequence[Graph]) -> tuple[Graph, dict[str, float]]:
        """Without rules of its own, a task's merge is the most common whole answer (the earliest on a tie)."""
        if not graphs:
            raise InputError("A merge needs at least one sample.")
        counts: dict[Graph, int] = {}
        for g in graphs:
            counts[g] = counts.get(g, 0) + 1
        best = max(counts, key=lambda g: counts[g])
        return best, {key: counts[best] / len(graphs) for key in self.element_keys(best)}


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


def task_for_graph(graph: Graph) -> Task:
    """The first registered task whose graphs are of ``graph``'s type (both proScript tasks share one)."""
    from cocogen import tasks as _  # noqa: F401  (imports register the built-in tasks)

    for t in REGISTRY.values():
        if isinstance(graph, t.graph_type):
            return t
    raise TypeError(f"No registered task has graphs of type {type(graph).__name__}.")


def read_fewshot(task: Task, check: Callable[[Any, Path, int], Graph], path: Path | None = None) -> list[Example]:
    """The one few-shot loader: ``assets/fewshot/<task name>.jsonl``, one ``{"id", "graph"}`` per line.

    ``check(graph_dict, path, line)`` builds and validates the task's graph (raising a
    :class:`DataError` at that line); ids must be unique, non-empty strings.
    """
    from cocogen import settings
    from cocogen.jsonl import read_jsonl

    p = path or settings.assets_dir() / "fewshot" / f"{task.name}.jsonl"
    out: list[Example] = []
    first: dict[str, int] = {}
    for line, d in read_jsonl(p):
        ex_id = d.get("id")
        if not isinstance(ex_id, str) or not ex_id:
            raise DataError("each line needs a non-empty string 'id' and a 'graph'", path=str(p), line=line)
        if ex_id in first:
            raise DataError(f"the id {ex_id!r} occurs twice (first on line {first[ex_id]})", path=str(p), line=line)
        first[ex_id] = line
        out.append(Example(ex_id, check(d.get("graph"), p, line), {"source": "assets"}))
    return out
