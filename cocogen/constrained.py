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
value; so is a step or concept copied word for word from one of the prompt's examples
about something else (:func:`copied_values`).

Examples
--------
>>> common_prefix(["    return [\\n        ]\\n", "    return [\\n            \\"step0"])
'    return [\\n        '
>>> split_at_hole(f'        return "{HOLE}"\\n')
('        return "', '"\\n')
"""

from __future__ import annotations

import os
import re
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
    "copied_values",
    "lent_values",
    "CONSTRAINTS_VERSION",
]

T = TypeVar("T")

# Bump when the decoding procedure changes what is generated: it is part of the local
# backend's signature, so cached completions of an older procedure are not reused.
CONSTRAINTS_VERSION = 7  # 7: a script takes at most one step of an example partly on its topic; 6: a script ends on its goal, no stuttering word; 5: no copy from an unrelated example, no shortened step, no early goal

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
    model may not end on, e.g. a concept that would close a cycle (compared by their words,
    case-insensitively).  ``final``: characters after which the value must end (a step
    that reached its full stop does not run on into the next one).
    """

    stop: str
    banned: str = BASE_BANNED
    max_tokens: int = 12
    forbidden: frozenset[str] = frozenset()
    final: str = ""
    max_words: int = 0  # 0: no limit
    min_words: int = 0  # words of two letters or more the value must have ("practice" is no step)
    # Whole values refused like ``forbidden`` but which the value may extend: what unrelated
    # few-shot examples wrote (a small model copies a step of another script word for word).
    shown: frozenset[str] = frozenset()
    # Nor may the value be the first words of a ``forbidden`` one: a step that says an
    # earlier step shortened ("buy a new tie", then "buy a new", "buy a").
    no_shortening: bool = False
    # The characters a value is made of (a regex character class), e.g. "A-Za-z0-9 '";
    # empty: any text without a banned character.
    charset: str = ""


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
    """What keeps a small model on track: lengths (counted in model tokens) and the values
    it may not copy from the prompt's examples."""

    step_tokens: int = 20  # one proScript step
    concept_tokens: int = 10  # one ExplaGraphs concept
    location_tokens: int = 10  # one ProPara location
    # A script of n steps gets n-1 to n-1+edge_slack edges: every proScript dev script has
    # at least n-1, and 99% at most n+1.
    edge_slack: int = 2
    min_triples: int = 3  # ExplaGraphs asks for 3 to 8 edges per graph
    max_triples: int = 8
    reserve: int = 6  # optional parts (more edges, more triples) stop when fewer tokens remain
    # Values of the prompt's examples about something else (:func:`copied_values`): a step
    # or concept may not be one of them word for word.
    shown: frozenset[str] = frozenset()
    # Steps of the examples on the query's topic (:func:`lent_values`): a script may take
    # ``max_lent`` of them word for word, then they are refused like ``shown``.
    lent: frozenset[str] = frozenset()
    max_lent: int = 1


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


def _free(
    dec: Decoder,
    text: str,
    stop: str,
    banned: str,
    max_tokens: int,
    forbidden: Iterable[str] = (),
    final: str = "",
    charset: str = "",
) -> str:
    spec = FreeSpec(
        stop,
        _without(banned, stop),
        max(1, min(max_tokens, dec.budget_left)),
        frozenset(forbidden),
        final,
        charset=charset,
    )
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

# ``:`` and ``>`` are the text format's own syntax (``step3:``, ``->``); 2 of proScript's
# 8,042 dev steps have a colon.  A step may end on a full stop, but not go on after one.
_STEP_BANNED = BASE_BANNED + ";:{}[]<>#|"
_STEP_FINAL = ".!?"
_STEP_CHARS = "A-Za-z0-9 ,.'!?&/-"  # a step is a plain English phrase


def _script_steps(dec: Decoder, fmt: Format, q: Script, lim: Limits) -> Script:
    """The steps, one free value each, and the goal itself as the last one.

    Every proScript script holds its goal as its final event (all 1,085 dev scripts: the
    dataset adds it, as it adds "decided to ...", to the steps people wrote), and so do
    our examples: the last step is the goal, written by the program as a ``def`` line is.
    Left to choose, Gemma 3 270M ends on the goal in 8 of 50 dev scripts, because it does
    not count steps (decoding freely: in none).  Before the last step the goal is not a
    step.  A step repeated word for word, or an earlier step (or the goal) extended or
    shortened, is a small model looping: refused, so the model writes another.  A step of a
    related example may be taken word for word ``lim.max_lent`` times; after that the
    example's other steps are refused too (a nearest example about a weekend trip lent all
    its steps to "go to the county fair this weekend", none of them right).
    """
    n = q.num_steps
    goal = " ".join(q.goal.split())
    lent = {_words(v) for v in lim.lent}
    steps: list[str] = []
    for i in range(n):
        if i == n - 1 and n > 1 and goal:
            steps.append(goal)
            break
        filler = [_PLACEHOLDERS[0]] * (n - i - 1)
        g = replace(q, steps=(*steps, HOLE, *filler), edges=((0, 1),) if n > 1 else ())
        pre, stop = split_at_hole(fmt.render(g))
        spec = FreeSpec(
            stop,
            _without(_STEP_BANNED, stop),
            max(1, min(lim.step_tokens, dec.budget_left)),
            frozenset(steps) | ({goal} if goal and i < n - 1 else set()),
            _STEP_FINAL,
            charset=_STEP_CHARS,
            shown=lim.shown | (lim.lent if sum(_words(s) in lent for s in steps) >= lim.max_lent else frozenset()),
            no_shortening=True,
            min_words=2,  # 1 in 8,000 proScript dev steps is a single word
        )
        steps.append(_clean(dec.choose([Option(pre, spec)])[1] or "", spec))
    return replace(q, num_steps=n, steps=tuple(steps), edges=())


def _norm_step(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


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


def script_ends(g: Script, forward: bool) -> tuple[int | None, int | None]:
    """The script's start and end steps, where they can be told: ``(source, sink)``.

    Steps written in order start at step 0 and end at the last step.  Given (shuffled)
    steps, the source is the one step that states the decision ("decided to ..."), the
    sink the one step that is the goal itself, as in every proScript script and in our
    examples; ``None`` where no single step qualifies.
    """
    n = len(g.steps)
    if forward:
        return 0, n - 1
    decided = [i for i, s in enumerate(g.steps) if s.strip().lower().startswith("decided")]
    goal = _norm_step(g.goal)
    sinks = [i for i, s in enumerate(g.steps) if _norm_step(s) == goal]
    source = decided[0] if len(decided) == 1 else None
    sink = sinks[0] if len(sinks) == 1 and sinks != decided else None
    return source, sink


def _script_edges(dec: Decoder, fmt: Format, g: Script, lim: Limits, *, forward: bool = False) -> Script:
    """The partial order, one edge choice at a time.

    The graph grows connected: every edge leaves a step already in the graph (the
    source, at first) for a step not yet in it, the sink is joined last, and only then may
    extra edges (up to ``edge_slack``) join steps already in it, or the list end; so the
    answer is one connected DAG from source to sink with ``n - 1`` to ``n - 1 + edge_slack``
    edges.  Which step leads where is the model's choice.

    ``forward``: only edges from an earlier to a later step, for steps the model has just
    written in order (98% of proScript's dev edges go forward).  Otherwise (edge
    prediction, the steps given shuffled) a new step joins the path where it got to, so
    the model's choices put the steps in order before any extra edge: left free to join
    any step in the graph, Gemma 3 270M fans out from the first step it names (edge F1
    17.3 against 22.0 on 20 dev rows; docs/benchmarks.md).
    """
    n = len(g.steps)
    if n < 2:
        return replace(g, edges=())
    source, sink = script_ends(g, forward)
    chain = not forward
    edges: list[tuple[int, int]] = []
    adj: dict[int, set[int]] = {}
    inside: set[int] = set()  # steps some edge touches
    cap = n - 1 + max(0, lim.edge_slack)

    def render(es: Sequence[tuple[int, int]]) -> str:
        return fmt.render(replace(g, edges=tuple(es)))

    def allowed(a: int, b: int) -> bool:
        if a == b or (a, b) in have or b == source or a == sink or _reaches(adj, b, a):
            return False
        if forward and b < a:
            return False
        if edges and a not in inside:
            return False  # grow from the graph, never start a second piece
        if edges and b in inside and len(inside) < n:
            return False  # every step joins the graph before any extra edge
        if chain and b not in inside and edges and a != edges[-1][1]:
            return False  # a new step joins where the path got to
        if not edges and source is not None and a != source:
            return False
        return b != sink or len(inside | {a}) >= n - 1  # the sink joins last

    while True:
        have = set(edges)
        cands = [(a, b) for a in range(n) for b in range(n) if allowed(a, b)]
        can_end = len(inside) == n
        # The edge cap and the token budget end only the optional edges: a graph that does
        # not yet hold every step always gets the edge that joins the next one.
        if not cands or (can_end and (len(edges) >= cap or dec.budget_left < lim.reserve)):
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
        inside |= {a, b}
    return replace(g, edges=tuple(edges))


# --- ExplaGraphs -------------------------------------------------------------------------

_CONCEPT_BANNED = BASE_BANNED + ";()[]{}#|"
_CONCEPT_CHARS = "A-Za-z0-9 '"  # concepts are words: no lists, no markup, no symbols
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


_CONCEPT_WORDS = 3  # the ExplaGraphs evaluator's limit
_STOPWORDS = frozenset(
    "a an the of to in on for and or but is are be been was were should would can could will not no it its "
    "this that these those by with as at from than more most very so do does did have has had their there".split()
)


def _spans(sentence: str) -> list[str]:
    """Lower-case word spans of ``sentence`` (1-3 words) that could be a concept: no stop word at either end."""
    words = [w.strip(".,;:!?\"'()") for w in sentence.lower().split()]
    out: dict[str, None] = {}
    for n in (1, 2, 3):
        for i in range(len(words) - n + 1):
            span = words[i : i + n]
            if all(span) and span[0] not in _STOPWORDS and span[-1] not in _STOPWORDS:
                out.setdefault(" ".join(span))
    return list(out)


def _grounded(concepts: Iterable[str], sentence: str) -> int:
    """How many concepts the evaluator finds in ``sentence`` (lower-case substring match)."""
    low = sentence.lower()
    return sum(1 for c in set(concepts) if c and c.lower() in low)


def _explagraph(dec: Decoder, fmt: Format, q: ExplaGraph, lim: Limits) -> ExplaGraph:
    """An explanation graph triple by triple, structurally correct by construction.

    What the ExplaGraphs evaluator checks holds for every answer: 3 to 8 triples, concepts
    of at most three words, relations from the 28, one connected DAG, and at least two
    concepts found in the belief and two in the argument.  The graph is a chain of
    reasoning, as most reference graphs are: each triple starts where the last one
    ended.  The model writes each new concept freely or, while the graph still lacks
    concepts from the belief or the argument, picks a span of them; it picks the
    relations, and when to stop once the graph is grounded.  Concepts are words: ASCII
    letters, digits, spaces and apostrophes, never a relation's name.
    """
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
    spans = {"belief": _spans(q.belief), "argument": _spans(q.argument)}

    def concepts(part: Sequence[str | None] = ()) -> list[str]:
        # The triple under way's concepts, never its relation ("is a" is in many arguments).
        return [c for t in triples for c in (t[0], t[2])] + [p for i, p in enumerate(part) if p and i != 1]

    def grounded(part: Sequence[str | None] = ()) -> bool:
        cs = concepts(part)
        return _grounded(cs, q.belief) >= 2 and _grounded(cs, q.argument) >= 2

    while len(triples) < lim.max_triples:
        if len(triples) >= lim.min_triples and grounded() and dec.budget_left < lim.reserve:
            break
        part: list[str | None] = [None, None, None]
        if triples:
            head = triples[-1][2]
            if len(triples) >= lim.min_triples and grounded():
                # "Another triple?": the end of the graph, or one more from the last concept.
                more = _stable(render, _partial(triples, part, head, 0), 0, part)
                if dec.choose([Option(render(triples)), Option(more)])[0] == 0:
                    break
            part[0] = head
        for k in order:
            if part[k] is not None:
                continue
            if k == 1:  # the relation: a choice among the fixed vocabulary
                have = set(triples)
                rels = [r for r in RELATIONS if (part[0], r, part[2]) not in have]
                opts = [Option(_stable(render, _partial(triples, part, r, 1), k, part)) for r in rels]
                part[1] = rels[dec.choose(opts)[0]]
                continue
            pre, stop = split_at_hole(render(_partial(triples, part, HOLE, k)))
            refused = _refused_concepts(triples, part, k) | set(concepts(part))
            spec = FreeSpec(
                stop,
                _without(_CONCEPT_BANNED, stop),
                max(1, min(lim.concept_tokens, dec.budget_left)),
                frozenset(refused | set(RELATIONS)),
                max_words=_CONCEPT_WORDS,
                charset=_CONCEPT_CHARS,
                shown=lim.shown,
            )
            closed: list[str] = []
            for where in ("belief", "argument"):
                if _grounded(concepts(part), getattr(q, where)) < 2:  # spans the graph still needs
                    closed += [s for s in spans[where] if s not in refused and s not in closed]
            options = [Option(_stable(render, _partial(triples, part, c, k), k, part)) for c in closed]
            # Until the graph is grounded its concepts come from the belief and argument.
            idx, value = dec.choose(options if options else [Option(pre, spec)])
            part[k] = closed[idx] if idx < len(closed) else _clean(value or "", spec)
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
_LOCATION_CHARS = "A-Za-z0-9 ,.'-"  # a place is a short phrase
_NOT_LOCATIONS = frozenset({"UNK", "unk", "Unk", "-", "?", "None", "none", "unknown place", "unknown"})


_PLACE_WORDS = 4


def _places(sentences: Sequence[str]) -> list[str]:
    """Where a participant can be: lower-case spans of the paragraph (1-4 words, no stop word at either end).

    92% of ProPara's test locations are written verbatim in their paragraph; a place the
    model writes freely is as often one copied from a few-shot example (22% in the text
    format, docs/benchmarks.md).
    """
    out: dict[str, None] = {}
    clauses = (c for sentence in sentences for c in re.split(r"[,;:.!?()\"]", sentence.lower()))
    for clause in clauses:  # a span never crosses a comma: it is written as the paragraph writes it
        words = [w.strip("'") for w in clause.split()]
        for n in range(1, _PLACE_WORDS + 1):
            for i in range(len(words) - n + 1):
                span = words[i : i + n]
                if all(span) and span[0] not in _STOPWORDS and span[-1] not in _STOPWORDS:
                    out.setdefault(" ".join(span))
    return [p for p in out if p not in _NOT_LOCATIONS and re.fullmatch(f"[{_LOCATION_CHARS}]+", p)]


def _states(dec: Decoder, fmt: Format, q: StateTable, lim: Limits) -> StateTable:
    """Every participant's state at every step: absent, unknown, or a place in the paragraph.

    A place is a span of the paragraph (:func:`_places`), chosen like any other option; a
    paragraph with no such span leaves the place to the model's free text.
    """
    n_p, n_t = len(q.participants), len(q.sentences) + 1
    places = _places(q.sentences)
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
            charset=_LOCATION_CHARS,
        )
        itself = {name.strip().lower() for name in q.participants[cell[0]].split(";")}
        fixed = [ABSENT, UNKNOWN, *(pl for pl in places if pl not in itself)]  # nothing is inside itself
        options = [Option(stable(v)) for v in fixed]
        if len(fixed) == 2:  # no place in the paragraph: the model writes one
            options.append(Option(pre, spec))
        idx, value = dec.choose(options)
        grid[cell[0]][cell[1]] = fixed[idx] if idx < len(fixed) else _clean(value or "", spec)
    states = tuple(tuple(v if v is not None else ABSENT for v in row) for row in grid)
    return replace(q, states=states)


# --- copies ------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _topic(text: str) -> set[str]:
    """What a text is about, roughly: its words of four letters or more, but stop words, by
    their first five letters ("movies" and "movie", "watching" and "watch" meet)."""
    return {w[:5] for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _STOPWORDS}


def copied_values(examples: Iterable[Graph], query: Graph) -> frozenset[str]:
    """The steps and concepts of the ``examples`` about another subject than ``query``.

    A small model copies them into an unrelated answer word for word ("write the address
    on the envelope" to go to a festival, the steps of planting a tree to see an alligator:
    9 % of its constrained steps, docs/benchmarks.md), so the planners refuse them as whole
    values (:attr:`FreeSpec.shown`); the task says which values are written freely
    (:meth:`~cocogen.tasks.base.Task.free_values`) and what an input is about
    (:meth:`~cocogen.tasks.base.Task.subject`).  An example that shares a topic word with the query
    may lend its steps (:func:`lent_values`), and a value the input itself contains stays allowed.

    >>> tree = Script(goal="plant a tree", num_steps=2, steps=("dig a hole", "plant a tree"))
    >>> sorted(copied_values([tree], Script(goal="see an alligator", num_steps=5)))
    ['dig a hole', 'plant a tree']
    >>> sorted(copied_values([tree], Script(goal="plant some flowers", num_steps=5)))  # planting too
    []
    """
    return _example_values(examples, query)[0]


def lent_values(examples: Iterable[Graph], query: Graph) -> frozenset[str]:
    """The steps and concepts of the ``examples`` that share some, not all, of their topic words with ``query``.

    They may be right for it ("preheat the oven" for banana muffins after banana bread:
    refusing every copy cost a point of ROUGE-L), but a small model given one copies its
    whole script, so a script may take only a few (:attr:`Limits.max_lent`).  An example
    whose topic words (two or more) are all in the query ("plant a tree" for "plant a tree
    in the garden") is about the same thing: its steps are not limited.

    >>> tree = Script(goal="plant a tree", num_steps=2, steps=("dig a hole", "plant a tree"))
    >>> sorted(lent_values([tree], Script(goal="plant some flowers", num_steps=5)))
    ['dig a hole', 'plant a tree']
    >>> sorted(lent_values([tree], Script(goal="see an alligator", num_steps=5)))
    []
    >>> sorted(lent_values([tree], Script(goal="plant a tree in the garden", num_steps=5)))
    []
    """
    return _example_values(examples, query)[1]


def _example_values(examples: Iterable[Graph], query: Graph) -> tuple[frozenset[str], frozenset[str]]:
    """The examples' free values not in the query's input: ``(about something else, on its topic)``."""
    from cocogen.tasks.base import task_for_graph

    try:
        task = task_for_graph(query)
    except TypeError:
        return frozenset(), frozenset()
    given = f" {_words(task.subject(query))} "
    topic = _topic(task.subject(query))
    other: set[str] = set()
    related: set[str] = set()
    same: set[str] = set()
    for graph in examples:
        values = {v for v in task.free_values(graph) if _words(v) and f" {_words(v)} " not in given}
        theirs = _topic(task.subject(graph))
        # Two topic words or more, all in the query: the same thing ("make" alone is not).
        (same if len(theirs) >= 2 and theirs <= topic else related if theirs & topic else other).update(values)
    return frozenset(other - same), frozenset(related - other - same)


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
    if query.steps:
        return _script_edges(dec, fmt, query, lim)
    return _script_edges(dec, fmt, _script_steps(dec, fmt, query, lim), lim, forward=True)


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
