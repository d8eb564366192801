"""A small GBNF recognizer for tests: does a grammar accept a text?

It reads the part of GBNF that :mod:`cocogen.grammar` writes (rules, alternatives,
sequences, string literals, character classes, groups, ``?``/``*``/``+``/``{m,n}``), so
a grammar can be checked against gold completions without a model.  Matching keeps the
set of positions each node can end at (memoised), so ambiguous grammars are fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]"}


@dataclass(frozen=True)
class Node:
    kind: str  # lit, cls, ref, seq, alt, rep
    value: object = None
    lo: int = 0
    hi: int | None = None


class _Reader:
    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def ws(self, newlines: bool = False) -> None:
        while self.i < len(self.s) and (self.s[self.i] in " \t" or (newlines and self.s[self.i] == "\n")):
            self.i += 1

    def char(self) -> str:
        c = self.s[self.i]
        self.i += 1
        if c == "\\":
            c = _ESC[self.s[self.i]]
            self.i += 1
        return c

    def alternatives(self) -> Node:
        alts = [self.sequence()]
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            alts.append(self.sequence())
        return alts[0] if len(alts) == 1 else Node("alt", tuple(alts))

    def sequence(self) -> Node:
        items = []
        while True:
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] in "|)\n":
                break
            items.append(self.postfix(self.atom()))
        return items[0] if len(items) == 1 else Node("seq", tuple(items))

    def atom(self) -> Node:
        c = self.s[self.i]
        if c == '"':
            self.i += 1
            out = []
            while self.s[self.i] != '"':
                out.append(self.char())
            self.i += 1
            return Node("lit", "".join(out))
        if c == "[":
            self.i += 1
            ranges = []
            while self.s[self.i] != "]":
                a = self.char()
                if self.s[self.i] == "-" and self.s[self.i + 1] != "]":
                    self.i += 1
                    ranges.append((a, self.char()))
                else:
                    ranges.append((a, a))
            self.i += 1
            return Node("cls", tuple(ranges))
        if c == "(":
            self.i += 1
            inner = self.alternatives()
            assert self.s[self.i] == ")", self.s[self.i : self.i + 20]
            self.i += 1
            return inner
        m = re.compile(r"[A-Za-z0-9-]+").match(self.s, self.i)
        assert m, f"unexpected {self.s[self.i : self.i + 20]!r}"
        self.i = m.end()
        return Node("ref", m.group())

    def postfix(self, node: Node) -> Node:
        if self.i < len(self.s):
            c = self.s[self.i]
            if c in "?*+":
                self.i += 1
                return Node("rep", node, {"?": 0, "*": 0, "+": 1}[c], {"?": 1, "*": None, "+": None}[c])
            if c == "{":
                m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.s, self.i)
                assert m
                self.i = m.end()
                lo = int(m.group(1))
                hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                return Node("rep", node, lo, hi)
        return node


def parse(grammar: str) -> dict[str, Node]:
    rules: dict[str, Node] = {}
    for line in grammar.splitlines():
        if not line.strip():
            continue
        name, body = line.split(" ::= ", 1)
        rules[name.strip()] = _Reader(body).alternatives()
    return rules


def accepts(grammar: str, text: str) -> bool:
    """Whether ``root`` of ``grammar`` matches all of ``text``."""
    rules = parse(grammar)

    @cache
    def ends(node: Node, pos: int) -> frozenset[int]:
        k = node.kind
        if k == "lit":
            s = str(node.value)
            return frozenset({pos + len(s)}) if text.startswith(s, pos) else frozenset()
        if k == "cls":
            ok = pos < len(text) and any(a <= text[pos] <= b for a, b in node.value)  # type: ignore[union-attr]
            return frozenset({pos + 1}) if ok else frozenset()
        if k == "ref":
            return ends(rules[str(node.value)], pos)
        if k == "alt":
            return frozenset().union(*(ends(a, pos) for a in node.value))  # type: ignore[union-attr]
        if k == "seq":
            cur = frozenset({pos})
            for item in node.value:  # type: ignore[union-attr]
                cur = frozenset().union(*(ends(item, p) for p in cur)) if cur else cur
            return cur
        # rep
        inner = node.value
        assert isinstance(inner, Node)
        out: set[int] = {pos} if node.lo == 0 else set()
        cur, count = frozenset({pos}), 0
        while cur and (node.hi is None or count < node.hi):
            cur = frozenset().union(*(ends(inner, p) for p in cur)) - (cur if node.hi is None else frozenset())
            count += 1
            if count >= node.lo:
                out |= cur
        return frozenset(out)

    return len(text) in ends(rules["root"], 0)
