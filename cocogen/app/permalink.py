"""Permalinks: the view's task, format, input and answer-changing settings as URL query parameters.

:func:`encode` turns what a page shows into a flat ``{name: text}`` mapping (for
``st.query_params``); :func:`decode` reads one back, refusing anything malformed with one
sentence per parameter and falling back to the defaults for it, so a garbled address
still opens the page.  No Streamlit here.

Only settings that change the answer travel: the few-shot choice (k, selection, its seed,
the token budget), sampling (max tokens, temperature, top-p, sampling seed), the backend
kind and, for a server, the model name.  Never a key and never a server address.  A value
equal to the default is left out, so a plain view has a short link.

A dataset row loaded as the reference travels as ``ref=<split>:<row>``.  Edited few-shot examples travel in the link itself when small (``fs=z:…``: zlib-compressed
JSON, URL-safe base64); a larger set is saved under the cache folder by its content hash
and the link carries ``fs=h:<hash>`` (it opens on the machine that saved it).

Examples
--------
>>> from cocogen.app.state import GenerationSettings
>>> p = encode("explagraphs", "code", {"belief": "b", "argument": "a", "stance": "support"},
...            GenerationSettings(temperature=0.5))
>>> sorted(p)
['fmt', 'in', 'task', 'temp']
>>> view, warnings = decode(p)
>>> view.task, view.input["stance"], view.settings["temperature"], warnings
('explagraphs', 'support', 0.5, [])
>>> decode({"task": "nope", "k": "many"})[1]
["The link names no task 'nope'; showing the default task.", "The link's k ('many') is not a whole number; using the default."]
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocogen.app.state import GenerationSettings
from cocogen.errors import CocogenError, InputError
from cocogen.jsonl import JsonError, loads
from cocogen.prompts import SELECTIONS
from cocogen.settings import cache_dir
from cocogen.tasks.base import REGISTRY, Task
from cocogen.types import Example

__all__ = ["SharedView", "encode", "decode", "encode_pool", "decode_pool", "MAX_INLINE_POOL", "pool_dir"]

MAX_INLINE_POOL = 6000  # characters of an inline few-shot set; longer ones are saved and linked by hash
MAX_PARAM = 100_000  # characters of any one parameter read back (a garbled link is refused, not parsed)
MAX_POOL_BYTES = 2_000_000  # a compressed set may not expand beyond this (no zip bombs)
MAX_POOL_EXAMPLES = 64

# Query parameter → (GenerationSettings field, type, lowest, highest): the settings that change an answer.
SETTING_PARAMS: dict[str, tuple[str, type, float, float]] = {
    "k": ("k", int, 0, 16),
    "sseed": ("select_seed", int, 0, 2**31 - 1),
    "budget": ("token_budget", int, 200, 32000),
    "max": ("max_tokens", int, 16, 4096),
    "temp": ("temperature", float, 0.0, 2.0),
    "topp": ("top_p", float, 0.05, 1.0),
    "seed": ("seed", int, 0, 2**31 - 1),
}
BACKEND_KINDS = ("local", "openai", "replay")


@dataclass(frozen=True)
class SharedView:
    """What a link asks for; ``None`` or empty where it says nothing (keep the defaults)."""

    task: str | None = None
    format: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # GenerationSettings fields
    backend: str | None = None
    model: str | None = None
    fewshot: tuple[Example, ...] | None = None
    generate: bool = False  # the view showed an answer: produce it again on opening
    reference: tuple[str, int] | None = None  # (split, row): the dataset row the input came from


def pool_dir() -> Path:
    """Where few-shot sets too large for a link are saved, by content hash."""
    return cache_dir() / "shared-fewshot"


def _pool_json(pool: Sequence[Example]) -> bytes:
    rows = [{"id": ex.id, "graph": ex.graph.to_dict()} for ex in pool]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def encode_pool(pool: Sequence[Example], *, store: Path | None = None) -> str:
    """``z:<data>`` for a small set, else ``h:<hash>`` after saving the set under ``store``."""
    raw = _pool_json(pool)
    inline = "z:" + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")
    if len(inline) <= MAX_INLINE_POOL:
        return inline
    digest = hashlib.sha256(raw).hexdigest()[:32]
    folder = store or pool_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}.json"
    if not target.is_file():
        tmp = target.with_suffix(".part")
        tmp.write_bytes(raw)
        tmp.replace(target)
    return f"h:{digest}"


def decode_pool(task: Task, value: str, *, store: Path | None = None) -> tuple[Example, ...]:
    """The few-shot set of a link (:class:`InputError` with one sentence when it cannot be read)."""
    kind, _, data = value.partition(":")
    if kind == "z":
        try:
            packed = base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_", validate=True)
            inflater = zlib.decompressobj()
            raw = inflater.decompress(packed, MAX_POOL_BYTES)
            if inflater.unconsumed_tail:
                raise InputError("The link's few-shot examples are too large.")
            if not inflater.eof:
                raise ValueError("cut")
        except (ValueError, zlib.error):
            raise InputError("The link's few-shot examples are damaged (cut or changed).") from None
    elif kind == "h" and data and all(ch in "0123456789abcdef" for ch in data):
        path = (store or pool_dir()) / f"{data}.json"
        if not path.is_file():
            raise InputError("The link's few-shot examples were saved on another machine and are not here.")
        raw = path.read_bytes()
    else:
        raise InputError("The link's few-shot examples are not in a form this app writes.")
    try:
        rows = loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, JsonError):
        raise InputError("The link's few-shot examples are damaged (not JSON).") from None
    if not isinstance(rows, list) or len(rows) > MAX_POOL_EXAMPLES:
        raise InputError(f"The link's few-shot examples must be a list of at most {MAX_POOL_EXAMPLES}.")
    out = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not isinstance(row.get("graph"), dict):
            raise InputError("A few-shot example of the link has no id or graph.")
        try:
            graph = task.graph_type.from_dict(row["graph"])
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise InputError(f"The link's few-shot example {row['id'][:40]!r} is not a {task.title} example.") from None
        out.append(Example(row["id"], graph, {"source": "link"}))
    return tuple(out)


def encode(
    task: str,
    fmt: str,
    input_values: Mapping[str, Any],
    settings: GenerationSettings,
    *,
    backend: str | None = None,
    model: str | None = None,
    pool: Sequence[Example] | None = None,
    default_pool: Sequence[Example] | None = None,
    generate: bool = False,
    reference: tuple[str, int] | None = None,
    store: Path | None = None,
) -> dict[str, str]:
    """Query parameters for a view; ``pool`` travels only when it differs from ``default_pool``."""
    params = {"task": task, "fmt": fmt, "in": json.dumps(dict(input_values), ensure_ascii=False, separators=(",", ":"))}
    defaults = GenerationSettings()
    for name, (attr, _, _, _) in SETTING_PARAMS.items():
        value = getattr(settings, attr)
        if value is not None and value != getattr(defaults, attr) and not (attr == "seed" and value == 0):
            params[name] = str(value)
    if settings.select != defaults.select:
        params["sel"] = settings.select
    if backend and backend != "local":
        params["backend"] = backend
    if model and backend == "openai":
        params["model"] = model
    if pool is not None and default_pool is not None and _pool_json(pool) != _pool_json(default_pool):
        params["fs"] = encode_pool(pool, store=store)
    if reference is not None:
        params["ref"] = f"{reference[0]}:{reference[1]}"
    if generate:
        params["go"] = "1"
    return params


def _one(params: Mapping[str, Any], name: str) -> str | None:
    """One parameter as text: the last one if repeated (``?k=1&k=2``), ``None`` if absent or too long."""
    value = params.get(name)
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    if value is None:
        return None
    return str(value)


def decode(params: Mapping[str, Any], *, store: Path | None = None) -> tuple[SharedView, list[str]]:
    """The view a link asks for, and one sentence per parameter that was ignored."""
    from cocogen import tasks as _  # noqa: F401  (registers the built-in tasks)

    warnings: list[str] = []
    raw = {name: _one(params, name) for name in params}
    for name, value in list(raw.items()):
        if value is not None and len(value) > MAX_PARAM:
            warnings.append(f"The link's {name} is too long to be read; it was ignored.")
            raw[name] = None

    task = REGISTRY.get(raw.get("task") or "")
    if raw.get("task") and task is None:
        warnings.append(f"The link names no task {raw['task'][:40]!r}; showing the default task.")
    fmt = raw.get("fmt")
    if task is not None and fmt is not None and fmt not in task.formats:
        warnings.append(f"{task.title} has no format {fmt[:40]!r}; showing its default format.")
        fmt = None

    inputs: dict[str, Any] = {}
    if task is not None and raw.get("in"):
        try:
            value = loads(raw["in"])
            if not isinstance(value, dict):
                raise InputError("it is not a JSON object")
            # The task's own validator (the rules of the form and the CLI), then its canonical
            # values: "7" becomes 7 and "SUPPORT" support, as the form's widgets hold them.
            inputs = json.loads(json.dumps(task.to_input(task.from_input(value))))
        except JsonError as e:
            warnings.append(f"The link's input is not valid JSON ({e.reason}); showing the sample input.")
        except CocogenError as e:
            warnings.append(f"The link's input was not used ({str(e).rstrip('.')}); showing the sample input.")

    settings: dict[str, Any] = {}
    for name, (attr, kind, low, high) in SETTING_PARAMS.items():
        text = raw.get(name)
        if text is None:
            continue
        try:
            number = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            warnings.append(f"The link's {name} ({text[:20]!r}) is not {what}; using the default.")
            continue
        if not (isinstance(number, int) or math.isfinite(number)) or not low <= number <= high:
            warnings.append(f"The link's {name} ({text[:20]}) is outside {low:g}–{high:g}; using the default.")
            continue
        settings[attr] = number
    if (sel := raw.get("sel")) is not None:
        sel = sel.replace(" ", "+")  # "fixed+knn" typed into a link unescaped reads as "fixed knn"
        if sel in SELECTIONS:
            settings["select"] = sel
        else:
            warnings.append(f"The link's selection {sel[:20]!r} is not one of {', '.join(SELECTIONS)}; using fixed.")

    backend = raw.get("backend")
    if backend is not None and backend not in BACKEND_KINDS:
        warnings.append(f"The link's backend {backend[:20]!r} is unknown; using the one chosen here.")
        backend = None

    pool = None
    if task is not None and raw.get("fs"):
        try:
            pool = decode_pool(task, raw["fs"], store=store)
        except InputError as e:
            warnings.append(f"{str(e).rstrip('.')}; using our few-shot examples.")
    reference = None
    if task is not None and (ref := raw.get("ref")):
        split, _, row = ref.rpartition(":")
        if split in task.splits and row.isdigit() and int(row) < 10**7:
            reference = (split, int(row))
        else:
            warnings.append(f"The link's reference row {ref[:40]!r} is not a row of any {task.title} split; none is used.")
    view = SharedView(
        task=task.name if task is not None else None,
        format=fmt if task is not None else None,
        input=inputs,
        settings=settings,
        backend=backend,
        model=(raw.get("model") or None) if backend == "openai" else None,
        fewshot=pool,
        generate=raw.get("go") == "1",
        reference=reference,
    )
    return view, warnings
