"""Benchmark the embedded local model on proScript script generation (issue 5).

Measures, with the default prompt (code format, 8 few-shot examples, ~3.6k tokens):

- load time of the model (first use in a fresh process);
- cold prefill speed (the whole prompt into an empty KV cache) and pure decode speed
  (one token at a time after that prompt, greedy, no sampling code);
- for N dev goals, end-to-end latency through :func:`cocogen.pipeline.generate` (prompt
  building, model, parsing; no cache) with constraints on and off, the few-shot prefix
  warm in the KV cache; each latency is compared with the pure decode time of the
  tokens its output has;
- parse success with and without constraints;
- peak resident memory of the process.

Usage: ``python bench/bench_local.py`` (about 10 minutes on 2 cores), ``--quick`` (10
goals), ``--json FILE`` to keep the raw figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TASK = "proscript-script"
TARGETS = {
    "warm_vs_decode": 1.3,  # warm end-to-end latency / pure decode time of the output tokens
    "constrained_vs_free": 1.0,  # end-to-end latency with constraints / without
    "parse_with_constraints": 1.0,
    "peak_rss_gb": 1.5,
}


def _goals(n: int) -> list[Any]:
    from cocogen.tasks import get_task

    rows = get_task(TASK).load("dev")
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def _decode_rate(model: Any, prompt: str, n: int = 64) -> float:
    """Greedy tokens per second after ``prompt``: llama.cpp decode + argmax, nothing else."""
    with model.lock:
        model.start(prompt)
        t0 = time.perf_counter()
        for _ in range(n):
            logits = model._logits()
            model._eval([int(np.argmax(logits))])
        return n / (time.perf_counter() - t0)


def _prefill_rate(model: Any, prompt: str) -> tuple[float, int]:
    """Tokens per second evaluating ``prompt`` from an empty KV cache (all but the start token)."""
    with model.lock:
        model.start("")  # keep only the start token
        t0 = time.perf_counter()
        model.start(prompt)
        dt = time.perf_counter() - t0
        n = len(model._toks) - 1
    return n / dt, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--goals", type=int, default=50, help="dev goals for latency and parse success")
    ap.add_argument("--quick", action="store_true", help="10 goals, one repeat of the speed measurements")
    ap.add_argument(
        "--k", type=int, default=14, help="few-shot examples (our first 14: a 3.5k-token prompt; the app uses 8)"
    )
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    args = ap.parse_args(argv)
    n_goals = 10 if args.quick else args.goals
    repeats = 1 if args.quick else 3

    from cocogen.backends.llamacpp import LlamaCppBackend, load_model
    from cocogen.pipeline import generate
    from cocogen.prompts import PromptSpec, build_prompt
    from cocogen.tasks import get_task

    task = get_task(TASK)
    goals = _goals(n_goals + 1)
    warm_goal, goals = goals[0], goals[1:]

    t0 = time.perf_counter()
    model = load_model()
    load_s = time.perf_counter() - t0

    prompt = build_prompt(task, "code", task.query_of(warm_goal.graph), PromptSpec(k=args.k))
    prompt_tokens = model.count_tokens(prompt.text)
    prefill = [_prefill_rate(model, prompt.text)[0] for _ in range(repeats)]
    decode = [_decode_rate(model, prompt.text) for _ in range(repeats)]
    prefill_rate, decode_rate = statistics.median(prefill), statistics.median(decode)

    backends = {"constrained": LlamaCppBackend(), "free": LlamaCppBackend(constraints=False)}
    for b in backends.values():  # warm the few-shot prefix (not counted)
        generate(task, "code", warm_goal.graph, b, cache=None, spec=PromptSpec(k=args.k))

    rows: list[dict[str, Any]] = []
    for i, ex in enumerate(goals):
        # Alternate which mode goes first: the second one finds the query already evaluated.
        for mode in list(backends)[:: 1 if i % 2 == 0 else -1]:
            r = generate(task, "code", ex.graph, backends[mode], cache=None, spec=PromptSpec(k=args.k))
            g = r.samples[0].generation
            out_tokens = model.count_tokens(g.text)
            rows.append(
                {
                    "i": i,
                    "goal": ex.graph.goal,
                    "mode": mode,
                    "seconds": r.timing["total_s"],
                    "model_seconds": r.timing["model_s"],
                    "output_tokens": out_tokens,
                    "sampled_tokens": (g.raw or {}).get("sampled_tokens"),
                    "reused_tokens": (g.raw or {}).get("reused_tokens"),
                    "prefill_tokens": (g.raw or {}).get("prefill_tokens"),
                    "ok": r.samples[0].parse.ok,
                    "clean": r.samples[0].parse.clean,
                    "vs_decode": r.timing["total_s"] / (out_tokens / decode_rate),
                }
            )
        print(f"  {i + 1}/{len(goals)} {ex.graph.goal!r}", file=sys.stderr, flush=True)

    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    def of(mode: str, key: str) -> list[float]:
        return [r[key] for r in rows if r["mode"] == mode]

    summary: dict[str, Any] = {
        "machine": f"{platform.machine()}, {model.n_threads} threads, Python {platform.python_version()}",
        "model": model.path.name,
        "load_seconds": load_s,
        "k": args.k,
        "prompt_tokens": prompt_tokens,
        "prefill_tok_s": prefill_rate,
        "decode_tok_s": decode_rate,
        "goals": len(goals),
        "peak_rss_gb": peak_rss_gb,
    }
    for mode in backends:
        summary[mode] = {
            "median_seconds": statistics.median(of(mode, "seconds")),
            "mean_seconds": statistics.fmean(of(mode, "seconds")),
            "median_output_tokens": statistics.median(of(mode, "output_tokens")),
            "median_vs_decode": statistics.median(of(mode, "vs_decode")),
            "parse_ok": sum(of(mode, "ok")) / len(goals),
            "parse_clean": sum(of(mode, "clean")) / len(goals),
            "median_reused_tokens": statistics.median(of(mode, "reused_tokens")),
            "median_prefill_tokens": statistics.median(of(mode, "prefill_tokens")),
        }
    by_goal: dict[int, dict[str, float]] = {}
    for r in rows:
        by_goal.setdefault(r["i"], {})[r["mode"]] = r["seconds"]
    ratio = [d["constrained"] / d["free"] for d in by_goal.values()]
    summary["constrained_vs_free_median"] = statistics.median(ratio)
    summary["constrained_vs_free_mean_latency"] = (
        summary["constrained"]["mean_seconds"] / summary["free"]["mean_seconds"]
    )

    c, f = summary["constrained"], summary["free"]
    lines = [
        ("model", f"{summary['model']} ({summary['machine']})", ""),
        ("load time", f"{load_s:.2f} s", ""),
        ("default prompt", f"{prompt_tokens} tokens ({len(prompt.examples)} examples)", ""),
        ("cold prefill", f"{prefill_rate:.0f} tok/s", ""),
        ("decode", f"{decode_rate:.1f} tok/s", ""),
        ("warm latency, free (median)", f"{f['median_seconds']:.2f} s for {f['median_output_tokens']:.0f} tokens", ""),
        ("  vs pure decode of its tokens", f"{f['median_vs_decode']:.2f}x", f"<= {TARGETS['warm_vs_decode']}x"),
        (
            "warm latency, constrained (median)",
            f"{c['median_seconds']:.2f} s for {c['median_output_tokens']:.0f} tokens",
            "",
        ),
        ("  vs pure decode of its tokens", f"{c['median_vs_decode']:.2f}x", f"<= {TARGETS['warm_vs_decode']}x"),
        ("prefix tokens reused per query (median)", f"{c['median_reused_tokens']:.0f}", ""),
        ("parse clean, constrained", f"{c['parse_clean']:.0%} of {len(goals)}", "100%"),
        ("parse clean, free", f"{f['parse_clean']:.0%} (graph recovered {f['parse_ok']:.0%})", ""),
        (
            "latency constrained / free",
            f"{summary['constrained_vs_free_median']:.2f}x median, {summary['constrained_vs_free_mean_latency']:.2f}x of means",
            f"<= {TARGETS['constrained_vs_free']}x",
        ),
        ("peak RSS", f"{peak_rss_gb:.2f} GB", f"< {TARGETS['peak_rss_gb']} GB"),
    ]
    width = max(len(a) for a, _, _ in lines)
    for a, b, t in lines:
        print(f"{a:<{width}}  {b}" + (f"   (target {t})" if t else ""))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
