"""Every page of the app through Streamlit's AppTest: normal paths, errors and empty states.

Generation goes over real HTTP to the fake OpenAI-compatible server on 127.0.0.1 (or
replays the paper's recorded outputs); the local model is exercised only by the browser
test.  Nothing in the app is mocked.
"""

from __future__ import annotations

import html
import json
import socket
from pathlib import Path

import pytest

from cocogen.prompts import PromptSpec, build_prompt
from cocogen.tasks import get_task
from tests.app.support import HOSTILE, SECRET, finished, start, texts
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.waiting import DEADLINE_S, wait_until

PAGES = ["home", "playground", "compare", "inspect", "evaluate", "learn"]


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- every page --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("backend", ["local", "openai", "replay"])
def test_every_page_loads_with_every_backend(page: str, backend: str) -> None:
    at = start(None if page == "home" else page, backend=backend)
    assert not at.exception
    assert at.title, "every page has a title"


def test_home_says_which_model_is_active_and_where_to_start() -> None:
    at = start(backend="local")
    assert "Local offline model" in texts(at)  # the default backend
    assert "Gemma 3 270M" in texts(at)
    assert len(at.get("page_link")) >= 5
    assert at.get("graphviz_chart"), "the opening picture is drawn"


def test_home_shows_the_offline_models_measured_quality() -> None:
    """The figures come from the quality benchmark's file, beside the Codex figures on the same rows."""
    import json

    info = json.loads((Path(__file__).resolve().parents[2] / "assets" / "local-model-quality.json").read_text())
    at = start(backend="local")
    shown = texts(at)
    assert "What the offline model can and cannot do" in shown
    assert "| task | format | k | metric | free decoding | constrained (default) | Codex |" in shown
    cell = next(c for c in info["cells"] if (c["task"], c["format"], c["mode"]) == ("explagraphs", "code", "constrained"))
    codex = next(c for c in info["cells"] if (c["task"], c["format"], c["mode"]) == ("explagraphs", "code", "codex"))
    row = next(line for line in shown.splitlines() if line.startswith(f"| explagraphs | code | {cell['k']} |"))
    assert f"| {cell['metrics']['stca'] * 100:.1f} | {codex['metrics']['stca'] * 100:.1f} (same rows) |" in row
    assert "by construction" in shown
    gap = next(g for g in info["code_minus_text"] if g["task"] == "proscript-script" and g["metric"] == "ROUGE-L")
    assert f"proscript-script ROUGE-L {gap['gap'] * 100:+.1f} ({gap['ci_low'] * 100:+.1f} to" in shown


def test_sidebar_never_shows_the_api_key(server: FakeOpenAIServer) -> None:
    at = start("playground", server=server, openai_key=SECRET, task="explagraphs")
    finished(at.button(key="pg_generate").click().run())
    assert not at.exception and not at.error
    assert SECRET not in texts(at)
    assert SECRET not in str(at.session_state["backend_choice"])  # repr leaves it out
    auth = [r.headers.get("authorization", "") for r in server.requests]
    assert f"Bearer {SECRET}" in auth, "the key did reach the server"


# --- the frame ------------------------------------------------------------------------------------

TITLES = ["Home", "Playground", "Compare", "Inspect", "Evaluate", "Learn"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_the_frame(page: str) -> None:
    """AppTest runs a sub-page the way a fresh server runs a deep link: without app.py."""
    at = start(None if page == "home" else page, backend="local")
    labels = [link.proto.label for link in at.sidebar.get("page_link")]
    assert labels == TITLES
    assert at.sidebar.radio(key="backend_kind").value == "local"
    assert at.sidebar.select_slider(key="gs_k")


def test_sidebar_settings_follow_between_pages() -> None:
    at = start("playground", backend="replay", task="explagraphs")
    at.sidebar.select_slider(key="gs_k").set_value(3).run()
    at.switch_page("pages/compare.py").run()
    assert at.sidebar.select_slider(key="gs_k").value == 3
    assert any("the first 3 of" in c.value for c in at.caption)
    at.switch_page("pages/home.py").run()
    assert at.sidebar.select_slider(key="gs_k").value == 3
    assert at.sidebar.radio(key="backend_kind").value == "replay"


def test_selection_seed_and_sampling_seed_are_separate(server: FakeOpenAIServer) -> None:
    at = start("playground", server=server, task="explagraphs", gs_select="random", gs_select_seed=5, gs_seed=11)
    settings = at.session_state["generation_settings"]
    assert (settings.select_seed, settings.params().seed) == (5, 11)
    at.sidebar.number_input(key="gs_seed").set_value(12).run()
    shown = next(e for e in at.expander if e.label.startswith("Assembled prompt"))
    finished(at.button(key="pg_generate").click().run())
    body = server.requests[-1].body
    assert body["seed"] == 12, "the sampling seed goes to the model"
    task = get_task("explagraphs")
    query = task.from_input(get_task("explagraphs").sample_input)
    want = build_prompt(task, None, query, PromptSpec(selection="random", selection_seed=5))
    assert body["prompt"] == want.text, "the selection seed chose the examples; the sampling seed did not"
    assert shown.label.startswith(f"Assembled prompt · ≈{want.n_tokens} tokens")


def test_learn_sends_the_prompt_it_shows(server: FakeOpenAIServer) -> None:
    task = get_task("proscript-script")
    query = task.from_input(get_task("proscript-script").sample_input)
    seeded = {s: build_prompt(task, None, query, PromptSpec(selection="random", selection_seed=s)) for s in (0, 3)}
    assert seeded[0].prefix[-1500:] != seeded[3].prefix[-1500:], "the seed matters here (else this shows nothing)"
    at = start("learn", server=server, learn_task="proscript-script", gs_select="random", gs_select_seed=3,
               learn_step=2)  # fmt: skip
    shown = "".join(h.proto.body for h in at.get("html"))
    assert html.escape(seeded[3].prefix[-1500:]) in shown, "step 2 shows the end of the seed-3 prompt"
    at.button(key="learn_step_next").click().run()
    finished(at.button(key="learn_go").click().run())
    assert not at.error, [e.value for e in at.error]
    assert server.requests[-1].body["prompt"] == seeded[3].text, "step 3 sends that prompt"


# --- Playground --------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["proscript-script", "proscript-edge", "explagraphs", "propara"])
def test_playground_generates_code_beside_graph(server: FakeOpenAIServer, task: str) -> None:
    at = start("playground", server=server, task=task)
    assert "Assembled prompt" in " ".join(e.label for e in at.expander)
    finished(at.button(key="pg_generate").click().run())
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parse"] == "clean"
    assert int(metrics["Generated tokens"]) > 0
    assert "Parsed cleanly" in texts(at)
    if task == "propara":
        assert at.dataframe, "ProPara is a table over steps"
    else:
        assert at.get("graphviz_chart")
    labels = {b.label for b in at.get("download_button")}
    assert {"Code (.py)", "Result (.json)"} <= labels
    if task != "propara":
        assert {"Graph (.dot)", "Graph (.svg)"} <= labels
    html = "".join(str(h.proto) for h in at.get("html"))
    assert "generated by the model" in html and "given in the prompt" in html


@pytest.mark.parametrize("fmt", ["networkx", "text"])
def test_playground_other_formats(server: FakeOpenAIServer, fmt: str) -> None:
    at = start("playground", server=server, task="proscript-script", **{"pg_fmt:proscript-script": fmt})
    finished(at.button(key="pg_generate").click().run())
    assert not at.error and {m.label: m.value for m in at.metric}["Parse"] == "clean"


def test_playground_interactive_view_is_offline_and_escaped(server: FakeOpenAIServer) -> None:
    inputs = {"in:proscript-edge:goal": HOSTILE}
    at = start("playground", server=server, task="proscript-edge", **inputs)
    finished(at.button(key="pg_generate").click().run())
    at.toggle(key="pg_interactive").set_value(True).run()
    assert not at.exception
    frames = at.get("iframe")
    assert frames, "the pyvis view is embedded"
    page = str(frames[0].proto)
    assert "vis.Network" in page and "cdn.jsdelivr" not in page
    assert "<img src=x" not in page


def test_playground_hostile_label_is_escaped_in_dot(server: FakeOpenAIServer) -> None:
    at = start("playground", server=server, task="proscript-edge", **{"in:proscript-edge:goal": HOSTILE})
    finished(at.button(key="pg_generate").click().run())
    spec = at.get("graphviz_chart")[0].proto.spec
    assert 'label="<img src=x' in spec, "a quoted DOT string..."
    assert "label=<" not in spec, "...never an HTML-like label"


def test_playground_empty_input_is_a_short_error() -> None:
    at = start("playground", backend="replay", task="proscript-script", **{"in:proscript-script:goal": "  "})
    assert at.error and "goal" in at.error[0].value.lower()
    assert not [b for b in at.button if b.key == "pg_generate"], "nothing to generate from"
    assert not at.exception


def test_playground_unreachable_server_is_a_short_error() -> None:
    at = start("playground", backend="openai", task="explagraphs", openai_base_url=_closed_port_url(), openai_model="m")
    finished(at.button(key="pg_generate").click().run())
    assert not at.exception
    assert at.error and "Could not reach" in at.error[0].value
    assert "Traceback" not in texts(at)


def test_playground_without_a_model_name_says_so() -> None:
    at = start("playground", backend="openai", task="explagraphs", openai_base_url=_closed_port_url())
    at.button(key="pg_generate").click().run()  # no job starts: the click's run says why
    assert at.error and "No model was chosen" in at.error[0].value


def test_playground_results_survive_moving_between_pages(server: FakeOpenAIServer) -> None:
    at = start("playground", server=server, task="explagraphs", **{"in:explagraphs:belief": "Cats rule."})
    at.switch_page("pages/compare.py").run()
    assert at.text_input(key="w:in:explagraphs:belief").value == "Cats rule.", "the input follows to Compare"
    at.switch_page("pages/playground.py").run()
    assert at.text_input(key="w:in:explagraphs:belief").value == "Cats rule."
    at.text_input(key="w:in:explagraphs:belief").set_value(get_task("explagraphs").sample_input["belief"]).run()
    finished(at.button(key="pg_generate").click().run())
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/playground.py").run()
    assert {m.label: m.value for m in at.metric}["Parse"] == "clean", "the result is still shown"


# --- the few-shot editor -------------------------------------------------------------------------------


def _titles(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.value.split("  \n")[0].replace("\\", "") for m in at.markdown if "  \n:gray[" in m.value]


def test_fewshot_reorder_delete_reset() -> None:
    at = start("playground", backend="replay", task="explagraphs")
    ours = _titles(at)
    assert len(ours) >= 8
    at.button(key="fs_dn:explagraphs:0").click().run()
    assert _titles(at)[:2] == [ours[1], ours[0]]
    at.button(key="fs_up:explagraphs:1").click().run()
    assert _titles(at) == ours
    at.button(key="fs_del:explagraphs:0").click().run()
    assert _titles(at) == ours[1:]
    for _ in range(len(ours) - 1):
        at.button(key="fs_del:explagraphs:0").click().run()
    assert not _titles(at) and "zero-shot" in texts(at)
    at.button(key="fs_reset:explagraphs").click().run()
    assert _titles(at) == ours


def test_fewshot_edit_checks_the_code() -> None:
    at = start("playground", backend="replay", task="explagraphs")
    at.button(key="fs_ed:explagraphs:0").click().run()
    area = next(a for a in at.text_area if a.key.startswith("fs_text:explagraphs"))
    code = area.value
    area.set_value(code.replace("self.belief", "self.belief = (", 1)).run()
    at.button(key="fs_save:explagraphs").click().run()
    assert at.error and "does not parse" in at.error[0].value
    area = next(a for a in at.text_area if a.key.startswith("fs_text:explagraphs"))
    edited = code.split('self.belief = "', 1)
    area.set_value(edited[0] + 'self.belief = "Edited belief here."' + edited[1].split('"', 1)[1]).run()
    at.button(key="fs_save:explagraphs").click().run()
    assert not at.error
    assert _titles(at)[0] == "Edited belief here."


def test_fewshot_add_new_example() -> None:
    at = start("playground", backend="replay", task="explagraphs")
    n = len(_titles(at))
    area = next(a for a in at.text_area if a.key.startswith("fs_new:explagraphs"))
    area.set_value(area.value.replace('self.belief = "', 'self.belief = "A brand new one. ', 1)).run()
    at.button(key="fs_new_add:explagraphs").click().run()
    assert len(_titles(at)) == n + 1 and _titles(at)[-1].startswith("A brand new one.")


def test_fewshot_from_dataset_and_nearest(data_dir: Path) -> None:
    at = start("playground", backend="replay", task="explagraphs")
    n = len(_titles(at))
    at.number_input(key="fs_count:explagraphs").set_value(2).run()
    at.button(key="fs_add_rows:explagraphs").click().run()
    assert len(_titles(at)) == n + 2 and not at.error
    at.selectbox(key="fs_knn_src:explagraphs").set_value("train").run()
    at.button(key="fs_knn:explagraphs").click().run()
    k = get_task("explagraphs").default_k  # the sidebar's k: each task's own
    assert len(_titles(at)) == k and not at.error  # k nearest
    prompt = next(e for e in at.expander if e.label.startswith("Assembled prompt"))
    assert f"{k} examples" in prompt.label


def test_fewshot_from_missing_dataset_is_a_short_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCOGEN_DATA_DIR", str(tmp_path / "nothing"))
    at = start("playground", backend="replay", task="explagraphs")
    at.button(key="fs_add_rows:explagraphs").click().run()
    assert at.error and "does not exist" in at.error[0].value and "cocogen data download" in at.error[0].value
    assert not at.exception


# --- Compare -------------------------------------------------------------------------------------------


def test_compare_code_and_text_with_a_reference(server: FakeOpenAIServer, data_dir: Path) -> None:
    at = start("compare", server=server, task="explagraphs")
    at.selectbox(key="fill_split:explagraphs").set_value("cocogen-dev").run()
    at.button(key="fill_go:explagraphs").click().run()
    assert any("Reference: dataset row" in s.value for s in at.success)
    finished(at.button(key="cmp_go").click().run())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.main.subheader] == ["code · code", "text · text"]
    summary = [m.value for m in at.markdown if "right ·" in m.value]
    assert len(summary) == 2 and all(s.startswith("**4** right") for s in summary)  # the server answers the reference
    assert len(at.get("graphviz_chart")) == 2
    assert at.dataframe, "per-format metrics"


def test_compare_without_reference_three_formats(server: FakeOpenAIServer) -> None:
    at = start("compare", server=server, task="proscript-script")
    assert any("No reference" in i.value for i in at.info)
    at.multiselect(key="cmp_formats:proscript-script").set_value(["code", "networkx", "text"]).run()
    finished(at.button(key="cmp_go").click().run())
    assert not at.exception and not at.error
    assert len(at.main.subheader) == 3 and len(at.get("graphviz_chart")) == 3


def test_compare_unreachable_server_gives_one_short_error_per_column() -> None:
    at = start("compare", backend="openai", task="explagraphs", openai_base_url=_closed_port_url(), openai_model="m")
    finished(at.button(key="cmp_go").click().run())
    assert not at.exception
    assert len(at.main.subheader) == 2 and len(at.error) == 2 and all("Could not reach" in e.value for e in at.error)


# --- Inspect ---------------------------------------------------------------------------------------------


def test_inspect_recorded_codex_outputs(data_dir: Path) -> None:
    at = start("inspect", backend="replay")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Examples"] == "396" and metrics["StCA"] == "45.20" and metrics["GED"] == "68.76"
    path = str(data_dir / "cocogen/outputs/explagraphs/dev_output.jsonl")
    at.multiselect(key=f"insp_kinds:{path}").select("cycle").run()
    shown = int(next(c.value for c in at.caption if c.value.endswith("examples")).split()[0])
    assert 0 < shown < 396
    first = next(m.value for m in at.markdown if m.value.startswith("**Example 1 of"))
    at.button(key="insp_next").click().run()
    assert next(m.value for m in at.markdown if m.value.startswith("**Example")) != first
    assert at.get("graphviz_chart") and "matched" in texts(at)  # gold vs predicted, coloured
    at.text_input(key=f"insp_text:{path}").set_value("zzzz-no-such-text").run()
    assert any("No example matches" in w.value for w in at.warning)


def test_inspect_propara_table_and_open_in_playground(data_dir: Path) -> None:
    path = str(data_dir / "cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl")
    at = start("inspect", backend="replay", insp_file=path)
    assert {m.label: m.value for m in at.metric}["Examples"] == "54"
    assert any("Cells right" in c.value for c in at.caption)
    at.button(key="insp_open").click().run()
    assert [t.value for t in at.title] == ["Playground"]
    assert at.session_state["task"] == "propara"
    assert at.session_state["in:propara:sentences"].startswith("A plant of animal dies")


def test_inspect_without_data_is_an_empty_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCOGEN_DATA_DIR", str(tmp_path / "nothing"))
    at = start("inspect", backend="replay")
    assert any("No run to show yet" in i.value for i in at.info)
    assert not at.exception and not at.error


def test_inspect_malformed_file_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "header", "task": "explagraphs", "format": "code"}\n{not json\n{"id": "x"}\n')
    at = start("inspect", backend="replay", insp_file="__other__", insp_file_path=str(bad))
    assert at.error and f"{bad}:2" in at.error[0].value
    assert not at.exception


# --- Evaluate ------------------------------------------------------------------------------------------


def _wait_jobs(at) -> list:  # type: ignore[no-untyped-def]
    jobs = at.session_state["ev_jobs"]
    for j in jobs:
        assert j.wait(DEADLINE_S), "the run finished"
    return jobs


def test_evaluate_runs_scores_and_resumes(server: FakeOpenAIServer, data_dir: Path, tmp_path: Path) -> None:
    at = start("evaluate", server=server, task="proscript-edge", openai_key=SECRET)
    at.multiselect(key="ev_formats:proscript-edge").set_value(["code", "text"]).run()
    at.number_input(key="ev_limit:proscript-edge").set_value(3).run()
    at.button(key="ev_run").click().run()
    jobs = _wait_jobs(at)
    assert [j.state for j in jobs] == ["done", "done"]
    at.run()
    assert not at.exception and not at.error
    assert [s.value for s in at.main.subheader] == ["Averages", "Calibration", "Per example"]
    assert any("No confidence recorded" in c.value for c in at.caption), "the fake server gives no logprobs"
    avg = at.dataframe[0].value
    assert list(avg.columns) == ["metric", "code", "text"]
    assert {b.label for b in at.get("download_button")} >= {"Per-example metrics (.csv)", "Run file: code (.jsonl)"}
    run_files = sorted((tmp_path / "runs").glob("*.jsonl"))
    assert len(run_files) == 2
    assert all(SECRET not in p.read_text() for p in run_files), "no key in run files"
    # The same settings again resume the same files: nothing is asked twice.
    asked = len(server.requests)
    at.number_input(key="ev_limit:proscript-edge").set_value(4).run()
    at.button(key="ev_run").click().run()
    jobs = _wait_jobs(at)
    assert [j.summary.skipped for j in jobs] == [3, 3] and len(server.requests) == asked + 2
    assert sorted((tmp_path / "runs").glob("*.jsonl")) == run_files


def test_evaluate_cancel_then_resume(data_dir: Path, tmp_path: Path) -> None:
    from tests.app.support import answers
    from tests.fakes.openai_server import table_responder

    with FakeOpenAIServer(table_responder(answers(data_dir))) as slow:
        slow.hold_after(2)  # the run is part-way, however fast the machine, until Cancel
        at = start("evaluate", server=slow, task="explagraphs", ev_conc=1)
        at.selectbox(key="ev_split:explagraphs").set_value("dev").run()
        at.number_input(key="ev_limit:explagraphs").set_value(30).run()
        at.button(key="ev_run").click().run()
        assert at.get("progress"), "a progress bar while running"
        (running,) = at.session_state["ev_jobs"]
        wait_until(lambda: running.progress is not None and running.progress.done >= 2, "2 examples done")
        at.button(key="ev_cancel").click().run()
        slow.release()  # the request in flight finishes and is kept
        (job,) = _wait_jobs(at)
        assert job.state == "cancelled" and 2 <= job.summary.ok <= 3 and job.summary.remaining > 0
        at.run()
        assert any("cancelled" in w.value for w in at.warning)
        at.button(key="ev_run").click().run()
        (job,) = _wait_jobs(at)
        assert job.state == "done" and job.summary.skipped > 0 and job.summary.remaining == 0
        lines = [json.loads(x) for x in job.out.read_text().splitlines()]
        ids = [d["id"] for d in lines if d.get("kind") != "header"]
        assert len(ids) == len(set(ids)) == 30, "no duplicate, no missing example"


def test_evaluate_failing_server_is_reported(data_dir: Path) -> None:
    at = start("evaluate", backend="openai", task="explagraphs", openai_base_url=_closed_port_url(), openai_model="m")
    at.number_input(key="ev_limit:explagraphs").set_value(2).run()
    at.button(key="ev_run").click().run()
    (job,) = _wait_jobs(at)
    at.run()
    assert not at.exception
    # Unreachable is not fatal: both examples are recorded as failed and scored as failures.
    assert job.state == "done" and job.summary.failed == 2
    averages = at.dataframe[0].value
    assert averages.set_index("metric").loc["parsed", "code"] == "0.0%"


# --- Learn ----------------------------------------------------------------------------------------------


def test_learn_walkthrough_end_to_end(server: FakeOpenAIServer) -> None:
    at = start("learn", server=server)
    seen = []
    for step in range(6):
        seen.append(at.get("progress")[0].proto.text)
        if step == 3:
            finished(at.button(key="learn_go").click().run())
            assert not at.error and at.get("html")
        if step == 4:
            assert len(at.get("graphviz_chart")) == 2, "the full answer and the truncated one"
            assert any("truncated" in w.value for w in at.warning), "the cut is reported, not fatal"
        if step == 5:
            finished(at.button(key="learn_cmp").click().run())
            assert [s.value for s in at.main.subheader] == ["code · code", "text · text"]
        if step < 5:
            at.button(key="learn_step_next").click().run()
        assert not at.exception
    assert [s.split("**")[1] for s in seen] == [
        "The task", "Structure as code", "The prompt", "The model completes", "Reading it back", "Why code helps"
    ]  # fmt: skip


def test_learn_before_generating_explains_what_to_do() -> None:
    at = start("learn", backend="replay", learn_step=4)
    assert any("previous step" in i.value for i in at.info)


# --- replay -------------------------------------------------------------------------------------------


def test_replay_serves_the_papers_output_in_the_playground(data_dir: Path) -> None:
    at = start("playground", backend="replay", task="explagraphs")
    at.selectbox(key="fill_split:explagraphs").set_value("cocogen-dev").run()
    at.button(key="fill_go:explagraphs").click().run()
    finished(at.button(key="pg_generate").click().run())
    assert not at.error, [e.value for e in at.error]
    row = get_task("explagraphs").load("cocogen-dev")[0]
    assert row.meta["codex_completion"].strip() in "".join(str(h.proto) for h in at.get("html")).replace("&quot;", '"')


def test_replay_of_an_unrecorded_input_says_so(data_dir: Path) -> None:
    at = start("playground", backend="replay", task="explagraphs")
    finished(at.button(key="pg_generate").click().run())
    assert at.error and not at.exception
