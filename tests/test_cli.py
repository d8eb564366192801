"""The `cocogen` command, called in-process through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cocogen.cli import main
from cocogen.tasks import REGISTRY, get_task

INPUTS = {
    "proscript-script": {"goal": "bake a cake", "num_steps": 7},
    "proscript-edge": {"goal": "bake a cake", "steps": ["mix flour and eggs", "bake it", "preheat the oven", "bake a cake"]},
    "explagraphs": {"belief": "Cars should be banned.", "argument": "Cars pollute the air.", "stance": "support"},
    "propara": {"sentences": ["Water is heated.", "Water turns into vapor."], "participants": ["water", "vapor"]},
}


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tasks_json_lists_every_task_with_formats(capsys) -> None:
    code, out, _ = run(capsys, "tasks", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"proscript-script", "proscript-edge", "explagraphs", "propara"}
    for r in rows.values():
        kinds = {f["kind"] for f in r["formats"]}
        assert {"code", "text"} <= kinds
        assert r["formats"][0]["kind"] == "code"


@pytest.mark.parametrize("task", sorted(INPUTS))
def test_prompt_ends_with_the_query_and_parse_reads_it_back(task: str, capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "prompt", "--task", task, "--input", json.dumps(INPUTS[task]), "--k", "2", "--json")
    assert code == 0
    p = json.loads(out)
    assert p["prompt"].endswith(p["query"])
    assert len(p["examples"]) == 2
    assert p["stop"]
    # The full rendering of a shipped example parses back through the CLI.
    t = get_task(task)
    ex = t.fewshot()[0]
    f = tmp_path / "example.txt"
    f.write_text(next(iter(t.formats.values())).render(ex.graph))
    code, out, _ = run(capsys, "parse", "--task", task, str(f), "--json")
    assert code == 0
    res = json.loads(out)
    assert res["ok"] and res["graph"] == ex.graph.to_dict()


def test_parse_exit_status_is_1_when_nothing_is_recovered(capsys, tmp_path: Path) -> None:
    f = tmp_path / "junk.txt"
    f.write_text("I'm sorry, I can't help with that.\n")
    code, out, _ = run(capsys, "parse", "--task", "explagraphs", str(f), "--json")
    assert code == 1
    res = json.loads(out)
    assert res["ok"] is False and res["graph"] is None
    assert res["problems"]


def test_bad_input_is_one_sentence_and_exit_1(capsys) -> None:
    code, _, err = run(capsys, "prompt", "--task", "explagraphs", "--input", "{not json")
    assert code == 1 and err.startswith("error: --input is not valid JSON")
    code, _, err = run(capsys, "prompt", "--task", "nope", "--input", "{}")
    assert code == 1 and "Unknown task 'nope'" in err and "cocogen tasks" in err
    code, _, err = run(capsys, "prompt", "--task", "explagraphs", "--format", "yaml", "--input", "{}")
    assert code == 1 and "no format 'yaml'" in err
    code, _, err = run(capsys, "prompt", "--task", "proscript-script", "--input", json.dumps({"goal": "", "num_steps": 5}))
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err


def test_registry_matches_cli_choices() -> None:
    assert all(t.formats for t in REGISTRY.values())
