"""Constrained decoding: the program writes every fixed part of a format, the model fills the holes.

A small model asked to continue a code prompt often drifts: it renames a method, forgets
to close the relations list, names a step that does not exist.  Here the output is not
the model's text but a *graph built hole by hole*, and the text is always the task
format's own rendering of that graph (``fmt.render``), so it parses by construction.

How the holes are found
-----------------------
Nothing here knows what a format looks like.  To learn what comes before a hole, a
planner renders the partial graph with a marker (:data:`HOLE`) in the hole and cuts the
text at the marker; the character after the marker says where the model's free text must
stop (``"`` in a Python string, ``;`` in ``(c1; rel; c2)``).  To learn what a *choice*
fixes (an edge, a relation, ``None`` vs ``"UNK"``), it renders each alternative with
different futures and keeps their longest common prefix.  So the same planner drives
the code, networkx and text formats of a task.

The model is involved in two ways only (the :class:`Decoder` protocol):

- *free text* (a step, a concept, a location): sampled token by token, with tokens that
  contain a banned character masked out, ending at the first stop character or after
  ``max_tokens`` tokens;
- *choices* among a few alternatives (the next edge or the end of the list, one of the 28
  ExplaGraphs relations, absent / unknown / a location): the decoder walks a token trie of
  the alternatives and lets the model pick only where they differ.

Constraints that keep the output clean beyond syntax are enforced the same way: an edge
that would close a cycle, repeat an edge or point at itself is never offered; a concept
that would close a cycle in an ExplaGraphs graph, or repeat a triple, is refused as a
value.

Examples
--------
>>> common_prefix(["    return [\\n        ]\\n", "    return [\\n            \\"step0"])
'    return [\\n        '
>>> split_at_hole(f'        return "{HOLE}"\\n')
('        return "', '"\\n')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from cocogen.tasks.base import Format
from cocogen.types import ABSENT, UNKNOWN, ExplaGraph, Graph, Script, StateTable

__all__ = [
    "HOLE",
    "FreeSpec",
    "Option",
    "Decoder",
    "Limits",
    "Unsupported",
    "common_prefix",
    "split_at_hole",
    "generate_graph",
    "plan_script",
    "plan_explagraph",
    "plan_state_table",
    "check_supported",
    "CONSTRAINTS_VERSION",
]

T = TypeVar("T")

# Bump when the decoding procedure changes what is generated: it is part of the local
# backend's signature, so cached completions of an older procedure are not reused.
CONSTRAINTS_VERSION = 1

# A marker that every format writes unchanged (letters and digits only, so no escaping,
# no case change in the values we put it in).
HOLE = "Zq7HOLE7qZ"
_PLACEHOLDERS = ("Aa", "Bb", "Cc")  # different stand-ins for holes not yet filled

# Characters a free value may never contain, in any format: string syntax and line
# structure.  Planners add task-specific ones (``;`` and parentheses in concepts...).
BASE_BANNED = '"\\\n\r\t`'


class Unsupported(Exception):
    """This format (or this input) cannot be decoded with constraints; generate freely instead."""


@dataclass(frozen=True)
class FreeSpec:
    """A hole the model fills with free text.

    ``stop``: characters that end the value (not part of it).  ``banned``: characters the
    value may not contain.  ``forbidden``: whole values (compared after stripping) the
    model may not end on, e.g. a concept that would close a cycle.
    """

    stop: str
    banned: str = BASE_BANNED
    max_tokens: int = 12
    forbidden: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Option:
    """One alternative of a choice: the rendering up to what it fixes, then maybe a free hole.

    ``text`` is relative to the start of the query text (it begins with
    ``fmt.render_query(query)``).  With ``free`` set, choosing this option means the model
    goes on writing a free value right after ``text``.
    """

    text: str
    free: FreeSpec | None = None


class Decoder(Protocol):
    """What a planner needs from a model (implemented by the local llama.cpp backend)."""

    def choose(self, options: Sequence[Option]) -> tuple[int, str | None]:
        """Pick one option; returns its index and, for an option with a free hole, the value written."""
        ...

    @property
    def budget_left(self) -> int:
        """Tokens the model may still sample in this generation."""
        ...


@dataclass(frozen=True)
class Limits:
    """Lengths that keep a small model from running away; all counted in model tokens."""

    step_tokens: int = 20  # one proScript step
    concept_tokens: int = 10  # one ExplaGraphs concept
    location_tokens: int = 10  # one ProPara location
    # A script of n steps gets n-1 to n-1+edge_slack edges: every proScript dev script has
    # at least n-1, and 99% at most n+1.
    edge_slack: int = 2
    min_triples: int = 3  # ExplaGraphs asks for 3 to 8 edges per graph
    max_triples: int = 8
    reserve: int = 6  # optional parts (more edges, more triples) stop when fewer tokens remain


# --- text helpers ------------------------------------------------------------------------


def common_prefix(texts: Iterable[str]) -> str:
    """The longest prefix shared by all ``texts``."""
    return os.path.commonprefix(list(texts))


def split_at_hole(text: str, marker: str = HOLE) -> tuple[str, str]:
    """``(text before the marker, stop characters)``.

    The stop characters are the one right after the marker plus a line break (a value
    never spans lines).  Raises :class:`Unsupported` when the format did not write the
    marker as is.
    """
    k = text.find(marker)
    if k < 0:
        raise Unsupported("the format does not write a value verbatim")
    after = text[k + len(marker) : k + len(marker) + 1]
    stop = "".join(dict.fromkeys(after + "\n"))
    return text[:k], stop


def _free(dec: Decoder, text: str, stop: str, banned: str, max_tokens: int, forbidden: Iterable[str] = ()) -> str:
    spec = FreeSpec(stop, _without(banned, stop), max(1, min(max_tokens, dec.budget_left)), frozenset(forbidden))
    return _clean(dec.choose([Option(text, spec)])[1] or "", spec)


def _without(banned: str, stop: str) -> str:
    return "".join(c for c in banned if c not in stop)


def _clean(value: str, spec: FreeSpec) -> str:
    """A usable value even when the model hit its length limit on an empty or refused one."""
    value = " ".join(value.split())
    if not value:
        value = "..."
    while value in spec.forbidden:  # only reachable when a runaway was cut on a refused value
        value += " again"
    return value


# --- proScript ---------------------------------------------------------------------------

_STEP_BANNED = BASE_BANNED + ";{}[]<>#|"


def _script_steps(dec: Decoder, fmt: Format, q: Script, lim: Limits) -> Script:
    n = q.num_steps
    steps: list[str] = []
    for i in range(n):
        filler = [_PLACEHOLDERS[0]] * (n - i - 1)
        g = replace(q, steps=(*steps, HOLE, *filler), edges=((0, 1),) if n > 1 else ())
        pre, stop = split_at_hole(fmt.render(g))
        # A step repeated word for word is a small model looping; ask for another.
        steps.append(_free(dec, pre, stop, _STEP_BANNED, lim.step_tokens, forbidden=steps))
    return replace(q, num_steps=n, steps=tuple(steps), edges=())


def _reaches(adj: Mapping[T, set[T]], src: T, dst: T) -> bool:
    seen, todo = {src}, [src]
    while todo:
        u = todo.pop()
        if u == dst:
            return True
        for v in adj.get(u, ()):
            if v not in seen:
                seen.add(v)
                todo.append(v)
    return False


def _script_edges(dec: Decoder, fmt: Format, g: Script, lim: Limits) -> Script:
    n = len(g.steps)
    if n < 2:
        return replace(g, edges=())
    edges: list[tuple[int, int]] = []
    adj: dict[int, set[int]] = {}
    floor, cap = n - 1, n - 1 + max(0, lim.edge_slack)

    def render(es: Sequence[tuple[int, int]]) -> str:
        return fmt.render(replace(g, edges=tuple(es)))

    while True:
        have = set(edges)
        cands = [
            (a, b) for a in range(n) for b in range(n) if a != b and (a, b) not in have and not _reaches(adj, b, a)
        ]
        can_end = len(edges) >= floor
        if not cands or len(edges) >= cap or (edges and dec.budget_left < lim.reserve):
            break
        options: list[Option] = []
        if can_end:
            options.append(Option(render(edges)))
        for e in cands:
            more = (0, 1) if e != (0, 1) else (1, 0)  # any further edge: only where "more" starts matters
            options.append(Option(common_prefix([render([*edges, e]), render([*edges, e, more])])))
        idx, _ = dec.choose(options)
        if can_end and idx == 0:
            break
        a, b = cands[idx - 1 if can_end else idx]
        edges.append((a, b))
        adj.setdefault(a, set()).add(b)
    return replace(g, edges=tuple(edges))


# --- ExplaGraphs -------------------------------------------------------------------------

_CONCEPT_BANNED = BASE_BANNED + ";()[]{}#|"
Triple = tuple[str, str, str]


def _partial(triples: Sequence[Triple], part: Sequence[str | None], fill: str, k: int) -> list[Triple]:
    """Triples so far plus the current one: its decided parts, ``fill`` at ``k``, stand-ins elsewhere."""
    parts = [p if p is not None else _PLACEHOLDERS[j] for j, p in enumerate(part)]
    parts[k] = fill
    return [*triples, (parts[0], parts[1], parts[2])]


def _refused_concepts(triples: Sequence[Triple], part: Sequence[str | None], k: int) -> set[str]:
    """Values of concept ``k`` (0 head, 2 tail) that would make a self-loop, a cycle or a repeated triple."""
    other = part[2 - k]
    if other is None:
        return set()
    adj: dict[str, set[str]] = {}
    for h, _, t in triples:
        adj.setdefault(h, set()).add(t)
    concepts = {c for h, _, t in triples for c in (h, t)}
    bad = {other}
    if k == 2:  # a tail from which the head can be reached closes a cycle
        bad |= {c for c in concepts if _reaches(adj, c, other)}
    else:  # a head the tail can reach closes a cycle
        bad |= {c for c in concepts if _reaches(adj, other, c)}
    if part[1] is not None:
        bad |= {t[k] for t in triples if t[1] == part[1] and t[2 - k] == other}
    return bad


def _explagraph(dec: Decoder, fmt: Format, q: ExplaGraph, lim: Limits) -> ExplaGraph:
    from cocogen.tasks.explagraphs import RELATIONS

    triples: list[Triple] = []

    def render(ts: Sequence[Triple]) -> str:
        return fmt.render(replace(q, triples=tuple(ts)))

    # In which order the format writes a triple's parts (add_edge writes the relation last).
    probe = render([("Zq7P0qZ", "Zq7P1qZ", "Zq7P2qZ")])
    pos = [probe.find(f"Zq7P{k}qZ") for k in range(3)]
    if min(pos) < 0:
        raise Unsupported("the format does not write concepts verbatim")
    order = sorted(range(3), key=pos.__getitem__)

    while len(triples) < lim.max_triples:
        if triples and dec.budget_left < lim.reserve:
            break
        optional = len(triples) >= lim.min_triples
        part: list[str | None] = [None, None, None]
        for step_no, k in enumerate(order):
            if k == 1:  # the relation: a choice among the fixed vocabulary
                have = set(triples)
                rels = [r for r in RELATIONS if (part[0], r, part[2]) not in have]
                opts = [Option(_stable(render, _partial(triples, part, r, 1), k, part)) for r in rels]
                part[1] = rels[dec.choose(opts)[0]]
                continue
            pre, stop = split_at_hole(render(_partial(triples, part, HOLE, k)))
            spec = FreeSpec(
                stop,
                _without(_CONCEPT_BANNED, stop),
                max(1, min(lim.concept_tokens, dec.budget_left)),
                frozenset(_refused_concepts(triples, part, k)),
            )
            if step_no == 0 and optional:
                # "Another triple?" and its first concept in one choice: the end of the
                # graph, or the model starts writing a concept.
                idx, value = dec.choose([Option(render(triples)), Option(pre, spec)])
                if idx == 0:
                    return replace(q, triples=tuple(triples))
            else:
                value = dec.choose([Option(pre, spec)])[1]
            part[k] = _clean(value or "", spec)
        h, r, t = part
        assert h is not None and r is not None and t is not None
        triples.append((h, r, t))
    return replace(q, triples=tuple(triples))


def _stable(render: Callable[[Sequence[Triple]], str], ts: list[Triple], k: int, part: list[str | None]) -> str:
    """What choosing the relation in ``ts[-1]`` fixes: the text shared by every future of it."""
    futures = []
    for ph in _PLACEHOLDERS[:2]:
        cur = list(ts[-1])
        for j in range(3):
            if j != k and part[j] is None:
                cur[j] = ph
        done = [*ts[:-1], (cur[0], cur[1], cur[2])]
        futures.append(render(done))
        futures.append(render([*done, (ph, "is a", ph + "x")]))
    return common_prefix(futures)


# --- ProPara -----------------------------------------------------------------------------

_LOCATION_BANNED = BASE_BANNED + "#|"
_NOT_LOCATIONS = frozenset({"UNK", "unk", "Unk", "-", "?", "None", "none", "unknown place", "unknown"})


def _states(dec: Decoder, fmt: Format, q: StateTable, lim: Limits) -> StateTable:
    n_p, n_t = len(q.participants), len(q.sentences) + 1
    if n_p == 0:
        raise Unsupported("no participants")

    def render(grid: Sequence[Sequence[str]]) -> str:
        return fmt.render(replace(q, states=tuple(tuple(r) for r in grid)))

    # The order in which the format writes the cells (time-major in code, also in text).
    marks = [[f"Zq{p}x{t}qZ" for t in range(n_t)] for p in range(n_p)]
    probe = render(marks)
    where = {(p, t): probe.find(marks[p][t]) for p in range(n_p) for t in range(n_t)}
    if min(where.values()) < 0:
        raise Unsupported("the format does not write locations verbatim")
    order = sorted(where, key=where.__getitem__)

    grid: list[list[str | None]] = [[None] * n_t for _ in range(n_p)]

    def filled(cell: tuple[int, int], value: str, rest: str) -> list[list[str]]:
        out = [[v if v is not None else rest for v in row] for row in grid]
        out[cell[0]][cell[1]] = value
        return out

    for i, cell in enumerate(order):
        last = i == len(order) - 1

        def stable(value: str, cell: tuple[int, int] = cell, last: bool = last) -> str:
            if last:
                return render(filled(cell, value, ABSENT))
            return common_prefix(render(filled(cell, value, rest)) for rest in (ABSENT, UNKNOWN, _PLACEHOLDERS[0]))

        pre, stop = split_at_hole(render(filled(cell, HOLE, ABSENT)))
        spec = FreeSpec(
            stop,
            _without(_LOCATION_BANNED, stop),
            max(1, min(lim.location_tokens, dec.budget_left)),
            _NOT_LOCATIONS,
        )
        idx, value = dec.choose([Option(stable(ABSENT)), Option(stable(UNKNOWN)), Option(pre, spec)])
        grid[cell[0]][cell[1]] = (ABSENT, UNKNOWN)[idx] if idx < 2 else _clean(value or "", spec)
    states = tuple(tuple(v if v is not None else ABSENT for v in row) for row in grid)
    return replace(q, states=states)


# --- entry points ------------------------------------------------------------------------


@dataclass
class _Probe:
    """A decoder that answers without a model: the first option, a fixed value."""

    budget: int = 1000
    calls: int = field(default=0)

    def choose(self, options: Sequence[Option]) -> tuple[int, str | None]:
        self.calls += 1
        if self.calls > 10_000:
            raise Unsupported("the planner does not terminate on this format")
        # Prefer ending lists, so the probe is short; a free option gets a plain value.
        o = options[0]
        return 0, ("probe value" if o.free is not None else None)

    @property
    def budget_left(self) -> int:
        return self.budget


def generate_graph(dec: Decoder, fmt: Format, query: Graph, limits: Limits | None = None) -> Graph:
    """Build the output graph for ``query`` hole by hole with ``dec``, with the planner of the query's task.

    Raises :class:`Unsupported` when no task plans this graph type or ``fmt`` does not
    write the holes verbatim.
    """
    from cocogen.tasks.base import task_for_graph

    try:
        task = task_for_graph(query)
    except TypeError:
        raise Unsupported(f"no constrained decoding for {type(query).__name__}") from None
    return task.plan_constrained(dec, fmt, query, limits or Limits())


# The planners the task plug-ins name as their ``plan_constrained``.


def plan_script(dec: Decoder, fmt: Format, query: Script, lim: Limits) -> Script:
    """proScript: steps first unless given (script generation), then the edges."""
    g = query if query.steps else _script_steps(dec, fmt, query, lim)
    return _script_edges(dec, fmt, g, lim)


def plan_explagraph(dec: Decoder, fmt: Format, query: ExplaGraph, lim: Limits) -> ExplaGraph:
    return _explagraph(dec, fmt, replace(query, triples=()), lim)


def plan_state_table(dec: Decoder, fmt: Format, query: StateTable, lim: Limits) -> StateTable:
    return _states(dec, fmt, replace(query, states=()), lim)


def check_supported(fmt: Format, query: Graph) -> None:
    """Raise :class:`Unsupported` unless constrained decoding works for ``fmt`` and ``query``.

    Runs a planner against a model-free decoder and checks that the rendering starts with
    the query text and parses back cleanly.
    """
    try:
        graph = generate_graph(_Probe(), fmt, query)
        text = fmt.render(graph)
    except Unsupported:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise Unsupported(f"the format cannot render a constrained graph ({e})") from None
    head = fmt.render_query(query)
    if not text.startswith(head):
        raise Unsupported("the format's rendering does not continue its query text")
    result = fmt.parse(text[len(head) :], query)
    if not result.clean:
        kinds = ", ".join(sorted({p.kind.value for p in result.problems}))
        raise Unsupported(f"a constrained rendering does not parse cleanly ({kinds})")
