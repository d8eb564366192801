"""``cocogen grid``: one ordinary run file per cell, a summary that is ``cocogen eval``'s numbers, resume by cell.

The grids run through the real command (``cocogen.cli.main``) over the real replay backend
(the paper's recorded Codex outputs) and, in the slow test, the real local llama.cpp model;
each cell of the summary is compared with what ``cocogen eval --json`` says of its file.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cocogen.backends import make_backend
from cocogen.cli import main
from cocogen.errors import BackendError
from cocogen.grid import (
    GridSpec,
    bootstrap_ci,
    differing_rows,
    paired_difference,
    parse_list,
    plan_cells,
    run_grid,
    summarize_grid,
)
from cocogen.runs import read_run

# A replay answers only the prompts its recordings continue (the code format), so the replay
# grid's two axes are k and selection.
REPLAY_GRID = ["grid", "--task", "explagraphs", "--split", "cocogen-dev", "--limit", "4", "--backend", "replay",
               "--formats", "code", "--k", "2,4", "--select", "fixed,knn", "--no-progress"]  # fmt: skip


def _eval_json(path: Path, capsys: pytest.CaptureFixture) -> dict:
    capsys.readouterr()
    assert main(["eval", "--predictions", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _check_cells_equal_eval(out: Path, task: str, expected_names: list[str], capsys: pytest.CaptureFixture) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    files = sorted(p.name for p in out.glob("*.jsonl"))
    assert files == sorted(f"{task}.{n}.jsonl" for n in expected_names)
    assert [c["name"] for c in summary["cells"]] == expected_names
    metric = summary["metric"]
    for cell in summary["cells"]:
        ev = _eval_json(Path(cell["path"]), capsys)
        assert cell["value"] == pytest.approx(ev["values"][metric], abs=1e-12)
        assert cell["parse_rate"] == pytest.approx(ev["parse_rate"], abs=1e-12)
        assert cell["n"] == ev["n"]
        assert cell["ci_low"] <= cell["value"] <= cell["ci_high"]
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("task,format,k,selection,metric,value")
    assert len(csv_lines) == 1 + len(summary["points"])
    return summary


def test_replay_grid_makes_one_run_file_per_cell_scored_as_eval_scores_it(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "grid"
    assert main(REPLAY_GRID + ["--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "edge F1" in table and "code" in table and "knn" in table
    names = ["code.k2.fixed", "code.k2.knn", "code.k4.fixed", "code.k4.knn"]
    summary = _check_cells_equal_eval(out, "explagraphs", names, capsys)
    # Each cell is an ordinary run file whose header holds the cell's own prompt settings.
    for cell in summary["cells"]:
        header = read_run(cell["path"]).header
        assert header is not None
        assert (header["format"], header["prompt"]["k"], header["prompt"]["selection"]) == (
            cell["format"],
            cell["k"],
            cell["selection"],
        )


def test_a_killed_grid_resumes_without_rerunning_finished_cells(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "grid"
    assert main(REPLAY_GRID + ["--out", str(out)]) == 0
    files = sorted(out.glob("explagraphs.*.jsonl"))
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    deleted, cut = files[1], files[2]
    deleted.unlink()
    lines = cut.read_bytes().splitlines(keepends=True)
    cut.write_bytes(b"".join(lines[:2]) + lines[2][: len(lines[2]) // 2])  # killed mid-write after one record
    kept = [p for p in files if p not in (deleted, cut)]

    spec = GridSpec("explagraphs", ("code",), (2, 4), ("fixed", "knn"), "cocogen-dev", limit=4)
    summaries = run_grid(spec, make_backend("replay", task="explagraphs"), out)
    by_path = {Path(s.path).name: s for s in summaries}
    for p in kept:  # finished cells: nothing generated, the file not touched
        assert by_path[p.name].ok == 0 and by_path[p.name].skipped == 4
        assert (p.stat().st_mtime_ns, p.read_bytes()) == before[p.name]
    assert by_path[deleted.name].ok == 4
    assert by_path[cut.name].skipped == 1 and by_path[cut.name].ok == 3
    assert len(read_run(cut).ok_ids) == 4
    # The completed grid scores as the uninterrupted one did.
    capsys.readouterr()
    assert main(REPLAY_GRID + ["--out", str(out), "--score-only", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for cell in summary["cells"]:
        assert cell["value"] == pytest.approx(_eval_json(Path(cell["path"]), capsys)["values"]["edge_f1"])


def test_a_cancelled_grid_keeps_its_finished_cells_and_goes_on_from_there(data_dir: Path, tmp_path: Path) -> None:
    spec = GridSpec("explagraphs", ("code",), (1, 2, 3), ("fixed",), "cocogen-dev", limit=3)
    backend = make_backend("replay", task="explagraphs")
    cancel = threading.Event()

    class StopInTheSecondCell:
        """The replay backend, and Stop pressed while the second cell's first answer is read.

        Set from inside the request (not from a progress report, which the single worker
        can outrun on a busy machine): the next example sees it before it starts.
        """

        def __init__(self) -> None:
            self.calls = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(backend, name)

        def complete(self, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 4:
                cancel.set()
            return backend.complete(*args, **kwargs)

    first = run_grid(spec, StopInTheSecondCell(), tmp_path, concurrency=1, cancel=cancel)  # type: ignore[arg-type]
    assert len(first) == 2 and first[0].complete and not first[1].complete
    assert first[1].ok == 1
    done = tmp_path / "explagraphs.code.k1.fixed.jsonl"
    stamp = (done.stat().st_mtime_ns, done.read_bytes())
    summary = summarize_grid(spec, tmp_path)
    assert [c.cell.name for c in summary.cells] == ["code.k1.fixed"]
    assert summary.missing == ["code.k2.fixed", "code.k3.fixed"]
    assert any("not finished" in n for n in summary.notes)

    again = run_grid(spec, backend, tmp_path)
    assert [s.ok for s in again] == [0, 3 - first[1].ok, 3]
    assert (done.stat().st_mtime_ns, done.read_bytes()) == stamp
    assert summarize_grid(spec, tmp_path).missing == []


def test_a_failing_cell_stops_the_grid_with_one_sentence(data_dir: Path, tmp_path: Path) -> None:
    spec = GridSpec("explagraphs", ("code",), (1, 2), ("fixed",), "cocogen-dev", limit=2)
    dead = make_backend("openai", model="m", base_url="http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(BackendError, match="Cell code.k1.fixed did not finish: 2 of 2 examples failed"):
        run_grid(spec, dead, tmp_path)
    assert not (tmp_path / "explagraphs.code.k2.fixed.jsonl").exists()  # the grid stopped at the failing cell


def test_only_seeded_selections_run_once_per_seed(data_dir: Path) -> None:
    spec = GridSpec("explagraphs", ("code",), (2,), ("fixed", "random", "knn"), "cocogen-dev", seeds=3)
    assert [c.name for c in plan_cells(spec)] == [
        "code.k2.fixed",
        "code.k2.random.s0",
        "code.k2.random.s1",
        "code.k2.random.s2",
        "code.k2.knn",
    ]


def test_seeds_give_an_interval_over_seeds_and_a_note_on_unseeded_selections(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["grid", "--task", "propara", "--split", "cocogen-test", "--limit", "3", "--backend", "replay",
            "--formats", "code", "--k", "2", "--select", "fixed,random", "--seeds", "2", "--no-progress",
            "--out", str(tmp_path), "--json"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    points = {p["selection"]: p for p in summary["points"]}
    assert points["fixed"]["ci_over"] == "rows" and points["fixed"]["seeds"] == 1
    assert points["random"]["ci_over"] == "seeds" and points["random"]["seeds"] == 2
    seed_values = [c["value"] for c in summary["cells"] if c["selection"] == "random"]
    assert points["random"]["value"] == pytest.approx(sum(seed_values) / 2)
    assert any("fixed selection does not depend on the selection seed" in n for n in summary["notes"])


def test_the_row_interval_of_a_corpus_metric_reaggregates(data_dir: Path, tmp_path: Path) -> None:
    # ProPara's process F1 is the mean of four corpus-level F1s, not a mean over rows: the
    # resampled statistic must go through the metric's aggregate and still hold the value.
    spec = GridSpec("propara", ("code",), (2,), ("fixed",), "cocogen-test", limit=6)
    run_grid(spec, make_backend("replay", task="propara"), tmp_path)
    cell = summarize_grid(spec, tmp_path, n_resamples=200).cells[0]
    assert summarize_grid(spec, tmp_path, n_resamples=1).metric == "f1"
    assert cell.value is not None and cell.ci[0] <= cell.value <= cell.ci[1]
    assert cell.ci[0] < cell.ci[1]


def test_bootstrap_ci_of_a_mean_brackets_it_and_narrows_with_more_rows() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(10)
    large = rng.random(1000)
    lo_s, hi_s = bootstrap_ci(lambda idx: float(small[idx].mean()), len(small))
    lo_l, hi_l = bootstrap_ci(lambda idx: float(large[idx].mean()), len(large), n_resamples=300)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert hi_l - lo_l < hi_s - lo_s
    assert all(np.isnan(bootstrap_ci(lambda idx: 0.0, 1)))


def _two_cells_one_answer_apart(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The same replayed cell twice, the second with one example's answer emptied (another model, in effect)."""
    spec = GridSpec("propara", ("code",), (2,), ("fixed",), "cocogen-test", limit=5)
    for d in ("a", "b"):
        run_grid(spec, make_backend("replay", task="propara"), tmp_path / d)
    path = tmp_path / "b" / "propara.code.k2.fixed.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record["completion"] = ""
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    (a,) = summarize_grid(spec, tmp_path / "a", n_resamples=50).cells
    (b,) = summarize_grid(spec, tmp_path / "b", n_resamples=50).cells
    return a, b, record["id"]


def test_differing_rows_lists_only_the_examples_whose_scores_differ(data_dir: Path, tmp_path: Path) -> None:
    a, b, edited = _two_cells_one_answer_apart(tmp_path)
    every = differing_rows(a, b, "process_f1", only_different=False)
    assert sorted(r["id"] for r in every) == sorted(r.id for r in a.rows)
    (only,) = differing_rows(a, b, "process_f1")
    assert only["id"] == edited and only["A"] > only["B"] and only["B − A"] == only["B"] - only["A"]
    assert differing_rows(a, a, "process_f1") == []


def test_paired_difference_is_the_mean_of_per_example_differences(data_dir: Path, tmp_path: Path) -> None:
    a, b, edited = _two_cells_one_answer_apart(tmp_path)
    d = paired_difference(a, b, "process_f1", n_resamples=200)
    left = {r.id: r.values["process_f1"] for r in a.rows}
    expected = [r.values["process_f1"] - left[r.id] for r in b.rows]
    assert d["n"] == 5 and d["mean"] == pytest.approx(sum(expected) / 5) and d["mean"] < 0
    assert d["ci_low"] <= d["mean"] <= d["ci_high"]
    assert paired_difference(a, a, "process_f1")["mean"] == 0.0


@pytest.mark.parametrize(
    ("text", "integers", "expected"), [("code,text", False, ("code", "text")), ("2, 4,8", True, (2, 4, 8))]
)
def test_parse_list(text: str, integers: bool, expected: tuple) -> None:
    assert parse_list(text, "--x", integers=integers) == expected


@pytest.mark.slow
def test_local_grid_makes_four_run_files_scored_as_eval_scores_them(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCOGEN_THREADS", "1")
    out = tmp_path / "grid"
    argv = ["grid", "--task", "proscript-edge", "--split", "dev", "--limit", "2", "--backend", "local",
            "--formats", "code,text", "--k", "1,2", "--select", "fixed", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    names = ["code.k1.fixed", "code.k2.fixed", "text.k1.fixed", "text.k2.fixed"]
    _check_cells_equal_eval(out, "proscript-edge", names, capsys)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*.jsonl")}
    capsys.readouterr()
    assert main(argv) == 0  # a finished grid: nothing generated, no file rewritten
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.jsonl")} == stamps


def test_a_smaller_grid_scores_only_its_own_rows_of_a_larger_cell_file(data_dir: Path, tmp_path: Path) -> None:
    from cocogen.evaluate import evaluate_file

    big = GridSpec("propara", ("code",), (2,), ("fixed",), "cocogen-test", limit=6)
    run_grid(big, make_backend("replay", task="propara"), tmp_path)
    small = GridSpec("propara", ("code",), (2,), ("fixed",), "cocogen-test", limit=3)
    assert run_grid(small, make_backend("replay", task="propara"), tmp_path)[0].ok == 0
    (cell,) = summarize_grid(small, tmp_path, n_resamples=20).cells
    from cocogen.tasks import get_task

    first3 = [ex.id for ex in get_task("propara").load("cocogen-test")[:3]]
    assert cell.n == 3 and sorted(r.id for r in cell.rows) == sorted(first3)
    assert cell.value == evaluate_file(cell.path, ids=first3).score.values["f1"]
