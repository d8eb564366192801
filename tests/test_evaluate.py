"""``cocogen eval`` / ``cocogen report``: the paper's figures from the recorded outputs, run files,
failures kept as zero rows, references from splits and answer files, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cocogen.cli import main
from cocogen.evaluate import evaluate_file, load_predictions
from cocogen.tasks import get_format, get_task

EG_OUT = "cocogen/outputs/explagraphs/dev_output.jsonl"
PP_OUT = "cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl"
PP_ANSWERS = "propara/leaderboard/test/answers.tsv"


# --- reproduction of the paper's figures ------------------------------------------------------


def test_explagraphs_reproduction(data_dir: Path) -> None:
    ev = evaluate_file(data_dir / EG_OUT, task="explagraphs")
    s = ev.score
    assert (s.n, s.n_failed) == (396, 0)
    assert round(s.values["stca"] * 100, 2) == 45.20
    assert round(s.values["ged"] * 100, 2) == 68.76
    assert s.values["sa"] == 1.0  # the prediction's stance is the prompt's
    assert s.counts["structurally_correct"] == 179 and s.counts["ged_exact"] == 179
    gold = s.extra["other_convention"]
    assert gold["convention"] == "gold"
    assert (round(gold["sa"] * 100, 2), round(gold["stca"] * 100, 2), round(gold["ged"] * 100, 2)) == (
        86.11,
        39.65,
        72.43,
    )
    assert s.values["seca"] is None and "seca" in s.unavailable


def test_explagraphs_gold_convention(data_dir: Path) -> None:
    s = evaluate_file(data_dir / EG_OUT, convention="gold").score
    assert (round(s.values["sa"] * 100, 2), round(s.values["stca"] * 100, 2), round(s.values["ged"] * 100, 2)) == (
        86.11,
        39.65,
        72.43,
    )
    assert s.signature.endswith("conv:gold")


def test_propara_reproduction(data_dir: Path) -> None:
    s = evaluate_file(data_dir / PP_OUT, task="propara").score
    assert (s.n, s.n_failed) == (54, 0)
    assert s.values["precision"] == pytest.approx(0.785)
    assert s.values["recall"] == pytest.approx(0.5385)
    assert round(s.values["f1"] * 100, 1) == 63.9


@pytest.mark.parametrize("refs", [PP_ANSWERS, "cocogen-test", "test"])
def test_propara_reference_sources_agree(data_dir: Path, refs: str) -> None:
    """The official answers.tsv, CoCoGen's test file and the EMNLP'18 grids give the same score."""
    spec = str(data_dir / refs) if refs.endswith(".tsv") else refs
    s = evaluate_file(data_dir / PP_OUT, task="propara", references=spec).score
    assert (s.n, s.values["precision"], s.values["recall"]) == (54, pytest.approx(0.785), pytest.approx(0.5385))


def test_explagraphs_references_from_the_full_dev_split(data_dir: Path) -> None:
    """dev.tsv has 398 rows; CoCoGen released 396: the two without a prediction are failures, not dropped."""
    s = evaluate_file(data_dir / EG_OUT, task="explagraphs", references="dev").score
    assert (s.n, s.n_failed, s.counts["missing_predictions"]) == (398, 2, 2)
    assert s.values["stca"] == pytest.approx(179 / 398)


# --- run files ------------------------------------------------------------------------------


def _write_run(path: Path, task: str, fmt: str, records: list[dict[str, Any]], split: str | None = None) -> Path:
    header = {
        "kind": "header",
        "version": 1,
        "task": task,
        "format": fmt,
        "split": split,
        "backend": "replay",
        "model": "test-model",
        "params": {},
        "prompt": {"k": 4, "select": "fixed", "seed": 0},
    }
    with path.open("w", encoding="utf-8") as fh:
        for d in [header, *records]:
            fh.write(json.dumps(d) + "\n")
    return path


def _record(task: str, fmt: str, ex: Any, completion: str | None, status: str = "ok") -> dict[str, Any]:
    t = get_task(task)
    rec: dict[str, Any] = {
        "kind": "example",
        "id": ex.id,
        "task": task,
        "format": fmt,
        "input": t.to_input(t.query_of(ex.graph)),
        "status": status,
        "reference": ex.graph.to_dict(),
    }
    if status == "ok":
        rec["completion"] = completion
    else:
        rec["error"] = {"message": "server said 503"}
    return rec


def _perfect(task: str, fmt: str, ex: Any) -> str:
    t, f = get_task(task), get_format(task, fmt)
    return f.render(ex.graph)[len(f.render_query(t.query_of(ex.graph))) :]


@pytest.mark.parametrize(
    ("task", "fmt", "split", "key", "perfect"),
    [
        ("explagraphs", "code", "cocogen-dev", "stca", None),
        ("explagraphs", "text", "dev", "edge_f1", 1.0),
        ("propara", "code", "cocogen-test", "process_f1", 1.0),
        ("proscript-edge", "code", "dev", "edge_f1", 1.0),
        ("proscript-script", "code", "dev", "rouge_l", 1.0),
    ],
)
def test_run_file_failures_are_rows(
    tmp_path: Path, data_dir: Path, task: str, fmt: str, split: str, key: str, perfect: float | None
) -> None:
    """A good completion, a failed generation and unparseable text: 3 rows, 2 failures, worst scores."""
    exs = get_task(task).load(split)[:3]
    records = [
        _record(task, fmt, exs[0], _perfect(task, fmt, exs[0])),
        _record(task, fmt, exs[1], None, status="failed"),
        _record(task, fmt, exs[2], "I am sorry, I cannot help with that."),
    ]
    run = _write_run(tmp_path / "run.jsonl", task, fmt, records, split)
    ev = evaluate_file(run)
    s = ev.score
    assert (s.n, s.n_failed) == (3, 2)
    assert s.signature.startswith(f"task:{task}|fmt:{fmt}|model:test-model|k:4|select:fixed|seed:0")
    rows = {r.id: r for r in ev.rows}
    assert rows[exs[1].id].info["error"] == "server said 503" and not rows[exs[1].id].parsed
    assert not rows[exs[2].id].parsed and rows[exs[2].id].problems
    if perfect is not None:
        assert rows[exs[0].id].values[key] == pytest.approx(perfect)
    for bad in (exs[1].id, exs[2].id):
        assert rows[bad].values[key] == 0.0


def test_hostile_completion_is_never_run(tmp_path: Path, data_dir: Path) -> None:
    marker = tmp_path / "pwned"
    ex = get_task("proscript-edge").load("dev")[0]
    evil = f'    def get_relations(self):\n        __import__("os").system("touch {marker}")\n        return ["step0 -> step1"]\n'
    run = _write_run(tmp_path / "run.jsonl", "proscript-edge", "code", [_record("proscript-edge", "code", ex, evil)])
    evaluate_file(run)
    assert not marker.exists()


def test_run_gold_stances_come_from_the_split(tmp_path: Path, data_dir: Path) -> None:
    exs = get_task("explagraphs").load("cocogen-dev")
    flipped = next(e for e in exs if e.meta["gold_stance"] != e.meta["prompt_stance"])
    run = _write_run(
        tmp_path / "run.jsonl",
        "explagraphs",
        "code",
        [_record("explagraphs", "code", flipped, _perfect("explagraphs", "code", flipped))],
        "cocogen-dev",
    )
    s = evaluate_file(run).score
    assert s.values["stca"] == 1.0 and s.extra["other_convention"]["sa"] == 0.0


# --- CLI --------------------------------------------------------------------------------------


def test_cli_eval_json_and_rows(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rows.jsonl"
    assert (
        main(["eval", "--task", "propara", "--predictions", str(data_dir / PP_OUT), "--out", str(out), "--json"]) == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 54 and res["parse_rate"] == 1.0 and round(res["values"]["f1"] * 100, 1) == 63.9
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 54 and {"id", "parsed", "process_f1", "problems"} <= rows[0].keys()


def test_cli_eval_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--task", "explagraphs", "--predictions", str(data_dir / EG_OUT)]) == 0
    text = capsys.readouterr().out
    assert "45.20" in text and "68.76" in text and "gold stance" in text and "396/396" in text


def test_cli_report_side_by_side(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exs = get_task("proscript-edge").load("dev")[:4]
    runs = []
    for fmt in ("code", "text"):
        recs = [_record("proscript-edge", fmt, e, _perfect("proscript-edge", fmt, e)) for e in exs]
        recs[-1]["completion"] = ""  # one failure in each
        runs.append(str(_write_run(tmp_path / f"{fmt}.jsonl", "proscript-edge", fmt, recs, "dev")))
    assert main(["report", *runs, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["values"]["edge_f1"] for r in res] == [pytest.approx(0.75), pytest.approx(0.75)]
    assert [r["signature"].split("|")[1] for r in res] == ["fmt:code", "fmt:text"]
    assert main(["report", *runs]) == 0
    table = capsys.readouterr().out
    assert "1: code test-model" in table and "2: text test-model" in table and "3/4" in table


def test_cli_errors_are_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["eval", "--task", "propara", "--predictions", str(bad)]) == 1
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert main(["eval", "--task", "propara", "--predictions", str(tmp_path / "missing.jsonl")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_recorded_task_is_detected(data_dir: Path) -> None:
    assert load_predictions(data_dir / PP_OUT).task == "propara"
    assert load_predictions(data_dir / EG_OUT).task == "explagraphs"


@pytest.mark.parametrize(
    ("folder", "task", "key"),
    [
        ("proscript_edge_prediction", "proscript-edge", "edge_f1"),
        ("proscript_script_generation", "proscript-script", "rouge_l"),
    ],
)
def test_recorded_proscript_records(tmp_path: Path, data_dir: Path, folder: str, task: str, key: str) -> None:
    """CoCoGen-format proScript records (no released outputs exist): the reference comes from
    ``reference_code`` through our parser; records match the dev split by position."""
    rows = [json.loads(x) for x in (data_dir / "cocogen/data" / folder / "dev.jsonl").read_text().splitlines()[:5]]
    for r in rows:
        r["generated_code"] = r["reference_code"]  # a perfect "model"
    rows[-1]["generated_code"] = r["input_prompt_code"]  # the prompt alone: nothing written
    path = tmp_path / "out.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = evaluate_file(path).score
    assert (s.task, s.n) == (task, 5)
    assert s.values[key] == pytest.approx(4 / 5)
    s = evaluate_file(path, references="dev").score
    assert (s.n, s.counts["missing_predictions"]) == (1085, 1080)
