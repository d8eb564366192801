"""proScript as code: script generation and edge prediction.

Both tasks share the data model :class:`~cocogen.types.Script` (a goal, its steps and a
partial order over step indices) and the same three formats; they differ in what the
model is given and what it must write:

=====================  ==========================  ===========================
task                   input (the query)           output (the completion)
=====================  ==========================  ===========================
``proscript-script``   goal + number of steps      the steps and the edges
``proscript-edge``     goal + the steps, shuffled  the edges
=====================  ==========================  ===========================

Formats
-------
``code`` (default)
    The paper's class, byte for byte as CoCoGen wrote its prompts and references::

        class MakeACupOfTea:

            title = "make a cup of tea"
            steps = 7

            def step0(self):
                return "decided to make a cup of tea"
            ...
            def get_relations(self):
                return [
                    "step0 -> step1",
                    ...
                ]

    The class name is the goal in CamelCase (:func:`class_name`).  Strings are written
    with JSON escaping (:func:`json.dumps`), which is also valid Python, so any text
    round-trips.
``networkx``
    A format-ablation alternative: a function named after the goal (:func:`function_name`)
    that builds a ``networkx`` graph with one call per node and per edge::

        def make_a_cup_of_tea():
            G = nx.DiGraph(goal="make a cup of tea", steps=7)
            G.add_node("step0", text="decided to make a cup of tea")
            ...
            G.add_edge("step0", "step1")
            ...
            return G
``text``
    The paper's flattened-text baseline, with the dataset's own ``flatten_*`` strings:
    ``You want to <goal>. How can you do this in <n> steps?`` then
    ``step0: ...; step1: ...; step0 -> step1; ...`` for script generation;
    ``You want to <goal>. Order these <n> steps:``, the steps line, then the edges line
    for edge prediction.  ``\\``, ``;`` and line breaks inside a text are escaped with a
    backslash (none occurs in the dataset).

Reading model output
--------------------
Parsers never execute model text: they read :mod:`tokenize` tokens (string values through
:func:`ast.literal_eval`) and match the few shapes a format has, so a call such as
``__import__('os').system(...)`` is just tokens that match nothing.  Every complete step
and edge survives a completion cut at any character; markdown fences, chat preambles,
a re-written class header and junk after ``# END`` are tolerated; and every departure
from the format is a typed :class:`~cocogen.types.Problem` (see :class:`CodeFormat`).

The text format has no end marker.  An output that ends without a line break is taken
to be cut when its last item is a step or not yet a ``stepA -> stepB`` edge (outputs end
with edges), but a last edge that looks whole is kept: ``step0 -> step1`` may be
``step0 -> step12`` cut short.  Code formats close every item with a quote or a
parenthesis and do not have this weakness.  When the output is cut, an ``add_edge`` or
``add_node`` counts only once its closing parenthesis is written, and a step method once
its return string is closed.

Bounds
------
Every parser returns a :class:`~cocogen.types.ParseResult` for any text (never raises).
It reads at most :data:`~cocogen.parsing.MAX_OUTPUT_CHARS` (256 Ki) characters of an
output (the rest is an ``EXTRA`` problem), and its time is linear in what it reads: one
pass of the tokenizer (code formats) or of the lines (text), with no pattern that
backtracks over a line.  Step numbers and counts of more than six digits, step numbers
above 1,000 and step counts above 1,001 are ``BAD_VALUE`` junk, so no output sizes a list
by what it declares.  Memory is measured at under 40 MB for the worst text at the cap
(``bench/bench_fuzz.py``: one-character tokens), about 150 bytes per character read.
"""

from __future__ import annotations

import json
import keyword
import re
import tokenize
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import networkx as nx

from cocogen import settings
from cocogen.errors import ConfigError, DataError, InputError
from cocogen.jsonl import read_jsonl
from cocogen.parsing import Tok, prepare_output, scan_resync, string_value
from cocogen.tasks.base import (
    CODE_SEPARATOR,
    ELEMENT_MARKER,
    Format,
    InputField,
    Reference,
    TaskBase,
    read_fewshot,
    validate_input,
)
from cocogen.types import Example, Graph, ParseResult, Problem, ProblemKind, Script

if TYPE_CHECKING:
    from cocogen.grammar import Retry
    from cocogen.metrics.base import MetricOptions, TaskMetric

__all__ = [
    "MIN_STEPS",
    "MAX_STEPS",
    "MAX_TEXT_CHARS",
    "class_name",
    "function_name",
    "CodeFormat",
    "NetworkxFormat",
    "TextFormat",
    "ScriptGenerationTask",
    "EdgePredictionTask",
    "SCRIPT_TASK",
    "EDGE_TASK",
]

Mode = Literal["script", "edge"]

MIN_STEPS = 2
MAX_STEPS = 30  # proScript scripts have 5-9 steps; 30 leaves room without inviting essays
MAX_TEXT_CHARS = 2000  # per goal or step; a step is a short sentence, so more is a paste error
_MAX_INDEX = 1000  # step numbers above this in model output are junk, not steps
_MAX_COUNT = _MAX_INDEX + 1  # ... and so are step counts above this (they would size lists of missing steps)
_MAX_DIGITS = 6  # int() of longer digit strings is never needed (and over 4,300 digits it raises)
_MAX_LISTED = 8  # names listed in one problem message

_DATA_SUBDIR = {"script": "proscript_script_generation", "edge": "proscript_edge_prediction"}

_NODE = re.compile(r"\s*step\s*(\d+)\s*", re.IGNORECASE)


# --------------------------------------------------------------------------- naming


def _identifier(name: str, prefix: str) -> str:
    if not name.isidentifier():  # empty, or starts with a digit
        name = prefix + name
    if keyword.iskeyword(name):
        name += "_"
    return name


def class_name(goal: str) -> str:
    """The class name CoCoGen derives from a goal: capitalised words, punctuation dropped.

    Examples
    --------
    >>> class_name("bake a cake for someone's birthday")
    'BakeACakeForSomeonesBirthday'
    >>> class_name("rent a SUV for a road trip")
    'RentASuvForARoadTrip'
    >>> class_name("5 minute workout")
    'Script5MinuteWorkout'
    """
    joined = "".join(w.capitalize() for w in goal.split())
    return _identifier("".join(c for c in joined if ("a" + c).isidentifier()), "Script")


def function_name(goal: str) -> str:
    """The function name of the ``networkx`` format: the goal in snake case.

    Examples
    --------
    >>> function_name("Make a cup of tea!")
    'make_a_cup_of_tea'
    """
    words = ("".join(c for c in w.lower() if ("a" + c).isidentifier()) for w in goal.split())
    return _identifier("_".join(w for w in words if w), "script_")


def _quote(s: str) -> str:
    """A string literal that is valid JSON and valid Python (readable: non-ASCII kept as is)."""
    out = json.dumps(s, ensure_ascii=False)
    if any("\ud800" <= c <= "\udfff" for c in out):  # a lone surrogate cannot be UTF-8 source
        out = json.dumps(s)
    return out


def _node_index(name: str) -> int | None:
    m = _NODE.fullmatch(name)
    return int(m.group(1)) if m and len(m.group(1)) <= _MAX_DIGITS else None


def _step_number(digits: str) -> int:
    """A step number or count as written; one of more digits reads as past every limit (junk)."""
    return int(digits) if len(digits) <= _MAX_DIGITS else _MAX_COUNT + 1


def _arrow(item: str) -> tuple[str, str] | None:
    """``(a, b)`` of ``"a -> b"``: split at the first ``->``, surrounding whitespace dropped.

    What the regular expression ``\\s*(.*?)\\s*->\\s*(.*?)\\s*`` (full match) finds, without
    its quadratic backtracking on long runs of spaces.

    Examples
    --------
    >>> _arrow(" step0 ->  step1 "), _arrow("step0 - step1")
    (('step0', 'step1'), None)
    """
    a, sep, b = item.partition("->")
    return (a.strip(), b.strip()) if sep else None


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _as_script(graph: Graph | None, what: str) -> Script:
    if not isinstance(graph, Script):
        raise TypeError(f"{what} must be a Script, not {type(graph).__name__}")
    return graph


def _step_count(s: Script) -> int:
    return len(s.steps) if s.steps else s.num_steps


# --------------------------------------------------------------------------- what a scan found


@dataclass
class _Segment:
    """One answer candidate: the text before the first header, or one class / function / goal line.

    Line numbers are those of the original output (before fences and preambles were cleaned away).
    """

    header: str | None = None  # class or function name, or the goal for the text format
    line: int | None = None
    goal: tuple[str, int] | None = None
    declared: tuple[int, int] | None = None
    steps: list[tuple[int, str, int]] = field(default_factory=list)  # (index, text, line)
    edges: list[tuple[str, str, int]] = field(default_factory=list)  # (from name, to name, line)
    started: bool = False  # the output's edge section began
    closed: bool = False  # ... and was properly ended (``]``, ``return G``)
    cut: int | None = None  # line of a construct the end of the text cut short
    issues: list[tuple[ProblemKind, str, int | None]] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)  # lines of unrecognised content
    trailing: list[int] = field(default_factory=list)  # lines of content after the answer closed
    last_line: int = 0
    seen: bool = False  # a construct of the format began here

    @property
    def has_body(self) -> bool:
        return bool(self.steps or self.edges or self.started)

    @property
    def has_content(self) -> bool:
        """Anything of the format was recognised (else the output was prose or junk)."""
        return self.seen or self.has_body or self.header is not None or bool(self.goal or self.declared)

    def cut_at(self, line: int) -> None:
        """A construct of the format was cut short by the end of the text."""
        self.seen = True
        if self.cut is None:
            self.cut = line

    def touch(self, line: int) -> None:
        self.last_line = max(self.last_line, line)

    def issue(self, kind: ProblemKind, message: str, line: int | None) -> None:
        if self.closed and line is not None:
            self.trailing.append(line)
        else:
            self.issues.append((kind, message, line))

    def error(self, tok: Tok) -> None:
        """A tokenizer failure: the text was cut here, or this line is not valid Python."""
        self.touch(tok.line)
        if self.closed:
            self.trailing.append(tok.line)
        elif tok.at_end:
            self.cut = tok.line if self.cut is None else self.cut
        else:
            self.issues.append((ProblemKind.SYNTAX, f"line {tok.line} is not valid Python ({tok.string})", tok.line))

    def other(self, line: int) -> None:
        self.touch(line)
        (self.trailing if self.closed else self.ignored).append(line)


def _lines_text(lines: Sequence[int]) -> str:
    uniq = sorted(set(lines))
    word = "line" if len(uniq) == 1 else "lines"
    return f"{word} {_listed([str(n) for n in uniq])}"


def _same_answer(a: _Segment, b: _Segment, query_header: str | None) -> bool:
    name = a.header if a.header is not None else query_header
    if name is not None and name == b.header:
        return True
    return a.goal is not None and b.goal is not None and a.goal[0] == b.goal[0]


@dataclass(frozen=True)
class _Wording:
    """How problem messages name the parts of one format."""

    edges: str  # the edge section, e.g. "get_relations()"
    second: str  # a later answer, e.g. "class"


def _finish(
    mode: Mode,
    segments: list[_Segment],
    query: Script | None,
    query_header: str | None,
    pre: Sequence[Problem],
    complete: bool,
    wording: _Wording,
) -> ParseResult:
    """Pick the answer among the segments, turn scan notes into problems, build the graph."""
    problems: list[Problem] = list(pre)

    def add(kind: ProblemKind, message: str, line: int | None = None) -> None:
        problems.append(Problem(kind, message, line))

    bodies = [s for s in segments if s.has_body]
    skipped: list[_Segment] = []
    if bodies:
        answer = bodies[0]
        for later in bodies[1:]:
            if not answer.closed and _same_answer(answer, later, query_header):
                skipped.append(answer)  # the model started the same answer over
                answer = later
            else:
                skipped.append(later)
    else:
        answer = next((s for s in segments if s.header is not None or s.goal or s.declared), segments[0])
    if not answer.has_content:
        # Prose or junk only: what failed to tokenize in it is not a syntax error of an answer.
        junk = sorted({*answer.ignored, *answer.trailing, *(line for _, _, line in answer.issues if line)})
        if junk or answer.cut is not None:
            add(ProblemKind.EXTRA, "the output holds nothing in this format", (junk or [answer.cut])[0])
        add(ProblemKind.EMPTY, "no steps or edges could be read from the output")
        return ParseResult(None, tuple(problems))
    for s in skipped:
        where = s.line if s.line is not None else (s.steps[0][2] if s.steps else None)
        if s.line is None or (answer.line is not None and s.line < answer.line):
            add(
                ProblemKind.EXTRA,
                f"an unfinished first attempt was ignored; the {wording.second} was started over",
                where,
            )
        else:
            name = f" {s.header!r}" if s.header else ""
            add(ProblemKind.EXTRA, f"a second {wording.second}{name} was ignored", where)

    for kind, message, line in answer.issues:
        add(kind, message, line)
    if answer.ignored:
        add(
            ProblemKind.EXTRA,
            f"ignored content that is not part of the format on {_lines_text(answer.ignored)}",
            min(answer.ignored),
        )
    truncated = answer.cut is not None
    if answer.cut is not None:
        add(ProblemKind.TRUNCATED, f"the output stops in the middle of line {answer.cut}", answer.cut)
    if answer.trailing:
        add(
            ProblemKind.EXTRA,
            f"content after the answer was ignored ({_lines_text(answer.trailing)})",
            min(answer.trailing),
        )
    if answer.started and not answer.closed and not truncated:
        add(ProblemKind.TRUNCATED, f"the output stops before {wording.edges} is finished", answer.last_line or None)
    elif not answer.started and (answer.steps or answer.goal or answer.declared):
        later_bodies = any(s.has_body for s in segments[segments.index(answer) + 1 :])
        if not truncated and not complete and not later_bodies:
            add(ProblemKind.TRUNCATED, f"the output stops before {wording.edges}", answer.last_line or None)
        elif not truncated:
            add(ProblemKind.MISSING_STEP, f"{wording.edges} is missing: the output gives no order of the steps")

    return _assemble(mode, answer, query, add, problems)


def _assemble(
    mode: Mode,
    seg: _Segment,
    query: Script | None,
    add: Callable[..., None],
    problems: list[Problem],
) -> ParseResult:
    # Steps, first definition wins.
    found: dict[int, tuple[str, int]] = {}
    for k, text, line in seg.steps:
        if k in found:
            same = "the same text" if found[k][0] == text else "a different text"
            add(ProblemKind.DUPLICATE, f"step{k} is defined again on line {line} with {same}; the first was kept", line)
            continue
        found[k] = (text, line)

    goal = query.goal if query is not None else (seg.goal[0] if seg.goal else "")
    if query is not None and seg.goal is not None and seg.goal[0] != query.goal:
        add(ProblemKind.MISMATCH, f"the output's goal {seg.goal[0]!r} is not the input's {query.goal!r}", seg.goal[1])

    names: dict[int, int]  # step number as written -> index into steps
    if mode == "edge" and query is not None:
        steps = tuple(query.steps)
        names = {k: k for k in range(len(steps))}
        differ = sorted(k for k, (t, _) in found.items() if k >= len(steps) or steps[k] != t)
        if differ:
            texts = [t for t, _ in found.values()]
            if (
                len(set(steps)) == len(steps)
                and len(set(texts)) == len(texts)
                and all(t in steps for t in texts)
                and sorted(found) == list(range(len(found)))
            ):
                # The model re-wrote the same steps in another order: read its edges by text.
                names = {k: steps.index(t) for k, (t, _) in found.items()}
                how = "its edges were mapped back to the input's steps by text"
            else:
                how = "the input's steps were kept"
            add(
                ProblemKind.MISMATCH,
                f"the output re-defines {_listed([f'step{k}' for k in differ])} differently from the input; {how}",
                found[differ[0]][1],
            )
    else:
        order = sorted(found)
        names = {k: i for i, k in enumerate(order)}
        steps = tuple(found[k][0] for k in order)
        if query is not None:
            expected: int | None = query.num_steps
        else:
            expected = seg.declared[0] if seg.declared else None
        top = max(expected or 0, (order[-1] + 1) if order else 0)
        missing = [f"step{k}" for k in range(top) if k not in found]
        if missing and (order or mode == "edge"):
            add(ProblemKind.MISSING_STEP, f"{_listed(missing)} {'is' if len(missing) == 1 else 'are'} missing")
        if expected is not None and len(steps) > expected:
            add(ProblemKind.MISMATCH, f"{len(steps)} steps were written but {expected} were asked for")
    if query is not None and seg.declared is not None and seg.declared[0] != _step_count(query):
        add(
            ProblemKind.MISMATCH,
            f"the output says steps = {seg.declared[0]} but the input has {_step_count(query)}",
            seg.declared[1],
        )

    edges: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for a, b, line in seg.edges:
        ia, ib = _node_index(a), _node_index(b)
        unknown = list(dict.fromkeys(n for n, i in ((a, ia), (b, ib)) if i is None or i not in names))
        if unknown:
            what = (
                f"{unknown[0]}, which is not a step"
                if len(unknown) == 1
                else f"{unknown[0]} and {unknown[1]}, which are not steps"
            )
            add(ProblemKind.UNKNOWN_NODE, f"the edge {a} -> {b} names {what}; it was dropped", line)
            continue
        assert ia is not None and ib is not None
        e = (names[ia], names[ib])
        if e in seen:
            add(ProblemKind.DUPLICATE, f"the edge {a} -> {b} is written twice; it was kept once", line)
            continue
        seen.add(e)
        edges.append(e)
    if edges:
        try:
            cycle = nx.find_cycle(nx.DiGraph(edges))
        except nx.NetworkXNoCycle:
            pass
        else:
            written = {i: k for k, i in names.items()}  # name the steps as the output wrote them
            path = " -> ".join(f"step{written.get(u, u)}" for u in [*(u for u, _ in cycle), cycle[0][0]])
            add(ProblemKind.CYCLE, f"the order has a cycle: {path}; the edges were kept")

    if mode == "edge" and query is not None:
        usable = bool(edges) or seg.closed
    elif query is not None:
        usable = bool(steps) or bool(edges)
    else:
        usable = bool(steps or edges or seg.closed or seg.goal or seg.declared)
    if not usable:
        problems.append(Problem(ProblemKind.EMPTY, "no steps or edges could be read from the output"))
        return ParseResult(None, tuple(problems))
    if query is None and seg.goal is None:
        add(ProblemKind.MISSING_STEP, "the goal (title) is missing and no query was given")
    if steps:
        num = len(steps)
    elif query is not None:
        num = _step_count(query)
    else:
        num = seg.declared[0] if seg.declared else 0
    return ParseResult(Script(goal, num, steps, tuple(edges)), tuple(problems))


# --------------------------------------------------------------------------- token helpers


def _is_op(toks: Sequence[Tok], i: int, op: str) -> bool:
    return i < len(toks) and toks[i].type == tokenize.OP and toks[i].string == op


def _is_name(toks: Sequence[Tok], i: int, name: str | None = None) -> bool:
    return i < len(toks) and toks[i].type == tokenize.NAME and (name is None or toks[i].string == name)


@dataclass(frozen=True)
class _Value:
    """A literal read from tokens: ``kind`` is "str", "int", "cut" (text ended), "error" or "bad"."""

    kind: str
    value: Any
    end: int  # index of the first token after the value
    text: str = ""


def _read_value(toks: Sequence[Tok], i: int) -> _Value:
    """A string (adjacent strings joined, optional parentheses) or an integer, never evaluated."""
    n = len(toks)
    if i >= n:
        return _Value("cut", None, i)
    paren = _is_op(toks, i, "(")
    j = i + 1 if paren else i
    if j < n and toks[j].type == tokenize.NUMBER and not paren:
        s = toks[j].string
        if s.isdigit() and len(s) <= 6:
            return _Value("int", int(s), j + 1, s)
        return _Value("bad", None, j + 1, s)
    parts: list[str] = []
    while j < n and toks[j].type == tokenize.STRING:
        v = string_value(toks[j])
        if v is None:
            return _Value("bad", None, j + 1, toks[j].string[:40])
        parts.append(v)
        j += 1
    if parts and not paren and (j >= n or toks[j].line > toks[j - 1].line):
        return _Value("str", "".join(parts), j)  # complete: its closing quote ends the line
    if j >= n:
        return _Value("cut", None, j)
    if toks[j].is_error:
        return _Value("cut" if toks[j].at_end else "error", None, j)
    if not parts:
        return _Value("bad", None, j + 1, toks[j].string[:40])
    if paren:
        if not _is_op(toks, j, ")"):
            return _Value("bad", None, j, toks[j].string[:40])
        j += 1
    return _Value("str", "".join(parts), j)


def _ends_statement(toks: Sequence[Tok], i: int, prev_line: int) -> bool:
    """True when nothing else follows on the line of the value just read."""
    return i >= len(toks) or toks[i].is_error or toks[i].line > prev_line


def _skip_line(toks: Sequence[Tok], i: int, line: int) -> int:
    while i < len(toks) and toks[i].line == line and not toks[i].is_error:
        i += 1
    return i


def _after_colon(toks: Sequence[Tok], i: int) -> int | None:
    """Index after the ``:`` that ends a ``def``/``class`` header starting at ``i`` (``None``: text ended)."""
    depth = 0
    start_line = toks[i - 1].line if i > 0 else 0
    while i < len(toks):
        t = toks[i]
        if t.is_error:
            return None if t.at_end else i
        if t.type == tokenize.OP:
            if t.string in "([{":
                depth += 1
            elif t.string in ")]}":
                depth -= 1
            elif t.string == ":" and depth <= 0:
                return i + 1
        if depth <= 0 and t.line > start_line and t.type == tokenize.NAME and t.string in ("def", "class"):
            return i  # a broken header; let the next definition be read
        i += 1
    return None


def _scan_code_tokens(text: str, open_end: bool, offset: int) -> list[Tok]:
    """Tokens of ``text`` numbered as lines of the original output (``offset`` lines were cleaned away).

    A word or number at the very end of an unfinished text becomes a cut: ``retur`` or
    ``steps = 1`` may be ``return`` or ``steps = 12`` cut short; only strings and brackets
    show by themselves that they are complete.
    """
    toks = scan_resync(text, line_offset=offset)
    if open_end and toks and toks[-1].type in (tokenize.NAME, tokenize.NUMBER):
        last = toks[-1]
        toks[-1] = Tok(tokenize.ERRORTOKEN, "the text ends inside a word", last.line, last.col, at_end=True)
    return toks


# --------------------------------------------------------------------------- code format


class CodeFormat:
    """The paper's class representation (see the module docstring).

    Parsing reads tokens and recognises ``class X:``, ``title = "..."``, ``steps = N``,
    ``def stepK(self): return "..."`` and ``def get_relations(self): return ["a -> b", ...]``
    wherever they occur.  Problems reported:

    - ``SYNTAX``: a line that does not tokenize, with its line number (the line is skipped);
    - ``TRUNCATED``: the output stops inside a string, a definition or the relations list
      (everything complete before the cut is kept);
    - ``MISSING_STEP``: a step number skipped or fewer steps than asked for, no
      ``get_relations``, or no title when no query is given;
    - ``DUPLICATE``: a step or an edge written twice (the first is kept);
    - ``UNKNOWN_NODE``: an edge naming a step that does not exist (the edge is dropped);
    - ``CYCLE``: the edges contain a cycle (they are kept);
    - ``BAD_VALUE``: a step that does not return a plain string, or a relation string that
      is not ``"stepA -> stepB"``;
    - ``MISMATCH``: the output's goal, step count or (for edge prediction) steps differ
      from the query's;
    - ``EXTRA``: ignored content: a preamble, code outside the format, a second class,
      anything after the answer or after ``# END``;
    - ``EMPTY``: nothing could be read (then ``graph`` is ``None``).

    Examples
    --------
    >>> fmt = CodeFormat("script")
    >>> q = Script("make tea", 3)
    >>> fmt.render_query(q).splitlines()[0]
    'class MakeTea:'
    >>> r = fmt.parse('    def step0(self):\\n        return "boil water"\\n\\n    def step1(self):\\n        return "po', q)
    >>> r.graph.steps, [p.kind.value for p in r.problems]
    (('boil water',), ['truncated', 'missing_step'])
    """

    name = "code"
    kind: Literal["code", "text"] = "code"
    separator = CODE_SEPARATOR
    _START = re.compile(r"^\s*(class\s+\w+|def\s+\w+\s*\(|title\s*=|steps\s*=|return\s*\[|[\"']step\d+\s*->)")
    _WORDING = _Wording(edges="get_relations()", second="class")

    def __init__(self, mode: Mode) -> None:
        self.mode: Mode = mode
        what = "the steps and their order" if mode == "script" else "the order of the given steps"
        self.description = (
            "The paper's Python class: a class named after the goal with title, steps, one stepK(self) "
            f"method per step returning its text, and get_relations(self) returning 'stepA -> stepB' strings. "
            f"The model writes {what}."
        )

    def _head(self, s: Script) -> str:
        return f"class {class_name(s.goal)}:\n\n    title = {_quote(s.goal)}\n    steps = {_step_count(s)}\n\n"

    @staticmethod
    def _steps(s: Script) -> str:
        return "".join(f"    def step{k}(self):\n        return {_quote(t)}\n\n" for k, t in enumerate(s.steps))

    def render_query(self, graph: Graph) -> str:
        s = _as_script(graph, "the query")
        return self._head(s) + (self._steps(s) if self.mode == "edge" else "")

    def render(self, graph: Graph) -> str:
        s = _as_script(graph, "the graph")
        rel = "".join(f'            "step{a} -> step{b}",\n' for a, b in s.edges)
        return self._head(s) + self._steps(s) + "    def get_relations(self):\n        return [\n" + rel + "        ]\n"

    def stop(self) -> list[str]:
        return [CODE_SEPARATOR]

    def parse(self, text: str, query: Graph | None = None) -> ParseResult:
        q = None if query is None else _as_script(query, "the query")
        out = prepare_output(text, self.separator, self._START)
        if out.is_empty:
            return out.empty_result()
        open_end = out.ends_mid_line  # the last token may be a cut word
        segments = self._scan(_scan_code_tokens(out.text, open_end, out.line_offset), open_end)
        return _finish(
            self.mode,
            segments,
            q,
            class_name(q.goal) if q is not None else None,
            out.problems,
            not out.runs_to_end,
            self._WORDING,
        )

    @staticmethod
    def _scan(toks: list[Tok], open_end: bool) -> list[_Segment]:
        segs = [_Segment()]
        i, n = 0, len(toks)
        while i < n:
            seg, t = segs[-1], toks[i]
            seg.touch(t.line)
            if t.is_error:
                seg.error(t)
                i += 1
            elif _is_name(toks, i, "class") and _is_name(toks, i + 1):
                segs.append(_Segment(header=toks[i + 1].string, line=t.line, last_line=t.line))
                end = _after_colon(toks, i + 2)
                i = n if end is None else end
            elif _is_name(toks, i, "title") and _is_op(toks, i + 1, "="):
                v = _read_value(toks, i + 2)
                i = CodeFormat._field(seg, v, "title", t.line, toks)
            elif _is_name(toks, i, "steps") and _is_op(toks, i + 1, "="):
                v = _read_value(toks, i + 2)
                i = CodeFormat._field(seg, v, "steps", t.line, toks)
            elif _is_name(toks, i, "def") and _is_name(toks, i + 1):
                i = CodeFormat._def(seg, toks, i)
            elif open_end and t.line == toks[-1].line:
                seg.cut = t.line  # an unfinished statement on the last line: the text was cut here
                break
            else:
                seg.other(t.line)
                i += 1
        return segs

    @staticmethod
    def _field(seg: _Segment, v: _Value, what: str, line: int, toks: list[Tok]) -> int:
        if v.kind == "cut":
            seg.cut_at(line)
            return v.end
        if v.kind == "error":
            return v.end
        ok = (v.kind == "str") if what == "title" else (v.kind == "int")
        if ok and _ends_statement(toks, v.end, toks[v.end - 1].line):
            if what == "title":
                seg.goal = seg.goal or (v.value, line)
            elif v.value > _MAX_COUNT:
                seg.issue(ProblemKind.BAD_VALUE, f"steps on line {line} is not a plausible number of steps", line)
            elif seg.declared is None:
                seg.declared = (v.value, line)
            return v.end
        expected = "a plain string" if what == "title" else "a whole number"
        seg.issue(ProblemKind.BAD_VALUE, f"{what} on line {line} is not {expected}; it was ignored", line)
        return _skip_line(toks, v.end, line)

    @staticmethod
    def _def(seg: _Segment, toks: list[Tok], i: int) -> int:
        n = len(toks)
        name, line = toks[i + 1].string, toks[i].line
        j = _after_colon(toks, i + 2)
        if j is None:  # the text ends inside the def line
            seg.cut_at(line)
            return n
        m = re.fullmatch(r"step(\d+)", name)
        if not m and name != "get_relations":
            seg.other(line)
            return j
        if j < n and toks[j].is_error:
            return j
        # Tolerate a docstring before the return.
        while j + 1 < n and toks[j].type == tokenize.STRING and toks[j + 1].line > toks[j].line:
            j += 1
        if j >= n:
            seg.cut_at(line)
            return n
        if not _is_name(toks, j, "return"):
            if toks[j].is_error:
                return j
            seg.issue(ProblemKind.BAD_VALUE, f"{name} on line {line} does not return a value directly", line)
            return j
        if m:
            v = _read_value(toks, j + 1)
            if v.kind == "cut":
                seg.cut_at(toks[j].line)
                return v.end
            if v.kind == "error":
                return v.end
            if v.kind == "str" and _ends_statement(toks, v.end, toks[v.end - 1].line):
                k = _step_number(m.group(1))
                if k > _MAX_INDEX:
                    seg.issue(ProblemKind.BAD_VALUE, f"{name} on line {line} is not a plausible step number", line)
                else:
                    seg.steps.append((k, v.value, toks[j].line))
                    seg.touch(toks[v.end - 1].line)
                return v.end
            seg.issue(
                ProblemKind.BAD_VALUE, f"{name} on line {line} does not return a plain string; it was ignored", line
            )
            return max(v.end, _skip_line(toks, j + 1, toks[j].line))
        return CodeFormat._relations(seg, toks, j + 1)

    @staticmethod
    def _relations(seg: _Segment, toks: list[Tok], j: int) -> int:
        n = len(toks)
        seg.started = True
        if j >= n:
            return n
        if not _is_op(toks, j, "["):
            if toks[j].is_error:
                return j
            seg.issue(
                ProblemKind.BAD_VALUE, f"get_relations on line {toks[j].line} does not return a list", toks[j].line
            )
            return j
        j += 1
        while j < n:
            t = toks[j]
            seg.touch(t.line)
            if t.is_error:
                seg.error(t)
                j += 1
            elif _is_op(toks, j, "]"):
                seg.closed = True
                return j + 1
            elif _is_op(toks, j, ","):
                j += 1
            elif t.type == tokenize.STRING:
                v = string_value(t)
                m = _arrow(v) if v is not None else None
                if m is None:
                    shown = (v if v is not None else t.string)[:60]
                    seg.issue(
                        ProblemKind.BAD_VALUE, f"{shown!r} on line {t.line} is not an edge 'stepA -> stepB'", t.line
                    )
                else:
                    seg.edges.append((m[0], m[1], t.line))
                j += 1
            elif _is_name(toks, j) and t.string in ("def", "class") and toks[j - 1].line < t.line:
                seg.issue(ProblemKind.SYNTAX, f"the relations list is not closed before line {t.line}", t.line)
                seg.closed = True  # it ended, without its bracket; what follows is read on its own
                return j
            else:
                # Not a string: skip this item up to the next comma or the closing bracket.
                seg.issue(ProblemKind.BAD_VALUE, f"line {t.line}: {t.string!r} is not an edge string", t.line)
                depth = 0
                while j < n and not toks[j].is_error:
                    s = toks[j].string if toks[j].type == tokenize.OP else ""
                    if depth == 0 and s in (",", "]"):
                        break
                    depth += (s in ("(", "[", "{")) - (s in (")", "]", "}"))
                    j += 1
        return n


# --------------------------------------------------------------------------- networkx format


class NetworkxFormat:
    """A format ablation: a function building a ``networkx.DiGraph`` call by call.

    ``def <goal_in_snake_case>():`` then ``G = nx.DiGraph(goal="...", steps=N)``, one
    ``G.add_node("stepK", text="...")`` per step, one ``G.add_edge("stepA", "stepB")`` per
    edge and ``return G``.  A step or edge counts only when its call's closing parenthesis
    was written.  Problems are those of :class:`CodeFormat`.

    Examples
    --------
    >>> fmt = NetworkxFormat("edge")
    >>> q = Script("make tea", 2, ("boil water", "pour water"))
    >>> print(fmt.render_query(q), end="")
    def make_tea():
        G = nx.DiGraph(goal="make tea", steps=2)
        G.add_node("step0", text="boil water")
        G.add_node("step1", text="pour water")
    >>> fmt.parse('    G.add_edge("step0", "step1")\\n    return G\\n', q).graph.edges
    ((0, 1),)
    """

    name = "networkx"
    kind: Literal["code", "text"] = "code"
    separator = CODE_SEPARATOR
    _START = re.compile(r"^\s*(def\s+\w+\s*\(|\w+\s*=\s*(nx\s*\.\s*)?DiGraph|\w+\s*\.\s*add_(node|edge)\s*\()")
    _WORDING = _Wording(edges="the add_edge calls and return", second="function")

    def __init__(self, mode: Mode) -> None:
        self.mode: Mode = mode
        self.description = (
            "Format ablation: a function named after the goal that builds G = nx.DiGraph(goal=..., steps=N), "
            'calls G.add_node("stepK", text=...) per step and G.add_edge("stepA", "stepB") per edge, then '
            "returns G."
        )

    @staticmethod
    def _head(s: Script) -> str:
        return f"def {function_name(s.goal)}():\n    G = nx.DiGraph(goal={_quote(s.goal)}, steps={_step_count(s)})\n"

    @staticmethod
    def _nodes(s: Script) -> str:
        return "".join(f'    G.add_node("step{k}", text={_quote(t)})\n' for k, t in enumerate(s.steps))

    def render_query(self, graph: Graph) -> str:
        s = _as_script(graph, "the query")
        return self._head(s) + (self._nodes(s) if self.mode == "edge" else "")

    def render(self, graph: Graph) -> str:
        s = _as_script(graph, "the graph")
        edges = "".join(f'    G.add_edge("step{a}", "step{b}")\n' for a, b in s.edges)
        return self._head(s) + self._nodes(s) + edges + "    return G\n"

    def stop(self) -> list[str]:
        return [CODE_SEPARATOR]

    def parse(self, text: str, query: Graph | None = None) -> ParseResult:
        q = None if query is None else _as_script(query, "the query")
        out = prepare_output(text, self.separator, self._START)
        if out.is_empty:
            return out.empty_result()
        open_end = out.ends_mid_line  # the last token may be a cut word
        segments = self._scan(_scan_code_tokens(out.text, open_end, out.line_offset), open_end)
        return _finish(
            self.mode,
            segments,
            q,
            function_name(q.goal) if q is not None else None,
            out.problems,
            not out.runs_to_end,
            self._WORDING,
        )

    @staticmethod
    def _args(toks: list[Tok], i: int) -> tuple[str, list[Any], dict[str, Any], int]:
        """Arguments of a call whose ``(`` is at ``i - 1``: status ("ok", "cut", "error", "bad"), values, end."""
        pos: list[Any] = []
        kw: dict[str, Any] = {}
        n = len(toks)
        status = "ok"
        while True:
            if i >= n:
                return "cut", pos, kw, n
            if toks[i].is_error:
                return ("cut" if toks[i].at_end else "error"), pos, kw, i
            if _is_op(toks, i, ")"):
                return status, pos, kw, i + 1
            key = None
            if _is_name(toks, i) and _is_op(toks, i + 1, "="):
                key, i = toks[i].string, i + 2
            v = _read_value(toks, i)
            if v.kind in ("cut", "error"):
                return v.kind, pos, kw, v.end
            if v.kind == "bad":
                status = "bad"
                i = v.end
                # Skip the rest of this argument.
                depth = 0
                while i < n and not toks[i].is_error:
                    s = toks[i].string if toks[i].type == tokenize.OP else ""
                    if depth == 0 and s in (",", ")"):
                        break
                    depth += (s in ("(", "[", "{")) - (s in (")", "]", "}"))
                    i += 1
            elif key is None:
                pos.append(v.value)
                i = v.end
            else:
                kw[key] = v.value
                i = v.end
            if _is_op(toks, i, ","):
                i += 1
            elif not _is_op(toks, i, ")") and i < n and not toks[i].is_error:
                status = "bad"
                i += 1

    @staticmethod
    def _scan(toks: list[Tok], open_end: bool) -> list[_Segment]:
        segs = [_Segment()]
        i, n = 0, len(toks)
        while i < n:
            seg, t = segs[-1], toks[i]
            seg.touch(t.line)
            if t.is_error:
                seg.error(t)
                i += 1
            elif _is_name(toks, i, "def") and _is_name(toks, i + 1):
                segs.append(_Segment(header=toks[i + 1].string, line=t.line, last_line=t.line))
                end = _after_colon(toks, i + 2)
                i = n if end is None else end
            elif _is_name(toks, i, "return") and (
                _is_name(toks, i + 1) or (i + 1 < n and toks[i + 1].is_error and toks[i + 1].at_end)
            ):
                # "return G" ends the answer (with no add_edge call: the order is empty); cut
                # inside the name it still says every call was written.
                seg.started = seg.closed = seg.seen = True
                i += 2
            elif _is_name(toks, i) and _is_op(toks, i + 1, "="):
                # G = nx.DiGraph(...) or G = DiGraph(...)
                j = i + 2
                if _is_name(toks, j) and _is_op(toks, j + 1, "."):
                    j += 2
                if _is_name(toks, j, "DiGraph") and _is_op(toks, j + 1, "("):
                    status, _, kw, end = NetworkxFormat._args(toks, j + 2)
                    NetworkxFormat._graph(seg, status, kw, t.line)
                    i = end
                elif open_end and t.line == toks[-1].line:
                    seg.cut = t.line
                    break
                else:
                    seg.other(t.line)
                    i += 1
            elif (
                _is_name(toks, i)
                and _is_op(toks, i + 1, ".")
                and _is_name(toks, i + 2)
                and toks[i + 2].string in ("add_node", "add_edge")
                and _is_op(toks, i + 3, "(")
            ):
                status, pos, kw, end = NetworkxFormat._args(toks, i + 4)
                if toks[i + 2].string == "add_node":
                    NetworkxFormat._node(seg, status, pos, kw, t.line)
                else:
                    NetworkxFormat._edge(seg, status, pos, t.line)
                i = end
            elif open_end and t.line == toks[-1].line:
                seg.cut = t.line  # an unfinished statement on the last line: the text was cut here
                break
            else:
                seg.other(t.line)
                i += 1
        return segs

    @staticmethod
    def _graph(seg: _Segment, status: str, kw: dict[str, Any], line: int) -> None:
        if status == "cut":
            seg.cut_at(line)
            return
        goal, steps = kw.get("goal"), kw.get("steps")
        if isinstance(goal, str) and seg.goal is None:
            seg.goal = (goal, line)
        if isinstance(steps, int) and steps > _MAX_COUNT:
            seg.issue(ProblemKind.BAD_VALUE, f"steps={steps} on line {line} is not a plausible number of steps", line)
        elif isinstance(steps, int) and seg.declared is None:
            seg.declared = (steps, line)
        if (
            status == "bad"
            or (goal is not None and not isinstance(goal, str))
            or (steps is not None and not isinstance(steps, int))
        ):
            seg.issue(
                ProblemKind.BAD_VALUE, f"the DiGraph(...) call on line {line} has arguments of the wrong kind", line
            )

    @staticmethod
    def _node(seg: _Segment, status: str, pos: list[Any], kw: dict[str, Any], line: int) -> None:
        if status == "cut":
            seg.cut_at(line)
            return
        if status == "error":
            return
        text = kw.get("text", pos[1] if len(pos) > 1 else None)
        k = _node_index(pos[0]) if pos and isinstance(pos[0], str) else None
        if status == "bad" or k is None or k > _MAX_INDEX or not isinstance(text, str):
            seg.issue(
                ProblemKind.BAD_VALUE, f'the add_node call on line {line} is not add_node("stepK", text="...")', line
            )
            return
        seg.steps.append((k, text, line))

    @staticmethod
    def _edge(seg: _Segment, status: str, pos: list[Any], line: int) -> None:
        if status == "cut":
            seg.started = True
            seg.cut_at(line)
            return
        if status == "error":
            return
        seg.started = True
        if status == "bad" or len(pos) != 2 or not all(isinstance(p, str) for p in pos):
            seg.issue(
                ProblemKind.BAD_VALUE, f'the add_edge call on line {line} is not add_edge("stepA", "stepB")', line
            )
            return
        seg.edges.append((pos[0], pos[1], line))


# --------------------------------------------------------------------------- text format

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", ";": "\\;"}
_UNESCAPES = {"n": "\n", "r": "\r"}
_TEXT_HEAD = {
    "script": (
        "You want to {goal}. How can you do this in {n} steps?",
        re.compile(r"You want to (.*)\. How can you do this in (\d+) steps\?"),
    ),
    "edge": ("You want to {goal}. Order these {n} steps:", re.compile(r"You want to (.*)\. Order these (\d+) steps:")),
}
_TEXT_STEP = re.compile(r"step(\d+):[ ]?(.*)", re.DOTALL | re.IGNORECASE)


def _escape(s: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in s)


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(1)), s, flags=re.DOTALL)


def _split_items(line: str) -> list[str]:
    """Split on every ``;`` that is not escaped; pieces keep their escapes."""
    out, cur, i = [], [], 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            cur.append(line[i : i + 2])
            i += 2
            continue
        if c == ";":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


class TextFormat:
    """The paper's flattened-text baseline (the dataset's ``flatten_*`` strings).

    Script generation::

        You want to make tea. How can you do this in 3 steps?
        step0: decided to make tea; step1: boil water; step2: make tea; step0 -> step1; step1 -> step2

    Edge prediction::

        You want to make tea. Order these 3 steps:
        step0: boil water; step1: make tea; step2: decided to make tea
        step2 -> step0; step0 -> step1

    Items are separated by ``;``; the last item of an output that ends without a line
    break is kept when it reads as a whole item (see the module docstring).

    Examples
    --------
    >>> fmt = TextFormat("script")
    >>> fmt.parse("step0: boil water; step1: pour; step0 -> step1\\n", Script("make tea", 2)).graph.edges
    ((0, 1),)
    """

    name = "text"
    kind: Literal["code", "text"] = "text"
    separator = CODE_SEPARATOR
    _START = re.compile(r"^\s*(You want to |step\d+\s*(:|->))", re.IGNORECASE)
    _WORDING = _Wording(edges="the edges (stepA -> stepB)", second="example")

    def __init__(self, mode: Mode) -> None:
        self.mode: Mode = mode
        if mode == "script":
            self.description = (
                "Flattened text (the paper's baseline): 'You want to <goal>. How can you do this in <n> steps?' "
                "then one line 'step0: ...; step1: ...; step0 -> step1; ...'."
            )
        else:
            self.description = (
                "Flattened text (the paper's baseline): 'You want to <goal>. Order these <n> steps:', a line "
                "'step0: ...; step1: ...' and the answer line 'step2 -> step0; ...'."
            )

    def _head(self, s: Script) -> str:
        return _TEXT_HEAD[self.mode][0].format(goal=_escape(s.goal), n=_step_count(s)) + "\n"

    @staticmethod
    def _step_line(s: Script) -> list[str]:
        return [f"step{k}: {_escape(t)}" for k, t in enumerate(s.steps)]

    @staticmethod
    def _edge_line(s: Script) -> list[str]:
        return [f"step{a} -> step{b}" for a, b in s.edges]

    def render_query(self, graph: Graph) -> str:
        s = _as_script(graph, "the query")
        if self.mode == "script":
            return self._head(s)
        return self._head(s) + "; ".join(self._step_line(s)) + "\n"

    def render(self, graph: Graph) -> str:
        s = _as_script(graph, "the graph")
        if self.mode == "script":
            return self._head(s) + "; ".join(self._step_line(s) + self._edge_line(s)) + "\n"
        return self.render_query(s) + "; ".join(self._edge_line(s)) + "\n"

    def stop(self) -> list[str]:
        return [CODE_SEPARATOR, "\nYou want to "]

    def parse(self, text: str, query: Graph | None = None) -> ParseResult:
        q = None if query is None else _as_script(query, "the query")
        out = prepare_output(text, self.separator, self._START)
        if out.is_empty:
            return out.empty_result()
        # Without an end marker, only a line break or what follows the answer says its last item is whole.
        segments = self._scan(out.text, not out.ends_mid_line, out.line_offset)
        return _finish(
            self.mode,
            segments,
            q,
            q.goal if q is not None else None,
            out.problems,
            not out.runs_to_end,
            self._WORDING,
        )

    @staticmethod
    def _scan(text: str, whole_end: bool, offset: int) -> list[_Segment]:
        segs = [_Segment()]
        lines = text.split("\n")
        last = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
        for idx, raw in enumerate(lines):
            line, body = idx + 1 + offset, raw.strip(" \t")
            if not body:
                continue
            seg = segs[-1]
            head = next((m for _, rx in _TEXT_HEAD.values() if (m := rx.fullmatch(body.rstrip()))), None)
            if head is not None:
                goal = _unescape(head.group(1))
                seg = _Segment(header=goal, line=line, goal=(goal, line), last_line=line)
                count = _step_number(head.group(2))
                if count <= _MAX_COUNT:
                    seg.declared = (count, line)
                segs.append(seg)
                continue
            seg.touch(line)
            pieces = _split_items(raw.lstrip(" \t"))
            good = 0
            for p_i, piece in enumerate(pieces):
                item = piece.lstrip()
                is_final = idx == last and p_i == len(pieces) - 1 and not whole_end
                if not item.strip():
                    if is_final and len(pieces) > 1:
                        seg.cut_at(line)  # the text ends right after a ";": more was coming
                    continue
                step = _TEXT_STEP.fullmatch(item)
                arrow = None if step else _arrow(item)
                # Outputs end with edges, so an unfinished text ending in a step, or in something
                # that is not yet "stepA -> stepB", was cut inside that item.
                if is_final and (arrow is None or _node_index(arrow[0]) is None or _node_index(arrow[1]) is None):
                    seg.cut_at(line)
                    continue
                if step:
                    k = _step_number(step.group(1))
                    if k > _MAX_INDEX:
                        seg.issue(
                            ProblemKind.BAD_VALUE,
                            f"step{step.group(1)[:8]} on line {line} is not a plausible step number",
                            line,
                        )
                    else:
                        seg.steps.append((k, _unescape(step.group(2)), line))
                        good += 1
                elif arrow:
                    seg.started = True
                    seg.edges.append((_unescape(arrow[0]), _unescape(arrow[1]), line))
                    good += 1
                elif len(pieces) > 1 or good:
                    seg.issue(ProblemKind.SYNTAX, f"line {line}: {item[:60]!r} is neither a step nor an edge", line)
                else:
                    seg.other(line)
        for s in segs:
            s.closed = s.started  # the text format has no end marker: edges written are the answer
        return segs


# --------------------------------------------------------------------------- data files


def _check_script(d: Any, path: Path, line: int) -> Script:
    """A :class:`Script` from a ``Script.to_dict()`` record, or a :class:`DataError` saying what is wrong."""

    def bad(msg: str) -> DataError:
        return DataError(msg, path=str(path), line=line)

    if not isinstance(d, dict):
        raise bad("the graph must be an object with goal, num_steps, steps and edges")
    goal, steps, edges = d.get("goal"), d.get("steps"), d.get("edges", [])
    if not isinstance(goal, str) or not goal.strip():
        raise bad("the goal must be a non-empty string")
    if not isinstance(steps, list) or not all(isinstance(s, str) and s.strip() for s in steps):
        raise bad("steps must be a list of non-empty strings")
    num = d.get("num_steps", len(steps))
    if num != len(steps):
        raise bad(f"num_steps is {num!r} but {len(steps)} steps are listed")
    if not isinstance(edges, list):
        raise bad("edges must be a list of [before, after] pairs")
    for e in edges:
        if (
            not isinstance(e, list)
            or len(e) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < len(steps) for x in e)
        ):
            raise bad(f"the edge {e!r} is not a pair of step indices from 0 to {len(steps) - 1}")
    return Script(goal, len(steps), tuple(steps), tuple((a, b) for a, b in edges))


def _reference_graph(row: Any, path: Path, line: int) -> Script:
    """The gold script of one CoCoGen proScript row, from its ``reference_graph``."""

    def bad(msg: str) -> DataError:
        return DataError(msg, path=str(path), line=line)

    if not isinstance(row, dict) or not isinstance(row.get("reference_graph"), dict):
        raise bad("the record has no reference_graph object")
    g = row["reference_graph"]
    title, schema, relations = g.get("title"), g.get("schema"), g.get("relations")
    if not isinstance(title, str):
        raise bad("reference_graph.title must be a string")
    if not isinstance(schema, list) or not isinstance(relations, list):
        raise bad("reference_graph.schema and .relations must be lists")
    steps = []
    for k, item in enumerate(schema):
        prefix = f"step{k}: "
        if not isinstance(item, str) or not item.startswith(prefix):
            raise bad(f"schema item {k} should start with {prefix!r}: {item!r}")
        steps.append(item[len(prefix) :])
    if g.get("num_steps", len(steps)) != len(steps):
        raise bad(f"num_steps is {g.get('num_steps')!r} but the schema lists {len(steps)} steps")
    edges = []
    for r in relations:
        m = _arrow(r) if isinstance(r, str) else None
        ia, ib = (_node_index(m[0]), _node_index(m[1])) if m else (None, None)
        if ia is None or ib is None or ia >= len(steps) or ib >= len(steps):
            raise bad(f"the relation {r!r} is not 'stepA -> stepB' between listed steps")
        edges.append((ia, ib))
    return Script(title, len(steps), tuple(steps), tuple(edges))


# --------------------------------------------------------------------------- the tasks


class _ProscriptTask(TaskBase):
    mode: ClassVar[Mode]
    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    input_fields: ClassVar[tuple[InputField, ...]]
    sample_input: ClassVar[Mapping[str, Any]]
    splits: ClassVar[tuple[str, ...]] = ("dev",)
    graph_type: ClassVar[type] = Script

    def __init__(self) -> None:
        self._formats: dict[str, Format] = {
            "code": CodeFormat(self.mode),
            "networkx": NetworkxFormat(self.mode),
            "text": TextFormat(self.mode),
        }

    @property
    def formats(self) -> Mapping[str, Format]:
        return MappingProxyType(self._formats)

    def load(self, split: str, data_dir: Path | None = None) -> list[Example]:
        """Rows of the CoCoGen proScript ``split`` file, with ids ``<split>-0000``, ``<split>-0001``, ...

        The gold script is the row's ``reference_graph`` (steps in the listed order,
        edges as written), so rendering it in the code format gives back the row's
        ``reference_code`` exactly.
        """
        if split not in self.splits:
            raise ConfigError(
                f"Task {self.name!r} has no split {split!r}.", hint=f"Choose one of: {', '.join(self.splits)}."
            )
        path = (data_dir or settings.data_dir()) / "cocogen" / "data" / _DATA_SUBDIR[self.mode] / f"{split}.jsonl"
        return [
            Example(f"{split}-{count:04d}", _reference_graph(d, path, ln), {"line": ln})
            for count, (ln, d) in enumerate(read_jsonl(path))
        ]

    def fewshot(self) -> list[Example]:
        """Our own examples, ``assets/fewshot/<task name>.jsonl``: one ``{"id", "graph"}`` object per line."""
        return read_fewshot(self, _check_script)

    def metric(self, options: MetricOptions | None = None) -> TaskMetric:
        from cocogen.metrics.proscript import EdgePredictionMetric, ScriptGenerationMetric

        cls = ScriptGenerationMetric if self.mode == "script" else EdgePredictionMetric
        return cls(self.name, options)

    def recognizes(self, record: Mapping[str, Any]) -> bool:
        """CoCoGen's proScript records: the edge-prediction prompt already holds the step functions."""
        if "flatten_input_for_edge_prediction" not in record or "reference_code" not in record:
            return False
        return ("def step" in str(record.get("input_prompt_code", ""))) == (self.mode == "edge")

    def read_recorded(self, record: Mapping[str, Any], *, path: Path, line: int, index: int) -> Reference:
        """The reference is the released ``reference_code``, read by our code-format parser."""
        code = record.get("reference_code")
        if not isinstance(code, str):
            raise DataError("the record has no 'reference_code' to take the reference from", path=str(path), line=line)
        parsed = self._formats["code"].parse(code)
        if parsed.graph is None:
            raise DataError("the reference code could not be parsed", path=str(path), line=line)
        # CoCoGen's proScript records carry no id; its only released split is dev, whose rows our
        # loader names dev-0000, dev-0001, ... in file order.
        rid = str(record["id"]) if "id" in record else f"dev-{index:04d}"
        return Reference(rid, self.query_of(parsed.graph), parsed.graph)

    def view(self, graph: Graph) -> Any:
        from cocogen.diff import script_view

        return script_view(_as_script(graph, "the graph"))

    def diff(self, prediction: Graph | None, reference: Graph) -> Any:
        from cocogen.diff import diff_scripts

        return diff_scripts(prediction, _as_script(reference, "the reference"))

    def plan_constrained(self, decoder: Any, fmt: Format, query: Graph, limits: Any) -> Graph:
        from cocogen.constrained import plan_script

        return plan_script(decoder, fmt, _as_script(query, "the query"), limits)

    def grammar(self, format_name: str, query: Graph) -> str | None:
        from cocogen.grammar import script_grammar
        from cocogen.tasks.base import get_format

        return script_grammar(get_format(self, format_name), self.query_of(_as_script(query, "the query")))

    def grammar_retry(self, format_name: str, query: Graph, completion: str) -> Retry | None:
        from cocogen.grammar import script_retry
        from cocogen.tasks.base import get_format

        return script_retry(get_format(self, format_name), self.query_of(_as_script(query, "the query")), completion)

    def free_values(self, graph: Graph) -> list[str]:
        return list(_as_script(graph, "the graph").steps)

    def subject(self, graph: Graph) -> str:
        return _as_script(graph, "the graph").goal

    def element_keys(self, graph: Graph) -> list[str]:
        """``step3`` for each step the model wrote (script generation only), ``step0 -> step3`` for each edge."""
        s = _as_script(graph, "the graph")
        steps = [f"step{i}" for i in range(len(s.steps))] if self.mode == "script" else []
        return steps + [_edge_key(e) for e in s.edges]

    def element_variant(self, graph: Graph, key: str) -> Graph | None:
        s = _as_script(graph, "the graph")
        edges = [e for e in s.edges if _edge_key(e) != key]
        if len(edges) < len(s.edges):
            return replace(s, edges=tuple(edges))
        steps = list(s.steps)
        for i in range(len(steps)):
            if key == f"step{i}":
                steps[i] = ELEMENT_MARKER
                return replace(s, steps=tuple(steps))
        return None

    def element_matches(self, prediction: Graph, reference: Graph) -> dict[str, bool]:
        """A written step is in the reference when it matches one of its steps by text similarity (as a
        merge matches steps); an edge when its steps' matches have that edge.  Given steps match by index."""
        from cocogen.merge import DEFAULT_MIN_SIMILARITY, match_to_anchor

        p, r = _as_script(prediction, "the prediction"), _as_script(reference, "the reference")
        if self.mode == "script":
            to_ref = match_to_anchor(r.steps, p.steps, DEFAULT_MIN_SIMILARITY)
        else:
            to_ref = {i: i for i in range(len(p.steps))}
        ref_edges = set(r.edges)
        out = {f"step{i}": i in to_ref for i in range(len(p.steps))} if self.mode == "script" else {}
        for a, b in p.edges:
            out[_edge_key((a, b))] = a in to_ref and b in to_ref and (to_ref[a], to_ref[b]) in ref_edges
        return out

    def merge(self, query: Graph, graphs: Sequence[Graph]) -> tuple[Graph, dict[str, float]]:
        """Steps matched by text similarity to the most typical sample's; edges by vote share, as a DAG."""
        return _merge_scripts(_as_script(query, "the query"), [_as_script(g, "a sample") for g in graphs])


def _edge_key(edge: tuple[int, int]) -> str:
    return f"step{edge[0]} -> step{edge[1]}"


def _merge_scripts(query: Script, samples: Sequence[Script]) -> tuple[Script, dict[str, float]]:
    from cocogen.merge import DEFAULT_MIN_SIMILARITY, kept_by_votes, match_to_anchor

    n = len(samples)
    if n == 0:
        raise InputError("A merge needs at least one sample.")
    given = bool(query.steps)  # edge prediction: every sample has the input's steps
    maps: list[list[dict[int, int]]] = []  # maps[a][k]: sample k's step index -> anchor a's
    for anchor in samples:
        row = []
        for other in samples:
            if given or other is anchor:
                row.append({i: i for i in range(len(other.steps))})
            else:
                row.append(match_to_anchor(anchor.steps, other.steps, DEFAULT_MIN_SIMILARITY))
        maps.append(row)
    # The anchor is the sample whose steps the others share most (the earliest on a tie).
    best = max(range(n), key=lambda a: (sum(len(m) for m in maps[a]), -a))
    anchor, mapping = samples[best], maps[best]
    steps_seen = [0] * len(anchor.steps)
    votes: dict[tuple[int, int], int] = {}
    for k in [best, *(k for k in range(n) if k != best)]:
        for j in mapping[k].values():
            steps_seen[j] += 1
        m = mapping[k]
        for e in dict.fromkeys((m[a], m[b]) for a, b in samples[k].edges if a in m and b in m):
            votes[e] = votes.get(e, 0) + 1  # the anchor's edges first, so a unanimous merge keeps its order
    edges = kept_by_votes(votes, n)
    merged = replace(anchor, edges=tuple(edges))
    agreement = {_edge_key(e): votes[e] / n for e in edges}
    if not given:
        agreement.update({f"step{i}": c / n for i, c in enumerate(steps_seen)})
    return merged, agreement


def _goal_field(help: str) -> InputField:
    return InputField("goal", "str", help, max_chars=MAX_TEXT_CHARS, one_line=True)


class ScriptGenerationTask(_ProscriptTask):
    """proScript script generation: write the steps of a goal and their partial order.

    Examples
    --------
    >>> q = SCRIPT_TASK.from_input({"goal": "make tea", "num_steps": 3})
    >>> q
    Script(goal='make tea', num_steps=3, steps=(), edges=())
    >>> SCRIPT_TASK.to_input(q)
    {'goal': 'make tea', 'num_steps': 3}
    """

    mode: ClassVar[Mode] = "script"
    name: ClassVar[str] = "proscript-script"
    title: ClassVar[str] = "proScript script generation"
    description: ClassVar[str] = (
        "Given a goal and a number of steps, write the steps and a partial order over them (a DAG)."
    )
    input_fields: ClassVar[tuple[InputField, ...]] = (
        _goal_field("What to do, e.g. 'make a cup of tea'."),
        InputField(
            "num_steps",
            "int",
            f"How many steps the script should have ({MIN_STEPS} to {MAX_STEPS}).",
            label="number of steps",
            low=MIN_STEPS,
            high=MAX_STEPS,
        ),
    )
    sample_input: ClassVar[Mapping[str, Any]] = MappingProxyType({"goal": "plant a tree in the garden", "num_steps": 7})

    def from_input(self, fields: Mapping[str, Any]) -> Script:
        v = validate_input(fields, self.input_fields, self.name)
        return Script(v["goal"], v["num_steps"])

    def to_input(self, graph: Graph) -> dict[str, Any]:
        s = _as_script(graph, "the graph")
        return {"goal": s.goal, "num_steps": _step_count(s)}

    def query_of(self, graph: Graph) -> Script:
        s = _as_script(graph, "the graph")
        return Script(s.goal, _step_count(s))


class EdgePredictionTask(_ProscriptTask):
    """proScript edge prediction: order given (shuffled) steps of a goal.

    Examples
    --------
    >>> q = EDGE_TASK.from_input({"goal": "make tea", "steps": ["pour water", "boil water"]})
    >>> q.num_steps, q.steps
    (2, ('pour water', 'boil water'))
    """

    mode: ClassVar[Mode] = "edge"
    name: ClassVar[str] = "proscript-edge"
    # Two examples, not eight: with the offline model, constrained, code, edge F1 25.2 against
    # 19.3 on the quality benchmark's 50 dev rows (text: 22.9 against 18.7); docs/benchmarks.md.
    default_k: ClassVar[int] = 2
    title: ClassVar[str] = "proScript edge prediction"
    description: ClassVar[str] = "Given a goal and its steps in shuffled order, predict the partial order (edges)."
    input_fields: ClassVar[tuple[InputField, ...]] = (
        _goal_field("What the steps achieve, e.g. 'make a cup of tea'."),
        InputField(
            "steps",
            "list[str]",
            f"The steps, in any order ({MIN_STEPS} to {MAX_STEPS}; one per line).",
            item="step",
            low=MIN_STEPS,
            high=MAX_STEPS,
            max_chars=MAX_TEXT_CHARS,
            one_line=True,
        ),
    )
    sample_input: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "goal": "make a cup of tea",
            "steps": (
                "pour hot water into the cup",
                "decided to make a cup of tea",
                "boil water in a kettle",
                "put a tea bag in a cup",
                "wait for the tea to steep",
                "remove the tea bag",
                "make a cup of tea",
            ),
        }
    )

    def from_input(self, fields: Mapping[str, Any]) -> Script:
        v = validate_input(fields, self.input_fields, self.name)
        return Script(v["goal"], len(v["steps"]), v["steps"])

    def to_input(self, graph: Graph) -> dict[str, Any]:
        s = _as_script(graph, "the graph")
        return {"goal": s.goal, "steps": list(s.steps)}

    def query_of(self, graph: Graph) -> Script:
        s = _as_script(graph, "the graph")
        return Script(s.goal, len(s.steps), s.steps)


SCRIPT_TASK = ScriptGenerationTask()
EDGE_TASK = EdgePredictionTask()
