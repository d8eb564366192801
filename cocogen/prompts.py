"""Few-shot prompt assembly: example selection, a token budget, separators and stops.

The prompt is ``prefix + query_text`` where ``prefix`` holds the few-shot examples, each
followed by the format's separator line (the paper's ``# END``).  ``prefix`` depends only
on the chosen examples, never on the query, when selection is ``fixed`` or ``random``, so a
local model can keep its KV cache of it between queries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cocogen.errors import ConfigError
from cocogen.settings import DEFAULT_TOKEN_BUDGET
from cocogen.tasks.base import Format, Task, get_format
from cocogen.types import Example, Graph

__all__ = [
    "Prompt",
    "PromptSpec",
    "build_prompt",
    "select_examples",
    "SELECTIONS",
    "SELECTION_LABELS",
    "describe_selection",
    "SEEDED_SELECTIONS",
    "approx_token_count",
    "query_words",
]

SELECTIONS = ("fixed", "random", "knn", "fixed+knn")
# How front ends name each selection to a reader.
SELECTION_LABELS = {
    "fixed": "fixed order",
    "random": "seeded random",
    "knn": "nearest to the input",
    "fixed+knn": "fixed, then the nearest",
}


def describe_selection(k: int, pool_size: int, selection: str, seed: int = 0, *, pool: str = "the pool") -> str:
    """Which examples a prompt holds, in words, for a reader.

    >>> describe_selection(8, 46, "fixed", pool="the Playground's")
    "the first 8 of the Playground's 46"
    >>> describe_selection(8, 46, "fixed+knn", pool="the Playground's")
    "the first 7 of the Playground's 46, then the one nearest to the input"
    """
    k = min(k, pool_size)
    of = f"{pool} {pool_size}"
    if selection == "random":
        return f"{k} of {of}, drawn at random (seed {seed})"
    if selection == "knn":
        return f"the {k} of {of} nearest to the input"
    if selection == "fixed+knn" and k > 0:
        return f"the first {k - 1} of {of}, then the one nearest to the input"
    return f"the first {k} of {of}"


# Selections whose examples change with the selection seed (see select_examples: fixed takes
# the first k, knn the nearest k with ties broken by position, fixed+knn the first k - 1 and
# the nearest of the rest).
SEEDED_SELECTIONS = ("random",)

_WORD = re.compile(r"\w+|[^\w\s]")


def approx_token_count(text: str) -> int:
    """A tokenizer-free estimate of BPE tokens (words and punctuation, plus long-word pieces).

    Used for budgeting when no model tokenizer is at hand; it slightly over-counts code,
    which keeps a budgeted prompt inside the real limit.

    Examples
    --------
    >>> approx_token_count("def step0(self):")
    6
    """
    n = 0
    for w in _WORD.findall(text):
        n += 1 + (len(w) - 1) // 6
    return n + text.count("\n") // 2


@dataclass(frozen=True)
class PromptSpec:
    """Everything that decides which few-shot examples a prompt holds: one frozen value, passed everywhere.

    ``pool`` is where examples are chosen from (``None``: the task's own few-shot
    examples); ``selection`` is ``fixed`` (the first ``k``), ``random`` (seeded with
    ``selection_seed``), ``knn`` (BM25 nearest to the query) or ``fixed+knn`` (the first
    ``k - 1``, then the nearest of the rest, so a local model keeps most of the prefix in its
    KV cache); examples are dropped until the prompt fits ``token_budget`` tokens (``None``: no budget).  The *sampling* seed is
    not here: it is a generation parameter (:class:`~cocogen.backends.base.GenerationParams`).

    Examples
    --------
    >>> spec = PromptSpec(k=4, selection="random", selection_seed=3)
    >>> spec.to_dict()
    {'pool': 'fewshot', 'k': 4, 'selection': 'random', 'selection_seed': 3, 'token_budget': 3800}
    >>> PromptSpec(selection="best")
    Traceback (most recent call last):
    ...
    cocogen.errors.ConfigError: Unknown example selection 'best'.
    """

    pool: tuple[Example, ...] | None = None
    k: int | None = None  # None: the task's own default (Task.default_k)
    selection: str = "fixed"
    selection_seed: int = 0
    token_budget: int | None = DEFAULT_TOKEN_BUDGET

    def __post_init__(self) -> None:
        if self.pool is not None and not isinstance(self.pool, tuple):
            object.__setattr__(self, "pool", tuple(self.pool))
        if self.selection not in SELECTIONS:
            raise ConfigError(
                f"Unknown example selection {self.selection!r}.", hint=f"Choose one of: {', '.join(SELECTIONS)}."
            )
        if self.k is not None and (isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 0):
            raise ConfigError(f"The number of examples k must be a whole number, 0 or more, not {self.k!r}.")
        if isinstance(self.selection_seed, bool) or not isinstance(self.selection_seed, int):
            raise ConfigError(f"The selection seed must be a whole number, not {self.selection_seed!r}.")
        if self.token_budget is not None and (not isinstance(self.token_budget, int) or self.token_budget < 1):
            raise ConfigError(f"The token budget must be a positive whole number, not {self.token_budget!r}.")

    def replace(self, **changes: Any) -> PromptSpec:
        return dataclasses.replace(self, **changes)

    def for_task(self, task: Task) -> PromptSpec:
        """This spec with ``k`` decided: the task's :attr:`~cocogen.tasks.base.Task.default_k` where it is ``None``.

        >>> from cocogen.tasks import get_task
        >>> PromptSpec().for_task(get_task("proscript-edge")).k, PromptSpec(k=5).for_task(get_task("propara")).k
        (2, 5)
        """
        return self if self.k is not None else self.replace(k=task.default_k)

    def pool_name(self) -> str:
        """How the pool is named in run headers (part of what a resume must match)."""
        if self.pool is None:
            return "fewshot"
        ids = ",".join(str(e.id) for e in self.pool)
        return f"custom:{len(self.pool)}:{hashlib.sha256(ids.encode()).hexdigest()[:12]}"

    def to_dict(self) -> dict[str, Any]:
        """The run-header form: the pool by name, the rest as is."""
        return {
            "pool": self.pool_name(),
            "k": self.k,
            "selection": self.selection,
            "selection_seed": self.selection_seed,
            "token_budget": self.token_budget,
        }


@dataclass(frozen=True)
class Prompt:
    """An assembled prompt and everything needed to call a model and read the answer."""

    task: str
    format: str
    prefix: str  # the few-shot part, shared across queries
    query_text: str  # what the model must continue
    stop: tuple[str, ...]
    examples: tuple[Example, ...]
    n_tokens: int
    dropped: int = 0  # examples left out to fit the token budget
    spec: PromptSpec | None = None  # what chose the examples

    @property
    def text(self) -> str:
        return self.prefix + self.query_text


def query_words(task: Task, graph: Graph) -> list[str]:
    """Lower-cased words of a graph's *input* fields (what kNN selection compares)."""
    fields = task.to_input(graph)
    parts: list[str] = []
    for v in fields.values():
        if isinstance(v, str):
            parts.append(v)
        elif isinstance(v, (list, tuple)):
            parts.extend(str(x) for x in v)
    return re.findall(r"\w+", " ".join(parts).lower())


def select_examples(
    task: Task, pool: Sequence[Example], query: Graph, k: int, method: str = "fixed", seed: int = 0
) -> list[Example]:
    """Pick ``k`` examples from ``pool``: in order, seeded at random, nearest to the query (BM25), or both.

    Examples closest to the query are placed *last*, nearest the query, as is usual for
    retrieved demonstrations; ``fixed+knn`` keeps the first ``k - 1`` in order (the same for
    every query, so a local model's KV cache holds them) and adds the nearest of the others.
    An example whose input is the query's own (a dataset row used as the pool for itself) is
    never chosen: that would show the model its answer.
    """
    if method not in SELECTIONS:
        raise ConfigError(f"Unknown example selection {method!r}.", hint=f"Choose one of: {', '.join(SELECTIONS)}.")
    if k < 0:
        raise ConfigError("The number of examples k must be 0 or more.")
    own = task.query_of(query)
    pool = [ex for ex in pool if task.query_of(ex.graph) != own]
    k = min(k, len(pool))
    if method == "fixed":
        return pool[:k]
    if method == "random":
        return random.Random(seed).sample(pool, k)
    if method == "fixed+knn":
        if k == 0:
            return []
        fixed, rest = pool[: k - 1], pool[k - 1 :]
        return fixed + [rest[i] for i in _nearest_first(task, rest, query)[:1]]
    order = _nearest_first(task, pool, query)[:k]
    return [pool[i] for i in reversed(order)]


def _nearest_first(task: Task, pool: Sequence[Example], query: Graph) -> list[int]:
    """Indices of ``pool`` by BM25 score against the query's input words, best first, ties by position."""
    from rank_bm25 import BM25Okapi

    if not pool:
        return []
    docs = [query_words(task, ex.graph) or ["_"] for ex in pool]
    scores = BM25Okapi(docs).get_scores(query_words(task, query) or ["_"])
    return sorted(range(len(pool)), key=lambda i: (-scores[i], i))


def render_example(fmt: Format, ex: Example) -> str:
    body = fmt.render(ex.graph)
    if not body.endswith("\n"):
        body += "\n"
    return body + fmt.separator + "\n\n"


def build_prompt(
    task: Task,
    fmt: str | Format | None,
    query: Graph,
    spec: PromptSpec | None = None,
    *,
    count_tokens: Callable[[str], int] = approx_token_count,
) -> Prompt:
    """Assemble the prompt for ``query`` with the examples ``spec`` chooses.

    Examples are dropped from the front (the least relevant end for kNN) until the whole
    prompt fits ``spec.token_budget`` tokens.  The query itself is never cut: if it alone
    exceeds the budget a :class:`ConfigError` says so.
    """
    spec = (spec or PromptSpec()).for_task(task)
    f = fmt if isinstance(fmt, Format) else get_format(task, fmt)
    pool = task.fewshot() if spec.pool is None else spec.pool
    assert spec.k is not None
    examples = select_examples(task, pool, query, spec.k, spec.selection, spec.selection_seed)
    query_text = f.render_query(query)
    rendered = [render_example(f, ex) for ex in examples]
    q_tokens = count_tokens(query_text)
    sizes = [count_tokens(r) for r in rendered]
    dropped = 0
    budget = spec.token_budget
    if budget is not None:
        if q_tokens > budget:
            raise ConfigError(
                f"The query alone is about {q_tokens} tokens, over the {budget}-token budget.",
                hint="Shorten the input or raise the token budget.",
            )
        while rendered and q_tokens + sum(sizes) > budget:
            rendered.pop(0)
            sizes.pop(0)
            examples.pop(0)
            dropped += 1
    prefix = "".join(rendered)
    return Prompt(
        task=task.name,
        format=f.name,
        prefix=prefix,
        query_text=query_text,
        stop=tuple(f.stop()),
        examples=tuple(examples),
        n_tokens=count_tokens(prefix + query_text),
        dropped=dropped,
        spec=spec,
    )
