"""One input through the whole chain: prompt → backend (via the cache) → format parser.

:func:`generate` is the library call the CLI's ``generate`` command, batch runs and the
app all use.  It never executes model output: the format's parser reads it.

A backend is anything with ``signature()`` and ``complete(prompt, params, context)``.
Offline, for a task whose recorded outputs (``task.recorded_outputs``) are in the data
directory, the paper's own answer to a dataset row::

    from cocogen.backends import make_backend
    row = task.load(split)[0]
    r = generate(task, None, row.graph, make_backend("replay", task=task.name), example_id=row.id)
    r.ok, r.graph, r.problems, r.usage()
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cocogen.backends.base import Backend, GenerationParams, RequestContext
from cocogen.cache import CompletionCache, cache_key
from cocogen.confidence import Confidence, element_confidence
from cocogen.errors import BackendError
from cocogen.merge import Merged, merge_graphs
from cocogen.prompts import Prompt, PromptSpec, build_prompt
from cocogen.streaming import STOPPED, LiveText, complete_live
from cocogen.tasks.base import Format, Task, get_format, get_task
from cocogen.types import Generation, Graph, ParseResult, Problem

__all__ = ["Result", "Sample", "generate", "complete_cached"]


@dataclass(frozen=True)
class Sample:
    """One completion and what the parser made of it."""

    completion: str
    code: str  # the query text followed by the completion: the whole program/text
    parse: ParseResult
    generation: Generation
    # How sure the model was of each element of this sample's graph (see :mod:`cocogen.confidence`).
    confidence: Confidence = field(default_factory=Confidence)


@dataclass(frozen=True)
class Result:
    """Everything :func:`generate` did for one input.  The first sample is the answer."""

    task: str
    format: str
    query: Graph
    prompt: Prompt
    samples: tuple[Sample, ...]
    backend: str  # the backend's signature (never a key)
    model: str
    params: GenerationParams
    timing: dict[str, float] = field(default_factory=dict)  # prompt_s, model_s, parse_s, total_s
    example_id: str | None = None
    merged: Merged | None = None  # the samples merged into one graph (``generate(..., merge=True)``)
    # The merged graph as the format writes it (parsed like a completion): the answer when merged.
    merged_answer: Sample | None = None

    @property
    def answer(self) -> Sample:
        """What the result answers: the merged graph's rendering when merged, else the first sample."""
        return self.merged_answer if self.merged_answer is not None else self.samples[0]

    @property
    def completion(self) -> str:
        return self.answer.completion

    @property
    def code(self) -> str:
        return self.answer.code

    @property
    def parse(self) -> ParseResult:
        return self.answer.parse

    @property
    def graph(self) -> Graph | None:
        """The answer: the merged graph when the samples were merged, else the first sample's."""
        return self.merged.graph if self.merged is not None else self.parse.graph

    @property
    def confidence(self) -> Confidence:
        """The model's confidence in each element of the answer (not available for a merged graph: see ``merged``)."""
        return self.answer.confidence

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self.parse.problems

    @property
    def ok(self) -> bool:
        return self.merged is not None or self.parse.ok

    @property
    def cached(self) -> bool:
        return self.samples[0].generation.cached

    def usage(self) -> dict[str, Any]:
        """Tokens, time and cache state of the request (summed over samples where it matters)."""
        gens = [s.generation for s in self.samples]
        completion_tokens = [g.completion_tokens for g in gens]
        return {
            "backend": self.backend,
            "model": self.model,
            "cached": gens[0].cached,
            "prompt_tokens": gens[0].prompt_tokens,
            "completion_tokens": sum(completion_tokens) if None not in completion_tokens else None,  # type: ignore[arg-type]
            "finish_reason": gens[0].finish_reason,
            "model_seconds": gens[0].seconds,
            "prompt_tokens_estimate": self.prompt.n_tokens,
            **{k: round(v, 6) for k, v in self.timing.items()},
            # What the backend said about the answer: why it is unconstrained, what it asked again.
            **{k: v for k, v in (gens[0].raw or {}).items() if k in ("warning", "retried")},
        }

    def to_dict(self) -> dict[str, Any]:
        """The CLI's ``--json`` shape: ``ok``, ``code``, ``graph``, ``problems``, ``usage`` (+ samples when n > 1)."""
        d: dict[str, Any] = {
            "ok": self.ok,
            "code": self.code,
            "graph": self.graph.to_dict() if self.graph is not None else None,
            "problems": [p.to_dict() for p in self.problems],
            "usage": self.usage(),
        }
        d["confidence"] = self.confidence.values
        d["runner_up"] = self.confidence.runner_up
        if len(self.samples) > 1:
            d["samples"] = [
                {"code": s.code, **s.parse.to_dict(), "confidence": s.confidence.values} for s in self.samples
            ]
        if self.merged is not None:
            d["merged"] = self.merged.graph.to_dict()
            d["agreement"] = self.merged.agreement
        return d


def complete_cached(
    backend: Backend,
    prompt: str,
    params: GenerationParams,
    *,
    stop: Sequence[str] = (),
    context: RequestContext | None = None,
    cache: CompletionCache | None = None,
    live: LiveText | None = None,
) -> list[Generation]:
    """``backend.complete`` behind the cache.  ``stop`` is used when ``params.stop`` is ``None``.

    With ``live``, the answer is written into it as it is decoded (a cache hit at once), and
    a Stop ends it early; a stopped answer is not cached (see :mod:`cocogen.streaming`).
    The answer is cached under the backend's signature as it is after the call, which differs
    when the backend gave up the grammar during it (the server refused or ignored it): an
    unconstrained answer must not come back for a constrained request.
    """
    effective = params if params.stop is not None else params.replace(stop=tuple(stop))
    key = signature = None
    # Backends that are already a recording (replay) say so; caching them only copies the file.
    if cache is not None and cache.enabled and getattr(backend, "cacheable", True):
        signature = backend.signature()
        key = cache_key(signature, prompt, effective.to_dict())
        hit = cache.get(key)
        if hit is not None:
            if live is not None:
                live.write(hit[0].text)
            return hit
    if live is not None:
        gens = complete_live(backend, prompt, effective, context, live)
    else:
        gens = backend.complete(prompt, effective, context)
    if not gens:
        raise BackendError(f"The {backend.name} backend returned no completion.", retryable=True)
    if cache is not None and key is not None and all(g.finish_reason != STOPPED for g in gens):
        after = backend.signature()
        if after != signature:
            key = cache_key(after, prompt, effective.to_dict())
        cache.put(key, gens, after)
    return gens


def generate(
    task: Task | str,
    fmt: Format | str | None,
    query: Graph | Mapping[str, Any],
    backend: Backend,
    *,
    spec: PromptSpec | None = None,
    params: GenerationParams | Mapping[str, Any] | None = None,
    cache: CompletionCache | None = None,
    example_id: str | None = None,
    prompt: Prompt | None = None,
    live: LiveText | None = None,
    merge: bool = False,
) -> Result:
    """Build the prompt for ``query``, complete it with ``backend``, parse the answer.

    Parameters
    ----------
    task, fmt
        A task (or its name) and one of its formats (``None``: the default code format).
    query
        The input as a graph (output fields are ignored) or as the task's input fields.
    backend
        Any :class:`~cocogen.backends.base.Backend`.
    spec
        Few-shot selection (:class:`~cocogen.prompts.PromptSpec`; ``None``: the defaults).
    params
        :class:`GenerationParams` or a mapping of them; ``stop=None`` uses the format's, and
        ``seed`` is the *sampling* seed.
    cache
        A :class:`CompletionCache`; ``None`` asks the backend every time.
    example_id
        The dataset id, passed to the backend (the replay backend matches on it).
    prompt
        A prompt built beforehand (e.g. shown to the user first); skips building.
    live
        A :class:`~cocogen.streaming.LiveText` to watch the completion as it is written
        and to stop it (the result then keeps what was written).
    merge
        Merge the ``params.n`` samples into one graph (:mod:`cocogen.merge`); the result's
        ``graph`` is then the merged one.  Samples that did not parse are left out of it.

    Raises
    ------
    BackendError
        The model could not be reached or refused; ``retryable`` tells whether to retry.
    ConfigError, InputError
        Bad task/format/parameters, or an input the task rejects.
    """
    t0 = time.perf_counter()
    t = get_task(task) if isinstance(task, str) else task
    f = fmt if isinstance(fmt, Format) else get_format(t, fmt)
    q = t.from_input(query) if isinstance(query, Mapping) else t.query_of(query)
    p = params if isinstance(params, GenerationParams) else GenerationParams.from_dict(params)
    if prompt is None:
        prompt = build_prompt(t, f, q, spec)
    t1 = time.perf_counter()
    ctx = RequestContext(task=t.name, format=f.name, query=q, example_id=example_id, prompt=prompt)
    gens = complete_cached(backend, prompt.text, p, stop=prompt.stop, context=ctx, cache=cache, live=live)
    t2 = time.perf_counter()
    samples = []
    for g in gens:
        parsed = f.parse(g.text, q)
        conf = element_confidence(t, f, q, parsed.graph, g)
        samples.append(Sample(g.text, prompt.query_text + g.text, parsed, g, conf))
    merged = merged_answer = None
    if merge and any(s.parse.graph is not None for s in samples):
        merged = merge_graphs(t, q, [s.parse.graph for s in samples])
        full = f.render(merged.graph)
        text = full[len(prompt.query_text) :] if full.startswith(prompt.query_text) else full
        unknown = Confidence(dict.fromkeys(t.element_keys(merged.graph)))
        merged_answer = Sample(text, prompt.query_text + text, f.parse(text, q), Generation(text), unknown)
    t3 = time.perf_counter()
    return Result(
        task=t.name,
        format=f.name,
        query=q,
        prompt=prompt,
        samples=tuple(samples),
        backend=backend.signature(),
        model=backend.model,
        params=p,
        timing={"prompt_s": t1 - t0, "model_s": t2 - t1, "parse_s": t3 - t2, "total_s": t3 - t0},
        example_id=example_id,
        merged=merged,
        merged_answer=merged_answer,
    )
