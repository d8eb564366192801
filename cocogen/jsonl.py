"""The one JSON Lines reader: every dataset, few-shot file, run file and recorded output goes through it.

Every error is a :class:`~cocogen.errors.DataError` naming the file and, for a bad line,
the line number.  A last line cut mid-write (a killed run) is an error unless the caller
says it expects one with ``allow_cut_tail=True``; then it is dropped and reported in
:attr:`JsonLines.cut_tail`.  Only a line that can be the start of a JSON object written
after at least one complete one counts as cut: a file that is nothing but one unfinished
line, or that ends in text which is no JSON at all, is not a JSONL file that was cut.

JSON nested deeper than :data:`MAX_DEPTH` levels is refused (with the line): Python's
``json`` raises ``RecursionError`` on deep input, and deep objects would overflow the
recursion of whatever reads them next.  :func:`loads` is the same check for one JSON text.

It does not check what the objects mean: callers validate their own fields.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
>>> _ = p.write_text('{"a": 1}\\n\\n{"a": 2}\\n{"a"', encoding="utf-8")
>>> [(ln, d["a"]) for ln, d in read_jsonl(p, allow_cut_tail=True)]
[(1, 1), (3, 2)]
>>> read_jsonl(p).rows
Traceback (most recent call last):
...
cocogen.errors.DataError: ...x.jsonl:4: not valid JSON (Expecting ':' delimiter at column 5)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocogen.errors import DataError

__all__ = ["JsonLines", "read_jsonl", "loads", "field_of", "JsonError", "MAX_DEPTH", "MISSING_DATA_HINT"]

MISSING_DATA_HINT = "Run `cocogen data download`, or point COCOGEN_DATA_DIR at a folder holding the data."

# Our own records nest about 6 levels deep; 100 leaves room for any honest file.
MAX_DEPTH = 100


class JsonError(ValueError):
    """A JSON text that cannot be read: ``reason`` says why, in words, without the file."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _depth_exceeds(obj: Any, limit: int) -> bool:
    """Whether ``obj`` nests lists/objects more than ``limit`` levels deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        cur, depth = stack.pop()
        if isinstance(cur, dict):
            children: Any = cur.values()
        elif isinstance(cur, list):
            children = cur
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises only :class:`JsonError`, also for input nested too deeply.

    Examples
    --------
    >>> loads('{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> loads("[" * 5000 + "]" * 5000)
    Traceback (most recent call last):
    ...
    cocogen.jsonl.JsonError: nested more than 100 levels deep
    >>> loads('{"a": 1')
    Traceback (most recent call last):
    ...
    cocogen.jsonl.JsonError: Expecting ',' delimiter at line 1, column 8
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonError(f"{e.msg} at line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise JsonError(f"nested more than {max_depth} levels deep") from None
    except ValueError as e:  # an integer of more than 4,300 digits, which int() refuses
        raise JsonError(_number_reason(e)) from None
    if _depth_exceeds(obj, max_depth):
        raise JsonError(f"nested more than {max_depth} levels deep")
    return obj


def _number_reason(e: ValueError) -> str:
    """Why ``json.loads`` refused a text that is valid JSON syntax (a number too long to convert)."""
    if "digits" in str(e):
        return "a number in it has more digits than Python converts (4,300)"
    return f"not valid JSON ({' '.join(str(e).split())[:120]})"


def _may_be_cut_object(raw: bytes) -> bool:
    """Whether an unterminated last line can be an object whose write was interrupted."""
    return raw.lstrip().startswith(b"{")


@dataclass(frozen=True)
class JsonLines:
    """The objects of a JSONL file, each with its 1-based line number."""

    path: Path
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    cut_tail: bool = False  # the last line was cut mid-write and was left out

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def read_jsonl(
    path: str | Path,
    *,
    allow_cut_tail: bool = False,
    allow_empty: bool = False,
    missing_hint: str = MISSING_DATA_HINT,
) -> JsonLines:
    """Read ``path``: one JSON object per non-blank line.

    Parameters
    ----------
    allow_cut_tail
        Accept a last line without its newline that is not valid JSON (a write that was
        interrupted); it is dropped and ``cut_tail`` is set.  It must follow at least one
        complete object and begin like one (``{``).  A complete object that only lacks
        its newline is always kept.
    allow_empty
        Accept a file with no objects (else a :class:`DataError`).
    missing_hint
        The hint given when the file does not exist.

    Raises
    ------
    DataError
        The file is missing, unreadable, not UTF-8, or a line is not a JSON object (or
        is nested more than :data:`MAX_DEPTH` levels deep).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DataError("the file does not exist", path=str(p), hint=missing_hint) from None
    except IsADirectoryError:
        raise DataError("is a folder, not a file", path=str(p)) from None
    except OSError as e:
        raise DataError(f"cannot be read ({e.strerror})", path=str(p)) from None
    lines = data.split(b"\n")
    ends_open = bool(lines) and lines[-1] != b""
    rows: list[tuple[int, dict[str, Any]]] = []
    cut = False
    for i, raw in enumerate(lines, start=1):
        last_open = ends_open and i == len(lines)
        # A cut line is the tail of a file of records: it follows one and starts like one.
        may_be_cut = last_open and allow_cut_tail and bool(rows) and _may_be_cut_object(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if may_be_cut:  # a write cut inside a multi-byte character
                cut = True
                break
            raise DataError("the line is not UTF-8 text", path=str(p), line=i) from None
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            if may_be_cut:
                cut = True
                break
            raise DataError(f"not valid JSON ({e.msg} at column {e.colno})", path=str(p), line=i) from None
        except RecursionError:
            raise DataError(f"the line is nested more than {MAX_DEPTH} levels deep", path=str(p), line=i) from None
        except ValueError as e:  # an integer of more than 4,300 digits, which int() refuses
            raise DataError(_number_reason(e), path=str(p), line=i) from None
        if _depth_exceeds(obj, MAX_DEPTH):
            raise DataError(f"the line is nested more than {MAX_DEPTH} levels deep", path=str(p), line=i)
        if not isinstance(obj, dict):
            raise DataError("each line must be a JSON object", path=str(p), line=i)
        rows.append((i, obj))
    if not rows and not allow_empty:
        raise DataError("the file holds no records", path=str(p))
    return JsonLines(p, rows, cut)


# JSON's names for Python's types, for messages about a field of the wrong type.
_JSON_NAMES: dict[type, str] = {
    dict: "an object",
    list: "a list",
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def _json_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def field_of(
    record: dict[str, Any],
    key: str,
    types: type | tuple[type, ...],
    *,
    path: str | Path,
    line: int,
    where: str = "",
) -> Any:
    """``record[key]`` if absent (``None``) or of one of ``types``, else a :class:`DataError` at ``path:line``.

    ``where`` names the enclosing field for nested ones (``"codex_response."``).  A JSON
    ``true`` is not accepted as a number.

    Examples
    --------
    >>> field_of({"choices": [1]}, "choices", list, path="x.jsonl", line=3)
    [1]
    >>> field_of({}, "choices", list, path="x.jsonl", line=3) is None
    True
    >>> field_of({"choices": 5}, "choices", list, path="x.jsonl", line=3)
    Traceback (most recent call last):
    ...
    cocogen.errors.DataError: x.jsonl:3: the field 'choices' must be a list, not a whole number
    """
    value = record.get(key)
    allowed = types if isinstance(types, tuple) else (types,)
    if value is None or (isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)):
        return value
    expected = " or ".join(_JSON_NAMES.get(t, t.__name__) for t in allowed)
    raise DataError(f"the field '{where}{key}' must be {expected}, not {_json_name(value)}", path=str(path), line=line)
