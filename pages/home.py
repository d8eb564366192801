"""Home: what CoCoGen does, which model is active, where to start."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st

from cocogen.app import components as c
from cocogen.app.frame import PAGES, page_frame
from cocogen.app.state import home_example

page_frame()

QUALITY_FILE = Path(__file__).resolve().parents[1] / "assets" / "local-model-quality.json"

st.title("CoCoGen Studio")
st.markdown("##### Structured commonsense reasoning as code generation")

left, right = st.columns([5, 6], gap="large")
with left:
    st.markdown(
        "A script of steps, an argument graph or the states of things in a procedure are **structures**. "
        "CoCoGen writes each one as a small **Python program** — a class whose methods are the steps and "
        "whose `get_relations` lists the order — shows a code model a few such programs, and lets it "
        "**complete the next one**. A parser reads the graph back from the code *without ever running it*. "
        "Code models turn out to be better at this than the same model prompted with flat text."
    )
    choice, _ = c.current()
    state, message = c.registry().status(choice)
    st.info(f"**Model in use:** {choice.describe()}" + (f"  \n{message}" if choice.kind != "replay" else ""))
    st.markdown("**Where to start**")
    for p in PAGES:
        if p.summary:
            st.page_link(p.script, label=f"{p.title} — {p.summary}", icon=p.icon)
with right:
    with c.guard("Drawing the example"):
        code, graph = home_example()
        tab_graph, tab_code = st.tabs(["The graph…", "…written as code"])
        with tab_graph:
            c.show_graph(graph, key="home_graph")
        with tab_code:
            st.code(code, language="python")

# --- what the offline model can do --------------------------------------------------------------


def _quality_table(path: Path) -> tuple[list[dict[str, str]], dict[str, object]] | None:
    """Rows for the table below from the quality benchmark's figures (``bench/bench_quality.py``)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        cells = info["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    by = {(c["task"], c["format"], c["mode"]): c for c in cells if isinstance(c, dict)}
    rows = []
    for task, (key, label, scale) in QUALITY_METRICS.items():
        for fmt in ("code", "text"):
            free, con = by.get((task, fmt, "free")), by.get((task, fmt, "constrained"))
            if not free or not con:
                continue
            codex = by.get((task, fmt, "codex"))
            value = functools.partial(_figure, key=key, scale=scale)
            rows.append(
                {
                    "task": task,
                    "format": fmt,
                    "k": str(con.get("k", info.get("k", ""))),
                    "metric": label,
                    "free decoding": value(free),
                    "constrained (default)": value(con),
                    "Codex": PAPER.get((task, fmt)) or (f"{value(codex)} (same rows)" if codex else "–"),
                }
            )
    return rows, info


def _gap_text(info: dict[str, object]) -> str | None:
    """Code − text on each task's main metric with its paired interval, from the benchmark's file."""
    parts = []
    for g in info.get("code_minus_text") or []:
        if not isinstance(g, dict) or g.get("mode") != "constrained" or GAP_METRICS.get(g.get("task")) != g.get("metric"):
            continue
        try:
            gap, low, high = (float(g[k]) * float(g["scale"]) for k in ("gap", "ci_low", "ci_high"))
        except (KeyError, TypeError, ValueError):
            continue
        parts.append(f"{g['task']} {g['metric']} {gap:+.1f} ({low:+.1f} to {high:+.1f}: {g.get('reads', '?')})")
    if not parts:
        return None
    return (
        "Code − text with constraints, on the same rows, with a 95 % paired bootstrap interval: "
        + "; ".join(parts)
        + ". An interval that contains 0 means these rows do not tell the two formats apart."
    )


def _k_text(info: dict[str, object], rows: list[dict[str, str]]) -> str:
    """How many few-shot examples the figures used: one number, or each task's own."""
    ks = {r["task"]: r["k"] for r in rows if r.get("k")}
    if len(set(ks.values())) <= 1:
        return str(next(iter(ks.values()), info.get("k")))
    common = max(set(ks.values()), key=list(ks.values()).count)
    others = ", ".join(f"{k} for {task}" for task, k in ks.items() if k != common)
    return f"{common} ({others})"


def _figure(cell: dict | None, *, key: str, scale: float) -> str:
    v = (cell or {}).get("metrics", {}).get(key)
    return "–" if v is None else f"{v * scale:.1f}"


# The main metric per task; Codex where the paper released no outputs (proScript) is its reported figure.
QUALITY_METRICS = {
    "proscript-script": ("rouge_l", "ROUGE-L", 100),
    "proscript-edge": ("edge_f1", "edge F1", 100),
    "explagraphs": ("stca", "StCA %", 100),
    "propara": ("f1", "F1", 100),
}
# What tells the formats apart (ExplaGraphs' StCA is 100 % in both, by construction).
GAP_METRICS = {"proscript-script": "ROUGE-L", "proscript-edge": "edge F1", "explagraphs": "concept F1", "propara": "F1"}
PAPER = {
    ("proscript-edge", "code"): "≈56 (paper; outputs not released)",
}

quality = _quality_table(QUALITY_FILE)
if quality is not None:
    rows, info = quality
    st.divider()
    st.markdown("#### What the offline model can and cannot do")
    st.markdown(
        "The embedded model is **Gemma 3 270M**, small enough to run on any laptop; the paper used Codex "
        "(code-davinci-002), a far larger model. Its main metric per task, measured on the first "
        f"{info.get('rows')} rows of each task's evaluation split ({info.get('date')}, {_k_text(info, rows)} "
        "fixed few-shot examples, greedy; `bench/bench_quality.py`, details in docs/benchmarks.md):"
    )
    header = list(rows[0]) if rows else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    st.markdown("\n".join(lines))
    if gaps := _gap_text(info):
        st.caption(gaps)
    st.caption(
        "Constrained decoding (the default) writes the format's fixed code itself and lets the model choose the "
        "rest, so every answer parses. ExplaGraphs structural correctness (StCA counts it) holds **by "
        "construction**: the decoder only offers connected, acyclic graphs of 3–8 triples whose concepts include "
        "words of the belief and the argument — a guarantee of the decoder, not the model's reasoning. Likewise a "
        "generated script's last step is its goal, written by the decoder (every proScript script ends on it; the "
        "tiny model, left to choose, rarely does). It also refuses what a tiny model gets wrong — a step repeated or "
        "shortened, the goal too early, a stuttering word, a step or concept copied word for word from an example "
        "about something else (from one that shares only part of its topic, a script may take one step) — and the "
        "model writes its next choice. For the "
        "paper's quality, point the app at a real model server in the sidebar, or replay the recorded Codex "
        "outputs (Inspect)."
    )
