"""Metrics for the four CoCoGen tasks: pure functions over :mod:`cocogen.types` graphs.

* :mod:`cocogen.metrics.base` — :class:`Score`, :class:`ExampleScore`, P/R/F1, signatures;
* :mod:`cocogen.metrics.structure` — edge P/R/F1, exact match, isomorphism, bounded GED,
  degree statistics;
* :mod:`cocogen.metrics.proscript` — script generation and edge prediction;
* :mod:`cocogen.metrics.explagraphs` — the official ExplaGraphs evaluator's SA, StCA, GED,
  G-BLEU/G-ROUGE, plus edge/concept overlap; model-based metrics are pluggable;
* :mod:`cocogen.metrics.propara` — the official ProPara leaderboard evaluator.

:mod:`cocogen.evaluate` ties them to prediction files and the CLI.
"""

from cocogen.metrics.base import METRICS, PRF, ExampleScore, MetricSpec, Score, make_signature, prf

__all__ = ["METRICS", "PRF", "ExampleScore", "MetricSpec", "Score", "make_signature", "prf"]
