"""The one JSON Lines reader: every dataset, few-shot file, run file and recorded output goes through it.

Every error is a :class:`~cocogen.errors.DataError` naming the file and, for a bad line,
the line number.  A last line cut mid-write (a killed run) is an error unless the caller
says it expects one with ``allow_cut_tail=True``; then it is dropped and reported in
:attr:`JsonLines.cut_tail`.

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

__all__ = ["JsonLines", "read_jsonl", "MISSING_DATA_HINT"]

MISSING_DATA_HINT = "Run `cocogen data download`, or point COCOGEN_DATA_DIR at a folder holding the data."


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
        interrupted); it is dropped and ``cut_tail`` is set.  A complete object that only
        lacks its newline is always kept.
    allow_empty
        Accept a file with no objects (else a :class:`DataError`).
    missing_hint
        The hint given when the file does not exist.

    Raises
    ------
    DataError
        The file is missing, unreadable, not UTF-8, or a line is not a JSON object.
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
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if last_open and allow_cut_tail:  # a write cut inside a multi-byte character
                cut = True
                break
            raise DataError("the line is not UTF-8 text", path=str(p), line=i) from None
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            if last_open and allow_cut_tail:
                cut = True
                break
            raise DataError(f"not valid JSON ({e.msg} at column {e.colno})", path=str(p), line=i) from None
        if not isinstance(obj, dict):
            raise DataError("each line must be a JSON object", path=str(p), line=i)
        rows.append((i, obj))
    if not rows and not allow_empty:
        raise DataError("the file holds no records", path=str(p))
    return JsonLines(p, rows, cut)
