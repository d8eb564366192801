"""Sharing a view: permalinks (encode/decode, and the app opened from one) and the HTML export buttons."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from cocogen.app.permalink import MAX_INLINE_POOL, decode, decode_pool, encode, encode_pool
from cocogen.app.state import GenerationSettings, sample_input
from cocogen.tasks import REGISTRY, get_task
from cocogen.types import Example, Script
from tests.app.support import APP, finished

SETTINGS = GenerationSettings(k=2, select="random", select_seed=5, token_budget=1500, max_tokens=200,
                              temperature=0.7, top_p=0.9, seed=42)  # fmt: skip


@pytest.mark.parametrize("name", list(REGISTRY))
def test_a_link_gives_back_task_format_input_settings_and_edited_examples(name: str, tmp_path: Path) -> None:
    task = get_task(name)
    fmt = list(task.formats)[-1]
    pool = list(task.fewshot())
    edited = [Example("mine", pool[0].graph), *pool[1:2]]
    params = encode(name, fmt, sample_input(task), SETTINGS, backend="openai", model="m", pool=edited,
                    default_pool=pool, generate=True, store=tmp_path)  # fmt: skip
    assert all(isinstance(v, str) for v in params.values())
    view, warnings = decode(params, store=tmp_path)
    assert warnings == []
    assert (view.task, view.format, view.input) == (name, fmt, json.loads(json.dumps(sample_input(task))))
    assert view.settings == {"k": 2, "select": "random", "select_seed": 5, "token_budget": 1500,
                             "max_tokens": 200, "temperature": 0.7, "top_p": 0.9, "seed": 42}  # fmt: skip
    assert (view.backend, view.model, view.generate) == ("openai", "m", True)
    assert view.fewshot is not None and [e.id for e in view.fewshot] == ["mine", pool[1].id]
    assert [e.graph for e in view.fewshot] == [e.graph for e in edited]


def test_unedited_examples_and_default_settings_stay_out_of_the_link() -> None:
    task = get_task("explagraphs")
    pool = list(task.fewshot())
    params = encode(task.name, "code", sample_input(task), GenerationSettings(), backend="local", pool=pool,
                    default_pool=pool)  # fmt: skip
    assert sorted(params) == ["fmt", "in", "task"]


def test_every_selection_survives_a_link_even_typed_unescaped() -> None:
    from urllib.parse import parse_qs, urlencode

    from cocogen.prompts import SELECTIONS

    task = get_task("proscript-script")
    for sel in SELECTIONS:
        params = encode(task.name, "code", sample_input(task), GenerationSettings(select=sel))
        query = parse_qs(urlencode(params))  # what a browser sends back
        assert decode({k: v[-1] for k, v in query.items()})[0].settings.get("select", "fixed") == sel
    typed = decode({"task": task.name, "sel": "fixed knn"})  # "?sel=fixed+knn" written by hand
    assert typed[0].settings["select"] == "fixed+knn" and not typed[1]


def test_a_large_example_set_is_saved_and_linked_by_its_hash(tmp_path: Path) -> None:
    task = get_task("proscript-script")
    def words(seed: str) -> str:  # text that does not compress away
        return " ".join(hashlib.sha256(f"{seed}{n}".encode()).hexdigest()[:8] for n in range(6))

    big = [Example(f"ex{i}", Script(words(f"g{i}"), 3, tuple(words(f"s{i}.{j}") for j in range(3)), ((0, 1),)))
           for i in range(40)]  # fmt: skip
    value = encode_pool(big, store=tmp_path)
    assert value.startswith("h:") and len(value) < 40
    assert decode_pool(task, value, store=tmp_path) == tuple(big)
    assert len(encode_pool(big[:1], store=tmp_path)) <= MAX_INLINE_POOL
    _, warnings = decode({"task": task.name, "fs": value}, store=tmp_path / "elsewhere")
    assert warnings == ["The link's few-shot examples were saved on another machine and are not here; "
                        "using our few-shot examples."]  # fmt: skip


GARBLED: list[tuple[dict[str, Any], str]] = [
    ({"task": "nope"}, "The link names no task 'nope'; showing the default task."),
    ({"task": "explagraphs", "fmt": "yaml"}, "ExplaGraphs has no format 'yaml'; showing its default format."),
    ({"task": "explagraphs", "in": "{not json"}, "The link's input is not valid JSON"),
    ({"task": "explagraphs", "in": "[1, 2]"}, "The link's input was not used (it is not a JSON object)"),
    ({"task": "explagraphs", "in": '{"belief": ""}'}, "The link's input was not used ("),
    ({"task": "explagraphs", "in": "[" * 5000 + "]" * 5000}, "The link's input is not valid JSON"),
    ({"k": "many"}, "The link's k ('many') is not a whole number; using the default."),
    ({"k": "99"}, "The link's k (99) is outside 0–16; using the default."),
    ({"temp": "nan"}, "The link's temp (nan) is outside 0–2; using the default."),
    ({"sel": "best"}, "The link's selection 'best' is not one of"),
    ({"backend": "gpt"}, "The link's backend 'gpt' is unknown; using the one chosen here."),
    ({"task": "explagraphs", "fs": "z:!!!"}, "The link's few-shot examples are damaged (cut or changed)"),
    ({"task": "explagraphs", "fs": "z:" + "A" * 40}, "The link's few-shot examples are damaged"),
    ({"task": "explagraphs", "fs": "x:1"}, "The link's few-shot examples are not in a form this app writes"),
    ({"task": "explagraphs", "in": "x" * 200_000}, "The link's in is too long to be read; it was ignored."),
]


@pytest.mark.parametrize(("params", "warning"), GARBLED, ids=[w[:40] for _, w in GARBLED])
def test_a_garbled_link_is_one_sentence_and_the_defaults(params: dict[str, Any], warning: str) -> None:
    view, warnings = decode(params)
    assert len(warnings) == 1 and warnings[0].startswith(warning), warnings
    assert warnings[0].endswith(".") and "\n" not in warnings[0]
    assert view.settings == {} and view.input == {} and view.fewshot is None


def test_a_linked_input_is_read_as_the_task_reads_it() -> None:
    view, _ = decode({"task": "proscript-script", "in": '{"goal": "plant a tree", "num_steps": "7"}'})
    assert view.input == {"goal": "plant a tree", "num_steps": 7}
    view, _ = decode({"task": "explagraphs", "in": '{"belief": "a", "argument": "b", "stance": "SUPPORT"}'})
    assert view.input["stance"] == "support"


def test_a_repeated_parameter_counts_once() -> None:
    view, warnings = decode({"k": ["1", "3"]})
    assert view.settings == {"k": 3} and warnings == []


# --- the app opened from a link --------------------------------------------------------------------


def _open(page: str, params: dict[str, str], **state: Any) -> AppTest:
    """A fresh session whose address carries ``params`` (what a new browser does with a copied link)."""
    at = AppTest.from_file(str(APP), default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    at.session_state["backend_kind"] = "replay"
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def test_the_playground_opens_a_link_with_its_input_settings_and_examples(tmp_path: Path) -> None:
    task = get_task("explagraphs")
    values = {"belief": "Dogs are loyal.", "argument": "Dogs stay by their owners.", "stance": "support"}
    pool = list(task.fewshot())
    params = encode(task.name, "text", values, GenerationSettings(k=1, temperature=0.4), backend="replay",
                    pool=pool[:2][::-1], default_pool=pool)  # fmt: skip
    at = _open("playground", params)
    assert [t.value for t in at.text_input][:2] == ["Dogs are loyal.", "Dogs stay by their owners."]
    assert at.session_state["gs_k"] == 1 and at.session_state["gs_temperature"] == 0.4
    assert [e.id for e in at.session_state["fewshot"]["explagraphs"]] == [pool[1].id, pool[0].id]
    assert at.session_state["pg_fmt:explagraphs"] == "text"
    assert dict(at.query_params) == params, "the address is again the link to this view"


def test_a_garbled_link_opens_the_page_with_a_warning() -> None:
    at = _open("playground", {"task": "explagraphs", "in": "{oops", "k": "-3"})
    shown = " ".join(w.value for w in at.warning)
    assert "The link's input is not valid JSON" in shown and "The link's k (-3) is outside 0–16" in shown
    assert not at.error
    at.button(key="permalink_dismiss").click().run()
    assert not [w for w in at.warning if "The link" in w.value]


def test_a_link_to_an_answer_shows_it_on_opening(data_dir: Path) -> None:
    task = get_task("explagraphs")
    row = task.load("cocogen-dev")[0]
    params = encode(task.name, "code", task.to_input(row.graph), GenerationSettings(), backend="replay", generate=True)
    at = finished(_open("playground", params))
    result = at.session_state["pg_result"]
    assert result.task == "explagraphs" and result.completion  # the paper's recorded answer, with no click
    labels = [getattr(e.proto, "label", "") for e in at.get("download_button")]
    assert "Example (.html)" in labels


# --- the datasets from the app ---------------------------------------------------------------------


def _without_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> Path:
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("COCOGEN_DATA_DIR", str(empty))
    monkeypatch.setenv("COCOGEN_DATA_URL", url)
    return empty


def _download_button(at: AppTest, key: str) -> Any:
    return at.button(key=f"{key}_data_download")


@pytest.mark.slow  # downloads all the datasets (about 15 MB) from 127.0.0.1
def test_inspect_downloads_the_datasets_with_a_button(monkeypatch, tmp_path: Path, data_dir: Path) -> None:
    from cocogen import data
    from tests.fakes.file_server import serve_files

    with serve_files(data_dir) as mirror:
        root = _without_data(monkeypatch, tmp_path, mirror.url)
        at = _open("inspect", {})
        assert "download the datasets" in " ".join(i.value for i in at.info)
        _download_button(at, "insp").click().run()
        assert not at.exception and not at.error
    assert data.verify(root)["ok"]
    assert not at.get("button") or not [b for b in at.button if b.key == "insp_data_download"], "the offer is gone"
    assert any(m.label for m in at.metric), "the paper's recorded outputs are shown"


@pytest.mark.slow  # downloads all the datasets (about 15 MB) from 127.0.0.1
def test_a_broken_download_in_the_app_resumes_on_the_next_press(monkeypatch, tmp_path: Path, data_dir: Path) -> None:
    from cocogen import data
    from tests.fakes.file_server import serve_files

    with serve_files(data_dir) as mirror:
        root = _without_data(monkeypatch, tmp_path, mirror.url)
        mirror.cut["explagraphs/train.tsv"] = 100_000
        at = _open("evaluate", {})
        _download_button(at, "ev").click().run()
        [error] = [e.value for e in at.error]
        assert "broke off after 100,000 of 710,566 bytes (the connection closed early)" in error
        assert data.missing(root) == ["explagraphs/train.tsv"]
        _download_button(at, "ev").click().run()
        assert not at.error and not at.exception
        assert ("explagraphs/train.tsv", "bytes=100000-") in mirror.requests
    assert data.verify(root)["ok"]


def test_without_network_the_download_button_says_so_in_one_sentence(monkeypatch, tmp_path: Path) -> None:
    from cocogen import data
    from tests.fakes.file_server import closed_url

    root = _without_data(monkeypatch, tmp_path, closed_url())
    at = _open("evaluate", {})
    _download_button(at, "ev").click().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("Cannot reach the download server (127.0.0.1)") and error.count(". ") == 0
    assert [p.name for p in root.rglob("*") if p.is_file()] == [data.LOCK_NAME], "nothing but the lock"


@pytest.mark.parametrize(("page", "key"), [("playground", "fill:explagraphs"), ("compare", "cmp"), ("evaluate", "ev")])
def test_every_place_that_needs_data_offers_the_download(monkeypatch, tmp_path: Path, page: str, key: str) -> None:
    from tests.fakes.file_server import closed_url

    _without_data(monkeypatch, tmp_path, closed_url())
    at = _open(page, {"task": "explagraphs"})
    assert _download_button(at, key).label == "Download the datasets"


def test_with_the_datasets_in_place_nothing_is_offered(data_dir: Path) -> None:
    at = _open("compare", {"task": "explagraphs"})
    assert not [b for b in at.button if b.key and b.key.endswith("_data_download")]


# --- the presenter path in Learn ------------------------------------------------------------------------


def test_presenter_mode_enlarges_the_type_and_binds_the_arrow_keys() -> None:
    at = _open("learn", {})
    assert at.button(key="learn_step_next").proto.shortcut == ""
    at.toggle(key="learn_presenter").set_value(True).run()
    assert any("font-size: 2.9rem" in str(h.proto) for h in at.get("html"))
    assert (at.button(key="learn_step_back").proto.shortcut, at.button(key="learn_step_next").proto.shortcut) == (
        "left",
        "right",
    )


def test_codex_beside_the_sidebars_model_on_the_same_input(data_dir: Path) -> None:
    from tests.app.support import answers
    from tests.fakes.openai_server import FakeOpenAIServer, table_responder

    with FakeOpenAIServer(table_responder(answers(data_dir))) as server:
        at = _open("learn", {}, learn_task="explagraphs", learn_step=6, backend_kind="openai",
                   openai_base_url=server.base_url, openai_model="fake-code-model", openai_mode="completion",
                   gs_cache=False)  # fmt: skip
        at.button(key="learn_both_go").click().run()
        assert not at.exception and not at.error
        assert len(server.completion_requests()) == 1, "Codex is replayed; only the other model is asked"
    heads = [h.value for h in at.subheader]
    assert heads[0] == "Codex (the paper's recorded answer)" and heads[1].startswith("The model chosen in the sidebar")
    assert len(at.get("graphviz_chart")) == 2
    codex, other = at.session_state["learn_both"][2]
    assert codex.result.completion and codex.result.prompt.text == other.result.prompt.text, "the same prompt"


def test_the_codex_step_names_the_tasks_it_covers(data_dir: Path) -> None:
    at = _open("learn", {}, learn_task="proscript-script", learn_step=6)
    assert any("recorded Codex outputs cover ExplaGraphs and ProPara" in i.value for i in at.info)


def test_a_compare_link_keeps_its_reference_row_and_scores_again_on_opening(data_dir: Path) -> None:
    from tests.app.support import answers
    from tests.fakes.openai_server import FakeOpenAIServer, table_responder

    with FakeOpenAIServer(table_responder(answers(data_dir))) as server:
        backend = {"backend_kind": "openai", "openai_base_url": server.base_url, "openai_model": "fake-code-model",
                   "openai_mode": "completion", "gs_cache": False}  # fmt: skip
        at = _open("compare", {}, task="explagraphs", **backend)
        at.number_input(key="fill_row:explagraphs").set_value(3).run()
        at.button(key="fill_go:explagraphs").click().run()
        finished(at.button(key="cmp_go").click().run())
        link = dict(at.query_params)
        assert link["ref"] == "train:3" and link["go"] == "1", link

        fresh = finished(_open("compare", link, **backend))
        assert fresh.session_state["reference"]["explagraphs"].id == at.session_state["reference"]["explagraphs"].id
        assert any("Reference: dataset row" in s.value for s in fresh.success)
        saved = fresh.session_state["cmp_result"]
        assert saved[2] is not None and all(o.scores for o in saved[1]), "scored against the row, with no click"


def test_a_reference_row_that_is_not_there_is_a_warning() -> None:
    _, warnings = decode({"task": "explagraphs", "ref": "nope:3"})
    assert warnings == ["The link's reference row 'nope:3' is not a row of any ExplaGraphs split; none is used."]
