"""The Evaluate page's ablation grid in AppTest, over the real replay backend (the paper's Codex outputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cocogen.evaluate import evaluate_file
from tests.app.support import start

DEADLINE_S = 120


def _run_grid(at, selections: list[str], ks: list[int], rows: int):  # type: ignore[no-untyped-def]
    # A replay answers only the prompts its recordings continue: the code format.
    at.multiselect(key="ev_grid_formats:explagraphs").set_value(["code"]).run()
    at.multiselect(key="ev_grid_k").set_value(ks).run()
    at.multiselect(key="ev_grid_select").set_value(selections).run()
    at.selectbox(key="ev_grid_split:explagraphs").set_value("cocogen-dev").run()  # the rows Codex answered
    at.number_input(key="ev_grid_rows").set_value(rows).run()
    at.button(key="ev_grid_run").click().run()
    job = at.session_state["ev_grid_job"]
    assert job.wait(DEADLINE_S), "the grid finished"
    at.run()
    assert not at.exception, at.exception
    return job


def test_evaluate_grid_runs_charts_and_compares_two_cells(data_dir: Path, tmp_path: Path) -> None:
    at = start("evaluate", backend="replay", task="explagraphs")
    assert "Ablation grid" in [h.value for h in at.main.header]
    job = _run_grid(at, ["fixed", "knn"], [2, 4], 3)
    assert job.state == "done" and job.error is None and not at.error
    files = sorted(job.out.glob("explagraphs.*.jsonl"))
    assert [p.name for p in files] == [f"explagraphs.code.k{k}.{s}.jsonl" for k in (2, 4) for s in ("fixed", "knn")]
    assert job.out.is_relative_to(tmp_path / "runs")

    table = at.dataframe[0].value
    assert len(table) == 4 and list(table["rows"]) == [3] * 4
    for (_, row), path in zip(table.iterrows(), files, strict=True):  # the page's numbers are eval's
        assert row["edge F1"] == pytest.approx(evaluate_file(path).score.values["edge_f1"] * 100)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2, "metric against k, and the heat map"
    spec = json.loads(charts[0].proto.spec)
    assert "facet" in spec or "spec" in spec

    # Side by side: every row, then only those that differ (a replay answers every prompt alike).
    at.selectbox(key="ev_grid_a").set_value("code.k2.fixed").run()
    at.selectbox(key="ev_grid_b").set_value("code.k4.knn").run()
    at.checkbox(key="ev_grid_differ").uncheck().run()
    assert len(at.dataframe[1].value) == 3
    at.checkbox(key="ev_grid_differ").check().run()
    every = at.dataframe[1].value
    a_rows = {r.id: r for r in evaluate_file(files[0]).rows}  # by id: a cell's records are in finishing order
    b_rows = {r.id: r for r in evaluate_file(files[3]).rows}
    assert len(every) == sum(
        1
        for i, a in a_rows.items()
        if a.values["edge_f1"] != b_rows[i].values["edge_f1"] or a.parsed != b_rows[i].parsed
    )
    assert {b.label for b in at.get("download_button")} >= {"Grid summary (.csv)", "Grid summary (.json)"}


def test_evaluate_grid_again_reuses_finished_cells(data_dir: Path) -> None:
    at = start("evaluate", backend="replay", task="explagraphs")
    first = _run_grid(at, ["fixed"], [2], 2)
    cell = first.out / "explagraphs.code.k2.fixed.jsonl"
    stamp = (cell.stat().st_mtime_ns, cell.read_bytes())
    second = _run_grid(at, ["fixed"], [2, 4], 2)  # one more k: one more cell, the first untouched
    assert second.out == first.out
    assert (cell.stat().st_mtime_ns, cell.read_bytes()) == stamp
    assert len(at.dataframe[0].value) == 2


def test_evaluate_grid_reports_a_task_without_recordings_in_one_sentence(data_dir: Path) -> None:
    at = start("evaluate", backend="replay", task="proscript-edge")
    at.multiselect(key="ev_grid_k").set_value([2]).run()
    at.multiselect(key="ev_grid_select").set_value(["fixed"]).run()
    at.number_input(key="ev_grid_rows").set_value(2).run()
    at.button(key="ev_grid_run").click().run()
    job = at.session_state.get("ev_grid_job")
    if job is not None:
        assert job.wait(DEADLINE_S)
        at.run()
    assert not at.exception
    assert at.error, "a sentence says why no grid ran"
