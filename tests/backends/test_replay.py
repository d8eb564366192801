"""The replay backend serves the paper's recorded Codex outputs, matched by example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cocogen.backends import GenerationParams, RequestContext, make_backend
from cocogen.backends.replay import ReplayBackend, fingerprint
from cocogen.errors import BackendError, ConfigError, DataError
from cocogen.pipeline import generate
from cocogen.tasks import get_task


@pytest.mark.parametrize(
    ("task_name", "split", "n"), [("explagraphs", "cocogen-dev", 396), ("propara", "cocogen-test", 54)]
)
def test_recorded_codex_outputs_all_parse(data_dir: Path, task_name: str, split: str, n: int) -> None:
    task = get_task(task_name)
    replay = make_backend("replay", task=task_name)
    assert isinstance(replay, ReplayBackend) and len(replay) == n
    assert replay.model == "code-davinci:002"
    examples = task.load(split)
    assert len(examples) == n
    served = set()
    for ex in examples:
        r = generate(task, None, ex.graph, replay, example_id=ex.id)
        assert r.ok, (ex.id, r.problems)
        assert r.samples[0].generation.raw is not None
        served.add(r.samples[0].generation.raw["id"])
        # The recorded completion continues exactly the query we render.
        assert r.code.startswith(r.prompt.query_text)
    # Every example found its own record, by id.
    assert served == {str(ex.id) for ex in examples}


def test_matching_by_input_fields_and_by_query_text(data_dir: Path) -> None:
    task = get_task("explagraphs")
    replay = ReplayBackend(task="explagraphs")
    ex = task.load("cocogen-dev")[5]
    query = task.query_of(ex.graph)
    by_id = replay.complete("", None, RequestContext(example_id=ex.id))
    by_fields = replay.complete("", None, RequestContext(query=query))
    fmt = task.formats["code"]
    prompt_text = "...few-shot...\n# END\n\n" + fmt.render_query(query)
    by_prompt = replay.complete(prompt_text, GenerationParams(stop=("# END",)))
    assert by_id[0].text == by_fields[0].text == by_prompt[0].text
    assert by_id[0].text.lstrip().startswith("self.graph")


def test_a_miss_is_a_clear_backend_error(data_dir: Path) -> None:
    replay = ReplayBackend(task="propara")
    with pytest.raises(BackendError, match="No recorded completion for example 'nope'") as e:
        replay.complete("def main():\n", None, RequestContext(example_id="nope"))
    assert not e.value.retryable and "recorded" in e.value.hint


def test_a_completion_is_never_served_for_another_prompt_of_its_example(data_dir: Path) -> None:
    # The dataset's ProPara test split lists participants in another order than the
    # paper's prompts: the recorded completion's state_0 is another participant there.
    task = get_task("propara")
    replay = make_backend("replay", task="propara")
    ours = {ex.id: ex for ex in task.load("test")}
    paper = {ex.id: ex for ex in task.load("cocogen-test")}
    reordered = next(i for i in paper if i in ours and ours[i].graph.participants != paper[i].graph.participants)
    assert sorted(ours[reordered].graph.participants) == sorted(paper[reordered].graph.participants)
    with pytest.raises(BackendError, match="continues a different prompt"):
        generate(task, None, ours[reordered].graph, replay, example_id=reordered)
    assert generate(task, None, paper[reordered].graph, replay, example_id=reordered).ok


def test_no_recording_for_a_task() -> None:
    with pytest.raises(ConfigError, match="No recorded outputs ship for task 'proscript-script'"):
        make_backend("replay", task="proscript-script")
    with pytest.raises(ConfigError, match="does not exist"):
        make_backend("replay", path="/nonexistent/run.jsonl")


def test_reads_our_run_records(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    rows = [
        {"kind": "header", "model": "my-model", "task": "explagraphs"},
        {"id": "a", "status": "ok", "input": {"belief": "B", "argument": "A"}, "query_text": "Q1\n", "completion": "1"},
        {"id": "b", "status": "failed", "error": {"message": "x"}},
        {"id": "c", "status": "ok", "query_text": "Q3", "completion": "3", "samples": ["3", "4"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": "d", "comp')  # a cut-off last line
    replay = ReplayBackend(path)
    assert replay.model == "my-model" and replay.ids() == ["a", "c"]
    assert replay.complete("", None, RequestContext(example_id="a"))[0].text == "1"
    assert [g.text for g in replay.complete("x\nQ3\n", GenerationParams(n=2))] == ["3", "4"]
    with pytest.raises(BackendError):
        replay.complete("", None, RequestContext(example_id="b"))
    assert replay.signature().startswith("replay|file=run.jsonl|sha256=")


def test_malformed_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1, "completion": "x"}\nnot json\n{"id": 2, "completion": "y"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        ReplayBackend(path)
    path.write_text('{"id": 1, "text": "x"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:1: not a recorded completion"):
        ReplayBackend(path)


def test_fingerprint_ignores_case_and_spacing() -> None:
    a = fingerprint({"sentences": ["Water  falls."], "participants": ["water"]})
    assert a == fingerprint({"sentences": ["water falls."], "participants": ["Water"]})


def test_replay_answers_are_not_copied_into_the_cache(data_dir: Path, tmp_path: Path) -> None:
    from cocogen.cache import CompletionCache

    task = get_task("propara")
    ex = task.load("cocogen-test")[0]
    cache = CompletionCache(tmp_path / "c.sqlite")
    r = generate(task, None, ex.graph, make_backend("replay", task="propara"), cache=cache)
    assert r.ok and not r.cached and len(cache) == 0
