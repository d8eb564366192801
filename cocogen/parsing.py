"""Reading model output without ever running it.

Shared pre-processing for every format's parser: strip markdown fences and chat
preambles, cut at the example separator, and scan Python tokens up to the first error so
a truncated completion still yields everything written before the cut.  Nothing here
calls ``exec``, ``eval``, ``compile`` or imports model text; only :mod:`ast` (parse and
``literal_eval``) and :mod:`tokenize` read it.

Bounds every parser relies on: :func:`prepare_output` reads at most
:data:`MAX_OUTPUT_CHARS` characters of an output (the rest is reported, never read), so
a parser's time and memory are bounded whatever it is given; the tokenizer helpers here
turn every error the tokenizer can raise (odd characters, NUL bytes, lone surrogates,
deep nesting on Python 3.12+) into a recorded error instead of an exception.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cocogen.types import ParseResult, Problem, ProblemKind

__all__ = [
    "MAX_OUTPUT_CHARS",
    "PreparedOutput",
    "prepare_output",
    "clean_output",
    "scan_tokens",
    "string_value",
    "CleanText",
    "LiteralValue",
    "read_literal",
    "Tok",
    "scan_resync",
    "header_tail_at",
]

_FENCE = re.compile(r"^\s*```[\w+-]*\s*$")


@dataclass(frozen=True)
class CleanText:
    text: str
    problems: tuple[Problem, ...]
    line_offset: int = 0  # lines removed before ``text`` (to report original line numbers)


def clean_output(text: str, separator: str = "# END", code_start: re.Pattern[str] | None = None) -> CleanText:
    """Remove what is not the answer: fences, a chat preamble, anything after the separator.

    ``code_start`` matches the first line of real content (e.g. ``class ...:`` or an
    indented ``def``); lines before the first match are dropped as a preamble.  Lines
    after the first ``separator`` line are reported as :attr:`ProblemKind.EXTRA`.
    """
    problems: list[Problem] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    offset = 0

    # Keep the body of the first fenced block if the text has one.
    fence_idx = [i for i, ln in enumerate(lines) if _FENCE.match(ln)]
    if fence_idx:
        start = fence_idx[0] + 1
        end = next((i for i in fence_idx[1:] if i > fence_idx[0]), len(lines))
        if start > 1 or end < len(lines) - 1:
            dropped = [ln for ln in lines[: fence_idx[0]] + lines[end + 1 :] if ln.strip()]
            if dropped:
                problems.append(Problem(ProblemKind.EXTRA, "text outside the code block was ignored"))
        offset = start
        lines = lines[start:end]

    if code_start is not None:
        first = next((i for i, ln in enumerate(lines) if code_start.match(ln)), None)
        if first:
            if any(ln.strip() for ln in lines[:first]):
                problems.append(Problem(ProblemKind.EXTRA, "text before the code was ignored", line=offset + 1))
            offset += first
            lines = lines[first:]

    sep = separator.strip()
    if sep:
        for i, ln in enumerate(lines):
            if ln.strip() == sep:
                if any(x.strip() for x in lines[i + 1 :]):
                    problems.append(
                        Problem(ProblemKind.EXTRA, f"content after {sep!r} was ignored", line=offset + i + 2)
                    )
                lines = lines[:i]
                break
    return CleanText("\n".join(lines), tuple(problems), offset)


# 50 times the longest rendering of any dataset example (ProPara text, ~5.5 KB) and far
# above what a completion of the default max_tokens holds, so only junk is ever cut; it
# bounds every parser's work (each is linear below it) and memory (a few hundred bytes
# per character at most, for a text of one-character tokens).
MAX_OUTPUT_CHARS = 262_144


def _normalize_breaks(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class PreparedOutput:
    """Model output made ready for a format's reader (see :func:`prepare_output`).

    ``text`` is the answer (fences, preamble and anything after the separator removed,
    line breaks normalised to ``\\n``); ``raw`` is the output as read, at most
    :data:`MAX_OUTPUT_CHARS` characters; ``line_offset`` is the number of lines removed
    before ``text``, so line numbers in problems are those of the original output.
    """

    raw: str
    text: str
    problems: tuple[Problem, ...]
    line_offset: int
    runs_to_end: bool  # nothing (no separator, closing fence, other text) follows the answer

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @property
    def ends_mid_line(self) -> bool:
        """The answer reaches the end of the output without a final line break: it may be cut there."""
        return self.runs_to_end and not self.text.endswith("\n")

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()

    def empty_result(self) -> ParseResult:
        """The result for an output with no answer in it."""
        return ParseResult(None, (*self.problems, Problem(ProblemKind.EMPTY, "the output is empty")))


def prepare_output(text: str, separator: str = "# END", code_start: re.Pattern[str] | None = None) -> PreparedOutput:
    """The shared first step of every format's ``parse``: bound the text, then :func:`clean_output`.

    An output longer than :data:`MAX_OUTPUT_CHARS` is read up to that many characters
    only, with an :attr:`~ProblemKind.EXTRA` problem naming the line where reading
    stopped (a construct open there is then reported as cut by the format's reader, and
    everything complete before it is kept).

    Examples
    --------
    >>> p = prepare_output("```python\\nx = 1\\n```\\n")
    >>> p.text, p.line_offset, p.runs_to_end
    ('x = 1', 1, False)
    >>> p = prepare_output("x" * (MAX_OUTPUT_CHARS + 5))
    >>> len(p.raw) == MAX_OUTPUT_CHARS, p.problems[-1].kind.value, p.ends_mid_line
    (True, 'extra', True)
    """
    problems: list[Problem] = []
    raw = text
    if len(text) > MAX_OUTPUT_CHARS:
        raw = text[:MAX_OUTPUT_CHARS]
        problems.append(
            Problem(
                ProblemKind.EXTRA,
                f"the output is {len(text):,} characters long; only the first {MAX_OUTPUT_CHARS:,} were read",
                _normalize_breaks(raw).count("\n") + 1,
            )
        )
    clean = clean_output(raw, separator, code_start)
    return PreparedOutput(
        raw,
        clean.text,
        (*clean.problems, *problems),
        clean.line_offset,
        _normalize_breaks(raw).endswith(clean.text),
    )


def scan_tokens(source: str) -> tuple[list[tokenize.TokenInfo], int | None]:
    """Python tokens of ``source`` up to the first tokenizer error.

    Returns the tokens and the 1-based line of the error (``None`` when the whole text
    tokenized).  An unterminated string at the end of a truncated completion is the
    usual error; every token before it is kept.
    """
    out: list[tokenize.TokenInfo] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            out.append(tok)
    except tokenize.TokenError as e:
        line = e.args[1][0] if len(e.args) > 1 and isinstance(e.args[1], tuple) else None
        return out, line
    except (IndentationError, SyntaxError) as e:  # tokenize raises these for dedent/odd chars
        return out, e.lineno
    except (ValueError, MemoryError, RecursionError):  # NUL bytes, lone surrogates, nesting (C tokenizer, 3.12+)
        return out, (out[-1].end[0] if out else 1)
    return out, None


def string_value(tok: tokenize.TokenInfo) -> str | None:
    """The value of a STRING token (via ``ast.literal_eval``), or ``None`` for f-strings/bytes/odd tokens."""
    if tok.type != tokenize.STRING:
        return None
    s = tok.string
    prefix = s[: len(s) - len(s.lstrip("rRuUbBfF"))]
    if any(c in prefix.lower() for c in "bf"):
        return None
    try:
        value = ast.literal_eval(s)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


# Tokens that carry no value: layout and comments around a literal.
_LAYOUT = frozenset(
    {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
)


@dataclass(frozen=True)
class LiteralValue:
    """What :func:`read_literal` found in a fragment of source.

    ``kind`` is one of ``"str"`` (``value`` is the string), ``"none"``, ``"bool"``,
    ``"number"`` (``value`` is the Python value), ``"empty"`` (no token at all),
    ``"incomplete"`` (an unterminated string or bracket: the text was cut) or ``"other"``
    (any other expression; ``value`` is ``None`` and nothing of it was evaluated).
    ``text`` is the fragment without surrounding whitespace and comment.
    """

    kind: str
    value: object
    text: str


def read_literal(source: str) -> LiteralValue:
    """Read one literal (e.g. the right-hand side of ``x = ...``) without evaluating code.

    Only plain string, ``None``/``True``/``False`` and number tokens are accepted; adjacent
    strings are joined as Python does, and a trailing ``;`` is allowed.  Calls, names and operators come back as
    ``"other"`` and are never run.

    Examples
    --------
    >>> read_literal(' "sky"  # a comment').value
    'sky'
    >>> read_literal("None").kind
    'none'
    >>> read_literal('"unfinished').kind
    'incomplete'
    >>> read_literal("__import__('os').system('true')").kind
    'other'
    """
    tokens, err = scan_tokens(source)
    toks = [t for t in tokens if t.type not in _LAYOUT]
    if toks and toks[-1].type == tokenize.OP and toks[-1].string == ";":
        toks.pop()
    one_line = bool(toks) and toks[0].start[0] == toks[-1].end[0] == 1
    text = source[toks[0].start[1] : toks[-1].end[1]] if one_line else source.strip()
    # Python < 3.12 yields an ERRORTOKEN for an unterminated quote instead of raising.
    if err is not None or any(t.type == tokenize.ERRORTOKEN and t.string.strip() in ("'", '"') for t in toks):
        return LiteralValue("incomplete", None, source.strip())
    if not toks:
        return LiteralValue("empty", None, "")
    if all(t.type == tokenize.STRING for t in toks):
        parts = [string_value(t) for t in toks]
        if any(p is None for p in parts):
            return LiteralValue("other", None, text)
        return LiteralValue("str", "".join(p for p in parts if p is not None), text)
    if len(toks) == 1:
        tok = toks[0]
        if tok.type == tokenize.NAME and tok.string in ("None", "True", "False"):
            return LiteralValue(
                "none" if tok.string == "None" else "bool",
                {"None": None, "True": True, "False": False}[tok.string],
                text,
            )
        if tok.type == tokenize.NUMBER:
            try:
                return LiteralValue("number", ast.literal_eval(tok.string), text)
            except (ValueError, SyntaxError):
                pass
    return LiteralValue("other", None, text)


class Tok(NamedTuple):
    """One significant token of :func:`scan_resync` (layout and comments are left out).

    ``type`` is a :mod:`tokenize` type; ``ERRORTOKEN`` marks a point where tokenizing
    failed (``string`` is then the reason) and the rest of that line was skipped.
    ``at_end`` is true for such a failure when no token follows it: most likely the
    place where a completion was cut off, rather than a mistake in the middle.
    (A named tuple: made once per token, it costs a third of a frozen dataclass.)
    """

    type: int
    string: str
    line: int  # 1-based, in the scanned source
    col: int
    at_end: bool = False

    @property
    def is_error(self) -> bool:
        return self.type == tokenize.ERRORTOKEN


_SKIP = frozenset(
    {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
)


def scan_resync(source: str, *, dedent: bool = True, line_offset: int = 0) -> list[Tok]:
    """Significant tokens of ``source``, resynchronising after every tokenizer error.

    Where :func:`scan_tokens` stops at the first error, this skips the rest of the
    offending line, records an ``ERRORTOKEN`` there and starts a fresh tokenizer on the
    next line, so a stray quote or a line of prose in the middle of a completion loses
    only that line.  With ``dedent`` every line's leading whitespace is dropped first:
    indentation carries no meaning for the pattern-based parsers that use this, and
    dedenting means an odd indent can never be an error.  Line numbers are those of
    ``source`` plus ``line_offset``.  Behaves the same whether the tokenizer reports an
    unterminated string with an ``ERRORTOKEN`` (Python < 3.12) or an exception (3.12+);
    any other exception of the tokenizer (NUL bytes, lone surrogates, nesting on 3.12+)
    is an error on the line being read.

    Examples
    --------
    >>> [t.string for t in scan_resync('x = "a"\\nHere\\'s prose\\ny = 2')][:3]
    ['x', '=', '"a"']
    >>> [(t.line, t.is_error) for t in scan_resync('x = "a"\\nHere\\'s prose\\ny = 2') if t.line == 2]
    [(2, False), (2, True)]
    >>> scan_resync('return "cut')[-1].at_end
    True
    """
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if dedent:
        lines = [ln.lstrip(" \t\f") for ln in lines]
    out: list[Tok] = []
    start = 0  # 0-based index of the first line of the current tokenizer run
    while start < len(lines):
        pos = [start]  # a cursor rather than a copied tail keeps repeated restarts linear

        def readline(pos: list[int] = pos) -> str:
            if pos[0] >= len(lines):
                return ""
            pos[0] += 1
            return lines[pos[0] - 1] + "\n"

        err: tuple[int, int, str] | None = None  # (1-based line, col, reason)
        try:
            for tok in tokenize.generate_tokens(readline):
                if tok.type in _SKIP:
                    continue
                line = tok.start[0] + start
                if tok.type == tokenize.ERRORTOKEN:
                    if not tok.string.strip():
                        continue  # stray whitespace (Python < 3.12)
                    reason = "unterminated string" if tok.string in ("'", '"') else f"unexpected {tok.string!r}"
                    err = (line, tok.start[1], reason)
                    break
                out.append(Tok(tok.type, tok.string, line + line_offset, tok.start[1]))
        except (tokenize.TokenError, SyntaxError) as e:
            if isinstance(e, SyntaxError):
                pos = (e.lineno or 1, (e.offset or 1) - 1)
                reason = e.msg
            else:
                pos = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], tuple) else (1, 0)
                reason = str(e.args[0])
            err = (min(pos[0], len(lines) - start) + start, pos[1], reason)
        except (ValueError, MemoryError, RecursionError) as e:  # no position: blame the line being read
            err = (max(pos[0], start + 1), 0, f"unreadable text ({type(e).__name__})")
        if err is None:
            break
        line, col, reason = err
        out.append(Tok(tokenize.ERRORTOKEN, reason, line + line_offset, col))
        # Tokens of the failing line after the failure point are already excluded; restart below it.
        start = max(line, start + 1)
    if out and out[-1].is_error:
        last = out[-1]
        out[-1] = Tok(last.type, last.string, last.line, last.col, at_end=True)
    return out


_WS = re.compile(r"\s*")


def header_tail_at(line: str, starts: Iterable[int]) -> int | None:
    """The first of ``starts`` (increasing) from which ``line`` ends as a ``def`` header ends.

    That is ``\\s*(->[^:]*)?:\\s*(#.*)?$``: an optional return annotation, the colon,
    then nothing but an optional comment.  The same test as that regular expression
    tried at each start, but in time linear in ``line`` however many starts there are
    (the expression itself backtracks into a quadratic scan on a line such as
    ``def f(`` followed by thousands of ``)->``).

    Examples
    --------
    >>> line = "def f(a)(b) -> int:  # note"
    >>> header_tail_at(line, [i + 1 for i, c in enumerate(line) if c == ")"])
    11
    >>> header_tail_at("def f() -> x", [7]) is None
    True
    """
    colon_from, colon = -1, -1  # the first ':' at or after colon_from (-1: none)
    tail_ok: dict[int, bool] = {}
    for q in starts:
        e = _WS.match(line, q).end()
        if line.startswith(":", e):
            c = e
        elif line.startswith("->", e):
            x = e + 2
            if colon_from < 0 or x < colon_from or (colon != -1 and x > colon):
                colon_from, colon = x, line.find(":", x)
            c = colon
            if c == -1:
                continue
        else:
            continue
        if c not in tail_ok:
            f = _WS.match(line, c + 1).end()
            tail_ok[c] = f == len(line) or line[f] == "#"
        if tail_ok[c]:
            return q
    return None
