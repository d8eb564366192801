"""ExplaGraphs: explain a stance with a graph of ``(concept; relation; concept)`` triples.

Given a *belief*, an *argument* and the *stance* of the argument towards the belief
(``support`` or ``counter``), the model writes an explanation graph: triples whose
relation comes from a fixed vocabulary of 28 (:data:`RELATIONS`).  The dataset writes a
graph as one bracketed string, ``(c1; rel; c2)(c2; rel; c3)``; :func:`parse_triples` and
:func:`format_triples` read and write it and are shared with the metrics.

Formats
-------
``code``
    The CoCoGen paper's representation, byte for byte: a ``class ExplaGraph`` whose
    ``__init__`` assigns ``self.belief``, ``self.argument``, ``self.stance`` and
    ``self.graph = "(...)(...)"``.  The model continues after the stance line.
``add_edge``
    The same class, but the graph is built with networkx-style calls, one per triple:
    ``self.graph.add_edge("c1", "c2", relation="capable of")``.
``text``
    The flattened-text baseline: ``belief: ...`` / ``argument: ...`` / ``stance: ...`` /
    ``graph: (c1; rel; c2)...`` lines.

Stance
------
In every format the stance is part of the *input* (as in the paper), so the model only
writes the graph.  When a model nevertheless writes a stance (a full rendering), the
parsed graph carries the stance it wrote, and a :attr:`~cocogen.types.ProblemKind.MISMATCH`
is reported if it differs from the query's.

The CoCoGen release (split ``cocogen-dev``) wrote a *predicted* stance into its prompts;
it differs from the gold label in 55 of 396 rows.  Those examples hold the prompt stance in
``graph.stance`` (so :meth:`CodeFormat.render` reproduces the released ``reference_code``
exactly) and keep both labels in ``meta["prompt_stance"]`` and ``meta["gold_stance"]``.
For the ExplaGraphs splits (``train``, ``dev``) ``graph.stance`` is the gold label, also
copied to ``meta["gold_stance"]``.

Ids
---
An example's id is :func:`example_id`: the first 12 hex digits of the SHA-1 of
``belief + "\\t" + argument`` (UTF-8).  The same belief/argument pair therefore has the
same id in ``dev`` and ``cocogen-dev``; recorded outputs are matched to rows by it.

Parsing never executes model text: statements are read with :func:`ast.parse` one at a
time (so one bad line does not hide the rest) and string values with
:func:`ast.literal_eval`.

Bounds: a parser returns a :class:`~cocogen.types.ParseResult` for any text (never
raises).  It reads at most :data:`~cocogen.parsing.MAX_OUTPUT_CHARS` (256 Ki) characters
of an output (the rest is an ``EXTRA`` problem); a statement nested deeper than Python's
parser allows (``"-" * 3000 + "1"``: RecursionError or MemoryError inside
:func:`ast.parse`) is a ``SYNTAX`` problem ("too deeply nested to read").  Time is linear
in what is read: every line is parsed once, and re-parsing lines joined into one open
statement costs at most 2,000 lines and four times the cap in characters per output.
Memory is measured at under 160 MB for the worst text at the cap (a line of ``a; a; ...``:
one AST node and one ``EXTRA`` problem per statement), about 600 bytes per character read.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from cocogen import settings
from cocogen.errors import ConfigError, DataError, InputError
from cocogen.jsonl import read_jsonl
from cocogen.parsing import MAX_OUTPUT_CHARS, header_tail_at, prepare_output
from cocogen.tasks.base import CODE_SEPARATOR, Format, InputField, Reference, TaskBase, read_fewshot, validate_input
from cocogen.types import Example, ExplaGraph, Graph, ParseResult, Problem, ProblemKind

if TYPE_CHECKING:
    from cocogen.grammar import Retry
    from cocogen.metrics.base import MetricOptions, TaskMetric

__all__ = [
    "RELATIONS",
    "STANCES",
    "MAX_INPUT_CHARS",
    "Triple",
    "parse_triples",
    "format_triples",
    "structure_problems",
    "example_id",
    "CodeFormat",
    "AddEdgeFormat",
    "TextFormat",
    "ExplaGraphsTask",
    "TASK",
]

Triple = tuple[str, str, str]

# The task definition (ExplaGraphs' relations.txt, in its order): a relation outside this
# list makes a graph structurally incorrect in the official evaluation.
RELATIONS: tuple[str, ...] = (
    "antonym of",
    "synonym of",
    "at location",
    "not at location",
    "capable of",
    "not capable of",
    "causes",
    "not causes",
    "created by",
    "not created by",
    "is a",
    "is not a",
    "desires",
    "not desires",
    "has subevent",
    "not has subevent",
    "part of",
    "not part of",
    "has context",
    "not has context",
    "has property",
    "not has property",
    "made of",
    "not made of",
    "receives action",
    "not receives action",
    "used for",
    "not used for",
)
_RELATION_SET = frozenset(RELATIONS)

STANCES: tuple[str, ...] = ("support", "counter")

MAX_INPUT_CHARS = 2000  # per belief/argument; far above any dataset row (the longest is ~300)

_ID_CHARS = 12


def example_id(belief: str, argument: str) -> str:
    """Stable id of a belief/argument pair: 12 hex digits of SHA-1 of ``belief + "\\t" + argument``.

    Examples
    --------
    >>> example_id("Zoos should be closed.", "Zoos protect endangered species.")
    '689cb1a4e437'
    """
    return hashlib.sha1(f"{belief}\t{argument}".encode()).hexdigest()[:_ID_CHARS]


# --- the bracketed graph string --------------------------------------------------------


def _concept_error(part: str) -> str | None:
    """Why ``part`` cannot be written inside ``( ; ; )`` and read back unchanged (or ``None``)."""
    if not part:
        return "is empty"
    if part != part.strip():
        return "has leading or trailing whitespace"
    if ";" in part:
        return "contains ';'"
    if "\n" in part or "\r" in part:
        return "contains a line break"
    depth = 0
    for ch in part:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            break
    if depth != 0:
        return "has unbalanced parentheses"
    return None


def format_triples(triples: Iterable[Triple]) -> str:
    """Write triples as the dataset's bracketed string ``(c1; rel; c2)(...)``.

    Raises :class:`ValueError` for a part that could not be read back unchanged (empty,
    surrounding whitespace, ``;``, a line break or unbalanced parentheses).

    Examples
    --------
    >>> format_triples([("zoos", "used for", "protection"), ("protection", "causes", "survival")])
    '(zoos; used for; protection)(protection; causes; survival)'
    """
    out = []
    for t in triples:
        if len(t) != 3:
            raise ValueError(f"A triple needs 3 parts, not {len(t)}: {t!r}.")
        for part in t:
            why = _concept_error(part) if isinstance(part, str) else "is not a string"
            if why:
                raise ValueError(f"The triple part {part!r} {why}, so it cannot be written as (c1; rel; c2).")
        out.append(f"({t[0]}; {t[1]}; {t[2]})")
    return "".join(out)


def parse_triples(text: str, *, line: int | None = None) -> tuple[tuple[Triple, ...], tuple[Problem, ...]]:
    """Read a bracketed graph string ``(c1; rel; c2)(...)`` into triples, reporting what is off.

    Parts are stripped of surrounding whitespace and otherwise kept as written (case,
    inner spacing).  A concept may hold balanced parentheses.  Problems (all with
    ``line``):

    - ``TRUNCATED``: the last ``(`` is never closed; the triples before it are kept;
    - ``BAD_VALUE``: a bracket without exactly three non-empty ``;``-separated parts (dropped),
      or text outside brackets (ignored);
    - ``BAD_RELATION``: a relation outside :data:`RELATIONS` (the triple is kept);
    - ``DUPLICATE``: a triple written again (the repeat is dropped);
    - ``EMPTY``: no triple at all.

    Examples
    --------
    >>> triples, problems = parse_triples("(a; causes; b)(b; is a; c")
    >>> triples
    (('a', 'causes', 'b'),)
    >>> [p.kind.value for p in problems]
    ['truncated']
    """
    triples: list[Triple] = []
    problems: list[Problem] = []
    seen: set[Triple] = set()
    i, n = 0, len(text)
    junk: list[str] = []
    while i < n:
        ch = text[i]
        if ch != "(":
            if not ch.isspace():
                junk.append(ch)
            i += 1
            continue
        depth, j = 0, i
        while j < n:
            depth += text[j] == "("
            depth -= text[j] == ")"
            if depth == 0:
                break
            j += 1
        if j >= n:
            problems.append(Problem(ProblemKind.TRUNCATED, f"the graph stops inside {text[i:][:40]!r}", line))
            break
        inner = text[i + 1 : j]
        i = j + 1
        parts = [p.strip() for p in inner.split(";")]
        if len(parts) != 3 or not all(parts):
            problems.append(
                Problem(ProblemKind.BAD_VALUE, f"({inner}) is not a triple (concept; relation; concept)", line)
            )
            continue
        t: Triple = (parts[0], parts[1], parts[2])
        if t in seen:
            problems.append(Problem(ProblemKind.DUPLICATE, f"the triple ({inner}) is written twice", line))
            continue
        seen.add(t)
        if t[1] not in _RELATION_SET:
            problems.append(
                Problem(ProblemKind.BAD_RELATION, f"{t[1]!r} in ({inner}) is not an ExplaGraphs relation", line)
            )
        triples.append(t)
    if junk:
        problems.append(Problem(ProblemKind.BAD_VALUE, f"text outside (…) was ignored: {''.join(junk)[:40]!r}", line))
    if not triples:
        problems.append(Problem(ProblemKind.EMPTY, "the graph has no triples", line))
    return tuple(triples), tuple(problems)


def structure_problems(triples: Iterable[Triple], *, line: int | None = None) -> list[Problem]:
    """``CYCLE`` if the concept graph (head → tail of every triple) is not a DAG.

    Examples
    --------
    >>> [p.message for p in structure_problems([("a", "causes", "b"), ("b", "causes", "a")])]
    ['the graph has a cycle: a -> b -> a']
    """
    import networkx as nx  # imported here: only parsing needs it, and it is slow to import

    g = nx.DiGraph()
    g.add_edges_from((h, t) for h, _, t in triples)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return []
    path = [u for u, _ in cycle] + [cycle[-1][1]]
    return [Problem(ProblemKind.CYCLE, "the graph has a cycle: " + " -> ".join(path), line)]


# --- writing and reading Python string literals ------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# str.splitlines() breaks on these too; escaping them keeps a rendering one line per field.
_LINE_BREAKS = frozenset("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _py_str(s: str) -> str:
    """A double-quoted Python literal for ``s``; plain text is written as is (as the paper does)."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ch == "\x7f" or ch in _LINE_BREAKS:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_STRING_START = re.compile(r"""\s*([rRuU]?)(\"\"\"|'''|"|')""")


def _string_prefix(src: str) -> tuple[str | None, bool, int]:
    """The string literal at the start of ``src``, even if it is cut off.

    Returns ``(value, terminated, end)``: ``value`` is ``None`` when ``src`` does not
    start with a readable string literal, ``end`` is the index just after it.  An
    unterminated literal yields what was written so far (a dangling ``\\`` or half escape
    at the cut is dropped).
    """
    m = _STRING_START.match(src)
    if not m:
        return None, False, 0
    prefix, q = m.groups()
    body = src[m.end() :]
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        if body.startswith(q, i):
            try:
                value = ast.literal_eval(prefix + q + body[:i] + q)
            except (ValueError, SyntaxError):
                return None, True, m.end() + i + len(q)
            return value, True, m.end() + i + len(q)
        if len(q) == 1 and body[i] == "\n":
            break
        i += 1
    text = body[:i]
    for cut in range(min(len(text), 12) + 1):
        try:
            value = ast.literal_eval(prefix + q + text[: len(text) - cut] + q)
        except (ValueError, SyntaxError):
            continue
        return value, False, m.end() + i
    return None, False, m.end() + i


def _strings_prefix(src: str) -> tuple[str | None, bool]:
    """Adjacent string literals (optionally in parentheses) at the start of ``src``, even if cut off.

    Returns the joined value (``None`` if there is none) and whether the last literal
    was terminated.

    Examples
    --------
    >>> _strings_prefix('("(a; is a; b)" "(b; causes; c')
    ('(a; is a; b)(b; causes; c', False)
    """
    rest = src.lstrip()
    if rest.startswith("("):
        rest = rest[1:]
    parts: list[str] = []
    terminated = False
    while True:
        value, terminated, end = _string_prefix(rest)
        if value is None:
            break
        parts.append(value)
        rest = rest[end:]
        if not terminated:
            break
    return ("".join(parts) if parts else None), terminated


# --- reading the code formats -----------------------------------------------------------

_CLASS_LINE = re.compile(r"^class\s+\w+\s*(\([^()]*\))?\s*:\s*(#.*)?$")
# A def header is ``(async )def name(...)`` then the end header_tail_at checks (one
# regular expression for the whole line backtracks quadratically on a line of ")->").
_DEF_START = re.compile(r"(async\s+)?def\s+\w+\s*\(")
_CLOSE_PAREN = re.compile(r"\)")
_CODE_START = re.compile(r"^\s*(class\s+\w+|def\s+\w+|self\s*\.\s*\w+)")
_ASSIGN_LINE = re.compile(r"^\s*(?:self\s*\.\s*)?(\w+)\s*(?::[^=]*)?=(?!=)\s*(.*)$", re.S)
# SyntaxError messages of a statement that more lines could complete.
_INCOMPLETE = ("never closed", "unexpected EOF", "EOF while", "unterminated triple-quoted")
_MAX_STATEMENT_LINES = 40
_JOIN_BUDGET = 2000  # extra ast.parse calls one output may cost when joining lines
# ... and characters re-parsed: with lines of any length the calls alone do not bound the work.
_JOIN_CHAR_BUDGET = 4 * MAX_OUTPUT_CHARS
# What ast.parse raises on text it cannot read: SyntaxError, ValueError (NUL bytes, lone
# surrogates, integer literals over 4,300 digits), and RecursionError or MemoryError for
# nesting deeper than the parser's stack (e.g. "-" * 3000 + "1").
_NESTING_ERRORS = (RecursionError, MemoryError)
# A line that starts a statement a format writes (never swallowed into an open one).
_OUR_STATEMENT = re.compile(
    r"^\s*(self\s*\.\s*(belief|argument|stance|graph)\s*[:=]|self\s*\.\s*graph\s*\.\s*add_edge\b)"
)
_FIELDS = ("belief", "argument", "stance", "graph")
_RELATION_KEYWORDS = ("relation", "rel", "label")


@dataclass
class _Collected:
    """What a reader found in model text, before it is checked against the query."""

    fields: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (value, line)
    triples: list[tuple[Triple, int]] = field(default_factory=list)  # (triple, line)
    problems: list[Problem] = field(default_factory=list)
    saw_graph: bool = False

    def set_field(self, name: str, value: str, line: int) -> None:
        if name in self.fields:
            self.problems.append(
                Problem(ProblemKind.DUPLICATE, f"{name} is assigned twice; the first value is kept", line)
            )
        else:
            self.fields[name] = (value, line)

    def truncated(self, message: str, line: int | None) -> None:
        if not any(p.kind is ProblemKind.TRUNCATED for p in self.problems):
            self.problems.append(Problem(ProblemKind.TRUNCATED, message, line))


@dataclass(frozen=True)
class _ClassHeader:
    line: int


@dataclass(frozen=True)
class _Statement:
    line: int  # 1-based, in the original text
    nodes: tuple[ast.stmt, ...]  # empty when the statement did not parse
    source: str
    error: str | None = None
    at_end: bool = False  # the statement runs to the end of the text


def _is_def_line(stripped: str) -> bool:
    """``(async )def name(...)`` ending like a header: ``-> T:``, ``:`` and an optional comment."""
    m = _DEF_START.match(stripped)
    if m is None:
        return False
    closes = (c.end() for c in _CLOSE_PAREN.finditer(stripped, m.end()))
    return header_tail_at(stripped, closes) is not None


def _parse(source: str) -> tuple[tuple[ast.stmt, ...] | None, str]:
    """``ast.parse(source)``'s statements, or ``None`` and why not (never raises)."""
    try:
        return tuple(ast.parse(source).body), ""
    except (SyntaxError, ValueError) as e:
        return None, str(getattr(e, "msg", e))
    except _NESTING_ERRORS:
        return None, "too deeply nested to read"


def _statements(lines: list[str], offset: int) -> Iterator[_Statement | _ClassHeader]:
    """Statements of ``lines`` one at a time, and class header lines.

    Each statement is parsed on its own with indentation removed, so wrong indentation or
    one broken line does not hide the others.  A statement whose brackets or triple
    quotes are still open takes the next lines until it parses.
    """
    i, n = 0, len(lines)
    budget, chars = _JOIN_BUDGET, _JOIN_CHAR_BUDGET
    last = max((k for k, ln in enumerate(lines) if ln.strip()), default=-1)
    while i < n:
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#") or _is_def_line(stripped):
            i += 1
            continue
        if _CLASS_LINE.match(stripped):
            yield _ClassHeader(offset + i + 1)
            i += 1
            continue
        line = offset + i + 1
        nodes, err = _parse(stripped)
        if nodes is not None:
            yield _Statement(line, nodes, stripped, at_end=i >= last)
            i += 1
            continue
        if _incomplete(err) and budget > 0 and chars > 0:
            nodes, j, spent = _join_statement(lines, i, stripped, chars)
            budget -= j - i
            chars -= spent
            if nodes is not None:
                yield _Statement(line, nodes, "\n".join([stripped, *lines[i + 1 : j + 1]]), at_end=j >= last)
                i = j + 1
                continue
            if j > i and not any(_OUR_STATEMENT.match(lines[k]) for k in range(i + 1, j + 1)):
                # Still open where the text ends: the output was cut (or, mid-text, one long
                # broken statement, skipped whole).  Lines we would read on their own are
                # never swallowed this way: the open line is then a syntax error alone.
                if j >= n - 1:
                    yield _Statement(line, (), "\n".join([stripped, *lines[i + 1 :]]), err, at_end=True)
                    return
                yield _Statement(line, (), stripped, err, at_end=False)
                i = j + 1
                continue
        yield _Statement(line, (), stripped, err, at_end=i >= last)
        i += 1


def _incomplete(message: str) -> bool:
    return any(h in message for h in _INCOMPLETE)


def _join_statement(
    lines: list[str], i: int, first: str, char_budget: int
) -> tuple[tuple[ast.stmt, ...] | None, int, int]:
    """Parse ``first`` with the lines after ``i`` until it is complete.

    Returns the statement's nodes and its last line index; or ``None`` and the last line
    of the broken statement: ``i`` when more lines made it wrong rather than complete (or
    re-parsing would pass ``char_budget`` characters), else the last line it stayed open to
    (the end of the text, or of the window of :data:`_MAX_STATEMENT_LINES` lines, which are
    then skipped as one broken statement).  The third value is the characters parsed.
    """
    j = i
    spent = 0
    for j in range(i + 1, min(len(lines), i + _MAX_STATEMENT_LINES)):
        source = "\n".join([first, *lines[i + 1 : j + 1]])
        spent += len(source)
        if spent > char_budget:
            return None, i, spent
        nodes, err = _parse(source)
        if nodes is not None:
            return nodes, j, spent
        # Any error on the text's last line may be the cut (e.g. a string left open).
        if not _incomplete(err) and j < len(lines) - 1:
            return None, i, spent
    return None, j, spent


def _str_constant(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _edge_call(call: ast.Call, line: int, out: _Collected) -> None:
    """``graph.add_edge("c1", "c2", relation="r")`` (or ``add_edge("c1", "r", "c2")``)."""
    args = [_str_constant(a) for a in call.args]
    kw = {k.arg: _str_constant(k.value) for k in call.keywords if k.arg}
    rel = next((kw[k] for k in _RELATION_KEYWORDS if k in kw), None)
    if len(args) == 2 and rel is not None and None not in args:
        parts = [args[0], rel, args[1]]
    elif len(args) == 3 and not kw and None not in args:
        parts = [args[0], args[1], args[2]]  # the add_edge(src, rel, tgt) spelling
    else:
        out.problems.append(
            Problem(ProblemKind.BAD_VALUE, 'add_edge needs two concept strings and relation="..."', line)
        )
        return
    out.saw_graph = True
    _add_triple_text(f"({parts[0]}; {parts[1]}; {parts[2]})", parts, line, out)


def _add_triple_text(shown: str, parts: list[str], line: int, out: _Collected) -> None:
    stripped = [p.strip() for p in parts]
    if not all(stripped) or any(";" in p for p in stripped):
        out.problems.append(
            Problem(ProblemKind.BAD_VALUE, f"{shown} is not a triple (concept; relation; concept)", line)
        )
        return
    out.triples.append(((stripped[0], stripped[1], stripped[2]), line))


def _graph_string(value: str, line: int, out: _Collected, terminated: bool) -> None:
    out.saw_graph = True
    triples, problems = parse_triples(value, line=line)
    for t in triples:
        out.triples.append((t, line))
    for p in problems:
        if p.kind is ProblemKind.TRUNCATED:
            out.truncated(p.message, line)
        elif p.kind is ProblemKind.EMPTY:
            continue  # judged once, over the whole output
        elif p.kind is ProblemKind.BAD_RELATION:
            continue  # judged once over all triples (add_edge calls too), see _finish
        else:
            out.problems.append(p)
    if not terminated:
        out.truncated("the graph string is cut off; its complete triples were kept", line)


def _read_code(text: str) -> _Collected:
    """Collect field assignments and triples from code-format text (never executed)."""
    out = _Collected()
    clean = prepare_output(text, CODE_SEPARATOR, code_start=_CODE_START)
    out.problems.extend(clean.problems)
    lines = clean.lines
    # Whether the text stops right where the last statement does (no newline, fence or
    # separator after it): only then can a statement at the end be a cut-off one.
    raw = clean.raw
    last_line = clean.text.rstrip().rsplit("\n", 1)[-1].strip()
    ends_open = bool(last_line) and not raw.endswith(("\n", "\r")) and raw.rstrip().endswith(last_line)
    for st in _statements(lines, clean.line_offset):
        if isinstance(st, _ClassHeader):
            if out.saw_graph:
                out.problems.append(Problem(ProblemKind.EXTRA, "a second class after the graph was ignored", st.line))
                break
            continue
        if not st.nodes:
            _read_broken(st, out, ends_open)
            continue
        # Once per statement, not per node: a line of thousands of "a;" is one statement.
        cut = _looks_cut(st, ends_open)
        shown = st.source.splitlines()[0][:60]
        for node in st.nodes:
            if not _read_node(node, st, out, cut=node is st.nodes[-1] and cut):
                if cut:
                    out.truncated(f"the output stops inside {st.source[:40]!r}", st.line)
                else:
                    out.problems.append(Problem(ProblemKind.EXTRA, f"ignored statement {shown!r}", st.line))
    return out


# SyntaxError messages of a statement left open (a string or bracket) where the text ends.
_OPEN_ERRORS = (*_INCOMPLETE, "unterminated string", "EOL while scanning")
# The statements the code formats write, without spaces: a cut-off one is a prefix of one.
_TEMPLATES = tuple(
    re.sub(r"\s", "", t)
    for t in (
        "self.belief=",
        "self.argument=",
        "self.stance=",
        "self.graph=",
        "self.graph.add_edge(",
        "class ExplaGraph:",
        "def __init__(self):",
    )
)


def _looks_cut(st: _Statement, ends_open: bool) -> bool:
    """Whether a statement the reader cannot use is the output's cut-off end (not junk)."""
    if not st.at_end:
        return False
    if st.error and any(h in st.error for h in _OPEN_ERRORS):
        return True
    first = re.sub(r"\s", "", st.source.split("\n", 1)[0])
    return ends_open and any(t.startswith(first) or first.startswith(t) for t in _TEMPLATES)


def _read_node(node: ast.stmt, st: _Statement, out: _Collected, *, cut: bool = False) -> bool:
    """Record one parsed statement; ``False`` if it is none the format writes.

    ``cut``: the statement ends the output mid-way (``self.graph = nx.DiG``), so a
    value of the wrong shape is reported as truncation, not as a bad value.
    """
    line = st.line + getattr(node, "lineno", 1) - 1
    target: ast.expr | None = None
    value: ast.expr | None = None
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    if target is not None:
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name not in _FIELDS:
            return False
        s = _str_constant(value)
        if name == "graph":
            if _is_graph_constructor(value):  # self.graph = nx.DiGraph()
                out.saw_graph = True
                return True
            if s is None and cut:
                out.truncated(f"the output stops inside {st.source[:40]!r}", line)
            elif s is None:
                out.problems.append(Problem(ProblemKind.BAD_VALUE, "self.graph is not a string", line))
            elif "graph" in out.fields:
                out.problems.append(Problem(ProblemKind.DUPLICATE, "graph is assigned twice; the first is kept", line))
            else:
                out.fields["graph"] = (s, line)
                _graph_string(s, line, out, terminated=True)
            return True
        if s is None and cut:
            out.truncated(f"the output stops inside {st.source[:40]!r}", line)
        elif s is None:
            out.problems.append(Problem(ProblemKind.BAD_VALUE, f"self.{name} is not a string", line))
        else:
            out.set_field(name, s, line)
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Attribute) and func.attr == "add_edge":
            _edge_call(node.value, line, out)
            return True
    return False


def _is_graph_constructor(node: ast.expr | None) -> bool:
    """``nx.DiGraph()``, ``DiGraph()`` or ``nx.Graph()`` with no arguments."""
    if not isinstance(node, ast.Call) or node.args or node.keywords:
        return False
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
    return name in ("DiGraph", "Graph", "MultiDiGraph")


def _read_broken(st: _Statement, out: _Collected, ends_open: bool) -> None:
    """A statement that does not parse: keep what a cut-off assignment already holds."""
    m = _ASSIGN_LINE.match(st.source)
    name = m.group(1) if m else None
    value, terminated = _strings_prefix(m.group(2)) if m and name in _FIELDS else (None, False)
    cut = _looks_cut(st, ends_open)
    if cut:
        out.truncated(f"the output stops inside {st.source.splitlines()[0][:40]!r}", st.line)
    elif out.saw_graph and value is None:  # e.g. a chat model's remark after the code
        out.problems.append(Problem(ProblemKind.EXTRA, f"ignored line {st.source.splitlines()[0][:60]!r}", st.line))
    else:
        out.problems.append(Problem(ProblemKind.SYNTAX, f"syntax error ({st.error})", st.line))
    if value is None or name is None:
        return
    if name == "graph":
        if "graph" not in out.fields:
            out.fields["graph"] = (value, st.line)
            _graph_string(value, st.line, out, terminated=terminated or not cut)
    elif terminated:  # a cut-off belief/stance is not trusted
        out.set_field(name, value, st.line)


# --- turning what was read into a graph ----------------------------------------------------


def _finish(found: _Collected, query: Graph | None) -> ParseResult:
    """Merge what was read with the query, run the graph-wide checks, build the result."""
    if query is not None and not isinstance(query, ExplaGraph):
        raise TypeError(f"An ExplaGraphs format needs an ExplaGraph query, not {type(query).__name__}.")
    problems = list(found.problems)
    values: dict[str, str] = {}
    for name in ("belief", "argument", "stance"):
        written = found.fields.get(name)
        given = getattr(query, name) if query is not None else None
        value = written[0].strip() if written else None
        if written and value is not None and name == "stance":
            value = value.lower()
            if value not in STANCES:
                problems.append(
                    Problem(ProblemKind.BAD_VALUE, f"the stance {written[0]!r} is not support or counter", written[1])
                )
                given = None  # already reported; not also a mismatch
        if written and value is not None and given is not None and value != given:
            problems.append(
                Problem(
                    ProblemKind.MISMATCH, f"the output's {name} {value!r} differs from the input {given!r}", written[1]
                )
            )
        if name == "stance":
            values[name] = value if value is not None else (given or "")  # the stance written wins
        else:
            values[name] = given if given is not None else (value or "")
        if not values[name]:
            problems.append(Problem(ProblemKind.MISSING_STEP, f"no {name} was given or written"))

    triples: list[Triple] = []
    seen: set[Triple] = set()
    for t, line in found.triples:
        if t in seen:
            problems.append(Problem(ProblemKind.DUPLICATE, f"the triple ({'; '.join(t)}) is written twice", line))
            continue
        seen.add(t)
        triples.append(t)
        if t[1] not in _RELATION_SET:
            problems.append(
                Problem(ProblemKind.BAD_RELATION, f"{t[1]!r} in ({'; '.join(t)}) is not an ExplaGraphs relation", line)
            )
    if not triples:
        problems.append(Problem(ProblemKind.EMPTY, "no (concept; relation; concept) triple was found"))
        return ParseResult(None, tuple(problems))
    problems.extend(structure_problems(triples))
    graph = ExplaGraph(values["belief"], values["argument"], values["stance"], tuple(triples))
    return ParseResult(graph, tuple(problems))


def _check_graph(graph: Graph) -> ExplaGraph:
    if not isinstance(graph, ExplaGraph):
        raise TypeError(f"An ExplaGraphs format renders an ExplaGraph, not {type(graph).__name__}.")
    return graph


def _code_header(g: ExplaGraph) -> str:
    return (
        "class ExplaGraph:\n"
        "    def __init__(self):\n"
        f"        self.belief = {_py_str(g.belief)}\n"
        f"        self.argument = {_py_str(g.argument)}\n"
        f"        self.stance = {_py_str(g.stance)}\n"
    )


class CodeFormat:
    """The paper's format: ``self.graph = "(c1; rel; c2)(...)"`` inside ``class ExplaGraph``.

    :meth:`render_query` reproduces CoCoGen's ``input_prompt_code`` and :meth:`render` its
    ``reference_code`` byte for byte (the stance written is ``graph.stance``).

    Examples
    --------
    >>> g = ExplaGraph("Zoos should be closed.", "Zoos save species.", "counter",
    ...                (("zoos", "capable of", "save species"), ("save species", "not desires", "closed")))
    >>> print(CodeFormat().render(g), end="")
    class ExplaGraph:
        def __init__(self):
            self.belief = "Zoos should be closed."
            self.argument = "Zoos save species."
            self.stance = "counter"
            self.graph = "(zoos; capable of; save species)(save species; not desires; closed)"
    <BLANKLINE>
    >>> CodeFormat().parse('        self.graph = "(zoos; capable of; save species)(save', g).graph.triples
    (('zoos', 'capable of', 'save species'),)
    """

    name: ClassVar[str] = "code"
    kind: ClassVar[Literal["code", "text"]] = "code"
    description: ClassVar[str] = (
        'The CoCoGen paper\'s Python class: __init__ sets belief, argument, stance and self.graph = "(c1; rel; c2)(...)".'
    )
    separator: ClassVar[str] = CODE_SEPARATOR

    def render(self, graph: Graph) -> str:
        g = _check_graph(graph)
        return self.render_query(g) + f"        self.graph = {_py_str(format_triples(g.triples))}\n\n"

    def render_query(self, graph: Graph) -> str:
        return _code_header(_check_graph(graph))

    def parse(self, text: str, query: Graph | None = None) -> ParseResult:
        """Read a full class or the continuation after ``self.stance``; see :func:`parse_triples` for the graph."""
        return _finish(_read_code(text), query)

    def stop(self) -> list[str]:
        return [self.separator, "\nclass "]


class AddEdgeFormat(CodeFormat):
    """Networkx-style code: ``self.graph = nx.DiGraph()`` then one ``add_edge`` call per triple.

    The query ends with the ``nx.DiGraph()`` line, so the model writes only edges.  The
    parser also accepts ``add_edge("c1", "rel", "c2")`` and the ``code`` format's string.

    Examples
    --------
    >>> g = ExplaGraph("Zoos should be closed.", "Zoos save species.", "counter", (("zoos", "capable of", "save species"),))
    >>> print(AddEdgeFormat().render(g).rstrip().splitlines()[-1])
            self.graph.add_edge("zoos", "save species", relation="capable of")
    """

    name: ClassVar[str] = "add_edge"
    description: ClassVar[str] = (
        "The same Python class, but the graph is built with networkx calls: "
        'self.graph.add_edge("c1", "c2", relation="rel"), one line per triple.'
    )

    def render(self, graph: Graph) -> str:
        g = _check_graph(graph)
        format_triples(g.triples)  # the same constraints on concepts as the other formats
        edges = "".join(
            f"        self.graph.add_edge({_py_str(h)}, {_py_str(t)}, relation={_py_str(r)})\n" for h, r, t in g.triples
        )
        return self.render_query(g) + edges + "\n"

    def render_query(self, graph: Graph) -> str:
        return _code_header(_check_graph(graph)) + "        self.graph = nx.DiGraph()\n"


# --- the text baseline -------------------------------------------------------------------

_TEXT_KEY = re.compile(r"^\s*(belief|argument|stance|graph)\s*:\s?(.*)$", re.I)


def _read_text(text: str) -> _Collected:
    out = _Collected()
    clean = prepare_output(text, CODE_SEPARATOR)
    out.problems.extend(clean.problems)
    lines = clean.lines
    first_key = next((k for k, ln in enumerate(lines) if _TEXT_KEY.match(ln)), len(lines))
    has_graph_key = any((m := _TEXT_KEY.match(ln)) and m.group(1).lower() == "graph" for ln in lines)
    graph_parts: list[str] = []
    graph_line: int | None = None
    lead = [k for k in range(first_key) if lines[k].strip()]
    if lead and not has_graph_key and any("(" in lines[k] for k in lead):
        # The continuation of a query that ends with "graph:" (a preamble has no brackets).
        start = next(k for k in lead if "(" in lines[k])
        if any(lines[k].strip() for k in range(start)):
            out.problems.append(Problem(ProblemKind.EXTRA, "text before the graph was ignored", clean.line_offset + 1))
        graph_line = clean.line_offset + start + 1
        graph_parts = [lines[start].strip()]
        for k in range(start + 1, first_key):
            if lines[k].strip().startswith("(") and len(graph_parts) == k - start:
                graph_parts.append(lines[k].strip())  # a graph wrapped over lines
            elif lines[k].strip():
                out.problems.append(
                    Problem(ProblemKind.EXTRA, f"ignored line {lines[k].strip()[:60]!r}", clean.line_offset + k + 1)
                )
    elif lead:
        out.problems.append(Problem(ProblemKind.EXTRA, "text before the fields was ignored", clean.line_offset + 1))
    k = first_key
    in_graph = False
    while k < len(lines):
        ln, lineno = lines[k], clean.line_offset + k + 1
        m = _TEXT_KEY.match(ln)
        if m:
            key, value = m.group(1).lower(), m.group(2).strip()
            in_graph = key == "graph"
            if in_graph:
                if graph_line is not None:
                    out.problems.append(Problem(ProblemKind.EXTRA, "a second graph was ignored", lineno))
                    break
                graph_line, graph_parts = lineno, [value]
            else:
                if graph_line is not None:  # a new example began after the graph
                    out.problems.append(
                        Problem(ProblemKind.EXTRA, "a second example after the graph was ignored", lineno)
                    )
                    break
                out.set_field(key, value, lineno)
        elif ln.strip():
            if in_graph and ln.strip().startswith("("):
                graph_parts.append(ln.strip())  # a graph wrapped over lines
            else:
                in_graph = False
                out.problems.append(Problem(ProblemKind.EXTRA, f"ignored line {ln.strip()[:60]!r}", lineno))
        k += 1
    if graph_line is not None:
        value = "".join(graph_parts)
        out.fields["graph"] = (value, graph_line)
        _graph_string(value, graph_line, out, terminated=True)
    elif lines and not clean.text.endswith("\n") and first_key < len(lines):
        out.truncated("the output stops before the graph", clean.line_offset + len(lines))
    return out


class TextFormat:
    """The flattened-text baseline: one ``key: value`` line per field, the graph as ``(c1; rel; c2)...``.

    Fields must be single lines without surrounding whitespace (what
    :meth:`ExplaGraphsTask.from_input` produces); :meth:`render` raises :class:`ValueError`
    otherwise, since such text could not be read back unchanged.

    Examples
    --------
    >>> g = ExplaGraph("Zoos should be closed.", "Zoos save species.", "counter", (("zoos", "capable of", "save species"),))
    >>> print(TextFormat().render(g), end="")
    belief: Zoos should be closed.
    argument: Zoos save species.
    stance: counter
    graph: (zoos; capable of; save species)
    >>> TextFormat().parse(" (zoos; capable of; save species)(save species; not", g).graph.triples
    (('zoos', 'capable of', 'save species'),)
    """

    name: ClassVar[str] = "text"
    kind: ClassVar[Literal["code", "text"]] = "text"
    description: ClassVar[str] = (
        "Flattened text, as the paper's text baseline: belief:, argument:, stance: and graph: (c1; rel; c2)(...) lines."
    )
    separator: ClassVar[str] = CODE_SEPARATOR

    def render(self, graph: Graph) -> str:
        g = _check_graph(graph)
        return self.render_query(g) + f" {format_triples(g.triples)}\n"

    def render_query(self, graph: Graph) -> str:
        g = _check_graph(graph)
        for name in ("belief", "argument", "stance"):
            v = getattr(g, name)
            if v != v.strip() or any(c in v for c in "\n\r") or any(c in _LINE_BREAKS for c in v):
                raise ValueError(f"The {name} must be one line without surrounding spaces for the text format.")
        return f"belief: {g.belief}\nargument: {g.argument}\nstance: {g.stance}\ngraph:"

    def parse(self, text: str, query: Graph | None = None) -> ParseResult:
        """Read full ``key: value`` text, or the continuation after ``graph:``."""
        return _finish(_read_text(text), query)

    def stop(self) -> list[str]:
        return [self.separator, "\nbelief:"]


# --- data -------------------------------------------------------------------------------


def _graph_from_row(belief: str, argument: str, stance: str, graph: str, path: Path, line: int) -> ExplaGraph:
    if not belief.strip() or not argument.strip():
        raise DataError("the belief or the argument is empty", path=str(path), line=line)
    if stance not in STANCES:
        raise DataError(f"the stance {stance!r} is not support or counter", path=str(path), line=line)
    triples, problems = parse_triples(graph)
    if problems:
        raise DataError(f"malformed graph: {problems[0].message}", path=str(path), line=line)
    return ExplaGraph(belief, argument, stance, triples)


def _missing(path: Path) -> DataError:
    return DataError(
        "the file does not exist",
        path=str(path),
        hint="Run `cocogen data download`, or set COCOGEN_DATA_DIR to the folder that holds the datasets.",
    )


def _read_tsv(path: Path, split: str) -> list[Example]:
    """ExplaGraphs rows: belief, argument, stance, graph (tab-separated, no header, no quoting)."""
    out: list[Example] = []
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            try:
                for row in reader:
                    line = reader.line_num
                    if not row or not "".join(row).strip():
                        continue
                    if len(row) != 4:
                        raise DataError(
                            f"expected 4 tab-separated columns (belief, argument, stance, graph), found {len(row)}",
                            path=str(path),
                            line=line,
                        )
                    g = _graph_from_row(*row, path=path, line=line)
                    out.append(
                        Example(
                            example_id(g.belief, g.argument), g, {"split": split, "line": line, "gold_stance": g.stance}
                        )
                    )
            except UnicodeDecodeError:
                raise DataError("the file is not UTF-8 text", path=str(path), line=reader.line_num + 1) from None
    except FileNotFoundError:
        raise _missing(path) from None
    except OSError as e:
        raise DataError(f"cannot be read ({e.strerror})", path=str(path)) from None
    return out


def _read_cocogen_jsonl(path: Path, split: str) -> list[Example]:
    """CoCoGen's converted dev set: the prompt stance in the graph, the gold one in ``meta``."""
    out: list[Example] = []
    for line, obj in read_jsonl(path, missing_hint=_missing(path).hint):
        try:
            belief, argument, graph = obj["belief"], obj["argument"], obj["graph"]
            stance, gold = obj["stance"], obj.get("orig_stance", obj["stance"])
        except KeyError as e:
            raise DataError(f"the record has no {e.args[0]!r} field", path=str(path), line=line) from None
        if not all(isinstance(v, str) for v in (belief, argument, graph, stance, gold)):
            raise DataError("belief, argument, stance and graph must be strings", path=str(path), line=line)
        g = _graph_from_row(belief, argument, stance, graph, path, line)
        if gold not in STANCES:
            raise DataError(f"the gold stance {gold!r} is not support or counter", path=str(path), line=line)
        meta: dict[str, Any] = {"split": split, "line": line, "gold_stance": gold, "prompt_stance": stance}
        try:
            meta["codex_completion"] = obj["codex_response"]["choices"][0]["text"]
        except (KeyError, IndexError, TypeError):
            pass
        out.append(Example(example_id(belief, argument), g, meta))
    return out


def _unique(examples: list[Example], path: Path) -> list[Example]:
    first: dict[str, int] = {}
    for ex in examples:
        if ex.id in first:
            raise DataError(
                f"the same belief and argument appear again (first on line {first[ex.id]})",
                path=str(path),
                line=ex.meta.get("line"),
            )
        first[ex.id] = ex.meta.get("line", 0)
    return examples


_SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("explagraphs", "train.tsv"),
    "dev": ("explagraphs", "dev.tsv"),
    "cocogen-dev": ("cocogen", "data", "explagraphs", "dev.jsonl"),
}


def _fewshot_graph(d: Any, path: Path, line: int) -> ExplaGraph:
    try:
        g = ExplaGraph.from_dict(d)
        ok = (
            all(isinstance(v, str) and v for v in (g.belief, g.argument))
            and g.stance in STANCES
            and bool(g.triples)
            and all(len(t) == 3 for t in g.triples)
        )
        if ok:
            format_triples(g.triples)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise DataError(f"not an ExplaGraph ({e})", path=str(path), line=line) from None
    if not ok:
        raise DataError(
            "the graph needs a belief, an argument, a support/counter stance and triples of 3 strings",
            path=str(path),
            line=line,
        )
    return g


def _sentence_field(name: str, help: str) -> InputField:
    return InputField(name, "str", help, max_chars=MAX_INPUT_CHARS)


class ExplaGraphsTask(TaskBase):
    """The ExplaGraphs task plug-in (registered as ``"explagraphs"``).

    Examples
    --------
    >>> task = ExplaGraphsTask()
    >>> q = task.from_input({"belief": "Zoos should be closed.", "argument": "Zoos save species.", "stance": "Counter"})
    >>> q.stance, q.triples
    ('counter', ())
    >>> list(task.formats)
    ['code', 'add_edge', 'text']
    """

    name: ClassVar[str] = "explagraphs"
    # Two examples, not eight: with the offline model, constrained, code, concept F1 43.2 against
    # 35.3 on the quality benchmark's 50 rows (text: 39.0 against 39.4); docs/benchmarks.md.
    default_k: ClassVar[int] = 2
    title: ClassVar[str] = "ExplaGraphs"
    description: ClassVar[str] = (
        "Explain why an argument supports or counters a belief with a graph of "
        "(concept; relation; concept) triples over 28 commonsense relations."
    )
    input_fields: ClassVar[tuple[InputField, ...]] = (
        _sentence_field("belief", "The belief (one sentence)."),
        _sentence_field("argument", "An argument for or against the belief (one sentence)."),
        InputField("stance", "choice", "Whether the argument supports or counters the belief.", STANCES),
    )
    splits: ClassVar[tuple[str, ...]] = tuple(_SPLIT_FILES)
    graph_type: ClassVar[type] = ExplaGraph
    sample_input: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "belief": "Cities should ban cars from their centres.",
            "argument": "Car-free streets make walking and cycling safer.",
            "stance": "support",
        }
    )
    recorded_outputs: ClassVar[str | None] = "cocogen/outputs/explagraphs/dev_output.jsonl"

    def __init__(self) -> None:
        self._formats: Mapping[str, Format] = MappingProxyType(
            {f.name: f for f in (CodeFormat(), AddEdgeFormat(), TextFormat())}
        )

    @property
    def formats(self) -> Mapping[str, Format]:
        return self._formats

    def from_input(self, fields: Mapping[str, Any]) -> ExplaGraph:
        """A query graph from ``{"belief", "argument", "stance"}``.

        Text is stripped and line breaks or tabs become single spaces; the stance is
        case-insensitive.  Raises :class:`InputError` for a missing or empty field, text over
        :data:`MAX_INPUT_CHARS` characters, an unknown field or another stance.
        """
        v = validate_input(fields, self.input_fields, self.name)
        return ExplaGraph(v["belief"], v["argument"], v["stance"])

    def to_input(self, graph: Graph) -> dict[str, Any]:
        g = _check_graph(graph)
        return {"belief": g.belief, "argument": g.argument, "stance": g.stance}

    def query_of(self, graph: Graph) -> ExplaGraph:
        return replace(_check_graph(graph), triples=())

    def load(self, split: str, data_dir: Path | None = None) -> list[Example]:
        """Rows of ``split``: ``train`` and ``dev`` (ExplaGraphs TSVs) or ``cocogen-dev`` (CoCoGen's 396 dev rows)."""
        if split not in _SPLIT_FILES:
            raise ConfigError(f"ExplaGraphs has no split {split!r}.", hint=f"Choose one of: {', '.join(self.splits)}.")
        path = Path(data_dir or settings.data_dir()).joinpath(*_SPLIT_FILES[split])
        rows = _read_cocogen_jsonl(path, split) if path.suffix == ".jsonl" else _read_tsv(path, split)
        return _unique(rows, path)

    def fewshot(self) -> list[Example]:
        """Our own examples, ``assets/fewshot/explagraphs.jsonl``: ``{"id", "graph": ExplaGraph.to_dict()}`` lines."""
        return read_fewshot(self, _fewshot_graph)

    # ------------------------------------------------------------------ evaluation
    def metric(self, options: MetricOptions | None = None) -> TaskMetric:
        from cocogen.metrics.explagraphs import ExplaGraphsMetric

        return ExplaGraphsMetric(self.name, options)

    def labels(self, query: Graph | None, reference: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
        """The stance written in the prompt (the query's) and the dataset's label (``meta["gold_stance"]``)."""
        prompt = query.stance if isinstance(query, ExplaGraph) and query.stance else None
        if prompt is None:
            prompt = meta.get("prompt_stance") or (reference.stance if isinstance(reference, ExplaGraph) else None)
        return {"prompt": prompt, "gold": meta.get("gold_stance") or None}

    def recognizes(self, record: Mapping[str, Any]) -> bool:
        return {"belief", "argument"} <= record.keys()

    def read_recorded(self, record: Mapping[str, Any], *, path: Path, line: int, index: int) -> Reference:
        """CoCoGen's release rows: belief, argument, the prompt's ``stance``, ``orig_stance`` and ``graph``."""
        for key in ("belief", "argument", "stance", "graph"):
            if key not in record:
                raise DataError(f"the record has no {key!r} field", path=str(path), line=line)
            if not isinstance(record[key], str):
                raise DataError(f"the field {key!r} must be text", path=str(path), line=line)
        if not isinstance(record.get("orig_stance") or "", str):
            raise DataError("the field 'orig_stance' must be text", path=str(path), line=line)
        belief, argument, stance = record["belief"], record["argument"], record["stance"]
        gold = record.get("orig_stance")
        triples, problems = parse_triples(record["graph"])
        if problems:
            raise DataError(f"malformed reference graph: {problems[0].message}", path=str(path), line=line)
        meta = {"prompt_stance": stance, "gold_stance": str(gold) if gold else None}
        reference = ExplaGraph(belief, argument, str(gold) if gold else stance, triples)
        return Reference(example_id(belief, argument), ExplaGraph(belief, argument, stance), reference, meta)

    # ------------------------------------------------------------------ display and decoding
    def view(self, graph: Graph) -> Any:
        from cocogen.diff import explagraph_view

        return explagraph_view(_check_graph(graph))

    def diff(self, prediction: Graph | None, reference: Graph) -> Any:
        from cocogen.diff import diff_explagraphs

        return diff_explagraphs(prediction, _check_graph(reference))

    def plan_constrained(self, decoder: Any, fmt: Format, query: Graph, limits: Any) -> Graph:
        from cocogen.constrained import plan_explagraph

        return plan_explagraph(decoder, fmt, _check_graph(query), limits)

    def grammar(self, format_name: str, query: Graph) -> str | None:
        from cocogen.grammar import explagraph_grammar
        from cocogen.tasks.base import get_format

        return explagraph_grammar(get_format(self, format_name), _check_graph(query), RELATIONS)

    def grammar_retry(self, format_name: str, query: Graph, completion: str) -> Retry | None:
        from cocogen.grammar import explagraph_retry
        from cocogen.tasks.base import get_format

        return explagraph_retry(get_format(self, format_name), _check_graph(query), completion, RELATIONS)

    def free_values(self, graph: Graph) -> list[str]:
        return [c for h, _, t in _check_graph(graph).triples for c in (h, t)]

    def subject(self, graph: Graph) -> str:
        g = _check_graph(graph)
        return f"{g.belief} {g.argument}"

    def element_keys(self, graph: Graph) -> list[str]:
        """``head; relation; tail`` for each triple."""
        return [_triple_key(t) for t in _check_graph(graph).triples]

    def element_variant(self, graph: Graph, key: str) -> Graph | None:
        g = _check_graph(graph)
        kept = tuple(t for t in g.triples if _triple_key(t) != key)
        return replace(g, triples=kept) if len(kept) < len(g.triples) else None

    def element_matches(self, prediction: Graph, reference: Graph) -> dict[str, bool]:
        """A triple is in the reference when the reference has it, concepts compared by normalised text."""
        from cocogen.merge import norm_text

        have = {(norm_text(h), r, norm_text(t)) for h, r, t in _check_graph(reference).triples}
        return {
            _triple_key((h, r, t)): (norm_text(h), r, norm_text(t)) in have
            for h, r, t in _check_graph(prediction).triples
        }

    def merge(self, query: Graph, graphs: Sequence[Graph]) -> tuple[Graph, dict[str, float]]:
        """Concepts matched by normalised text; triples kept by vote share; a cycle loses its least-voted pair.

        When fewer than three triples have half of the votes, the merged graph is the sample
        whose triples the samples share most (each triple's agreement is still its vote share).
        """
        from cocogen.merge import DEFAULT_MIN_SHARE, kept_by_votes, norm_text

        samples = [_check_graph(g) for g in graphs]
        n = len(samples)
        if n == 0:
            raise InputError("A merge needs at least one sample.")
        surface: dict[str, str] = {}  # normalised concept -> its first written form
        votes: dict[tuple[str, str, str], int] = {}
        for g in samples:
            mine = dict.fromkeys((norm_text(h), r, norm_text(t)) for h, r, t in g.triples)
            for h, _, t in g.triples:
                surface.setdefault(norm_text(h), " ".join(h.split()))
                surface.setdefault(norm_text(t), " ".join(t.split()))
            for key in mine:
                votes[key] = votes.get(key, 0) + 1
        kept = [k for k, v in votes.items() if v / n >= DEFAULT_MIN_SHARE]
        if len(kept) < _MIN_MERGED_TRIPLES:
            # Concepts are free text and rarely repeat word for word across samples: where
            # no graph reaches half of the votes, the merge is the sample the others agree
            # with most (its triples' votes summed), not an empty graph.
            def support(g: ExplaGraph) -> int:
                return sum(votes[k] for k in dict.fromkeys((norm_text(h), r, norm_text(t)) for h, r, t in g.triples))

            best = max(samples, key=support)
            kept = list(dict.fromkeys((norm_text(h), r, norm_text(t)) for h, r, t in best.triples))
        pair_votes: dict[tuple[str, str], int] = {}
        for h, r, t in kept:
            pair_votes[(h, t)] = max(pair_votes.get((h, t), 0), votes[(h, r, t)])
        pairs = set(kept_by_votes(pair_votes, n, 0.0))
        triples: list[tuple[str, str, str]] = []
        agreement: dict[str, float] = {}
        for h, r, t in kept:
            if (h, t) in pairs:
                triples.append((surface[h], r, surface[t]))
                agreement[_triple_key(triples[-1])] = votes[(h, r, t)] / n
        return replace(_check_graph(query), triples=tuple(triples)), agreement


# ExplaGraphs graphs have 3 to 8 triples; a vote that keeps fewer falls back to the most agreed-with sample.
_MIN_MERGED_TRIPLES = 3


def _triple_key(triple: tuple[str, str, str]) -> str:
    return "; ".join(triple)


TASK = ExplaGraphsTask()
