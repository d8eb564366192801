"""ProPara entity state tracking: where is each participant before and after every step?

The data model is :class:`~cocogen.types.StateTable`: ``states[p][t]`` is participant
``p``'s location at time ``t`` (``t = 0`` is before the first sentence, the "Init" row),
:data:`~cocogen.types.ABSENT` (``-``) when it does not exist, :data:`~cocogen.types.UNKNOWN`
(``?``) when it exists somewhere unknown.

Two formats, both written exactly as CoCoGen wrote them so recorded prompts and
completions can be reused byte for byte:

``code`` (default)
    A ``def main():`` whose comments list "Init", the sentences and one
    ``state_i tracks the location/state of <participant>`` line per participant, then
    ``def init():`` and one nested function per sentence assigning every ``state_i`` a
    location string, ``None`` (absent) or ``"UNK"`` (unknown).  Function names are the
    sentence lower-cased with ``.`` and ``,`` removed and the articles *a*, *an*, *the*
    dropped, joined by ``_`` (:func:`function_name`); like CoCoGen we keep any other
    punctuation, so a name is not always a Python identifier (``def nitrogen_re-enters_soil():``)
    and the parser reads the text line by line instead of with :func:`ast.parse`.
``text``
    The paper's natural-language baseline: a "Document" of ``step i:`` lines, a list of
    participants and, per step, ``Question i: after step i (...) is executed where are
    the participants?`` answered by ``X does not exist`` / ``X is located at unknown
    place`` / ``X is located at L`` lines.

Parsing never executes model text, and returns a :class:`~cocogen.types.ParseResult` for
any text (never raises).  It reads at most :data:`~cocogen.parsing.MAX_OUTPUT_CHARS`
(256 Ki) characters (the rest is an ``EXTRA`` problem) in time linear in what it reads.
A table built from what the output declares (no query) has at most 400 steps and 200
participants (ten times the input limits); larger ``state_i``, ``step i``, ``participant i``
or ``Question i`` numbers (or any of more than six digits) are reported and ignored, so
memory stays under 10 MB for any text (``bench/bench_fuzz.py``).

A cell the output does not fill is :data:`MISSING`
(an empty string, never a valid location) and is reported as a
:attr:`~cocogen.types.ProblemKind.MISSING_STEP` problem; metrics count it as wrong.

Known, paper-faithful losses (none occurs in the ProPara data): the code format
lower-cases participant names in its comments (parse with ``query`` to keep the original
case); the location strings ``"UNK"`` (code) and ``"unknown place"`` (text) read back as
unknown.  In the text format a cut inside the very last answer cannot be seen
(``steam is located at a``); a cut answer with more answers still due is dropped.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from cocogen import settings
from cocogen.errors import ConfigError, DataError, InputError
from cocogen.jsonl import read_jsonl
from cocogen.parsing import header_tail_at, prepare_output, read_literal
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
from cocogen.types import ABSENT, UNKNOWN, Example, Graph, ParseResult, Problem, ProblemKind, StateTable

if TYPE_CHECKING:
    from cocogen.metrics.base import MetricOptions, TaskMetric

__all__ = [
    "MISSING",
    "MAX_SENTENCES",
    "MAX_PARTICIPANTS",
    "MAX_INPUT_CHARS",
    "function_name",
    "ProParaCode",
    "ProParaText",
    "ProParaTask",
    "TASK",
]

MISSING = ""  # a cell the model output did not fill; never a real location (metrics: wrong)
MAX_SENTENCES = 40
MAX_PARTICIPANTS = 20
MAX_INPUT_CHARS = 2000  # sentences and participant names together; the largest ProPara paragraph has ~1000

_SIMILAR = 0.8  # difflib ratio above which a function name or question still names its step
# difflib's ratio is quadratic in the names' length: longer ones (no real step is close to
# this: inputs are capped at MAX_INPUT_CHARS in all) must match exactly.
_SIMILAR_MAX_CHARS = 1000
# The largest table a parser builds from what an output declares (without a query, or
# past its size): ten times the input limits.  Larger state, step or question numbers are
# reported and ignored, so a few bytes ("state_99999999 = ...") cannot size a huge table.
_MAX_OUTPUT_STEPS = 10 * MAX_SENTENCES
_MAX_OUTPUT_PARTICIPANTS = 10 * MAX_PARTICIPANTS
_MAX_DIGITS = 6  # int() of longer digit strings is never needed (and over 4,300 digits it raises)
_PAST_LIMITS = 10**_MAX_DIGITS  # what a number of more digits reads as
_ARTICLES = frozenset({"the", "a", "an"})
_QUESTION_PREFIX = "the location/state of "
_UNK = "UNK"  # how the code format writes UNKNOWN
_TEXT_ABSENT = "does not exist"
_TEXT_UNKNOWN = "is located at unknown place"
_TEXT_AT = "is located at "


def function_name(sentence: str) -> str:
    """The step function name CoCoGen derives from a sentence.

    Lower-case, remove ``.`` and ``,``, drop the articles *a*, *an*, *the*, join words with
    ``_``.  Other punctuation stays, exactly as in the released prompts.

    Examples
    --------
    >>> function_name("The energy is released from the battery as electrical current.")
    'energy_is_released_from_battery_as_electrical_current'
    >>> function_name("Warm, moist air moves from south to north.")
    'warm_moist_air_moves_from_south_to_north'
    >>> function_name("Nitrogen re-enters the soil.")
    'nitrogen_re-enters_soil'
    """
    words = sentence.replace(".", "").replace(",", "").lower().split()
    return "_".join(w for w in words if w not in _ARTICLES)


def _one_line(s: str) -> str:
    # CoCoGen's list_to_str: a newline inside a field would break the line-based layout.
    return s.replace("\n", " ")


def _loose(s: str) -> str:
    """Compare names ignoring case, punctuation and spacing (``gas-based`` == ``gas_based``)."""
    return re.sub(r"[^0-9a-z]+", "", s.lower())


def _similar(a: str, b: str) -> bool:
    """Names that differ by a typo or a dropped word still count as the same step."""
    ka, kb = _loose(a), _loose(b)
    if ka == kb:
        return True
    if max(len(ka), len(kb)) > _SIMILAR_MAX_CHARS:
        return False
    matcher = difflib.SequenceMatcher(None, ka, kb, autojunk=False)
    # The cheap upper bounds first: the same answer, without the quadratic work when they say no.
    return matcher.real_quick_ratio() >= _SIMILAR and matcher.quick_ratio() >= _SIMILAR and matcher.ratio() >= _SIMILAR


def _number(digits: str) -> int:
    """A step, state or question number as written; one of more than six digits is past every limit."""
    return int(digits) if len(digits) <= _MAX_DIGITS else _PAST_LIMITS


def _shown(digits: str) -> str:
    """A number for a message: as read, shortened when it is long."""
    return str(int(digits)) if len(digits) <= _MAX_DIGITS else digits[:_MAX_DIGITS] + "…"


def _check_shape(t: StateTable) -> None:
    if not t.states:
        return
    n = len(t.sentences) + 1
    if len(t.states) != len(t.participants) or any(len(row) != n for row in t.states):
        raise ValueError(
            f"a state table needs {len(t.participants)} rows of {n} states (one per participant, Init and each sentence)"
        )


def _as_table(graph: Graph | None) -> StateTable:
    if not isinstance(graph, StateTable):
        raise TypeError(f"ProPara formats render a StateTable, not {type(graph).__name__}")
    return graph


def _range_text(ts: list[int]) -> str:
    return f"step {ts[0]}" if len(ts) == 1 else f"steps {ts[0]}-{ts[-1]}"


def _contiguous(ts: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for t in ts:
        if runs and runs[-1][-1] == t - 1:
            runs[-1].append(t)
        else:
            runs.append([t])
    return runs


@dataclass
class _Cells:
    """Collects cell values by (participant, time) and the problems found on the way."""

    problems: list[Problem] = field(default_factory=list)
    cells: dict[tuple[int, int], str] = field(default_factory=dict)
    origin: dict[tuple[int, int], int] = field(default_factory=dict)  # line each cell was read from
    ignored: list[int] = field(default_factory=list)  # lines outside the format

    def add(self, kind: ProblemKind, message: str, line: int | None = None) -> None:
        self.problems.append(Problem(kind, message, line))

    def note_ignored(self) -> None:
        if self.ignored:
            n = len(self.ignored)
            self.add(
                ProblemKind.EXTRA,
                f"{n} line{'s' if n > 1 else ''} outside the expected format {'were' if n > 1 else 'was'} ignored",
                self.ignored[0],
            )

    def table(
        self, sentences: Sequence[str], participants: Sequence[str], present: Mapping[int, tuple[str, int]]
    ) -> StateTable | None:
        """Fill the table; report missing steps (``present``: time -> (label, line)) and cells."""
        n = len(sentences)
        if not self.cells:
            self.add(ProblemKind.EMPTY, "no state could be read from the output")
            return None
        absent = [t for t in range(n + 1) if t not in present]
        for run in _contiguous(absent):
            what = "Init" if run == [0] else _range_text(run)
            self.add(ProblemKind.MISSING_STEP, f"{what}: no states were written")
        for t in sorted(present):
            missing = [p for p in range(len(participants)) if (p, t) not in self.cells]
            if missing:
                label, line = present[t]
                names = ", ".join(repr(participants[p]) for p in missing)
                self.add(ProblemKind.MISSING_STEP, f"{label} gives no state for {names}", line)
        states = tuple(tuple(self.cells.get((p, t), MISSING) for t in range(n + 1)) for p in range(len(participants)))
        return StateTable(tuple(sentences), tuple(participants), states)


def _note_cut(cells: _Cells, cut: bool, size: int, line: int) -> None:
    """An output that ends mid-line with cells still unfilled was cut off (e.g. by max_tokens)."""
    if cut and len(cells.cells) < size and not any(p.kind is ProblemKind.TRUNCATED for p in cells.problems):
        cells.add(ProblemKind.TRUNCATED, "the output ends mid-line before every state was written", line)


def _at_most_steps(sentences: list[str], cells: _Cells) -> list[str]:
    """The first :data:`_MAX_OUTPUT_STEPS` sentences read from an output, the rest reported."""
    if len(sentences) <= _MAX_OUTPUT_STEPS:
        return sentences
    cells.add(
        ProblemKind.EXTRA,
        f"the output describes {len(sentences)} steps; only the first {_MAX_OUTPUT_STEPS} were read",
    )
    return sentences[:_MAX_OUTPUT_STEPS]


def _compare_header(
    found_sentences: list[str] | None,
    found_participants: dict[int, str],
    query: StateTable,
    cells: _Cells,
    lower: bool,
) -> None:
    """Report where a header written in the output disagrees with the query."""
    if found_sentences is not None and [" ".join(s.split()) for s in found_sentences] != [
        " ".join(_one_line(s).split()) for s in query.sentences
    ]:
        cells.add(ProblemKind.MISMATCH, "the sentences in the output differ from the input; the input's were used")
    extra = sorted(i for i in found_participants if i >= len(query.participants))
    if extra:
        names = ", ".join(f"{i} ({found_participants[i]!r})" for i in extra)
        cells.add(ProblemKind.MISMATCH, f"the output adds participants the input does not have: {names}")
    for i, name in sorted(found_participants.items()):
        if i < len(query.participants):
            want = _one_line(query.participants[i])
            if (name.lower() != want.lower()) if lower else (name != want):
                cells.add(
                    ProblemKind.MISMATCH,
                    f"participant {i} is {name!r} in the output but {query.participants[i]!r} in the input",
                )


# --------------------------------------------------------------------------- code format

_CODE_START = re.compile(r"^\s*(def\s|#|state_\d)")
_MAIN = re.compile(r"^def\s+main\s*\(\s*\)\s*:\s*(#.*)?$")
_DEF_HEAD = re.compile(r"(?P<indent>\s*)def\s+")
_EMPTY_PARENS = re.compile(r"\(\s*\)")
_DEF_START = re.compile(r"^\s*def\b")
_ASSIGN = re.compile(r"^\s*state_(?P<idx>\d+)\s*=(?!=)(?P<rhs>.*)$")
_STATE_LIKE = re.compile(r"^\s*state_")
# "(?:.*\S)?" rather than a lazy ".*?" before "\s*$": the same text without its trailing
# spaces, but linear (a lazy group retries "\s*$" at every character of a run of spaces).
_TRACKS = re.compile(r"^\s*#\s*state_(?P<idx>\d+)\s+tracks\s+(?:the\s+location/state\s+of\s+)?(?P<name>(?:.*\S)?)\s*$")
_COMMENT = re.compile(r"^\s*#\s?(?P<text>(?:.*\S)?)\s*$")
_HARMLESS = re.compile(r"^\s*(pass|return\b.*|\.\.\.)\s*$")


def _def_header(line: str) -> tuple[str, str] | None:
    """``(indent, name)`` of a step function header ``def <name>():`` (the name may hold any punctuation).

    The regular expression ``^(\\s*)def\\s+(.*?)\\s*\\(\\s*\\)\\s*(?:->[^:]*)?:\\s*(?:#.*)?$``, matched in
    linear time: the name ends at the first ``()`` after which the line ends as a header does.

    Examples
    --------
    >>> _def_header("\\tdef nitrogen_re-enters_soil():")
    ('\\t', 'nitrogen_re-enters_soil')
    >>> _def_header("def f(x):") is None
    True
    """
    m = _DEF_HEAD.match(line)
    if m is None:
        return None
    opens: dict[int, int] = {}  # end of "()" -> where it starts
    for p in _EMPTY_PARENS.finditer(line, m.end()):
        opens[p.end()] = p.start()
    end = header_tail_at(line, opens)
    if end is None:
        return None
    return m["indent"], line[m.end() : opens[end]].rstrip()


@dataclass
class _Block:
    name: str
    line: int
    values: dict[int, tuple[str, int]] = field(default_factory=dict)


class ProParaCode:
    """CoCoGen's ``def main()`` representation with one nested function per step.

    Examples
    --------
    >>> t = StateTable(("Water boils.",), ("water", "steam"), (("pot", "-"), ("-", "air")))
    >>> print(ProParaCode().render(t).expandtabs(4), end="")  # the format indents with tabs
    def main():
        # Init
        # Water boils.
        # state_0 tracks the location/state of water
        # state_1 tracks the location/state of steam
        def init():
            state_0 = "pot"
            state_1 = None
        def water_boils():
            state_0 = None
            state_1 = "air"
    >>> ProParaCode().parse(ProParaCode().render(t)).graph == t
    True
    """

    name: ClassVar[str] = "code"
    kind: ClassVar[Literal["code", "text"]] = "code"
    description: ClassVar[str] = (
        "CoCoGen's Python: def main() with one nested function per step assigning state_i "
        '(a location string, None = does not exist, "UNK" = unknown).'
    )
    separator: ClassVar[str] = CODE_SEPARATOR

    # ------------------------------------------------------------------ render
    def render_query(self, graph: Graph) -> str:
        t = _as_table(graph)
        lines = ["def main():", "\t# Init"]
        lines += [f"\t# {_one_line(s)}" for s in t.sentences]
        # CoCoGen lower-cases the whole "state_i tracks the location/state of X" comment.
        lines += [
            f"\t# state_{i} tracks {_QUESTION_PREFIX}{_one_line(p)}".lower() for i, p in enumerate(t.participants)
        ]
        return "\n".join(lines) + "\n"

    def render(self, graph: Graph) -> str:
        t = _as_table(graph)
        _check_shape(t)
        out = [self.render_query(t)]
        if not t.states:
            return out[0]
        for step, sentence in enumerate(("Init", *t.sentences)):
            out.append(f"\tdef {function_name(_one_line(sentence))}():\n")
            for i, row in enumerate(t.states):
                if row[step] != MISSING:
                    out.append(f"\t\tstate_{i} = {self._value(row[step])}\n")
        return "".join(out)

    @staticmethod
    def _value(v: str) -> str:
        if v == ABSENT:
            return "None"
        if v == UNKNOWN:
            return f'"{_UNK}"'
        if any(c in v for c in '"\\\n\r'):
            # CoCoGen wrote f'"{v}"'; escape only where that would not be valid Python.
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'
        return f'"{v}"'

    def stop(self) -> list[str]:
        return [CODE_SEPARATOR, "\ndef main("]

    # ------------------------------------------------------------------- parse
    def parse(self, text: str, query: Graph | None = None) -> ParseResult:
        q = _as_table(query) if query is not None else None
        clean = prepare_output(text, self.separator, _CODE_START)
        if clean.is_empty:
            return clean.empty_result()
        cells = _Cells(list(clean.problems))
        lines = clean.lines
        last = max(i for i, ln in enumerate(lines) if ln.strip())
        cut = clean.ends_mid_line  # the output stops inside its last line, as one cut by max_tokens does
        limit = max(_MAX_OUTPUT_PARTICIPANTS, len(q.participants)) if q is not None else _MAX_OUTPUT_PARTICIPANTS

        header = False
        sentences: list[str] = []
        tracks: dict[int, str] = {}
        blocks: list[_Block] = []
        for i, raw in enumerate(lines):
            ln = clean.line_offset + i + 1
            if not raw.strip():
                continue
            is_last = i == last
            if _MAIN.match(raw):
                if blocks:
                    cells.add(ProblemKind.EXTRA, "a second def main() was ignored", ln)
                    break
                if header:
                    cells.add(ProblemKind.EXTRA, "a repeated def main() header was read once", ln)
                header, sentences, tracks = True, [], {}
                continue
            m = _TRACKS.match(raw)
            if m:
                if not blocks:
                    idx = _number(m["idx"])
                    if idx >= limit:
                        cells.add(
                            ProblemKind.BAD_VALUE, f"state_{_shown(m['idx'])} is not a plausible state; ignored", ln
                        )
                        continue
                    if idx in tracks:
                        cells.add(ProblemKind.DUPLICATE, f"state_{idx} is described twice", ln)
                    tracks[idx] = m["name"]
                continue
            m = _COMMENT.match(raw)
            if m:
                if header and not blocks and not tracks:
                    sentences.append(m["text"])
                continue
            d = _def_header(raw)
            if d and not (d[1] == "main" and not d[0]):
                blocks.append(_Block(d[1].strip(), ln))
                continue
            if _DEF_START.match(raw):
                if is_last:
                    cells.add(ProblemKind.TRUNCATED, "the output stops inside a function header", ln)
                else:
                    cells.add(ProblemKind.SYNTAX, f"not a valid step function header: {raw.strip()!r}", ln)
                continue
            m = _ASSIGN.match(raw)
            if m:
                self._assignment(m, raw, ln, is_last, cut, blocks, cells, limit)
                continue
            if (is_last and cut) or (is_last and _STATE_LIKE.match(raw)):
                cells.add(ProblemKind.TRUNCATED, "the output stops mid-line; the cut line was dropped", ln)
            elif _STATE_LIKE.match(raw):
                cells.add(ProblemKind.SYNTAX, f"not an assignment to a state: {raw.strip()!r}", ln)
            elif not _HARMLESS.match(raw):
                cells.ignored.append(ln)
        cells.note_ignored()

        if header and sentences and sentences[0].strip().lower() == "init":
            sentences = sentences[1:]
        if q is not None:
            if header or tracks:
                _compare_header(sentences if header else None, tracks, q, cells, lower=True)
            sent, parts = list(q.sentences), list(q.participants)
        elif header:
            sent = _at_most_steps(sentences, cells)
            width = max([*tracks, *(k for b in blocks for k in b.values)], default=-1) + 1
            parts = [tracks.get(k, f"state_{k}") for k in range(width)]
            if len(tracks) != width:
                cells.add(ProblemKind.MISMATCH, "some states have no 'tracks' comment; they were named state_i")
        else:
            sent, parts = self._infer(blocks, tracks, cells)
        present = self._place(blocks, sent, parts, cells)
        in_format = bool(_CODE_START.match(lines[last]))  # not a line of prose that merely lacks a newline
        _note_cut(cells, cut and in_format, len(parts) * (len(sent) + 1), clean.line_offset + last + 1)
        return ParseResult(cells.table(sent, parts, present), tuple(cells.problems))

    @staticmethod
    def _assignment(
        m: re.Match[str],
        raw: str,
        ln: int,
        is_last: bool,
        cut: bool,
        blocks: list[_Block],
        cells: _Cells,
        limit: int,
    ) -> None:
        idx = _number(m["idx"])
        if idx >= limit:
            cells.add(ProblemKind.BAD_VALUE, f"state_{_shown(m['idx'])} is not a plausible state; ignored", ln)
            return
        lit = read_literal(m["rhs"])
        if lit.kind in ("incomplete", "empty") or (is_last and cut and lit.kind == "other"):
            if is_last:
                cells.add(ProblemKind.TRUNCATED, f"the output stops inside the value of state_{idx}", ln)
            else:
                cells.add(ProblemKind.SYNTAX, f"unfinished value for state_{idx}: {raw.strip()!r}", ln)
            return
        if lit.kind == "str":
            value = str(lit.value)
            if value == _UNK:
                value = UNKNOWN
            elif not value.strip():
                cells.add(ProblemKind.BAD_VALUE, f"state_{idx} is an empty string", ln)
                return
        elif lit.kind == "none":
            value = ABSENT
        else:
            cells.add(ProblemKind.BAD_VALUE, f"state_{idx} must be a string or None, not {lit.text!r}", ln)
            return
        if not blocks:
            cells.add(ProblemKind.EXTRA, f"state_{idx} assigned outside a step function was ignored", ln)
            return
        block = blocks[-1]
        if idx in block.values:
            cells.add(
                ProblemKind.DUPLICATE, f"state_{idx} is assigned twice in {block.name}(); the last value is used", ln
            )
        block.values[idx] = (value, ln)

    @staticmethod
    def _infer(blocks: list[_Block], tracks: dict[int, str], cells: _Cells) -> tuple[list[str], list[str]]:
        """Without a query or header, take sentences from function names and participants from indices."""
        named = blocks[1:] if blocks and blocks[0].name == "init" else blocks
        sent = _at_most_steps([b.name.replace("_", " ") for b in named], cells)
        width = max([*tracks, *(k for b in blocks for k in b.values)], default=-1) + 1
        parts = [tracks.get(k, f"state_{k}") for k in range(width)]
        if blocks:
            cells.add(
                ProblemKind.MISMATCH,
                "no def main() header and no query: sentences were taken from function names",
            )
        return sent, parts

    @staticmethod
    def _place(
        blocks: list[_Block], sentences: list[str], participants: list[str], cells: _Cells
    ) -> dict[int, tuple[str, int]]:
        """Match step functions to time steps, by name where it is exact, else by position."""
        expected = [_loose(function_name(s)) for s in ("Init", *sentences)]
        n = len(sentences)
        present: dict[int, tuple[str, int]] = {}
        out_of_range: dict[int, list[int]] = {}
        pos = 0
        for b in blocks:
            key = _loose(b.name)
            if pos <= n and key == expected[pos]:
                t = pos
            elif pos > 0 and key == expected[pos - 1] and (pos - 1) in present:
                cells.add(ProblemKind.DUPLICATE, f"{b.name}() is written twice; the second was ignored", b.line)
                continue
            else:
                ahead = [j for j in range(pos + 1, n + 1) if expected[j] == key]
                if ahead:
                    t = ahead[0]
                elif pos <= n:
                    t = pos
                    if not _similar(b.name, function_name(("Init", *sentences)[t])):
                        cells.add(
                            ProblemKind.MISMATCH,
                            f"{b.name}() does not match step {t} ({('Init', *sentences)[t]!r}); matched by position",
                            b.line,
                        )
                else:
                    cells.add(ProblemKind.EXTRA, f"{b.name}(): more step functions than steps; ignored", b.line)
                    continue
            pos = t + 1
            present[t] = (f"step {t} ({b.name}())", b.line)
            for idx, (value, ln) in b.values.items():
                if idx >= len(participants):
                    out_of_range.setdefault(idx, []).append(ln)
                else:
                    cells.cells[(idx, t)] = value
        if out_of_range:
            names = ", ".join(f"state_{i}" for i in sorted(out_of_range))
            count = sum(map(len, out_of_range.values()))
            cells.add(
                ProblemKind.BAD_VALUE,
                f"{names}: no such participant (there are {len(participants)}); "
                f"{count} assignment{'s' if count > 1 else ''} ignored",
                min(min(v) for v in out_of_range.values()),
            )
        return present


# --------------------------------------------------------------------------- text format

_TEXT_START = re.compile(r"^\s*(Document\s*$|step\s+\d+\s*:|List of participants|participant\s+\d+\s*:|Question\s+\d+)")
_STEP = re.compile(r"^\s*step\s+(?P<i>\d+)\s*:\s?(?P<text>(?:.*\S)?)\s*$")
_PARTICIPANT = re.compile(r"^\s*participant\s+(?P<i>\d+)\s*:\s?(?P<text>(?:.*\S)?)\s*$")
_QUESTION = re.compile(r"^\s*Question\s+(?P<i>\d+)\s*:\s*(?P<rest>(?:.*\S)?)\s*$")
_QUESTION_FULL = re.compile(r"^after step\s+\d+\s*\((?P<step>.*)\)\s*is executed where are the participants\?$")


@dataclass
class _Question:
    t: int
    line: int
    shown: str  # the number as written, for messages
    answers: list[tuple[str, int]] = field(default_factory=list)


class ProParaText:
    """The paper's text baseline: a document, the participants, and one question per step.

    Examples
    --------
    >>> t = StateTable(("Water boils.",), ("water", "steam"), (("pot", "-"), ("-", "?")))
    >>> print(ProParaText().render(t), end="")
    Document
    step 0: Init
    step 1: Water boils.
    <BLANKLINE>
    List of participants:
    participant 0: water
    participant 1: steam
    <BLANKLINE>
    Question 0: after step 0 (init) is executed where are the participants?
    Answers:
    water is located at pot
    steam does not exist
    <BLANKLINE>
    Question 1: after step 1 (water boils) is executed where are the participants?
    Answers:
    water does not exist
    steam is located at unknown place
    >>> ProParaText().parse(ProParaText().render(t)).graph == t
    True
    """

    name: ClassVar[str] = "text"
    kind: ClassVar[Literal["code", "text"]] = "text"
    description: ClassVar[str] = (
        "The paper's text baseline: 'Question i: after step i (...) is executed where are the participants?' "
        "answered by 'X is located at L' / 'X does not exist' / 'X is located at unknown place'."
    )
    separator: ClassVar[str] = CODE_SEPARATOR

    def render_query(self, graph: Graph) -> str:
        t = _as_table(graph)
        lines = ["Document", "step 0: Init"]
        lines += [f"step {i}: {_one_line(s)}" for i, s in enumerate(t.sentences, 1)]
        lines += ["", "List of participants:"]
        lines += [f"participant {i}: {_one_line(p)}" for i, p in enumerate(t.participants)]
        return "\n".join(lines) + "\n"

    def render(self, graph: Graph) -> str:
        t = _as_table(graph)
        _check_shape(t)
        out = [self.render_query(t)]
        if not t.states:
            return out[0]
        for step, sentence in enumerate(("Init", *t.sentences)):
            out.append(f"\nQuestion {step}: after step {step} ({_one_line(sentence).replace('.', '').lower()}) ")
            out.append("is executed where are the participants?\nAnswers:\n")
            for p, row in zip(t.participants, t.states, strict=True):
                if row[step] != MISSING:
                    out.append(f"{_one_line(p)} {self._value(row[step])}\n")
        return "".join(out)

    @staticmethod
    def _value(v: str) -> str:
        if v == ABSENT:
            return _TEXT_ABSENT
        if v == UNKNOWN:
            return _TEXT_UNKNOWN
        return _TEXT_AT + _one_line(v)

    def stop(self) -> list[str]:
        return [CODE_SEPARATOR, "\nDocument\n"]

    def parse(self, text: str, query: Graph | None = None) -> ParseResult:
        q = _as_table(query) if query is not None else None
        clean = prepare_output(text, self.separator, _TEXT_START)
        if clean.is_empty:
            return clean.empty_result()
        cells = _Cells(list(clean.problems))
        lines = clean.lines
        last = max(i for i, ln in enumerate(lines) if ln.strip())
        cut = clean.ends_mid_line  # the output stops inside its last line, as one cut by max_tokens does

        header = False
        steps: dict[int, str] = {}
        parts: dict[int, str] = {}
        questions: list[_Question] = []
        step_texts: dict[int, tuple[str, int]] = {}
        for i, raw in enumerate(lines):
            ln = clean.line_offset + i + 1
            s = raw.strip()
            if not s:
                continue
            if s == "Document":
                if questions:
                    cells.add(ProblemKind.EXTRA, "a second document was ignored", ln)
                    break
                header, steps, parts = True, {}, {}
                continue
            if s in ("Answers:", "List of participants:"):
                continue
            m = _QUESTION.match(raw)
            if m:
                questions.append(_Question(_number(m["i"]), ln, _shown(m["i"])))
                full = _QUESTION_FULL.match(m["rest"])
                if full:
                    step_texts[len(questions) - 1] = (full["step"], ln)
                elif i == last:
                    cells.add(ProblemKind.TRUNCATED, "the output stops inside a question", ln)
                continue
            if not questions:
                m = _STEP.match(raw) or _PARTICIPANT.match(raw)
                if m and _number(m["i"]) <= (_MAX_OUTPUT_STEPS if m.re is _STEP else _MAX_OUTPUT_PARTICIPANTS):
                    (steps if m.re is _STEP else parts)[_number(m["i"])] = m["text"]
                    continue
            if questions:
                questions[-1].answers.append((s, ln))
                continue
            cells.ignored.append(ln)
        cells.note_ignored()

        found_sent = [steps[k] for k in sorted(steps) if k > 0] if header else None
        found_parts = [parts[k] for k in sorted(parts)]
        if q is not None:
            if header:
                _compare_header(found_sent, dict(enumerate(found_parts)), q, cells, lower=False)
            sent, names = list(q.sentences), list(q.participants)
        elif header:
            sent, names = found_sent or [], found_parts
        else:
            sent, names = self._infer(questions, step_texts, cells)

        n = len(sent)
        present: dict[int, tuple[str, int]] = {}
        last_line = clean.line_offset + last + 1
        for k, qu in enumerate(questions):
            if qu.t > n:
                cells.add(ProblemKind.EXTRA, f"Question {qu.shown}: there is no step {qu.shown}; ignored", qu.line)
                continue
            if qu.t in present:
                cells.add(ProblemKind.DUPLICATE, f"Question {qu.t} is answered twice; the second was ignored", qu.line)
                continue
            present[qu.t] = (f"Question {qu.t}", qu.line)
            if k in step_texts:
                said, ln = step_texts[k]
                want = ("Init", *sent)[qu.t].replace(".", "").lower()
                if not _similar(said, want):
                    cells.add(ProblemKind.MISMATCH, f"Question {qu.t} is about {said!r}, not step {qu.t}", ln)
            self._answers(qu, names, cells, last_line, cut)
        size = len(names) * (n + 1)
        cut_cell = [k for k, ln in cells.origin.items() if ln == last_line]
        if cut and cut_cell and len(cells.cells) < size:
            # "X is located at th" reads as a location: an answer on a cut last line, with more
            # answers still due, is dropped rather than kept possibly shortened.
            del cells.cells[cut_cell[0]]
            cells.add(ProblemKind.TRUNCATED, "the output stops inside an answer; the cut answer was dropped", last_line)
        in_format = bool(questions) or bool(_TEXT_START.match(lines[last]))
        _note_cut(cells, cut and in_format, size, last_line)
        return ParseResult(cells.table(sent, names, present), tuple(cells.problems))

    @staticmethod
    def _split(s: str) -> tuple[str, str] | None:
        """``(rest, value)`` of an answer whose participant is not known in advance."""
        if s.endswith(" " + _TEXT_ABSENT):
            return s[: -len(_TEXT_ABSENT) - 1], ABSENT
        if s.endswith(" " + _TEXT_UNKNOWN):
            return s[: -len(_TEXT_UNKNOWN) - 1], UNKNOWN
        if " " + _TEXT_AT in s:
            name, value = s.split(" " + _TEXT_AT, 1)
            return name, value.strip()
        return None

    @staticmethod
    def _read_value(rest: str) -> str | None:
        rest = rest.strip()
        if rest == _TEXT_ABSENT:
            return ABSENT
        if rest == _TEXT_UNKNOWN:
            return UNKNOWN
        if rest.startswith(_TEXT_AT) and rest[len(_TEXT_AT) :].strip():
            return rest[len(_TEXT_AT) :].strip()
        return None

    def _answers(self, qu: _Question, names: list[str], cells: _Cells, last_line: int, cut: bool) -> None:
        t = qu.t
        lowered = [_one_line(p).lower() for p in names]
        for pos, (s, ln) in enumerate(qu.answers):
            low = s.lower()
            matches = [j for j, p in enumerate(lowered) if low.startswith(p + " ")]
            read = {j: v for j in matches if (v := self._read_value(s[len(lowered[j]) + 1 :])) is not None}
            valid = list(read)
            if not valid:
                if ln == last_line:
                    cells.add(ProblemKind.TRUNCATED, "the output stops inside an answer", ln)
                elif matches:
                    cells.add(ProblemKind.BAD_VALUE, f"cannot read the answer {s!r}", ln)
                else:
                    cells.add(ProblemKind.MISMATCH, f"answer about an unknown participant: {s!r}", ln)
                continue
            free = [j for j in valid if (j, t) not in cells.cells]
            # Same-named participants (ProPara has a few) are told apart by their position;
            # otherwise the longest matching name wins ("water vapor" over "water").
            pool = free or valid
            j = pos if pos in pool else max(pool, key=lambda k: len(lowered[k]))
            if not free:
                cells.add(ProblemKind.DUPLICATE, f"Question {t} answers {names[j]!r} twice; the last is used", ln)
            cells.cells[(j, t)] = read[j]
            cells.origin[(j, t)] = ln

    def _infer(
        self, questions: list[_Question], step_texts: dict[int, tuple[str, int]], cells: _Cells
    ) -> tuple[list[str], list[str]]:
        """Without a query or header: sentences from the questions, participants from the answers."""
        names: list[str] = []
        named: Counter[str] = Counter()  # names.count() without its scan of the list
        more = 0
        for qu in questions:
            seen: Counter[str] = Counter()
            for s, _ in qu.answers:
                split = self._split(s)
                if split is None:
                    continue
                name = split[0]
                seen[name] += 1
                # A name repeated within one question is a second participant of that name.
                if seen[name] > named[name]:
                    if len(names) >= _MAX_OUTPUT_PARTICIPANTS:
                        more += 1
                        continue
                    names.append(name)
                    named[name] += 1
        if more:
            cells.add(
                ProblemKind.EXTRA,
                f"the answers name more than {_MAX_OUTPUT_PARTICIPANTS} participants; the others were ignored",
            )
        by_t = {qu.t: step_texts[k][0] for k, qu in enumerate(questions) if k in step_texts}
        n = max((qu.t for qu in questions if qu.t <= _MAX_OUTPUT_STEPS), default=0)
        sent = [by_t.get(t, f"step {t}") for t in range(1, n + 1)]
        if questions:
            cells.add(ProblemKind.MISMATCH, "no document and no query: sentences were taken from the questions")
        return sent, names


# --------------------------------------------------------------------------- task


class ProParaTask(TaskBase):
    """ProPara: track each participant's location through a procedure (plug-in ``"propara"``)."""

    name: ClassVar[str] = "propara"
    title: ClassVar[str] = "ProPara: entity state tracking"
    description: ClassVar[str] = (
        "Given the sentences of a procedure and its participants, say where each participant is before "
        "the first step and after every step ('-' = does not exist, '?' = unknown location)."
    )
    input_fields: ClassVar[tuple[InputField, ...]] = (
        InputField(
            "sentences",
            "list[str]",
            f"The procedure, one sentence per step (1-{MAX_SENTENCES}).",
            item="sentence",
            low=1,
            high=MAX_SENTENCES,
            max_chars=MAX_INPUT_CHARS,
            collapse_spaces=True,
        ),
        InputField(
            "participants",
            "list[str]",
            f"The entities to track (1-{MAX_PARTICIPANTS}, distinct).",
            item="participant",
            low=1,
            high=MAX_PARTICIPANTS,
            max_chars=MAX_INPUT_CHARS,
            collapse_spaces=True,
        ),
    )
    splits: ClassVar[tuple[str, ...]] = ("train", "dev", "test", "cocogen-test")
    graph_type: ClassVar[type] = StateTable
    sample_input: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "sentences": (
                "Water evaporates from the ocean.",
                "The water vapor rises and cools.",
                "The vapor condenses into clouds.",
                "Rain falls from the clouds onto the land.",
            ),
            "participants": ("water", "water vapor", "clouds", "rain"),
        }
    )
    recorded_outputs: ClassVar[str | None] = (
        "cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl"
    )

    def __init__(self) -> None:
        self._formats: Mapping[str, Format] = MappingProxyType({"code": ProParaCode(), "text": ProParaText()})

    @property
    def formats(self) -> Mapping[str, Format]:
        return self._formats

    # ------------------------------------------------------------------ input
    def from_input(self, fields: Mapping[str, Any]) -> StateTable:
        """A query table from ``{"sentences": [...], "participants": [...]}``.

        Whitespace (newlines included) inside an item is collapsed to single spaces.

        Examples
        --------
        >>> TASK.from_input({"sentences": ["Ice melts.", "Water  flows."], "participants": ["ice", "water"]})
        StateTable(sentences=('Ice melts.', 'Water flows.'), participants=('ice', 'water'), states=())
        """
        v = validate_input(fields, self.input_fields, self.name)
        sentences, participants = v["sentences"], v["participants"]
        seen: dict[str, str] = {}
        for p in participants:
            key = p.casefold()
            if key in seen:
                raise InputError(f"The participant {p!r} is listed twice; list each participant once.")
            seen[key] = p
        size = sum(map(len, sentences)) + sum(map(len, participants))
        if size > MAX_INPUT_CHARS:
            raise InputError(
                f"The procedure and participants are {size} characters long; the limit is {MAX_INPUT_CHARS}."
            )
        return StateTable(tuple(sentences), tuple(participants))

    def to_input(self, graph: Graph) -> dict[str, Any]:
        t = _as_table(graph)
        return {"sentences": list(t.sentences), "participants": list(t.participants)}

    def query_of(self, graph: Graph) -> StateTable:
        t = _as_table(graph)
        return StateTable(t.sentences, t.participants)

    # ------------------------------------------------------------------- data
    def load(self, split: str, data_dir: Path | None = None) -> list[Example]:
        """Rows of ``split``: ``train``/``dev``/``test`` (EMNLP'18 grids) or ``cocogen-test``.

        ``cocogen-test`` is CoCoGen's copy of the 54 test paragraphs, with its participants
        in CoCoGen's (sorted) order and the released ``reference_code`` and
        ``input_prompt_code`` kept in ``meta``.
        """
        root = Path(data_dir) if data_dir is not None else settings.data_dir()
        if split == "cocogen-test":
            path = root / "cocogen" / "data" / "propara" / "test.jsonl"
            rows = [self._cocogen_row(d, path, ln) for ln, d in _read_jsonl(path)]
            _check_unique(rows, path)
            return rows
        if split not in self.splits:
            raise ConfigError(f"ProPara has no split {split!r}.", hint=f"Choose one of: {', '.join(self.splits)}.")
        path = root / "propara" / "emnlp18" / f"grids.v1.{split}.json"
        examples = [self._grid_row(d, path, ln) for ln, d in _read_jsonl(path)]
        _check_unique(examples, path)
        return examples

    @staticmethod
    def _grid_row(d: Any, path: Path, ln: int) -> Example:
        if not isinstance(d, dict) or not {"para_id", "sentence_texts", "participants", "states"} <= d.keys():
            raise DataError(
                "expected an object with para_id, sentence_texts, participants and states", path=str(path), line=ln
            )
        table = _table(d["sentence_texts"], d["participants"], d["states"], path, ln)
        return Example(str(d["para_id"]), table, {"split_file": path.name})

    @staticmethod
    def _cocogen_row(d: Any, path: Path, ln: int) -> Example:
        if not isinstance(d, dict) or not {"id", "steps", "questions"} <= d.keys():
            raise DataError("expected an object with id, steps and questions", path=str(path), line=ln)
        steps, questions = d["steps"], d["questions"]
        if not isinstance(steps, list) or not steps or steps[0] != "Init":
            raise DataError("'steps' must be a list starting with 'Init'", path=str(path), line=ln)
        participants, states = [], []
        for q in questions if isinstance(questions, list) else [None]:
            if not isinstance(q, dict) or not str(q.get("question", "")).startswith(_QUESTION_PREFIX):
                raise DataError(f"each question must read '{_QUESTION_PREFIX}<participant>'", path=str(path), line=ln)
            participants.append(q["question"][len(_QUESTION_PREFIX) :])
            states.append(q.get("answers"))
        table = _table(steps[1:], participants, states, path, ln)
        meta = {k: d[k] for k in ("reference_code", "input_prompt_code") if isinstance(d.get(k), str)}
        return Example(str(d["id"]), table, meta)

    def fewshot(self) -> list[Example]:
        """Our own examples, ``assets/fewshot/propara.jsonl`` (``{"id", "graph"}`` per line)."""
        return read_fewshot(self, _fewshot_table)

    # ------------------------------------------------------------- evaluation
    def metric(self, options: MetricOptions | None = None) -> TaskMetric:
        from cocogen.metrics.propara import ProParaMetric

        return ProParaMetric(self.name, options)

    def recognizes(self, record: Mapping[str, Any]) -> bool:
        return {"steps", "questions"} <= record.keys()

    def read_recorded(self, record: Mapping[str, Any], *, path: Path, line: int, index: int) -> Reference:
        """CoCoGen's release rows: ``id``, ``steps`` (``Init`` first) and one question per participant.

        Every field is checked for its type, so a hostile or edited file gets a
        :class:`DataError` naming the field and the line, never a ``TypeError``.
        """

        def bad(message: str) -> DataError:
            return DataError(message, path=str(path), line=line)

        if not {"id", "steps", "questions"} <= record.keys():
            missing = sorted({"id", "steps", "questions"} - record.keys())
            raise bad(f"not a ProPara record (no {', '.join(map(repr, missing))} field)")
        steps, questions, pid = record["steps"], record["questions"], record["id"]
        if isinstance(pid, bool) or not isinstance(pid, (str, int)):
            raise bad("the field 'id' must be text or a whole number")
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            raise bad("the field 'steps' must be a list of texts")
        if not steps or steps[0] != "Init":
            raise bad("'steps' must start with 'Init'")
        if not isinstance(questions, list):
            raise bad("the field 'questions' must be a list of objects")
        participants, states = [], []
        for i, q in enumerate(questions):
            if not isinstance(q, dict) or not isinstance(q.get("question"), str):
                raise bad(f"questions[{i}] must be an object with a 'question' text")
            answers = q.get("answers")
            if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
                raise bad(f"questions[{i}].answers must be a list of texts")
            participants.append(q["question"][len(_QUESTION_PREFIX) :])
            states.append(tuple(answers))
        sentences = tuple(steps[1:])
        query = StateTable(sentences, tuple(participants))
        return Reference(str(pid), query, StateTable(sentences, tuple(participants), tuple(states)))

    def read_references(self, path: Path) -> dict[str, Any] | None:
        """The official leaderboard's ``answers.tsv`` (action rows), as answer grids by paragraph id."""
        if path.suffix != ".tsv":
            return None
        from cocogen.metrics.propara import read_action_file

        return {str(pid): grid for pid, grid in read_action_file(path).items()}

    # ------------------------------------------------------------- display and decoding
    def diff(self, prediction: Graph | None, reference: Graph) -> Any:
        from cocogen.diff import diff_tables

        return diff_tables(prediction, _as_table(reference))

    def plan_constrained(self, decoder: Any, fmt: Format, query: Graph, limits: Any) -> Graph:
        from cocogen.constrained import plan_state_table

        return plan_state_table(decoder, fmt, _as_table(query), limits)

    def grammar(self, format_name: str, query: Graph) -> str | None:
        from cocogen.grammar import state_table_grammar
        from cocogen.tasks.base import get_format

        return state_table_grammar(get_format(self, format_name), _as_table(query))

    def element_keys(self, graph: Graph) -> list[str]:
        """``water @ 0`` for each cell: participant, then time (0 before the first sentence).

        In the order of ``states``, participant by participant, so a table view can place them.
        """
        t = _as_table(graph)
        return [_cell_key(p, i) for p, row in zip(t.participants, t.states, strict=False) for i in range(len(row))]

    def element_variant(self, graph: Graph, key: str) -> Graph | None:
        t = _as_table(graph)
        for p, (name, row) in enumerate(zip(t.participants, t.states, strict=False)):
            for i in range(len(row)):
                if _cell_key(name, i) == key:
                    states = [list(r) for r in t.states]
                    states[p][i] = ELEMENT_MARKER
                    return replace(t, states=tuple(tuple(r) for r in states))
        return None

    def element_matches(self, prediction: Graph, reference: Graph) -> dict[str, bool]:
        """A cell is in the reference when the reference's cell has the same value (compared by its words)."""
        from cocogen.merge import norm_text

        p, r = _as_table(prediction), _as_table(reference)
        out = {}
        for i, (name, row) in enumerate(zip(p.participants, p.states, strict=False)):
            for t, value in enumerate(row):
                gold = r.states[i][t] if i < len(r.states) and t < len(r.states[i]) else None
                out[_cell_key(name, t)] = gold is not None and (norm_text(gold) or gold) == (norm_text(value) or value)
        return out

    def merge(self, query: Graph, graphs: Sequence[Graph]) -> tuple[Graph, dict[str, float]]:
        """Each cell by majority of the samples' values (compared by their words; the earliest on a tie)."""
        from cocogen.merge import majority, norm_text

        q = _as_table(query)
        samples = [_as_table(g) for g in graphs]
        if not samples:
            raise InputError("A merge needs at least one sample.")
        n_t = len(q.sentences) + 1
        states: list[tuple[str, ...]] = []
        agreement: dict[str, float] = {}
        for p, name in enumerate(q.participants):
            row = []
            for i in range(n_t):
                values = [g.states[p][i] for g in samples if p < len(g.states) and i < len(g.states[p])]
                if not values:
                    row.append(ABSENT)
                    agreement[_cell_key(name, i)] = 0.0
                    continue
                written = {norm_text(v) or v: v for v in reversed(values)}  # the first form of each
                winner, _ = majority([norm_text(v) or v for v in values])
                row.append(written[winner])
                agreement[_cell_key(name, i)] = sum((norm_text(v) or v) == winner for v in values) / len(samples)
            states.append(tuple(row))
        return replace(q, states=tuple(states)), agreement


def _cell_key(participant: str, time: int) -> str:
    return f"{participant} @ {time}"


def _fewshot_table(g: Any, path: Path, ln: int) -> StateTable:
    if not isinstance(g, dict):
        raise DataError("expected an object with 'id' and 'graph'", path=str(path), line=ln)
    t = _table(g.get("sentences"), g.get("participants"), g.get("states"), path, ln)
    if not t.states:
        raise DataError("a few-shot example needs its states", path=str(path), line=ln)
    return t


def _read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """``(line number, object)`` of each non-blank line."""
    return read_jsonl(path).rows


def _table(sentences: Any, participants: Any, states: Any, path: Path, ln: int) -> StateTable:
    """A validated table; anything malformed is a :class:`DataError` at ``path:ln``."""

    def strings(x: Any) -> bool:
        return isinstance(x, list) and all(isinstance(s, str) for s in x)

    if not strings(sentences) or not sentences:
        raise DataError("the sentences must be a non-empty list of strings", path=str(path), line=ln)
    if not strings(participants) or not participants:
        raise DataError("the participants must be a non-empty list of strings", path=str(path), line=ln)
    states = states or []
    if not isinstance(states, list) or not all(strings(r) for r in states):
        raise DataError("the states must be lists of strings", path=str(path), line=ln)
    if states and (len(states) != len(participants) or any(len(r) != len(sentences) + 1 for r in states)):
        raise DataError(
            f"expected {len(participants)} state rows of {len(sentences) + 1} values (Init and each sentence)",
            path=str(path),
            line=ln,
        )
    if any(v.strip() == "" for r in states for v in r):
        raise DataError("a state is empty; use '-' (does not exist) or '?' (unknown)", path=str(path), line=ln)
    return StateTable(tuple(sentences), tuple(participants), tuple(tuple(r) for r in states))


def _check_unique(examples: list[Example], path: Path) -> None:
    seen: set[str] = set()
    for e in examples:
        if e.id in seen:
            raise DataError(f"the id {e.id!r} occurs twice", path=str(path))
        seen.add(e.id)


TASK = ProParaTask()
