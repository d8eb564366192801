"""A small GBNF recognizer: does a grammar accept a text, or could the text still become one it accepts?

It reads the part of GBNF that :mod:`cocogen.grammar` writes: one rule per line
(``name ::= body``, the start rule ``root``), alternatives, sequences, string literals,
character classes, groups and ``?`` / ``*`` / ``+`` / ``{m,n}``.  The openai backend uses
it to notice a server that silently ignored the grammar it was sent, and the tests use it
to check grammars against gold completions without a model.

Matching runs the grammar forward over the text as a set of states, each a position and
the list of grammar items still to match there, with every state visited once.  So an
ambiguous grammar costs no more than its distinct states, and a long chain of rules (the
proScript edge lists have thousands, each naming the next) needs no deep recursion.  It
assumes what :mod:`cocogen.grammar` guarantees: no rule refers to itself before matching
a character (left recursion would never end), and every rule matches some text (prefix
mode relies on it).

Examples
--------
>>> g = 'root ::= "x = " digit+ "\\\\n"\\ndigit ::= [0-9]\\n'
>>> accepts(g, "x = 42\\n"), accepts(g, "x = 4a\\n"), accepts(g, "x = 4")
(True, False, False)
>>> accepts(g, "x = 4", prefix=True), accepts(g, "x", prefix=True), accepts(g, "y", prefix=True)
(True, True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["accepts"]

_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]"}
_NAME = re.compile(r"[A-Za-z0-9-]+")
_COUNT = re.compile(r"\{(\d+)(,(\d*))?\}")


# Compared by identity: the matcher's states hold nodes, and hashing a whole subtree by
# value at every step would cost more than the matching.
@dataclass(frozen=True, eq=False)
class _Node:
    kind: str  # lit, cls, ref, seq, alt, rep
    value: object = None  # the text, the (low, high) ranges, the rule name, the items, the repeated node
    lo: int = 0
    hi: int | None = None


class _Reader:
    """Reads one rule body into nodes."""

    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"GBNF: {what} at {self.s[self.i : self.i + 20]!r}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def char(self) -> str:
        if self.i >= len(self.s):
            raise self.fail("unfinished literal or class")
        c = self.s[self.i]
        self.i += 1
        if c == "\\":
            if self.peek() not in _ESC:
                raise self.fail("unknown escape")
            c = _ESC[self.s[self.i]]
            self.i += 1
        return c

    def alternatives(self) -> _Node:
        alts = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            alts.append(self.sequence())
        return alts[0] if len(alts) == 1 else _Node("alt", tuple(alts))

    def sequence(self) -> _Node:
        items = []
        while True:
            while self.peek() in (" ", "\t"):
                self.i += 1
            if self.peek() in ("", "|", ")"):
                break
            items.append(self.postfix(self.atom()))
        return items[0] if len(items) == 1 else _Node("seq", tuple(items))

    def atom(self) -> _Node:
        c = self.peek()
        if c == '"':
            self.i += 1
            out = []
            while self.peek() != '"':
                out.append(self.char())
            self.i += 1
            return _Node("lit", "".join(out))
        if c == "[":
            self.i += 1
            ranges = []
            while self.peek() != "]":
                a = self.char()
                if self.peek() == "-" and self.s[self.i + 1 : self.i + 2] != "]":
                    self.i += 1
                    ranges.append((a, self.char()))
                else:
                    ranges.append((a, a))
            self.i += 1
            return _Node("cls", tuple(ranges))
        if c == "(":
            self.i += 1
            inner = self.alternatives()
            if self.peek() != ")":
                raise self.fail("unclosed group")
            self.i += 1
            return inner
        m = _NAME.match(self.s, self.i)
        if not m:
            raise self.fail("unexpected text")
        self.i = m.end()
        return _Node("ref", m.group())

    def postfix(self, node: _Node) -> _Node:
        c = self.peek()
        if c and c in "?*+":
            self.i += 1
            return _Node("rep", node, 1 if c == "+" else 0, 1 if c == "?" else None)
        if c == "{":
            m = _COUNT.match(self.s, self.i)
            if not m:
                raise self.fail("bad repetition count")
            self.i = m.end()
            lo = int(m.group(1))
            hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
            return _Node("rep", node, lo, hi)
        return node


def _refs(node: _Node) -> set[str]:
    if node.kind == "ref":
        return {str(node.value)}
    if node.kind in ("seq", "alt"):
        return set().union(*(_refs(n) for n in node.value))  # type: ignore[union-attr]
    if node.kind == "rep":
        return _refs(node.value)  # type: ignore[arg-type]
    return set()


# The backend checks every sample of a request against the same grammar: read it once.
@lru_cache(maxsize=8)
def _parse(grammar: str) -> dict[str, _Node]:
    rules: dict[str, _Node] = {}
    for line in grammar.splitlines():
        if not line.strip():
            continue
        name, sep, body = line.partition("::=")
        if not sep:
            raise ValueError(f"GBNF: a line without '::=': {line[:40]!r}")
        reader = _Reader(body.strip())
        rules[name.strip()] = reader.alternatives()
        if reader.i != len(reader.s):
            raise reader.fail("unexpected text")
    missing = set().union({"root"}, *(_refs(n) for n in rules.values())) - rules.keys()
    if missing:
        raise ValueError(f"GBNF: undefined rules {sorted(missing)}")
    return rules


def accepts(grammar: str, text: str, *, prefix: bool = False) -> bool:
    """Whether ``grammar`` (GBNF, start rule ``root``) accepts all of ``text``.

    With ``prefix=True``: whether ``text`` is the start of some text the grammar accepts,
    as is an answer cut short by a token limit or a stop sequence.

    Raises :class:`ValueError` for a grammar it cannot read.

    Examples
    --------
    >>> g = 'root ::= ("a" | "b") ("," ("a" | "b")){0,2}\\n'
    >>> [accepts(g, t) for t in ("a", "a,b,a", "a,b,a,b", "a,", "c")]
    [True, True, False, False, False]
    >>> [accepts(g, t, prefix=True) for t in ("", "a,", "a,b,a", "a,b,a,", "a,c")]
    [True, True, True, False, False]
    """
    rules = _parse(grammar)
    end = len(text)
    # A state: (position, items still to match) where the items are a linked list
    # (item, rest) ending in None, and an item is a node or a repetition under way
    # (node, repeats still needed, repeats still allowed).
    todo: list[tuple[int, tuple | None]] = [(0, (rules["root"], None))]
    seen: set[tuple[int, tuple | None]] = set()
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        pos, items = state
        if items is None:
            if pos == end:
                return True
            continue
        if prefix and pos == end:
            return True  # the text is used up and every item left can still match something
        item, rest = items
        node, lo, hi = item if isinstance(item, tuple) else (item, item.lo, item.hi)
        kind = node.kind
        if kind == "lit":
            s = str(node.value)
            if text.startswith(s, pos):
                todo.append((pos + len(s), rest))
            elif prefix and end - pos < len(s) and s.startswith(text[pos:]):
                return True
        elif kind == "cls":
            if pos < end and any(a <= text[pos] <= b for a, b in node.value):  # type: ignore[attr-defined]
                todo.append((pos + 1, rest))
        elif kind == "ref":
            todo.append((pos, (rules[str(node.value)], rest)))
        elif kind == "alt":
            todo.extend((pos, (a, rest)) for a in node.value)  # type: ignore[attr-defined]
        elif kind == "seq":
            for sub in reversed(node.value):  # type: ignore[call-overload]
                rest = (sub, rest)
            todo.append((pos, rest))
        else:  # rep: stop here (when enough), or match one more
            if lo == 0:
                todo.append((pos, rest))
            if hi is None or hi > 0:
                again = (node, max(lo - 1, 0), None if hi is None else hi - 1)
                todo.append((pos, (node.value, (again, rest))))
    return False
