"""Confidence drawn on graphs: edge width and opacity by the number, the number and runner-up in tooltips."""

from __future__ import annotations

import json
import re

from cocogen.render import confidence_note, to_dot, to_pyvis_html
from cocogen.types import ExplaGraph, Script

SCRIPT = Script("make tea", 3, ("boil water", "pour", "make tea"), ((0, 1), (1, 2)))
SURE = {"step0 -> step1": 0.9, "step1 -> step2": 0.2, "step0": None}
RUNNER = {"step1 -> step2": {"p": 0.7, "label": "<img src=x onerror=alert(1)>"}}


def _edge_attrs(source: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"\t(s\d -> s\d) \[(.*)\]", source)}


def test_dot_edges_are_as_wide_and_opaque_as_the_model_was_sure() -> None:
    edges = _edge_attrs(to_dot(SCRIPT, confidence=SURE, runner_up=RUNNER).source)
    width = {e: float(re.search(r"penwidth=([\d.]+)", a).group(1)) for e, a in edges.items()}  # type: ignore[union-attr]
    assert width["s0 -> s1"] > width["s1 -> s2"]
    alpha = {e: re.search(r'color="#[0-9a-f]{6}([0-9a-f]{2})"', a).group(1) for e, a in edges.items()}  # type: ignore[union-attr]
    assert int(alpha["s0 -> s1"], 16) > int(alpha["s1 -> s2"], 16)
    assert 'tooltip="confidence 0.90"' in edges["s0 -> s1"]
    assert "confidence 0.20 · runner-up" in edges["s1 -> s2"] and "0.70" in edges["s1 -> s2"]
    plain = to_dot(SCRIPT).source
    assert "tooltip" not in plain and "penwidth=3" not in plain


def test_no_number_means_no_tooltip_and_agreement_says_so() -> None:
    assert confidence_note("step0", SURE) is None
    assert confidence_note("", SURE) is None
    note = confidence_note("step0 -> step1", {"step0 -> step1": 2 / 3}, what="agreement")
    assert note == (2 / 3, "agreement 0.67")


def test_pyvis_edges_carry_width_opacity_and_title() -> None:
    page = to_pyvis_html(SCRIPT, confidence=SURE, runner_up=RUNNER)
    edges = json.loads(re.search(r"edges = new vis.DataSet\((\[.*?\])\);", page).group(1))  # type: ignore[union-attr]
    by = {(e["from"], e["to"]): e for e in edges}
    assert by[("s0", "s1")]["width"] > by[("s1", "s2")]["width"]
    assert by[("s0", "s1")]["color"]["opacity"] > by[("s1", "s2")]["color"]["opacity"]
    assert by[("s1", "s2")]["title"].startswith("confidence 0.20 · runner-up")
    assert "<img" not in page  # the hostile runner-up label is escaped by pyvis's tojson


def test_explagraph_edges_are_keyed_by_their_triple() -> None:
    g = ExplaGraph("b", "a", "support", (("cars", "causes", "pollution"),))
    source = to_dot(g, confidence={"cars; causes; pollution": 0.4}).source
    assert 'tooltip="confidence 0.40"' in source


def test_propara_cells_are_shaded_by_confidence() -> None:
    from cocogen.render import style_state_frame
    from cocogen.types import StateTable

    table = StateTable(("Water falls.",), ("water", "cloud"), (("sky", "-"), ("?", "sky")))
    html = style_state_frame(table, [[0.5, None], [1.0, 0.0]]).to_html()
    # water at time 0 (row 0, column 1), cloud at time 0 and 1 (column 2); water at time 1 has no number.
    assert "rgba(59, 91, 146, 0.38)" in html and "rgba(59, 91, 146, 0.68)" in html and "rgba(59, 91, 146, 0.08)" in html
    assert html.count("background-color") == 3
