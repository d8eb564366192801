"""Grammars a model server enforces, so that its completion of a query parses clean.

The server-side twin of :mod:`cocogen.constrained`: where the local decoder builds the
answer hole by hole, a server (llama.cpp's, vLLM's) can only be handed a grammar up
front.  So the grammar here fixes the *structure* of the completion, the part after
``fmt.render_query(query)``, and leaves the values to the model:

- proScript script generation: exactly the asked number of steps, each a plain phrase
  but the last, which is the goal (every proScript script ends on it); then ``n - 1`` to
  ``n - 1 + slack`` forward edges, written in increasing (target, source) order, so none
  is repeated and the order has no cycle.
- proScript edge prediction (the steps given, shuffled): as the local decoder does, a
  path from the step that states the decision to the goal step, each edge joining the
  step the path got to with a new one, then up to ``slack`` extra edges.  A path that
  comes back to a step (a cycle) is possible: a grammar cannot know which steps it has.
  Beyond ten steps (proScript has 5-9), edges in (target, source) order as above.
- ExplaGraphs: 3 to 8 triples of short concepts and one of the fixed relations.  A
  repeated triple or a cycle is still possible.
- ProPara: one value per participant and time step (absent, unknown, or a location).

What a grammar cannot say (a concept or edge that closes a cycle, a triple written twice)
is caught after the answer: :func:`explagraph_retry` and :func:`script_retry` find where a
constrained completion first breaks such a rule and give a :class:`Retry`, the start of
the completion that stands and a grammar for the rest that leaves out the faulty choice,
so the server is asked to go on from there (the model's next choice, not a rewrite).

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
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from cocogen.tasks.base import Format
from cocogen.types import ABSENT, UNKNOWN, ExplaGraph, Script, StateTable

__all__ = [
    "GRAMMAR_VERSION",
    "Retry",
    "literal",
    "script_grammar",
    "script_retry",
    "explagraph_grammar",
    "explagraph_retry",
    "state_table_grammar",
]

# Part of the openai backend's signature when it constrains: bump when a grammar changes
# what a server may answer, so cached answers of an older grammar are not reused.
GRAMMAR_VERSION = 5  # 2: answers that close a cycle are asked again (Retry); 3: edge prediction as a path;
# 4: an extra edge asked again may not close a cycle either; 5: a generated script ends on its goal

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
# Edge prediction with more given steps than this writes its edges in (target, source)
# order, not as a path: a path's rules grow as n³ (40 kB at 10 steps, 1.2 MB at 30).
_PATH_MAX_STEPS = 10

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

    def __contains__(self, name: object) -> bool:
        return name in self._rules

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


@dataclass(frozen=True)
class Retry:
    """Where a constrained completion first breaks a rule no grammar states, and how to go on.

    ``keep`` is the start of the completion that stands (the model's own text), ``grammar``
    the GBNF for what follows it, and ``reason`` says in a phrase what was wrong.
    """

    keep: str
    grammar: str
    reason: str

    def whole(self) -> str:
        r"""A grammar for the whole completion: ``keep`` as it stands, then the rest (for a chat
        reply, which cannot be continued, only asked again).

        >>> Retry("(a; ", 'root ::= "b)"\n', "why").whole()
        'root ::= "(a; " ("b)")\n'
        """
        first, _, rest = self.grammar.partition("\n")
        body = first.removeprefix("root ::= ")
        return f"root ::= {literal(self.keep)} ({body})\n{rest}" if self.keep else self.grammar


@dataclass(frozen=True)
class _EdgeShape:
    """How a format writes a proScript query's completion: the steps part, then the edge list."""

    head_q: str
    head: str  # the rendering up to the first edge (starts with head_q)
    firsts: dict[int, str]  # edge text by pair index, as the first edge
    nexts: dict[int, str]  # edge text by pair index, after another edge
    tail: str
    pairs: list[tuple[int, int]]  # (source, target), sorted by (target, source)
    marks: list[str]  # the step markers (script generation: the model writes the steps)


def _edge_shape(fmt: Format, query: Script) -> _EdgeShape | None:
    n = query.num_steps if not query.steps else len(query.steps)
    if n < 3:
        return None  # too few steps to learn how the format writes its edge list
    given = bool(query.steps)
    goal = " ".join(query.goal.split())
    # A generated script ends on its goal, as the local decoder writes it; the model writes the rest.
    marks = [_MARK.format(f"s{i}") for i in range(n - 1 if goal else n)]
    written = tuple(marks) + ((goal,) if goal else ())
    graph = replace(query, num_steps=n, steps=query.steps if given else written, edges=())
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
    return _EdgeShape(head_q, head, firsts, nexts, tail, pairs, marks if not given else [])


def _edge_rules(
    rules: _Rules, shape: _EdgeShape, need: int, cap: int, banned: Collection[tuple[int, int]] = ()
) -> set[tuple[int, int]]:
    """Rules ``e-k-c``: the edges from pair ``k`` on (in order), ``c`` edges written so far.

    Returns the ``(k, c)`` that have a rule (that can still reach the end of the list).
    """
    m = len(shape.pairs)
    end = literal(shape.tail) if shape.tail else '""'
    live: set[tuple[int, int]] = set()
    for c in range(cap, -1, -1):
        for k in range(m, -1, -1):
            alts: list[str] = []
            if k < m:
                more = min(c + 1, cap) if cap == 1 else c + 1
                if (k + 1, more) in live and (c < cap or cap == 1) and shape.pairs[k] not in banned:
                    alts.append(f"{literal(shape.firsts[k] if c == 0 else shape.nexts[k])} {_edge_rule(k + 1, more)}")
                if (k + 1, c) in live:
                    alts.append(_edge_rule(k + 1, c))
            if c >= need:
                alts.append(end)
            if alts:
                live.add((k, c))
                rules.add(_edge_rule(k, c), " | ".join(alts))
    return live


def _edge_rule(k: int, c: int) -> str:
    return f"e-{k}-{c}"


def _edge_counts(shape: _EdgeShape, n: int, edge_slack: int) -> tuple[int, int]:
    """How many edges the list must have and may have (``(1, 1)``: too many rules to count)."""
    need, cap = n - 1, n - 1 + max(0, edge_slack)
    if len(shape.pairs) * (cap + 1) > _MAX_EDGE_RULES:
        return 1, 1  # count only "none yet" and "some", keep the order
    return need, cap


def script_grammar(fmt: Format, query: Script, *, edge_slack: int = 2) -> str | None:
    """A grammar for the completion of a proScript query: the steps (unless given), then the edges.

    With ``query.steps`` empty (script generation) the model writes ``query.num_steps``
    steps and forward edges; with steps given (edge prediction) only the edges.
    """
    shape = _edge_shape(fmt, query)
    if shape is None:
        return None
    if query.steps and len(query.steps) <= _PATH_MAX_STEPS:
        return _path_grammar(shape, query, edge_slack)
    n = len(query.steps) or query.num_steps
    rules = _Rules()
    step = rules.add("step", _words(_STEP_WORD, _STEP_WORDS))
    need, cap = _edge_counts(shape, n, edge_slack)
    if (0, 0) not in _edge_rules(rules, shape, need, cap):
        return None
    steps = _sequence(shape.head[len(shape.head_q) :], dict.fromkeys(shape.marks, step))
    rules.add("root", f"{steps} {_edge_rule(0, 0)}")
    return rules.text()


def _path_rules(
    rules: _Rules,
    shape: _EdgeShape,
    query: Script,
    edge_slack: int,
    visited: Collection[int] = (),
    have: Collection[tuple[int, int]] = (),
) -> None:
    """Rules ``p-c-k`` (the path is at step ``c`` after ``k`` edges) and ``x-e`` (``e`` extra edges written).

    The path leaves the start step and joins a step not yet on it at every edge, the end
    step last (``n - 1`` edges in all); then up to ``edge_slack`` extra edges join any two
    steps, or the list ends.  ``visited`` steps are never joined again, ``have`` edges
    never written as extras (what a :class:`Retry` has kept, and the edges that would
    close a cycle with it).  A path that comes back to a
    step closes a cycle, which the grammar cannot see: :func:`script_retry` does.
    """
    from cocogen.constrained import script_ends

    n = len(query.steps)
    source, sink = script_ends(query, False)
    index = {e: j for j, e in enumerate(shape.pairs)}
    end = literal(shape.tail) if shape.tail else '""'

    def text(a: int, b: int, k: int) -> str:
        return literal(shape.firsts[index[(a, b)]] if k == 0 else shape.nexts[index[(a, b)]])

    live: set[tuple[int, int]] = set()  # the (c, k) whose rule can reach the end: only those are named
    for k in range(n - 2, -1, -1):
        for c in range(n):
            alts = []
            for b in range(n):
                last = k == n - 2
                if b == c or b == source or b in visited or (sink is not None and (b == sink) != last):
                    continue
                if last or (b, k + 1) in live:
                    alts.append(f"{text(c, b, k)} {'x-0' if last else f'p-{b}-{k + 1}'}")
            if alts:
                live.add((c, k))
                rules.add(f"p-{c}-{k}", " | ".join(alts))
    pairs = [e for e in shape.pairs if e not in have]
    for e in range(max(0, edge_slack), -1, -1):
        more = [f"{text(a, b, 1)} x-{e + 1}" for a, b in pairs] if e < edge_slack else []
        rules.add(f"x-{e}", " | ".join([end, *more]))


def _path_grammar(shape: _EdgeShape, query: Script, edge_slack: int) -> str:
    from cocogen.constrained import script_ends

    rules = _Rules()
    _path_rules(rules, shape, query, edge_slack)
    source, _ = script_ends(query, False)
    starts = [f"p-{a}-0" for a in range(len(query.steps)) if source in (None, a) and f"p-{a}-0" in rules]
    lead = shape.head[len(shape.head_q) :]
    rules.add("root", f"{literal(lead)} ({' | '.join(starts)})" if lead else " | ".join(starts))
    return rules.text()


def script_retry(fmt: Format, query: Script, completion: str, *, edge_slack: int = 2) -> Retry | None:
    """The first edge of a :func:`script_grammar` completion that closes a cycle or is written
    again, as a :class:`Retry`.

    Only edge prediction can close one (generated steps get forward edges).  The rest is
    asked again from just before that edge, without the steps the path has visited and the
    edges already written.  ``None``: no such edge, or not a completion of this grammar.
    """
    import networkx as nx

    if not query.steps:
        return None
    shape = _edge_shape(fmt, query)
    lead = shape.head[len(shape.head_q) :] if shape is not None else ""
    if shape is None or not completion.startswith(lead):
        return None
    if len(query.steps) > _PATH_MAX_STEPS:
        return _sorted_retry(shape, query, completion, edge_slack)
    n = len(query.steps)
    kept = nx.DiGraph()
    kept.add_nodes_from(range(n))
    pos, visited, at = len(lead), set(), None
    for k in range(n - 1 + max(0, edge_slack)):
        texts = shape.firsts if k == 0 else shape.nexts
        path = k < n - 1
        found = [
            j
            for j, (a, _) in enumerate(shape.pairs)
            if (not path or at in (None, a)) and completion.startswith(texts[j], pos)
        ]
        if not found:
            return None  # the list ended (or this is not the grammar's text)
        j = max(found, key=lambda i: len(texts[i]))
        a, b = shape.pairs[j]
        if nx.has_path(kept, b, a) or kept.has_edge(a, b):
            rules = _Rules()
            # Never again: the edges written, and any extra edge that would close a cycle with them.
            barred = set(kept.edges) | {(x, y) for x, y in shape.pairs if nx.has_path(kept, y, x)}
            _path_rules(rules, shape, query, edge_slack, visited | {a} if path else (), barred)
            state = f"p-{a}-{k}" if path else f"x-{k - (n - 1)}"
            if state not in rules:
                return None
            rules.add("root", state)
            why = "is written again" if kept.has_edge(a, b) else "closes a cycle"
            return Retry(completion[:pos], rules.text(), f"step{a} -> step{b} {why}")
        kept.add_edge(a, b)
        visited |= {a, b}
        pos, at = pos + len(texts[j]), b
    return None


def _sorted_retry(shape: _EdgeShape, query: Script, completion: str, edge_slack: int) -> Retry | None:
    """:func:`script_retry` for the edges in (target, source) order (many given steps).

    The rest is asked again from just before the edge that closes a cycle, without the
    edges that would close one with those already written.
    """
    import networkx as nx

    lead = shape.head[len(shape.head_q) :]
    n = len(query.steps)
    need, cap = _edge_counts(shape, n, edge_slack)
    kept = nx.DiGraph()
    kept.add_nodes_from(range(n))
    pos, k, c = len(lead), 0, 0
    while True:
        texts = shape.firsts if c == 0 else shape.nexts
        found = [j for j in range(k, len(shape.pairs)) if completion.startswith(texts[j], pos)]
        if not found:
            return None  # the list ended (or this is not the grammar's text)
        j = max(found, key=lambda i: len(texts[i]))
        a, b = shape.pairs[j]
        if nx.has_path(kept, b, a):
            banned = {(x, y) for x, y in shape.pairs if nx.has_path(kept, y, x)}
            start = (j, min(c, cap) if cap == 1 else c)
            # Without the banned edges the list may not reach its length: then it may end sooner.
            for least in (need, min(need, c)):
                rules = _Rules()
                if start in _edge_rules(rules, shape, least, cap, banned):
                    rules.add("root", _edge_rule(*start))
                    return Retry(completion[:pos], rules.text(), f"step{a} -> step{b} closes a cycle")
            return None
        kept.add_edge(a, b)
        pos, k, c = pos + len(texts[j]), j + 1, c + 1


@dataclass(frozen=True)
class _TripleShape:
    """How a format writes an ExplaGraphs query's completion: a lead, triples, a tail."""

    head_q: str
    lead: str
    first: str  # the first triple's text, with the markers of ``parts[0]``
    next: str  # a later triple's text, with the markers of ``parts[1]``
    tail: str
    parts: list[list[str]]  # markers (head, relation, tail) of triples 0, 1, 2


def _triple_shape(fmt: Format, query: ExplaGraph) -> _TripleShape | None:
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
    # Both stand for any triple: the markers of triple 0 (first) and triple 1 (next).
    if not all(p in firsts[0] for p in parts[0]) or not all(p in nexts[1] for p in parts[1]):
        return None
    return _TripleShape(head_q, head[len(head_q) :], firsts[0], nexts[1], tail, parts)


def _triple_rules(rules: _Rules, shape: _TripleShape, relations: Sequence[str]) -> tuple[str, str]:
    """The rules ``first`` and ``next`` (one triple each) and the ones they use."""
    concept = rules.add("concept", _words(_CONCEPT_WORD, _CONCEPT_WORDS))
    relation = rules.add("relation", " | ".join(literal(r) for r in relations))
    for name, text, (h, r, t) in (("first", shape.first, shape.parts[0]), ("next", shape.next, shape.parts[1])):
        rules.add(name, _sequence(text, {h: concept, r: relation, t: concept}))
    return "first", "next"


def explagraph_grammar(
    fmt: Format, query: ExplaGraph, relations: Sequence[str], *, min_triples: int = 3, max_triples: int = 8
) -> str | None:
    """A grammar for the completion of an ExplaGraphs query: ``min_triples`` to ``max_triples`` triples."""
    shape = _triple_shape(fmt, query)
    if shape is None:
        return None
    rules = _Rules()
    first, nxt = _triple_rules(rules, shape, relations)
    lead = f"{literal(shape.lead)} " if shape.lead else ""
    end = f" {literal(shape.tail)}" if shape.tail else ""
    rules.add("root", f"{lead}{first} {nxt}{{{min_triples - 1},{max_triples - 1}}}{end}")
    return rules.text()


def explagraph_retry(
    fmt: Format,
    query: ExplaGraph,
    completion: str,
    relations: Sequence[str],
    *,
    min_triples: int = 3,
    max_triples: int = 8,
) -> Retry | None:
    """The first triple of an :func:`explagraph_grammar` completion that closes a cycle or says
    again what an earlier one said, as a :class:`Retry`.

    The model's head concept and relation stand; its tail concept is asked again, from the
    separator before it on, among concepts that close no cycle and repeat no head → tail
    pair.  ``None``: no such triple, or not a completion of this grammar.
    """
    import networkx as nx

    shape = _triple_shape(fmt, query)
    if shape is None or not completion.startswith(shape.lead):
        return None
    patterns = [
        _triple_pattern(text, marks, relations)
        for text, marks in ((shape.first, shape.parts[0]), (shape.next, shape.parts[1]))
    ]
    graph = nx.DiGraph()
    pos = len(shape.lead)
    for j in range(max_triples):
        m = patterns[min(j, 1)].match(completion, pos)
        if m is None:
            return None
        h, r, t = m.group("h"), m.group("r"), m.group("t")
        banned = (
            {h} | (nx.ancestors(graph, h) if h in graph else set()) | set(graph.successors(h) if h in graph else ())
        )
        if t in banned:
            text, marks = (shape.first, shape.parts[0]) if j == 0 else (shape.next, shape.parts[1])
            at = text.index(marks[2])
            sep = at - max((text.index(x) + len(x) for x in marks[:2] if text.index(x) < at), default=0)
            cut = m.start("t") - sep
            rules = _Rules()
            _, nxt = _triple_rules(rules, shape, relations)
            other = _concept_except(rules, sorted(banned))
            rest = _sequence(text[at - sep :], {marks[0]: "concept", marks[1]: "relation", marks[2]: other})
            lo, hi = max(0, min_triples - j - 1), max_triples - j - 1
            more = f" {nxt}{{{lo},{hi}}}" if hi > 0 else ""
            end = f" {literal(shape.tail)}" if shape.tail else ""
            rules.add("root", f"{rest}{more}{end}")
            why = "closes a cycle" if t == h or t in graph and h in nx.descendants(graph, t) else "is said twice"
            return Retry(completion[:cut], rules.text(), f"({h}; {r}; {t}) {why}")
        graph.add_edge(h, t)
        pos = m.end()
    return None


def _triple_pattern(text: str, marks: Sequence[str], relations: Sequence[str]) -> re.Pattern[str]:
    """A regular expression for one triple as ``text`` writes it: groups ``h``, ``r``, ``t``."""
    word = _CONCEPT_WORD + "+"
    groups = {
        marks[0]: f"(?P<h>{word}(?: {word})*)",
        marks[1]: "(?P<r>" + "|".join(re.escape(r) for r in sorted(relations, key=len, reverse=True)) + ")",
        marks[2]: f"(?P<t>{word}(?: {word})*)",
    }
    out, rest = [], text
    while rest:
        hits = [(rest.find(x), x) for x in groups if x in rest]
        if not hits:
            out.append(re.escape(rest))
            break
        at, mark = min(hits)
        out += [re.escape(rest[:at]), groups[mark]]
        rest = rest[at + len(mark) :]
    return re.compile("".join(out))


def _concept_except(rules: _Rules, banned: Sequence[str]) -> str:
    """A rule for a concept (as :func:`_words` writes one) that is none of ``banned``.

    A trie of the banned concepts: at each node the text may end (unless the node is a
    banned concept itself), go on along the trie, or leave it with any other character
    and then be any concept's rest.
    """
    chars = _class_chars(_CONCEPT_WORD)
    word = f"{_CONCEPT_WORD}{{0,{_WORD_CHARS}}}"
    for k in range(1, _CONCEPT_WORDS + 1):  # c-rest-k: inside word k, its first character written
        more = f' (" " {_CONCEPT_WORD}{{1,{_WORD_CHARS}}}){{0,{_CONCEPT_WORDS - k}}}' if k < _CONCEPT_WORDS else ""
        rules.add(f"c-rest-{k}", f"{word}{more}")
    trie: dict[str, set[str]] = {"": set()}
    for b in banned:
        for i in range(len(b)):
            trie.setdefault(b[:i], set()).add(b[i])
            trie.setdefault(b[: i + 1], set())
    names = {p: f"not-{i}" for i, p in enumerate(sorted(trie, key=lambda p: (len(p), p)))}
    for prefix, children in trie.items():
        words = prefix.count(" ") + 1
        in_word = bool(prefix) and not prefix.endswith(" ")
        alts = [f"{literal(c)} {names[prefix + c]}" for c in sorted(children)]
        if in_word and prefix not in banned:
            alts.append('""')
        others = sorted(chars - children)
        if others:
            alts.append(f"{_char_class(others)} c-rest-{words}")
        if in_word and " " not in children and words < _CONCEPT_WORDS:
            alts.append(f'" " {_CONCEPT_WORD} c-rest-{words + 1}')
        rules.add(names[prefix], " | ".join(alts))
    return names[""]


def _class_chars(word_class: str) -> set[str]:
    """The characters of a GBNF class as :data:`_STEP_WORD` and the others write them."""
    body, out, i = word_class[1:-1], set(), 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            out |= {chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1)}
            i += 3
        else:
            out.add(body[i])
            i += 1
    return out


def _class_char(code: int) -> str:
    c = chr(code)
    return "\\" + c if c in "]\\^-" else c


def _char_class(chars: Sequence[str]) -> str:
    """``chars`` as a GBNF character class (runs written as ranges)."""
    codes = sorted(ord(c) for c in chars)
    parts, i = [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        parts.append(_class_char(codes[i]) if j == i else f"{_class_char(codes[i])}-{_class_char(codes[j])}")
        i = j + 1
    return "[" + "".join(parts) + "]"


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
