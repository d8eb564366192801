"""Grammars a model server enforces, so that its completion of a query parses clean.

The server-side twin of :mod:`cocogen.constrained`: where the local decoder builds the
answer hole by hole, a server (llama.cpp's, vLLM's) can only be handed a grammar up
front.  So the grammar here fixes the *structure* of the completion, the part after
``fmt.render_query(query)``, and leaves the values to the model:

- proScript: exactly the asked number of steps, each a plain phrase; then ``n - 1`` to
  ``n - 1 + slack`` edges between existing steps, written in increasing (target, source)
  order, so no edge is repeated or points at itself; for steps the model writes itself
  (script generation) every edge also goes forward, so the order has no cycle.  For given
  (shuffled) steps a cycle is still possible: a grammar cannot know the order.
- ExplaGraphs: 3 to 8 triples of short concepts and one of the fixed relations.  A
  repeated triple or a cycle is still possible.
- ProPara: one value per participant and time step (absent, unknown, or a location).

As in :mod:`cocogen.constrained`, nothing here knows what a format looks like: the text
between the values comes from rendering graphs with marker values and comparing the
renderings, so one function serves the code, networkx and text formats of a task.  A
format whose renderings do not line up (a value not written verbatim, list items that do
not concatenate) gets ``None``: no grammar, free decoding.

The grammar is GBNF (llama.cpp's notation), which vLLM's ``structured_outputs.grammar``
(xgrammar) also reads.

Examples
--------
>>> literal('say "hi"\\n')
'"say \\\\"hi\\\\"\\\\n"'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace

from cocogen.tasks.base import Format
from cocogen.types import ABSENT, UNKNOWN, ExplaGraph, Script, StateTable

__all__ = [
    "GRAMMAR_VERSION",
    "literal",
    "script_grammar",
    "explagraph_grammar",
    "state_table_grammar",
]

# Part of the openai backend's signature when it constrains: bump when a grammar changes
# what a server may answer, so cached answers of an older grammar are not reused.
GRAMMAR_VERSION = 1

# Markers every format writes verbatim (letters and digits only); distinct per value.
_MARK = "Zq7M{}qZ"

# A value's characters, as GBNF character classes ("-" last: a literal hyphen).  They
# leave out every character that is syntax in some format: quotes, backslash, ";", ":",
# "(", ")", "#", line breaks.
_STEP_WORD = "[A-Za-z0-9,.'!?&/-]"
_CONCEPT_WORD = "[A-Za-z0-9']"
_LOCATION_WORD = "[A-Za-z0-9,.'-]"
_STEP_WORDS = 20  # a proScript step is a phrase: the dev set's longest has 19 words
_CONCEPT_WORDS = 3  # the ExplaGraphs evaluator's limit
_LOCATION_WORDS = 5
_WORD_CHARS = 24

# Beyond this many rules the edge list keeps its order but not its count.
_MAX_EDGE_RULES = 3000

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    return '"' + "".join(_ESCAPES.get(c, c) for c in text) + '"'


def _words(word_class: str, max_words: int) -> str:
    """Up to ``max_words`` words separated by single spaces (never empty, no space at either end)."""
    word = f"{word_class}{{1,{_WORD_CHARS}}}"
    return f'{word} (" " {word}){{0,{max_words - 1}}}' if max_words > 1 else word


class _Rules:
    """Named GBNF rules in the order they were added; ``root`` first."""

    def __init__(self) -> None:
        self._rules: dict[str, str] = {}

    def add(self, name: str, body: str) -> str:
        self._rules[name] = body
        return name

    def text(self) -> str:
        root = self._rules.pop("root")
        return "\n".join([f"root ::= {root}", *(f"{k} ::= {v}" for k, v in self._rules.items())]) + "\n"


def _sequence(text: str, values: dict[str, str]) -> str:
    """``text`` as a GBNF sequence: literal stretches, and the rule ``values[m]`` at each marker ``m``."""
    parts: list[str] = []
    rest = text
    while rest:
        hits = [(rest.find(m), m) for m in values if m in rest]
        if not hits:
            parts.append(literal(rest))
            break
        at, mark = min(hits)
        if at:
            parts.append(literal(rest[:at]))
        parts.append(values[mark])
        rest = rest[at + len(mark) :]
    return " ".join(parts) if parts else '""'


def _common_suffix(texts: Sequence[str]) -> str:
    return os.path.commonprefix([t[::-1] for t in texts])[::-1]


def _list_items(
    render: Callable[[Sequence[object]], str], first: object, second: object, third: object, items: Sequence[object]
) -> tuple[str, dict[int, str], dict[int, str], str] | None:
    """How a format writes a list: ``(head, first item, next item, tail)`` texts.

    ``render(items)`` is the full rendering with those list items.  The first item's text
    may differ from a later one's (a separator); both are given per item (by index into
    ``items``).  ``None`` when the renderings are not ``head + items + tail``.
    """
    empty = render(())
    ones = [render((it,)) for it in items]
    head = os.path.commonprefix([empty, *ones])
    tail = _common_suffix([empty[len(head) :], *(o[len(head) :] for o in ones)])
    firsts = {i: o[len(head) : len(o) - len(tail)] for i, o in enumerate(ones)}
    base = render((first,))
    base_item = base[len(head) : len(base) - len(tail)]
    nexts: dict[int, str] = {}
    for i, it in enumerate(items):
        two = render((first, it))
        if not (two.startswith(head + base_item) and two.endswith(tail)):
            return None
        nexts[i] = two[len(head) + len(base_item) : len(two) - len(tail)]
    # Check that items concatenate: a third item after two.
    i2 = items.index(second)
    i3 = items.index(third)
    three = render((first, second, third))
    if three != head + base_item + nexts[i2] + nexts[i3] + tail or empty != head + tail:
        return None
    return head, firsts, nexts, tail


def script_grammar(fmt: Format, query: Script, *, edge_slack: int = 2) -> str | None:
    """A grammar for the completion of a proScript query: the steps (unless given), then the edges.

    With ``query.steps`` empty (script generation) the model writes ``query.num_steps``
    steps and forward edges; with steps given (edge prediction) only the edges.
    """
    n = query.num_steps if not query.steps else len(query.steps)
    if n < 3:
        return None  # too few steps to learn how the format writes its edge list
    given = bool(query.steps)
    marks = [_MARK.format(f"s{i}") for i in range(n)]
    graph = replace(query, num_steps=n, steps=query.steps if given else tuple(marks), edges=())
    head_q = fmt.render_query(query)
    pairs = sorted(
        ((a, b) for a in range(n) for b in range(n) if a != b and (given or a < b)), key=lambda e: (e[1], e[0])
    )

    def render(edges: Sequence[object]) -> str:
        return fmt.render(replace(graph, edges=tuple(edges)))  # type: ignore[arg-type]

    try:
        shape = _list_items(render, (0, 1), (1, 2), (0, 2), pairs)
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    if shape is None:
        return None
    head, firsts, nexts, tail = shape
    if not head.startswith(head_q) or any(m in t for m in marks for t in (*firsts.values(), *nexts.values(), tail)):
        return None
    rules = _Rules()
    step = rules.add("step", _words(_STEP_WORD, _STEP_WORDS))
    need, cap = n - 1, n - 1 + max(0, edge_slack)
    m = len(pairs)
    if m * (cap + 1) > _MAX_EDGE_RULES:
        need, cap = 1, 1  # too many rules: count only "none yet" and "some", keep the order
    end = literal(tail) if tail else '""'
    live: set[tuple[int, int]] = set()

    # e-k-c: the edges from pair k on (in order), c edges written so far (capped at cap).
    def name(k: int, c: int) -> str:
        return f"e-{k}-{c}"

    for c in range(cap, -1, -1):
        for k in range(m, -1, -1):
            alts: list[str] = []
            if k < m:
                more = min(c + 1, cap) if cap == 1 else c + 1
                if (k + 1, more) in live and (c < cap or cap == 1):
                    alts.append(f"{literal(firsts[k] if c == 0 else nexts[k])} {name(k + 1, more)}")
                if (k + 1, c) in live:
                    alts.append(name(k + 1, c))
            if c >= need:
                alts.append(end)
            if alts:
                live.add((k, c))
                rules.add(name(k, c), " | ".join(alts))
    if (0, 0) not in live:
        return None
    rules.add("root", f"{_sequence(head[len(head_q) :], dict.fromkeys(marks, step))} {name(0, 0)}")
    return rules.text()


def explagraph_grammar(
    fmt: Format, query: ExplaGraph, relations: Sequence[str], *, min_triples: int = 3, max_triples: int = 8
) -> str | None:
    """A grammar for the completion of an ExplaGraphs query: ``min_triples`` to ``max_triples`` triples."""
    graph = replace(query, triples=())
    head_q = fmt.render_query(query)
    parts = [[_MARK.format(f"t{i}p{k}") for k in range(3)] for i in range(3)]
    triples = [tuple(p) for p in parts]

    def render(ts: Sequence[object]) -> str:
        return fmt.render(replace(graph, triples=tuple(ts)))  # type: ignore[arg-type]

    try:
        shape = _list_items(render, triples[0], triples[1], triples[2], triples)
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    if shape is None:
        return None
    head, firsts, nexts, tail = shape
    if not head.startswith(head_q):
        return None
    rules = _Rules()
    concept = rules.add("concept", _words(_CONCEPT_WORD, _CONCEPT_WORDS))
    relation = rules.add("relation", " | ".join(literal(r) for r in relations))

    def item(text: str, i: int) -> str:
        h, r, t = parts[i]
        return _sequence(text, {h: concept, r: relation, t: concept})

    # Both stand for any triple: the markers of triple 0 (first) and triple 1 (next).
    if not all(p in firsts[0] for p in parts[0]) or not all(p in nexts[1] for p in parts[1]):
        return None
    rules.add("first", item(firsts[0], 0))
    rules.add("next", item(nexts[1], 1))
    lead = f"{literal(head[len(head_q) :])} " if len(head) > len(head_q) else ""
    end = f" {literal(tail)}" if tail else ""
    rules.add("root", f"{lead}first next{{{min_triples - 1},{max_triples - 1}}}{end}")
    return rules.text()


def state_table_grammar(fmt: Format, query: StateTable) -> str | None:
    """A grammar for the completion of a ProPara query: every participant's state at every step."""
    n_p, n_t = len(query.participants), len(query.sentences) + 1
    if n_p == 0:
        return None
    head_q = fmt.render_query(query)
    marks = [[_MARK.format(f"p{p}t{t}") for t in range(n_t)] for p in range(n_p)]

    def render(cell: tuple[int, int] | None, value: str) -> str:
        grid = [list(row) for row in marks]
        if cell is not None:
            grid[cell[0]][cell[1]] = value
        return fmt.render(replace(query, states=tuple(tuple(r) for r in grid)))

    try:
        base = render(None, "")
        spans = []
        for p in range(n_p):
            for t in range(n_t):
                alts = [render((p, t), v) for v in (ABSENT, UNKNOWN)]
                start = min(len(os.path.commonprefix([base, a])) for a in alts)
                back = min(len(_common_suffix([base[start:], a[start:]])) for a in alts)
                end = len(base) - back
                texts = [a[start : len(a) - back] for a in alts]
                spans.append((start, end, marks[p][t], texts))
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    spans.sort()
    if not spans or spans[0][0] < len(head_q) or not base.startswith(head_q):
        return None
    rules = _Rules()
    location = rules.add("location", _words(_LOCATION_WORD, _LOCATION_WORDS))
    seq: list[str] = []
    at = len(head_q)
    for i, (start, end, mark, (absent, unknown)) in enumerate(spans):
        own = base[start:end]
        if start < at or own.count(mark) != 1 or any(m in own for m in (s[2] for s in spans) if m != mark):
            return None  # spans overlap, or a value is not written verbatim
        if start > at:
            seq.append(literal(base[at:start]))
        before, after = own.split(mark)
        cell = " | ".join(
            [
                literal(absent),
                literal(unknown),
                " ".join(
                    x for x in (literal(before) if before else "", location, literal(after) if after else "") if x
                ),
            ]
        )
        seq.append(rules.add(f"cell-{i}", cell))
        at = end
    if at < len(base):
        seq.append(literal(base[at:]))
    rules.add("root", " ".join(seq))
    return rules.text()
