"""Plain, frozen data types shared by every task, parser, metric and backend.

A *graph* here is the task's output data model (a proScript DAG, an ExplaGraphs triple
graph, a ProPara state table).  Each graph type holds both the task's input fields and
its output, so one object renders to a full few-shot example or, with the output left
empty, to the query the model must complete.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "Script",
    "ExplaGraph",
    "StateTable",
    "Graph",
    "Example",
    "ProblemKind",
    "Problem",
    "ParseResult",
    "Generation",
    "ABSENT",
    "UNKNOWN",
]

ABSENT = "-"  # ProPara: the entity does not exist
UNKNOWN = "?"  # ProPara: the entity exists, its location is unknown


@dataclass(frozen=True)
class Script:
    """A proScript script: a goal, its steps, and a partial order over step indices.

    ``edges`` are ``(before, after)`` pairs of indices into ``steps`` ("step2 -> step4" is
    ``(2, 4)``), kept in the order they were written so a round trip is exact.
    ``num_steps`` is the input of script generation; when ``steps`` is filled it equals
    ``len(steps)``.
    """

    goal: str
    num_steps: int
    steps: tuple[str, ...] = ()
    edges: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "num_steps": self.num_steps,
            "steps": list(self.steps),
            "edges": [list(e) for e in self.edges],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Script:
        steps = tuple(d.get("steps") or ())
        return cls(
            goal=d["goal"],
            num_steps=int(d.get("num_steps") or len(steps)),
            steps=steps,
            edges=tuple((int(a), int(b)) for a, b in d.get("edges") or ()),
        )


@dataclass(frozen=True)
class ExplaGraph:
    """An ExplaGraphs instance: belief, argument, stance and ``(concept, relation, concept)`` triples."""

    belief: str
    argument: str
    stance: str
    triples: tuple[tuple[str, str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "belief": self.belief,
            "argument": self.argument,
            "stance": self.stance,
            "triples": [list(t) for t in self.triples],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExplaGraph:
        return cls(
            belief=d["belief"],
            argument=d["argument"],
            stance=d["stance"],
            triples=tuple(tuple(t) for t in d.get("triples") or ()),  # type: ignore[misc]
        )


@dataclass(frozen=True)
class StateTable:
    """A ProPara procedure and the state of each participant before and after every step.

    ``states[p][t]`` is participant ``p``'s location at time ``t``: ``t = 0`` is before the
    first sentence (the "Init" row), ``t = i`` is after sentence ``i``.  So each row has
    ``len(sentences) + 1`` entries.  Values are a location span, :data:`ABSENT` (``-``) or
    :data:`UNKNOWN` (``?``).  An empty ``states`` means the table is still to be predicted.
    """

    sentences: tuple[str, ...]
    participants: tuple[str, ...]
    states: tuple[tuple[str, ...], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentences": list(self.sentences),
            "participants": list(self.participants),
            "states": [list(r) for r in self.states],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StateTable:
        return cls(
            sentences=tuple(d["sentences"]),
            participants=tuple(d["participants"]),
            states=tuple(tuple(r) for r in d.get("states") or ()),
        )


Graph = Script | ExplaGraph | StateTable


@dataclass(frozen=True)
class Example:
    """One dataset row or few-shot example: a stable ``id``, its graph, free-form metadata."""

    id: str
    graph: Graph
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class ProblemKind(str, Enum):
    """Closed set of things a parser reports about model output."""

    EMPTY = "empty"  # nothing usable in the output
    SYNTAX = "syntax"  # not valid Python (or not the expected text shape) at a line
    TRUNCATED = "truncated"  # output stops mid-structure; what was complete was kept
    MISSING_STEP = "missing_step"  # a step/function/field the format requires is absent
    DUPLICATE = "duplicate"  # a step, edge, triple or assignment written twice
    UNKNOWN_NODE = "unknown_node"  # an edge names a step that does not exist
    CYCLE = "cycle"  # the partial order has a cycle
    BAD_VALUE = "bad_value"  # a value of the wrong type or shape (e.g. non-string step)
    BAD_RELATION = "bad_relation"  # ExplaGraphs relation outside the fixed vocabulary
    MISMATCH = "mismatch"  # output disagrees with the input (other goal, other steps)
    EXTRA = "extra"  # ignored trailing content (a second class, junk after # END)


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "message": self.message, "line": self.line}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(ProblemKind(d["kind"]), d["message"], d.get("line"))


# Problems that do not mean the output is wrong, only noisy.
BENIGN = frozenset({ProblemKind.EXTRA})


@dataclass(frozen=True)
class ParseResult:
    """What a parser recovered (``graph`` is ``None`` when nothing was) and what it noticed."""

    graph: Graph | None
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when a graph was recovered (possibly partial; see ``problems``)."""
        return self.graph is not None

    @property
    def clean(self) -> bool:
        """True when a graph was recovered and nothing but benign noise was reported."""
        return self.ok and all(p.kind in BENIGN for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "graph": self.graph.to_dict() if self.graph is not None else None,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass(frozen=True)
class Generation:
    """One completion from a backend, with what it cost."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float | None = None
    cached: bool = False
    raw: dict[str, Any] | None = field(default=None, compare=False)
    # (token text, natural-log probability) per generated token, where the backend gives them
    # (OpenAI-compatible ``logprobs``); ``None`` means "not available", not "certain".
    token_logprobs: tuple[tuple[str, float], ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # A cached generation comes back from JSON with lists; keep one shape.
        if self.token_logprobs is not None and not isinstance(self.token_logprobs, tuple):
            pairs = tuple((str(t), float(lp)) for t, lp in self.token_logprobs)
            object.__setattr__(self, "token_logprobs", pairs)

    def usage(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("raw")
        d.pop("text")
        d.pop("token_logprobs")
        return d
