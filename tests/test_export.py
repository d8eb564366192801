"""The one-file HTML export: everything inline and escaped, no URL, written atomically; `cocogen export`."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cocogen.cli import main
from cocogen.errors import InputError
from cocogen.export import ExportPart, part_of_run_example, to_html, write_html
from cocogen.types import ExplaGraph, Problem, ProblemKind, Script, StateTable
from tests.fakes.openai_server import FakeOpenAIServer

HOSTILE = '<script>alert("x")</script><img src=https://evil.example/x.png>'
RECORDED_EG = "cocogen/outputs/explagraphs/dev_output.jsonl"


def _urls(page: str) -> list[str]:
    return re.findall(r"(?:https?:)?//[\w.-]+\.\w+", page)


class _Tags(HTMLParser):
    """Every element and attribute the browser will see (text is not markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attribute_values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attribute_values += [v or "" for _, v in attrs]


def _markup(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def test_a_page_names_no_url_and_escapes_every_piece_of_model_text() -> None:
    pred = Script(HOSTILE, 2, (HOSTILE, "pour"), ((0, 1),))
    part = ExportPart(
        task="proscript-script",
        format="code",
        given="goal = 'x'\n",
        generated=HOSTILE,
        prediction=pred,
        problems=(Problem(ProblemKind.SYNTAX, HOSTILE, 3),),
        prompt=HOSTILE,
        details=(("model", HOSTILE),),
    )
    page = to_html(HOSTILE, [part])
    assert "&lt;script&gt;alert" in page
    markup = _markup(page)
    assert markup.tags.count("script") == 1, "only the page's own print helper"
    assert "img" not in markup.tags
    assert not [v for v in markup.attribute_values if "//" in v], "no attribute names a URL"
    assert "<svg" in page and "<details>" in page and "@media print" in page
    assert "default-src 'none'" in page  # the CSP forbids any load even if escaping failed


def test_a_comparison_colours_matched_missing_and_extra() -> None:
    gold = ExplaGraph("b", "a", "support", (("cars", "capable of", "pollution"), ("pollution", "causes", "harm")))
    pred = ExplaGraph("b", "a", "support", (("cars", "capable of", "pollution"), ("cars", "is a", "vehicle")))
    page = to_html("t", [ExportPart("explagraphs", "code", "", "...", pred, reference=gold)])
    svg = page[page.index("<svg") : page.index("</svg>")]
    for colour in ("#1b7837", "#b2182b", "#d35400"):  # matched, missing, extra (render.COLOURS)
        assert colour in svg
    assert "<b>1</b> right · <b>1</b> missed · <b>1</b> invented triples" in page


def test_a_table_task_is_a_table_with_wrong_cells_marked() -> None:
    gold = StateTable(("Water falls.",), ("water",), (("cloud", "ground"),))
    pred = StateTable(("Water falls.",), ("water",), (("cloud", "sea"),))
    page = to_html("t", [ExportPart("propara", "code", "", "...", pred, reference=gold)])
    assert '<td class="matched">cloud</td>' in page and '<td class="extra">sea ≠ ground</td>' in page
    alone = to_html("t", [ExportPart("propara", "code", "", "...", pred)])
    assert "<td>sea</td>" in alone and "<svg" not in alone


def test_write_html_replaces_a_file_whole_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    dest = tmp_path / "ex.html"
    dest.write_text("old")
    write_html(dest, "new")
    assert dest.read_text() == "new" and oct(dest.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(InputError, match="does not exist"):
        write_html(tmp_path / "no" / "ex.html", "x")
    with pytest.raises(InputError, match="is a folder"):
        write_html(tmp_path, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["ex.html"], "no temporary file is left behind"


# --- the command ------------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_a_new_answer_from_a_model_server(capsys: pytest.CaptureFixture, tmp_path: Path, api_env) -> None:
    api_env.responder = lambda prompt: '        self.graph = "(cars; capable of; pollution)"\n'
    dest = tmp_path / "answer.html"
    code, out, err = _run(
        capsys, "export", "--task", "explagraphs", "--backend", "openai", "--model", "m", "--no-cache",
        "--input", '{"belief": "Cars should be banned.", "argument": "Cars pollute.", "stance": "support"}',
        "--html", str(dest),
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == str(dest)
    page = dest.read_text()
    assert "(cars; capable of; pollution)" in page and "<svg" in page and "Cars should be banned." in page
    assert _urls(page) == []


def test_a_failed_export_keeps_the_file_that_was_there(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    dest = tmp_path / "answer.html"
    dest.write_text("the earlier export")
    with FakeOpenAIServer() as srv:
        url = srv.base_url
    # The server is gone: the request fails, nothing is written.
    code, _, err = _run(
        capsys, "export", "--task", "explagraphs", "--backend", "openai", "--model", "m", "--no-cache",
        "--base-url", url, "--timeout", "2",
        "--input", '{"belief": "b", "argument": "a", "stance": "support"}', "--html", str(dest),
    )  # fmt: skip
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert dest.read_text() == "the earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["answer.html"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--run", "x.jsonl"], "--run needs --id"),
        (["--task", "explagraphs"], "Give --task and --input"),
        (["--run", "x.jsonl", "--id", "1", "--task", "explagraphs"], "not both"),
        (["--run", "/no/such/file.jsonl", "--id", "1"], "file.jsonl"),
    ],
)
def test_bad_export_arguments_are_one_sentence(capsys, tmp_path: Path, argv: list[str], message: str) -> None:
    code, _, err = _run(capsys, "export", *argv, "--html", str(tmp_path / "x.html"))
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


@pytest.mark.slow  # scores all 396 recorded examples, twice
def test_export_an_example_of_the_papers_recorded_outputs(capsys, tmp_path: Path, data_dir: Path) -> None:
    from cocogen.app.inspection import inspect_file

    run = inspect_file(data_dir / RECORDED_EG)
    row = next(r for r in run.rows if r.parsed and r.gold is not None)
    dest = tmp_path / "row.html"
    code, _, err = _run(capsys, "export", "--run", str(data_dir / RECORDED_EG), "--id", row.id, "--html", str(dest))
    assert code == 0, err
    page = dest.read_text()
    assert "Reference vs prediction" in page and "<svg" in page and "StCA" in page
    code, _, err = _run(capsys, "export", "--run", str(data_dir / RECORDED_EG), "--id", "no-such-id", "--html", str(dest))
    assert code == 1 and "has no example with id 'no-such-id'" in err
    assert dest.read_text() == page
    _, part = part_of_run_example(data_dir / RECORDED_EG, row.id)
    assert part.metrics == {k: row.values.get(k) for k in run.metrics}, "the numbers the Inspect page shows"
    assert (part.prediction, part.reference, part.problems) == (row.pred, row.gold, row.problems)


def test_export_an_example_of_our_own_run(capsys, tmp_path: Path, data_dir: Path, api_env) -> None:
    api_env.responder = lambda prompt: '        self.graph = "(cars; capable of; pollution)"\n'
    out = tmp_path / "run.jsonl"
    code, _, err = _run(capsys, "run", "--task", "explagraphs", "--split", "cocogen-dev", "--limit", "1", "--backend",
                        "openai", "--model", "m", "--k", "1", "--no-progress", "--no-cache", "--out", str(out))  # fmt: skip
    assert code == 0, err
    from cocogen.runs import read_run

    record = read_run(out).records[0]
    dest = tmp_path / "row.html"
    code, _, err = _run(capsys, "export", "--run", str(out), "--id", record["id"], "--html", str(dest))
    assert code == 0, err
    page = dest.read_text()
    assert "(cars; capable of; pollution)" in page and "The whole prompt" in page and "<svg" in page


def test_without_graphviz_the_graph_is_written_out_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")  # no `dot` to be found
    gold = ExplaGraph("b", "a", "support", (("cars", "capable of", "pollution"),))
    pred = ExplaGraph("b", "a", "support", (("cars", "capable of", HOSTILE),))
    page = to_html("t", [ExportPart("explagraphs", "code", "", "...", pred, reference=gold)])
    assert "<svg" not in page and "<img" not in page
    assert '<span class="missing-t">(missing)</span>' in page and '<span class="extra-t">(extra)</span>' in page
    assert "cars → " in page and "&lt;script&gt;" in page


def test_an_unwritable_destination_is_refused_before_the_model_is_asked(capsys, tmp_path: Path, api_env) -> None:
    code, _, err = _run(
        capsys, "export", "--task", "explagraphs", "--backend", "openai", "--model", "m", "--no-cache",
        "--input", '{"belief": "b", "argument": "a", "stance": "support"}', "--html", str(tmp_path / "no" / "x.html"),
    )  # fmt: skip
    assert code == 1 and "the folder" in err and "does not exist" in err
    assert api_env.completion_requests() == [], "no request was made"
