"""Confidence and agreement for the app's views, without Streamlit: what to draw and what to list first.

A result's *sureness* is the model's confidence in each element (:mod:`cocogen.confidence`),
or for a merged result each element's agreement across the samples (:mod:`cocogen.merge`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cocogen.backends.base import GenerationParams
from cocogen.merge import DEFAULT_SAMPLE_TEMPERATURE
from cocogen.pipeline import Result

__all__ = ["Sureness", "sureness_of", "least_sure_rows", "merge_params", "least_sure_order"]


@dataclass(frozen=True)
class Sureness:
    """Numbers per element key (``None``: not available), the runner-up where known, and what the numbers are."""

    values: dict[str, float | None] = field(default_factory=dict)
    runner_up: dict[str, Any] = field(default_factory=dict)
    what: str = "confidence"

    @property
    def available(self) -> bool:
        return any(v is not None for v in self.values.values())


def sureness_of(result: Result) -> Sureness:
    """Agreement for a merged result, else the model's confidence in its answer."""
    if result.merged is not None:
        return Sureness(dict(result.merged.agreement), {}, "agreement")
    conf = result.confidence
    return Sureness(dict(conf.values), dict(conf.runner_up), "confidence")


def least_sure_rows(s: Sureness) -> list[dict[str, Any]]:
    """One row per element, the least sure first; elements without a number last, in their order.

    >>> least_sure_rows(Sureness({"a": 0.9, "b": None, "c": 0.2}, {"c": {"p": 0.7, "label": "x"}}))
    [{'element': 'c', 'confidence': 0.2, 'runner-up': 'x (0.70)'}, {'element': 'a', 'confidence': 0.9, 'runner-up': ''}, {'element': 'b', 'confidence': None, 'runner-up': ''}]
    """
    keys = sorted(s.values, key=lambda k: (s.values[k] is None, s.values[k] or 0.0))
    rows = []
    for k in keys:
        row: dict[str, Any] = {"element": k, s.what: s.values[k]}
        if s.what == "confidence":
            other = s.runner_up.get(k)
            row["runner-up"] = f"{other.get('label')} ({float(other['p']):.2f})" if isinstance(other, Mapping) else ""
        rows.append(row)
    return rows


def merge_params(params: GenerationParams, samples: int) -> GenerationParams:
    """``params`` for ``samples`` samples to merge: greedy settings get the default sampling temperature."""
    temperature = params.temperature if params.temperature > 0 else DEFAULT_SAMPLE_TEMPERATURE
    return params.replace(n=samples, temperature=temperature)


def least_sure_order(values: Sequence[float | None]) -> list[int]:
    """Indices of ``values`` (each example's least sure element), lowest first, those without a number last.

    >>> least_sure_order([0.5, None, 0.1])
    [2, 0, 1]
    """
    return sorted(range(len(values)), key=lambda i: (values[i] is None, values[i] or 0.0, i))
