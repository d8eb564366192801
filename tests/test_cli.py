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


def test_pool_takes_the_examples_from_a_dataset_split_never_the_query_itself(capsys, data_dir: Path) -> None:
    task = get_task("explagraphs")
    train = {ex.id: ex for ex in task.load("train")}
    own = next(iter(train.values()))
    query = task.to_input(task.query_of(own.graph))
    argv = ["prompt", "--task", "explagraphs", "--input", json.dumps(query), "--k", "3", "--select", "knn"]
    code, out, _ = run(capsys, *argv, "--pool", "train", "--json")
    assert code == 0
    chosen = json.loads(out)["examples"]
    assert len(chosen) == 3 and set(chosen) <= set(train) and own.id not in chosen
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0 and not set(json.loads(out)["examples"]) & set(train)  # the default: our own examples
    code, _, err = run(capsys, *argv, "--pool", "nope")
    assert code == 1 and err.count("\n") == 1 and "no split 'nope'" in err


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


def test_every_registered_task_is_served_by_every_task_command(capsys, tmp_path: Path) -> None:
    """The CLI reads the registry: a task is listed, prompted and parsed with no CLI edit."""
    code, out, _ = run(capsys, "tasks", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert list(rows) == list(REGISTRY)
    for name, task in REGISTRY.items():
        r = rows[name]
        assert r["inputs"] == [f.name for f in task.input_fields]
        assert r["metrics"] == list(task.metric().display)
        # The listed sample input is accepted as it is printed.
        code, out, err = run(capsys, "prompt", "--task", name, "--input", json.dumps(r["sample_input"]), "--json")
        assert code == 0, err
        p = json.loads(out)
        assert p["spec"] == {
            "pool": "fewshot", "k": task.default_k, "selection": "fixed", "selection_seed": 0, "token_budget": 3800
        }
        f = tmp_path / f"{name}.txt"
        f.write_text("")
        code, out, _ = run(capsys, "parse", "--task", name, "--input", json.dumps(r["sample_input"]), str(f), "--json")
        assert code == 1 and json.loads(out)["ok"] is False  # nothing written: nothing recovered, exit 1
    # The help of --task names the registered tasks.
    with pytest.raises(SystemExit):
        main(["prompt", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, also at hyphens
    assert all(name in help_text for name in REGISTRY)


def test_selection_seed_and_sampling_seed_are_separate_options(capsys) -> None:
    from cocogen.cli import build_parser
    from cocogen.cli.common import params_from_args, spec_from_args

    args = build_parser().parse_args(
        ["generate", "--task", "explagraphs", "--input", "{}", "--select", "random", "--seed", "3", "--sampling-seed", "9"]
    )
    assert spec_from_args(args).selection_seed == 3 and params_from_args(args).seed == 9
    args = build_parser().parse_args(["generate", "--task", "explagraphs", "--input", "{}"])
    assert spec_from_args(args).selection_seed == 0 and params_from_args(args).seed is None
    # The selection seed changes the examples, and the prompt command shows which.
    sample = json.dumps(dict(get_task("explagraphs").sample_input))
    picks = set()
    for seed in ("1", "2", "3"):
        _, out, _ = run(capsys, "prompt", "--task", "explagraphs", "--input", sample, "--select", "random",
                        "--seed", seed, "--k", "3", "--json")  # fmt: skip
        picks.add(tuple(json.loads(out)["examples"]))
    assert len(picks) > 1
