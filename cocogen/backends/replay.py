"""Serve recorded completions from a file, so recorded runs can be shown and inspected offline.

Two file formats are read:

* CoCoGen's recorded outputs (``cocogen/outputs/*/*.jsonl`` in the data directory): one
  JSON object per example with ``codex_response.choices[i].text`` (the completion),
  ``input_prompt_code`` (the query the model continued) and the example's input fields;
* our own run files (:mod:`cocogen.runs`): a header line, then one record per example
  with ``id``, ``input``, ``query_text`` and ``completion``.

A request is matched, in this order, by the example id, by the example's input fields
(the task's :meth:`~cocogen.tasks.base.Task.to_input`, compared case- and
space-insensitively), and by the prompt's query text.  A miss is a :class:`BackendError`
that says so; nothing is invented.  CoCoGen's records are read by their task's own
reader (:meth:`~cocogen.tasks.base.Task.read_recorded`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocogen.backends.base import GenerationParams, RequestContext
from cocogen.errors import BackendError, ConfigError, DataError
from cocogen.jsonl import field_of, read_jsonl
from cocogen.settings import data_dir
from cocogen.tasks.base import Task
from cocogen.types import Generation

__all__ = ["ReplayBackend", "fingerprint", "recorded_outputs_path"]



def __getattr__(name: str) -> Any:
    # Temporary for the app: task name -> recorded-output path, now declared by each task.
    if name == "RECORDED_OUTPUTS":
        from cocogen.tasks import REGISTRY

        return {t.name: t.recorded_outputs for t in REGISTRY.values() if t.recorded_outputs}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def recorded_outputs_path(task: str) -> Path:
    """Where the paper's recorded outputs for ``task`` live in the data directory."""
    from cocogen.tasks import REGISTRY, get_task

    rel = get_task(task).recorded_outputs
    if rel is None:
        have = [t.name for t in REGISTRY.values() if t.recorded_outputs]
        raise ConfigError(
            f"No recorded outputs ship for task {task!r}.",
            hint=f"Recorded outputs exist for {', '.join(have)}; or pass a run file with --model FILE.",
        )
    return data_dir() / rel


def _norm(s: Any) -> str:
    return " ".join(str(s).lower().split())


def fingerprint(fields: Mapping[str, Any]) -> str | None:
    """A key made of an example's *input* fields (a task's ``to_input``), whatever file they came from.

    Examples
    --------
    >>> fingerprint({"belief": "Cats  rule.", "argument": "They do.", "stance": "support"})
    'argument=they do.|belief=cats rule.|stance=support'
    >>> fingerprint({"goal": "bake a cake", "num_steps": 7}) == fingerprint({"goal": "Bake a cake", "num_steps": 7})
    True
    >>> fingerprint({}) is None
    True
    """
    if not fields:
        return None
    parts = []
    for k in sorted(fields):
        v = fields[k]
        shown = "||".join(_norm(x) for x in v) if isinstance(v, (list, tuple)) else _norm(v)
        parts.append(f"{k}={shown}")
    return "|".join(parts)


def _query_key(text: str | None) -> str | None:
    """Query text compared line by line without trailing blanks (files differ in final newlines)."""
    if not text:
        return None
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    key = "\n".join(ln for ln in lines if ln)
    return key or None


@dataclass(frozen=True)
class _Record:
    id: str | None
    texts: tuple[str, ...]
    finish_reasons: tuple[str | None, ...]
    query_text: str | None
    fields: dict[str, Any]
    prompt_tokens: int | None
    completion_tokens: int | None
    line: int


def _task_of(d: Mapping[str, Any], task: str | None) -> Task | None:
    from cocogen.tasks import REGISTRY, get_task

    if task is not None:
        return get_task(task)
    return next((t for t in REGISTRY.values() if t.recognizes(d)), None)


def _recorded_input(d: Mapping[str, Any], line: int, index: int, path: Path, task: str | None) -> tuple[str | None, dict[str, Any]]:
    """The id and input fields of a CoCoGen record, as its task reads them (``None, {}`` when none does)."""
    t = _task_of(d, task)
    if t is None:
        return None, {}
    try:
        ref = t.read_recorded(d, path=path, line=line, index=index)
    except DataError:
        return None, {}  # a record we cannot read a reference from can still be matched by its query text
    return ref.id, (t.to_input(ref.query) if ref.query is not None else {})


def _choices_of(resp: dict[str, Any], line: int, path: Path) -> list[dict[str, Any]]:
    """``codex_response.choices``, each checked to be an object whose ``text`` is text."""
    choices = field_of(resp, "choices", list, path=path, line=line, where="codex_response.") or []
    for i, c in enumerate(choices):
        if not isinstance(c, dict):
            raise DataError(f"codex_response.choices[{i}] must be an object with a 'text'", path=str(path), line=line)
        field_of(c, "text", str, path=path, line=line, where=f"codex_response.choices[{i}].")
        field_of(c, "index", int, path=path, line=line, where=f"codex_response.choices[{i}].")
        field_of(c, "finish_reason", str, path=path, line=line, where=f"codex_response.choices[{i}].")
    return sorted(choices, key=lambda c: c.get("index") or 0)


def _tokens(usage: dict[str, Any], line: int, path: Path, where: str) -> tuple[int | None, int | None]:
    return (
        field_of(usage, "prompt_tokens", int, path=path, line=line, where=where),
        field_of(usage, "completion_tokens", int, path=path, line=line, where=where),
    )


def _parse_record(d: dict[str, Any], line: int, index: int, path: Path, task: str | None) -> _Record | None:
    """One line of a recording; a field of the wrong type is a :class:`DataError` naming it and the line."""
    if d.get("kind") == "header" or d.get("status", "ok") != "ok":
        return None  # a header, or an example our run recorded as failed: nothing to serve
    rid = field_of(d, "id", (str, int), path=path, line=line)
    rid = str(rid) if rid is not None else None
    if "codex_response" in d or "generated_code" in d:  # CoCoGen's recorded outputs
        resp = field_of(d, "codex_response", dict, path=path, line=line) or {}
        choices = _choices_of(resp, line, path)
        query = field_of(d, "input_prompt_code", str, path=path, line=line)
        gen = field_of(d, "generated_code", str, path=path, line=line)
        usage = field_of(resp, "usage", dict, path=path, line=line, where="codex_response.") or {}
        prompt_tokens, completion_tokens = _tokens(usage, line, path, "codex_response.usage.")
        ref_id, fields = _recorded_input(d, line, index, path, task)
        rid = rid or ref_id
        texts = tuple(str(c.get("text") or "") for c in choices)
        reasons = tuple(c.get("finish_reason") for c in choices)
        if not texts and gen is not None and query is not None:
            texts, reasons = ((gen[len(query) :] if gen.startswith(query) else gen),), (None,)
        return _Record(rid, texts, reasons, query, fields, prompt_tokens, completion_tokens, line)
    if "completion" in d:  # our run records
        completion = field_of(d, "completion", str, path=path, line=line)
        samples = field_of(d, "samples", list, path=path, line=line)
        if samples is not None and not all(isinstance(x, str) for x in samples):
            raise DataError("the field 'samples' must be a list of texts", path=str(path), line=line)
        usage = field_of(d, "usage", dict, path=path, line=line) or {}
        prompt_tokens, completion_tokens = _tokens(usage, line, path, "usage.")
        reason = field_of(usage, "finish_reason", str, path=path, line=line, where="usage.")
        query = field_of(d, "query_text", str, path=path, line=line)
        fields = field_of(d, "input", dict, path=path, line=line) or {}
        if samples:
            texts: tuple[str, ...] = tuple(samples)
        elif completion is not None:
            texts = (completion,)
        else:
            texts = ()  # an ok record without a completion: nothing to serve
        return _Record(rid, texts, (reason,) * len(texts), query, dict(fields), prompt_tokens, completion_tokens, line)
    raise DataError(
        "not a recorded completion (expected codex_response/generated_code or completion)", path=str(path), line=line
    )


def _input_of(context: RequestContext) -> dict[str, Any]:
    """The request's input fields, as its task writes them (what recorded fields are compared with)."""
    from cocogen.tasks.base import get_task, task_for_graph

    assert context.query is not None
    try:
        t = get_task(context.task) if context.task else task_for_graph(context.query)
        return t.to_input(context.query)
    except (ConfigError, TypeError, ValueError):
        return {}


class ReplayBackend:
    """Recorded completions, matched by example.

    Parameters
    ----------
    path
        A CoCoGen recorded-output file or one of our run files.  Default:
        ``$COCOGEN_REPLAY_FILE``, else the paper's recorded outputs for ``task``.
    task
        The task name, used only to find the default recording.
    model
        Same as ``path`` (the CLI passes the file as ``--model``).
    """

    name = "replay"
    mode = "completion"
    cacheable = False  # it is a recording already

    def __init__(self, path: str | Path | None = None, *, task: str | None = None, model: str | None = None) -> None:
        chosen = path or model or os.environ.get("COCOGEN_REPLAY_FILE")
        if chosen is None:
            if task is None:
                raise ConfigError(
                    "The replay backend needs a recorded file.", hint="Pass --model FILE.jsonl or choose a task."
                )
            chosen = recorded_outputs_path(task)
        self.path = Path(chosen).expanduser()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"The recorded file {self.path} does not exist.",
                hint="Run `cocogen data download` for the paper's recorded outputs, or pass a run file.",
            ) from None
        except OSError as e:
            raise ConfigError(f"Cannot read the recorded file {self.path}: {e.strerror}.") from None
        self._digest = hashlib.sha256(raw).hexdigest()[:16]
        self._records: list[_Record] = []
        self._model = self.path.stem
        # A run cut mid-write may end in a partial line; everything before it is served.
        for index, (i, d) in enumerate(read_jsonl(self.path, allow_cut_tail=True)):
            if d.get("kind") == "header":
                self._model = str(field_of(d, "model", str, path=self.path, line=i) or self._model)
                task = task or field_of(d, "task", str, path=self.path, line=i)
            elif isinstance(d.get("codex_response"), dict) and d["codex_response"].get("model"):
                model = field_of(d["codex_response"], "model", str, path=self.path, line=i, where="codex_response.")
                self._model = str(model)
            rec = _parse_record(d, i, index, self.path, task)
            if rec is not None and rec.texts:
                self._records.append(rec)
        self.task = task
        # Later records win (a run file may hold a retried example twice).
        self._by_id = {r.id: r for r in self._records if r.id is not None}
        self._by_fields: dict[str, _Record] = {}
        self._by_query: dict[str, _Record] = {}
        for r in self._records:
            fp = fingerprint(r.fields)
            if fp is not None:
                self._by_fields[fp] = r
            qk = _query_key(r.query_text)
            if qk is not None:
                self._by_query[qk] = r

    # --- identity -----------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self._model

    def signature(self) -> str:
        return f"replay|file={self.path.name}|sha256={self._digest}"

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"ReplayBackend({str(self.path)!r}, {len(self)} records)"

    def ids(self) -> list[str]:
        """Ids of the recorded examples that have one."""
        return [r.id for r in self._records if r.id is not None]

    def inputs(self) -> list[dict[str, Any]]:
        """The input fields of every recorded example (for choosing one in the app)."""
        return [dict(r.fields) for r in self._records]

    # --- lookup -------------------------------------------------------------------------

    def lookup(self, context: RequestContext | None = None, prompt: str = "", stop: Sequence[str] = ()) -> _Record:
        query = context.query_text if context is not None and context.query_text else None
        if query is None and prompt:
            query = prompt.rsplit(stop[0], 1)[-1] if stop and stop[0] in prompt else prompt
        qk = _query_key(query)
        # A completion continues the exact query it was recorded for: served for another
        # query of the same example (ProPara's participants in another order, another
        # format), it would be read against the wrong lines.  Such a match is refused.
        elsewhere: _Record | None = None
        if context is not None:
            candidates = []
            if context.example_id is not None and str(context.example_id) in self._by_id:
                candidates.append(self._by_id[str(context.example_id)])
            if context.query is not None:
                fp = fingerprint(_input_of(context))
                if fp is not None and fp in self._by_fields:
                    candidates.append(self._by_fields[fp])
            for rec in candidates:
                if context.query_text is None or rec.query_text is None or _query_key(rec.query_text) == qk:
                    return rec
                elsewhere = elsewhere or rec
        if qk is not None:
            if qk in self._by_query:
                return self._by_query[qk]
            # A prompt whose separator we do not know: the longest recorded query it ends with.
            ends = [k for k in self._by_query if qk.endswith("\n" + k) or qk == k]
            if ends:
                return self._by_query[max(ends, key=len)]
        what = f"example {context.example_id!r}" if context is not None and context.example_id else "this input"
        if elsewhere is not None:
            raise BackendError(
                f"The recorded completion of {what} in {self.path.name} continues a different prompt "
                "than this one, so it would be read against the wrong lines.",
                hint="Replay it with the prompt it was recorded for: the same format, and the paper's copy "
                "of the rows (split cocogen-dev / cocogen-test).",
            )
        raise BackendError(
            f"No recorded completion for {what} in {self.path.name} ({len(self)} recorded examples).",
            hint="Replay serves only the examples recorded in the file; pick one of them, or use another backend.",
        )

    def complete(
        self, prompt: str, params: GenerationParams | None = None, context: RequestContext | None = None
    ) -> list[Generation]:
        """The recorded completion(s) of the matching example; sampling parameters are ignored."""
        p = params or GenerationParams()
        rec = self.lookup(context, prompt, p.stop or ())
        gens = []
        for text, reason in list(zip(rec.texts, rec.finish_reasons, strict=True))[: max(1, p.n)]:
            gens.append(
                Generation(
                    text=text,
                    finish_reason=reason,
                    prompt_tokens=rec.prompt_tokens,
                    completion_tokens=rec.completion_tokens,
                    seconds=0.0,
                    raw={"replay": self.path.name, "id": rec.id, "line": rec.line},
                )
            )
        return gens
