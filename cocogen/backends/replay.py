"""Serve recorded completions from a file, so recorded runs can be shown and inspected offline.

Two file formats are read:

* CoCoGen's recorded outputs (``cocogen/outputs/*/*.jsonl`` in the data directory): one
  JSON object per example with ``codex_response.choices[i].text`` (the completion),
  ``input_prompt_code`` (the query the model continued) and the example's input fields;
* our own run files (:mod:`cocogen.runs`): a header line, then one record per example
  with ``id``, ``input``, ``query_text`` and ``completion``.

A request is matched, in this order, by the example id, by the example's input fields
(``belief``/``argument`` for ExplaGraphs, ``sentences``/``participants`` for ProPara,
``goal``/``num_steps``/``steps`` for proScript), and by the prompt's query text.  A miss
is a :class:`BackendError` that says so; nothing is invented.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocogen.backends.base import DEFAULT_TOP_P, RequestContext
from cocogen.errors import BackendError, ConfigError, DataError
from cocogen.settings import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, data_dir
from cocogen.types import Generation

__all__ = ["ReplayBackend", "RECORDED_OUTPUTS", "fingerprint", "recorded_outputs_path"]

# CoCoGen's recorded code-davinci-002 outputs, relative to the data directory.
RECORDED_OUTPUTS = {
    "explagraphs": "cocogen/outputs/explagraphs/dev_output.jsonl",
    "propara": "cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl",
}
_PROPARA_QUESTION = re.compile(r"^the location/state of\s+", re.I)


def recorded_outputs_path(task: str) -> Path:
    """Where the paper's recorded outputs for ``task`` live in the data directory."""
    try:
        rel = RECORDED_OUTPUTS[task]
    except KeyError:
        raise ConfigError(
            f"No recorded outputs ship for task {task!r}.",
            hint=f"Recorded outputs exist for {', '.join(RECORDED_OUTPUTS)}; or pass a run file with --model FILE.",
        ) from None
    return data_dir() / rel


def _norm(s: Any) -> str:
    return " ".join(str(s).lower().split())


def fingerprint(fields: Mapping[str, Any]) -> str | None:
    """A key made of an example's *input* fields, whatever file or graph they came from.

    Examples
    --------
    >>> fingerprint({"belief": "Cats  rule.", "argument": "They do.", "stance": "support"})
    'eg|cats rule.|they do.'
    >>> fingerprint({"goal": "bake a cake", "num_steps": 7}) == fingerprint({"goal": "Bake a cake", "num_steps": 7})
    True
    >>> fingerprint({"x": 1}) is None
    True
    """
    if "belief" in fields and "argument" in fields:
        return f"eg|{_norm(fields['belief'])}|{_norm(fields['argument'])}"
    if "sentences" in fields and "participants" in fields:
        return (
            "pp|"
            + "|".join(_norm(s) for s in fields["sentences"])
            + "||"
            + "|".join(_norm(p) for p in fields["participants"])
        )
    if "goal" in fields:
        steps = fields.get("steps") or ()
        n = fields.get("num_steps") or len(steps)
        return f"ps|{_norm(fields['goal'])}|{n}|" + "|".join(_norm(s) for s in steps)
    return None


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


def _explagraphs_id(belief: str, argument: str) -> str | None:
    """CoCoGen's ExplaGraphs outputs carry no id; ours is a hash the task defines."""
    try:
        from cocogen.tasks.explagraphs import example_id
    except ImportError:  # pragma: no cover - the task ships with the package
        return None
    return example_id(belief, argument)


def _cocogen_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    """Input fields of a CoCoGen record, in our field names."""
    if "belief" in d and "argument" in d:
        return {k: d[k] for k in ("belief", "argument", "stance") if k in d}
    if isinstance(d.get("steps"), list) and isinstance(d.get("questions"), list):
        steps = [str(s) for s in d["steps"]]
        if steps and steps[0].strip().lower() == "init":
            steps = steps[1:]
        parts = [_PROPARA_QUESTION.sub("", str(q.get("question", ""))) for q in d["questions"]]
        return {"sentences": steps, "participants": parts}
    if "goal" in d:
        return {k: d[k] for k in ("goal", "num_steps", "steps") if k in d}
    return {}


def _parse_record(d: Mapping[str, Any], line: int, path: Path) -> _Record | None:
    if d.get("kind") == "header" or d.get("status", "ok") != "ok":
        return None  # a header, or an example our run recorded as failed: nothing to serve
    rid = d.get("id")
    rid = str(rid) if rid is not None else None
    if rid is None and isinstance(d.get("belief"), str) and isinstance(d.get("argument"), str):
        rid = _explagraphs_id(d["belief"], d["argument"])
    if "codex_response" in d or "generated_code" in d:  # CoCoGen's recorded outputs
        resp = d.get("codex_response") or {}
        choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index") or 0)
        texts = tuple(str(c.get("text") or "") for c in choices)
        reasons = tuple(c.get("finish_reason") for c in choices)
        query = d.get("input_prompt_code")
        if not texts and isinstance(d.get("generated_code"), str) and isinstance(query, str):
            gen = d["generated_code"]
            texts, reasons = ((gen[len(query) :] if gen.startswith(query) else gen),), (None,)
        usage = resp.get("usage") or {}
        return _Record(
            rid,
            texts,
            reasons,
            query,
            _cocogen_fields(d),
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            line,
        )
    if "completion" in d:  # our run records
        samples = d.get("samples")
        texts = tuple(str(s) for s in samples) if isinstance(samples, list) and samples else (str(d["completion"]),)
        usage = d.get("usage") or {}
        return _Record(
            rid,
            texts,
            (usage.get("finish_reason"),) * len(texts),
            d.get("query_text"),
            dict(d.get("input") or {}),
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            line,
        )
    raise DataError(
        "not a recorded completion (expected codex_response/generated_code or completion)", path=str(path), line=line
    )


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
    supports_grammar = False
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
        lines = raw.decode("utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except ValueError as e:
                if i == len(lines):
                    break  # a run cut mid-write: its last line may be partial
                raise DataError(f"not valid JSON ({e})", path=str(self.path), line=i) from None
            if not isinstance(d, dict):
                raise DataError("expected a JSON object", path=str(self.path), line=i)
            if d.get("kind") == "header":
                self._model = str(d.get("model") or self._model)
            elif isinstance(d.get("codex_response"), dict) and d["codex_response"].get("model"):
                self._model = str(d["codex_response"]["model"])
            rec = _parse_record(d, i, self.path)
            if rec is not None and rec.texts:
                self._records.append(rec)
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
        if context is not None:
            if context.example_id is not None and str(context.example_id) in self._by_id:
                return self._by_id[str(context.example_id)]
            if context.query is not None:
                fp = fingerprint(context.query.to_dict())
                if fp is not None and fp in self._by_fields:
                    return self._by_fields[fp]
        query = context.query_text if context is not None and context.query_text else None
        if query is None and prompt:
            query = prompt.rsplit(stop[0], 1)[-1] if stop and stop[0] in prompt else prompt
        qk = _query_key(query)
        if qk is not None:
            if qk in self._by_query:
                return self._by_query[qk]
            # A prompt whose separator we do not know: the longest recorded query it ends with.
            ends = [k for k in self._by_query if qk.endswith("\n" + k) or qk == k]
            if ends:
                return self._by_query[max(ends, key=len)]
        what = f"example {context.example_id!r}" if context is not None and context.example_id else "this input"
        raise BackendError(
            f"No recorded completion for {what} in {self.path.name} ({len(self)} recorded examples).",
            hint="Replay serves only the examples recorded in the file; pick one of them, or use another backend.",
        )

    def complete(
        self,
        prompt: str,
        *,
        stop: Sequence[str] = (),
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float = DEFAULT_TOP_P,
        n: int = 1,
        seed: int | None = None,
        context: RequestContext | None = None,
    ) -> list[Generation]:
        """The recorded completion(s) of the matching example; sampling parameters are ignored."""
        rec = self.lookup(context, prompt, stop)
        gens = []
        for text, reason in list(zip(rec.texts, rec.finish_reasons, strict=True))[: max(1, n)]:
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
