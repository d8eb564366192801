"""Bad inputs to the real `cocogen` command: one sentence on stderr, exit status 1, never a traceback.

The table crosses every command that reads a user's file or argument with every kind of
bad file (binary, deeply nested JSON, valid JSON of the wrong types, a cut last line,
a folder, a missing file) and bad argument.  Each case names what its one line must
mention (the file, the line, the field), so a generic "internal error" does not pass: the
last-resort guard in ``cocogen.cli.main`` is for bugs, and none of these is one.

Most cases call ``cocogen.cli.main`` in-process (fast); ``SUBPROCESS_CASES`` run the real
``python -m cocogen``.  ``run --out`` must leave a file that is not its run file byte for
byte as it was, and two processes writing one run file must not both write it.
Tests wait for conditions (a file has N lines, the server has a request), never for time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cocogen.cli import main
from cocogen.runs import read_run
from tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[1]
EG_RECORDED = "cocogen/outputs/explagraphs/dev_output.jsonl"
PP_RECORDED = "cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl"
EG_INPUT = json.dumps({"belief": "Cars should be banned.", "argument": "Cars pollute.", "stance": "support"})
PP_INPUT = json.dumps({"sentences": ["Water is heated."], "participants": ["water"]})
NESTED = "[" * 50_000 + "]" * 50_000  # deeper than Python's json can read without RecursionError


# --------------------------------------------------------------------------------------
# The files the cases read, made once from a real run file and the paper's recordings
# --------------------------------------------------------------------------------------


def _replace(lines: list[str], index: int, edit: Callable[[dict], None]) -> str:
    out = list(lines)
    d = json.loads(out[index])
    edit(d)
    out[index] = json.dumps(d)
    return "\n".join(out) + "\n"


def _set(path: str, value: object) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            d = d[key]
        d[last] = value

    return edit


def _make_run(out: Path, task: str, split: str, *extra: str) -> Path:
    code = main(["run", "--task", task, "--split", split, "--limit", "3", "--backend", "replay",
                 "--no-progress", "--out", str(out), *extra])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def files(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Name -> path of every bad file (and of good ones the cases need)."""
    d = tmp_path_factory.mktemp("bad-inputs")
    eg_run = _make_run(d / "good-eg-run.jsonl", "explagraphs", "cocogen-dev").read_text().splitlines()
    pp_run = _make_run(d / "good-pp-run.jsonl", "propara", "cocogen-test").read_text().splitlines()
    eg_rec = (data_dir / EG_RECORDED).read_text(encoding="utf-8").splitlines()[:3]
    pp_rec = (data_dir / PP_RECORDED).read_text(encoding="utf-8").splitlines()[:3]
    contents: dict[str, str | bytes] = {
        "binary": b"\xff\xfe\x00\x01\x80binary" * 50,
        "nested": NESTED,
        "nested-line": '{"a": ' + NESTED + "}\n",
        "huge-number": '{"belief": "a", "argument": "b", "stance": "support", "n": ' + "9" * 5000 + "}",
        "run-huge-number": _replace(eg_run, 1, _set("id", "x")).replace('"id": "x"', '"id": ' + "7" * 5000),
        "list": "[1, 2]",
        "null": "null",
        "string": '"text"',
        "empty": "",
        "notes": "notes that are not JSON, with no newline",
        # run files: header and record fields of unexpected types
        "run-error-list": _replace(eg_run, 1, _set("error", [1])),
        "run-error-message": _replace(eg_run, 1, _set("error", {"message": {"a": 1}})),
        "run-prompt-text": _replace(eg_run, 0, _set("prompt", "fixed")),
        "run-prompt-list": _replace(eg_run, 0, _set("prompt", [8])),
        "run-prompt-k": _replace(eg_run, 0, _set("prompt.k", "eight")),
        "run-task-number": _replace(eg_run, 0, _set("task", 5)),
        "run-model-list": _replace(eg_run, 0, _set("model", ["m"])),
        "run-id-list": _replace(eg_run, 1, _set("id", [1])),
        "run-id-true": _replace(eg_run, 1, _set("id", True)),
        "run-input-text": _replace(eg_run, 1, _set("input", "x")),
        "run-reference-list": _replace(eg_run, 1, _set("reference", [1])),
        "run-reference-bad": _replace(eg_run, 1, _set("reference", {"x": 1})),
        "run-completion-number": _replace(eg_run, 1, _set("completion", 5)),
        "run-samples-number": _replace(eg_run, 1, _set("samples", 5)),
        "run-usage-text": _replace(eg_run, 1, _set("usage", "x")),
        "run-query-number": _replace(eg_run, 1, _set("query_text", 5)),
        "pp-run-reference-bad": _replace(pp_run, 1, _set("reference", {"sentences": 5})),
        # recorded outputs (CoCoGen's release format) of the wrong types
        "rec-choices-number": _replace(eg_rec, 0, _set("codex_response.choices", 5)),
        "rec-choices-texts": _replace(eg_rec, 0, _set("codex_response.choices", ["q"])),
        "rec-text-number": _replace(eg_rec, 0, _set("codex_response.choices", [{"text": 5}])),
        "rec-response-text": _replace(eg_rec, 0, _set("codex_response", "x")),
        "rec-usage-text": _replace(eg_rec, 0, _set("codex_response.usage", "x")),
        "rec-model-list": _replace(eg_rec, 0, _set("codex_response.model", [1])),
        "rec-belief-number": _replace(eg_rec, 0, _set("belief", 5)),
        "rec-graph-null": _replace(eg_rec, 0, _set("graph", None)),
        "rec-prompt-code-number": _replace(eg_rec, 0, _set("input_prompt_code", 5)),
        "pp-rec-steps-number": _replace(pp_rec, 0, _set("steps", 5)),
        "pp-rec-steps-text": _replace(pp_rec, 0, _set("steps", "Init")),
        "pp-rec-questions-texts": _replace(pp_rec, 0, _set("questions", ["q"])),
        "pp-rec-answers-number": _replace(pp_rec, 0, _set("questions", [{"question": "the location/state of x", "answers": 5}])),
        "pp-rec-id-list": _replace(pp_rec, 0, _set("id", [1])),
        "pp-rec-choices-number": _replace(pp_rec, 0, _set("codex_response.choices", 5)),
        "answers-binary": b"\xff\xfe\t1\t2",
        "answers-huge-step": "1\t" + "9" * 5000 + "\tx\tNONE\t-\t-\n",
    }
    out = {"dir": str(d), "missing": str(d / "missing.jsonl"), "eg-run": str(d / "good-eg-run.jsonl"),
           "pp-run": str(d / "good-pp-run.jsonl")}  # fmt: skip
    for name, content in contents.items():
        p = d / (name + (".tsv" if name.startswith("answers") else ".jsonl"))
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        out[name] = str(p)
    foreign = d / "grid-foreign"  # a grid folder whose first cell's file is not a run file
    foreign.mkdir()
    (foreign / "explagraphs.code.k2.fixed.jsonl").write_text("notes, not a run\n", encoding="utf-8")
    out["grid-foreign"] = str(foreign)
    return out


# --------------------------------------------------------------------------------------
# The table: (id, argv with {file} placeholders, what the one line must mention)
# --------------------------------------------------------------------------------------

def _slot(name: str) -> str:
    """The placeholder that ``_argv`` replaces by the path of the file ``name``."""
    return "{" + name + "}"


RUN = ["run", "--task", "explagraphs", "--split", "cocogen-dev", "--limit", "2", "--backend", "replay", "--no-progress"]
GEN_EG = ["generate", "--task", "explagraphs", "--backend", "replay", "--input", EG_INPUT, "--model"]
GEN_PP = ["generate", "--task", "propara", "--backend", "replay", "--input", PP_INPUT, "--model"]
GRID = ["grid", "--task", "explagraphs", "--split", "cocogen-dev", "--limit", "2", "--backend", "replay", "--no-progress"]

CASES: list[tuple[str, list[str], list[str]]] = [
    # --input: not UTF-8, too deep, not an object, not readable
    ("prompt-input-binary", ["prompt", "--task", "explagraphs", "--input", "@{binary}"], ["binary.jsonl", "UTF-8"]),
    ("prompt-input-nested-file", ["prompt", "--task", "explagraphs", "--input", "@{nested}"], ["nested.jsonl", "nested"]),
    ("prompt-input-nested-inline", ["prompt", "--task", "explagraphs", "--input", NESTED[:4000] + NESTED[-4000:]], ["--input", "nested"]),
    ("generate-input-nested", GEN_EG[:5] + ["--input", "@{nested}"], ["nested"]),
    ("parse-input-nested", ["parse", "--task", "explagraphs", "--input", "@{nested}", "{empty}"], ["nested"]),
    ("prompt-input-huge-number", ["prompt", "--task", "explagraphs", "--input", "@{huge-number}"], ["digits"]),
    ("prompt-input-huge-number-inline", ["prompt", "--task", "proscript-script", "--input", '{"goal": "x", "num_steps": ' + "1" * 4400 + "}"], ["digits"]),
    ("eval-run-huge-number", ["eval", "--predictions", "{run-huge-number}"], ["run-huge-number.jsonl:2", "digits"]),
    ("run-out-huge-number", RUN + ["--out", "{run-huge-number}"], ["run-huge-number.jsonl:2", "digits"]),
    ("replay-huge-number", GEN_EG + ["{run-huge-number}"], ["run-huge-number.jsonl:2", "digits"]),
    ("prompt-input-list", ["prompt", "--task", "explagraphs", "--input", "@{list}"], ["input", "object"]),
    ("prompt-input-null", ["prompt", "--task", "explagraphs", "--input", "null"], ["input", "object"]),
    ("prompt-input-string", ["prompt", "--task", "propara", "--input", "@{string}"], ["input", "object"]),
    ("prompt-input-empty", ["prompt", "--task", "explagraphs", "--input", "@{empty}"], ["not valid JSON"]),
    ("prompt-input-folder", ["prompt", "--task", "explagraphs", "--input", "@{dir}"], ["folder", "directory"]),
    ("prompt-input-missing", ["prompt", "--task", "explagraphs", "--input", "@{missing}"], ["missing.jsonl"]),
    ("parse-file-binary", ["parse", "--task", "explagraphs", "{binary}"], ["binary.jsonl", "UTF-8"]),
    ("parse-file-folder", ["parse", "--task", "propara", "{dir}"], ["directory"]),
    # eval / report / --references / replay on bad predictions and recordings
    *[
        (f"{cmd}-{kind}", argv, must)
        for kind, must in [
            ("binary", ["binary.jsonl:1", "UTF-8"]),
            ("nested-line", ["nested-line.jsonl:1", "nested"]),
            ("empty", ["empty.jsonl", "no records"]),
            ("notes", ["notes.jsonl:1", "JSON"]),
            ("dir", ["folder", "directory"]),
            ("missing", ["missing.jsonl", "does not exist"]),
        ]
        for cmd, argv in [
            ("eval", ["eval", "--predictions", _slot(kind)]),
            ("report", ["report", "{eg-run}", _slot(kind)]),
            ("references", ["eval", "--predictions", "{eg-run}", "--references", _slot(kind)]),
            ("replay", GEN_EG + [_slot(kind)]),
        ]
        if not (cmd == "references" and kind == "missing")  # a missing --references is a split name: below
    ],
    ("references-unknown", ["eval", "--predictions", "{eg-run}", "--references", "{missing}"], ["neither a file nor a split"]),
    ("eval-run-error-list", ["eval", "--predictions", "{run-error-list}"], [":2:", "'error'"]),
    ("eval-run-error-message", ["eval", "--predictions", "{run-error-message}"], [":2:", "'error.message'"]),
    ("eval-run-prompt-text", ["eval", "--predictions", "{run-prompt-text}"], [":1:", "'prompt'"]),
    ("report-run-prompt-list", ["report", "{run-prompt-list}"], [":1:", "'prompt'"]),
    ("eval-run-prompt-k", ["eval", "--predictions", "{run-prompt-k}"], [":1:", "'prompt.k'"]),
    ("eval-run-task-number", ["eval", "--predictions", "{run-task-number}"], [":1:", "'task'"]),
    ("report-run-model-list", ["report", "{run-model-list}"], [":1:", "'model'"]),
    ("eval-run-id-list", ["eval", "--predictions", "{run-id-list}"], [":2:", "'id'"]),
    ("eval-run-id-true", ["eval", "--predictions", "{run-id-true}"], [":2:", "'id'"]),
    ("eval-run-input-text", ["eval", "--predictions", "{run-input-text}"], [":2:", "'input'"]),
    ("eval-run-reference-list", ["eval", "--predictions", "{run-reference-list}"], [":2:", "'reference'"]),
    ("eval-run-reference-bad", ["eval", "--predictions", "{run-reference-bad}"], [":2:", "reference"]),
    ("eval-run-completion-number", ["eval", "--predictions", "{run-completion-number}"], [":2:", "'completion'"]),
    ("eval-pp-run-reference-bad", ["eval", "--predictions", "{pp-run-reference-bad}"], [":2:", "reference"]),
    ("replay-run-samples-number", GEN_EG + ["{run-samples-number}"], [":2:", "'samples'"]),
    ("replay-run-usage-text", GEN_EG + ["{run-usage-text}"], [":2:", "'usage'"]),
    ("replay-run-query-number", GEN_EG + ["{run-query-number}"], [":2:", "'query_text'"]),
    ("replay-run-input-text", GEN_EG + ["{run-input-text}"], [":2:", "'input'"]),
    ("replay-run-model-list", GEN_EG + ["{run-model-list}"], [":1:", "'model'"]),
    ("replay-run-id-list", GEN_EG + ["{run-id-list}"], [":2:", "'id'"]),
    *[
        (f"{cmd}-{kind}", argv, [":1:", field])
        for kind, field in [
            ("rec-choices-number", "'codex_response.choices'"),
            ("rec-choices-texts", "codex_response.choices[0]"),
            ("rec-text-number", "'codex_response.choices[0].text'"),
            ("rec-response-text", "'codex_response'"),
            ("rec-model-list", "'codex_response.model'"),
            ("rec-prompt-code-number", "'input_prompt_code'"),
            ("rec-belief-number", "'belief'"),
            ("rec-graph-null", "'graph'"),
        ]
        for cmd, argv in [("eval", ["eval", "--predictions", _slot(kind)]), ("replay", GEN_EG + [_slot(kind)])]
        # replay matches a record its task cannot read by the query text, so it reads no belief or graph
        if not (cmd == "replay" and kind in ("rec-belief-number", "rec-graph-null"))
    ],
    ("replay-rec-usage-text", GEN_EG + ["{rec-usage-text}"], [":1:", "'codex_response.usage'"]),
    ("references-rec-belief-number", ["eval", "--predictions", "{eg-run}", "--references", "{rec-belief-number}"], [":1:", "'belief'"]),
    *[
        (f"{cmd}-{kind}", argv, [":1:", field])
        for kind, field in [
            ("pp-rec-steps-number", "'steps'"),
            ("pp-rec-steps-text", "'steps'"),
            ("pp-rec-questions-texts", "questions[0]"),
            ("pp-rec-answers-number", "questions[0].answers"),
            ("pp-rec-id-list", "'id'"),
            ("pp-rec-choices-number", "'codex_response.choices'"),
        ]
        for cmd, argv in [
            ("eval", ["eval", "--predictions", _slot(kind)]),
            ("report", ["report", "--task", "propara", _slot(kind)]),
            ("references", ["eval", "--predictions", "{pp-run}", "--references", _slot(kind)]),
        ]
        if not (cmd == "references" and kind == "pp-rec-choices-number")  # a reference reads no completion
    ],
    ("replay-pp-rec-choices-number", GEN_PP + ["{pp-rec-choices-number}"], [":1:", "'codex_response.choices'"]),
    ("references-answers-binary", ["eval", "--predictions", "{pp-run}", "--references", "{answers-binary}"], ["answers-binary.tsv", "UTF-8"]),
    ("references-answers-huge-step", ["eval", "--predictions", "{pp-run}", "--references", "{answers-huge-step}"], ["answers-huge-step.tsv:1", "step"]),
    # arguments
    ("eval-ged-timeout-negative", ["eval", "--predictions", "{eg-run}", "--ged-timeout", "-1"], ["GED timeout"]),
    ("eval-ged-timeout-nan", ["eval", "--predictions", "{eg-run}", "--ged-timeout", "nan"], ["GED timeout"]),
    ("eval-out-folder", ["eval", "--predictions", "{eg-run}", "--out", "{dir}"], ["directory"]),
    ("eval-out-under-a-file", ["eval", "--predictions", "{eg-run}", "--out", "{notes}/rows.jsonl"], ["notes.jsonl"]),
    ("eval-out-is-the-predictions", ["eval", "--predictions", "{eg-run}", "--out", "{eg-run}"], ["being evaluated"]),
    ("eval-out-is-a-run-file", ["eval", "--predictions", "{eg-run}", "--out", "{pp-run}"], ["run file"]),
    ("eval-format-unknown", ["eval", "--predictions", "{eg-run}", "--format", "yaml"], ["no format 'yaml'"]),
    ("eval-task-other", ["eval", "--predictions", "{eg-run}", "--task", "propara"], ["'explagraphs' run"]),
    ("run-out-folder", RUN + ["--out", "{dir}"], ["folder"]),
    ("run-out-under-a-file", RUN + ["--out", "{notes}/run.jsonl"], ["notes.jsonl is a file"]),
    ("run-out-proc", RUN + ["--out", "/proc/no-such-dir/run.jsonl"], ["/proc/no-such-dir"]),
    ("run-replay-binary", RUN + ["--model", "{binary}", "--out", "{dir}/r-binary.jsonl"], ["binary.jsonl:1", "UTF-8"]),
    ("run-concurrency-0", RUN + ["--concurrency", "0", "--out", "{dir}/r-c.jsonl"], ["--concurrency"]),
    ("run-limit-negative", RUN + ["--limit", "-1", "--out", "{dir}/r-l.jsonl"], ["--limit"]),
    ("run-split-unknown", RUN + ["--split", "nope", "--out", "{dir}/r-s.jsonl"], ["no split 'nope'"]),
    ("generate-timeout-negative", ["generate", "--task", "explagraphs", "--backend", "openai", "--model", "m",
                                   "--base-url", "http://127.0.0.1:9/v1", "--timeout", "-1", "--input", EG_INPUT],
     ["--timeout"]),  # fmt: skip
    ("generate-timeout-inf", ["generate", "--task", "explagraphs", "--backend", "replay", "--timeout", "inf",
                              "--input", EG_INPUT], ["--timeout"]),  # fmt: skip
    ("grid-k-0", GRID + ["--k", "0,2", "--out", "{dir}/g"], ["k of a grid", "1 or more"]),
    ("grid-k-word", GRID + ["--k", "two", "--out", "{dir}/g"], ["--k", "whole numbers"]),
    ("grid-k-empty-item", GRID + ["--k", "2,,4", "--out", "{dir}/g"], ["--k", "no empty item"]),
    ("grid-k-repeated", GRID + ["--k", "2,2", "--out", "{dir}/g"], ["--k lists 2 more than once"]),
    ("grid-formats-unknown", GRID + ["--formats", "code,yaml", "--out", "{dir}/g"], ["no format 'yaml'"]),
    ("grid-formats-empty", GRID + ["--formats", "", "--out", "{dir}/g"], ["--formats"]),
    ("grid-select-unknown", GRID + ["--select", "fixed,best", "--out", "{dir}/g"], ["selection 'best'"]),
    ("grid-seeds-0", GRID + ["--seeds", "0", "--out", "{dir}/g"], ["--seeds"]),
    ("grid-limit-0", GRID + ["--limit", "0", "--out", "{dir}/g"], ["--limit"]),
    ("grid-budget-0", GRID + ["--budget", "0", "--out", "{dir}/g"], ["token budget"]),
    ("grid-split-unknown", GRID + ["--split", "nope", "--out", "{dir}/g"], ["no split 'nope'"]),
    ("grid-task-unknown", ["grid", "--task", "nope", "--split", "dev", "--out", "{dir}/g"], ["nope"]),
    ("grid-too-many-cells", GRID + ["--k", ",".join(str(i) for i in range(1, 41)), "--select", "fixed,random",
                                    "--seeds", "9", "--out", "{dir}/g"], ["cells, more than"]),  # fmt: skip
    ("grid-out-a-file", GRID + ["--k", "2", "--out", "{notes}"], ["notes.jsonl is a file"]),
    ("grid-cell-foreign-file", GRID + ["--k", "2", "--formats", "code", "--out", "{grid-foreign}"], ["not a cocogen run file", "cannot be read"]),
    ("grid-dead-server", ["grid", "--task", "explagraphs", "--split", "cocogen-dev", "--limit", "1", "--k", "1",
                          "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--timeout", "2",
                          "--no-progress", "--no-cache", "--out", "{dir}/g-dead"], ["127.0.0.1:9", "connect", "Stopped"]),  # fmt: skip
    ("generate-merge-one-sample", ["generate", "--task", "explagraphs", "--backend", "replay", "--merge",
                                   "--input", EG_INPUT], ["--merge needs two samples"]),  # fmt: skip
    ("generate-merge-greedy", ["generate", "--task", "explagraphs", "--backend", "replay", "--samples", "3",
                               "--temperature", "0", "--merge", "--input", EG_INPUT], ["temperature above 0"]),  # fmt: skip
    ("generate-samples-zero", ["generate", "--task", "explagraphs", "--backend", "replay", "--samples", "0",
                               "--input", EG_INPUT], ["--samples must be 1 or more"]),  # fmt: skip
    ("run-merge-one-sample", RUN + ["--merge", "--out", "{dir}/r-m.jsonl"], ["--merge needs two samples"]),
    ("data-verify-only-unknown", ["data", "verify", "--only", "nope"], ["Unknown dataset 'nope'"]),
    ("data-download-only-unknown", ["data", "download", "--only", "nope"], ["Unknown dataset 'nope'"]),
]

# These go through a real `python -m cocogen` process: the module entry point, real stdin and stderr.
SUBPROCESS_CASES = {
    "prompt-input-binary",
    "prompt-input-nested-file",
    "eval-binary",
    "eval-run-prompt-text",
    "eval-pp-rec-steps-number",
    "replay-rec-choices-number",
    "run-out-folder",
    "data-verify-only-unknown",
}


def _argv(template: list[str], files: dict[str, str]) -> list[str]:
    return [a.format(**files) if "{" in a and not a.startswith(("[", "{\"")) else a for a in template]


def _check_one_sentence(code: int, err: str, must: list[str]) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error: "), err
    assert "internal error" not in lines[0], err  # a known bad input has its own sentence, not the bug guard's
    assert any(m in lines[0] for m in must), f"{lines[0]!r} mentions none of {must}"


def _run_cli(argv: list[str], *, stdin: bytes = b"", cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "cocogen", *argv],
        cwd=cwd,
        env=env,
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        timeout=300,
    )


@pytest.mark.parametrize(("argv", "must"), [pytest.param(a, m, id=i) for i, a, m in CASES])
def test_bad_input_is_one_sentence_and_exit_1(
    argv: list[str], must: list[str], files: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    code = main(_argv(argv, files))
    _, err = capsys.readouterr()
    _check_one_sentence(code, err, must)


@pytest.mark.parametrize(("argv", "must"), [pytest.param(a, m, id=i) for i, a, m in CASES if i in SUBPROCESS_CASES])
def test_bad_input_through_the_real_command(argv: list[str], must: list[str], files: dict[str, str]) -> None:
    proc = _run_cli(_argv(argv, files))
    _check_one_sentence(proc.returncode, proc.stderr, must)


def test_every_subprocess_case_is_in_the_table() -> None:
    assert SUBPROCESS_CASES <= {i for i, _, _ in CASES}


@pytest.mark.parametrize(
    ("argv", "stdin", "must"),
    [
        pytest.param(["prompt", "--task", "explagraphs", "--input", "-"], b"\xff\xfe{", ["Standard input", "UTF-8"], id="prompt-stdin-binary"),
        pytest.param(["parse", "--task", "explagraphs"], b"\x80\x81", ["Standard input", "UTF-8"], id="parse-stdin-binary"),
        pytest.param(["prompt", "--task", "explagraphs", "--input", "-"], NESTED.encode(), ["standard input", "nested"], id="prompt-stdin-nested"),
    ],
)  # fmt: skip
def test_bad_standard_input_is_one_sentence(argv: list[str], stdin: bytes, must: list[str]) -> None:
    proc = _run_cli(argv, stdin=stdin)
    _check_one_sentence(proc.returncode, proc.stderr, must)


def test_an_unexpected_error_is_still_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The last-resort guard: a bug (here a task list that raises) is one line and exit 1, not a traceback."""
    from cocogen.cli import tasks as tasks_cli

    def broken() -> list:
        raise KeyError("a bug\nwith a line break")

    monkeypatch.setattr(tasks_cli, "task_rows", broken)
    code = main(["tasks", "--json"])
    _, err = capsys.readouterr()
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "internal error" in err and "KeyError" in err and "cocogen tasks" in err


def test_data_verify_only_checks_the_named_dataset(data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["data", "verify", "--only", "explagraphs", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert {f["dataset"] for f in report["files"]} == {"explagraphs"}
    assert code == (0 if report["ok"] else 1)


# --------------------------------------------------------------------------------------
# run --out never modifies a file that is not its run file
# --------------------------------------------------------------------------------------


def _foreign_files(tmp_path: Path) -> dict[str, bytes]:
    other = _make_run(tmp_path / "other-settings.jsonl", "explagraphs", "cocogen-dev", "--k", "2")
    return {
        "notes-no-newline": b"my notes about the experiment, no newline at the end",
        "notes-with-newline": b"line one\nline two\n",
        "json-not-a-header": b'{"a": 1}\n{"b": 2}\n',
        "json-cut-not-a-header": b'{"a": 1}\n{"b": ',
        "one-cut-object": b'{"notes": "half a JSON object',
        "header-later": b'{"id": "x", "status": "ok"}\n' + other.read_bytes(),
        "binary": b"\x00\xff\xfe binary \x80",
        "run-of-other-settings": other.read_bytes(),
        "run-of-other-settings-cut": other.read_bytes() + b'{"kind": "example", "id": "cut',
    }


def test_run_out_leaves_a_foreign_file_byte_identical(data_dir: Path, tmp_path: Path) -> None:
    for name, content in _foreign_files(tmp_path).items():
        target = tmp_path / f"{name}.jsonl"
        target.write_bytes(content)
        code, err = _main_stderr(RUN + ["--k", "1", "--out", str(target)])
        assert target.read_bytes() == content, name
        _check_one_sentence(code, err, [str(target)])
        assert not target.with_name(target.name + ".lock").exists(), name


def test_run_leaves_a_foreign_file_named_like_its_lock_alone(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    lock = tmp_path / "r.jsonl.lock"
    lock.write_bytes(b"my own notes, not a lock")
    code, err = _main_stderr(RUN + ["--out", str(out)])
    _check_one_sentence(code, err, ["not a cocogen lock file"])
    assert lock.read_bytes() == b"my own notes, not a lock" and not out.exists()


def test_run_out_foreign_file_through_the_real_command(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    content = b"notes with no newline"
    target.write_bytes(content)
    proc = _run_cli(RUN + ["--out", str(target)])
    assert target.read_bytes() == content
    _check_one_sentence(proc.returncode, proc.stderr, ["cannot be read as a cocogen run file"])


def test_run_out_still_resumes_its_own_cut_run_file(data_dir: Path, tmp_path: Path) -> None:
    """The refusal above does not cost the repair: a run file of the same settings cut mid-line resumes."""
    out = _make_run(tmp_path / "r.jsonl", "explagraphs", "cocogen-dev")
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])  # the last record cut mid-write
    assert main(RUN[:6] + ["3", *RUN[7:], "--out", str(out)]) == 0
    run = read_run(out)
    assert run.header is not None and len(run.records) == 3 and not run.partial_tail


def _main_stderr(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


# --------------------------------------------------------------------------------------
# One writer per run file: a second process refuses
# --------------------------------------------------------------------------------------


def _wait_for(condition: Callable[[], bool], what: str, limit_s: float = 120.0) -> None:
    """Poll ``condition``; the limit only turns a hang into a failure, it is not a timing assumption."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def _line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_a_second_writer_of_a_run_file_refuses(data_dir: Path, tmp_path: Path) -> None:
    gate = threading.Event()

    def held_answer(prompt: str) -> str:
        gate.wait(300)  # the first run stays in its request until the test lets it go
        return '        self.graph = "(cars; capable of; pollution)"\n'

    out = tmp_path / "shared-run.jsonl"
    argv = ["run", "--task", "explagraphs", "--split", "cocogen-dev", "--limit", "2", "--backend", "openai",
            "--model", "code-model", "--concurrency", "1", "--k", "1", "--no-progress", "--no-cache", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "COCOGEN_API_KEY": "sk-test-not-a-real-key"}
    with FakeOpenAIServer(held_answer) as srv:
        argv += ["--base-url", srv.base_url]
        first = subprocess.Popen(
            [sys.executable, "-m", "cocogen", *argv], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            # The first run holds the lock: its header is written and its first request is waiting.
            _wait_for(lambda: _line_count(out) == 1 and len(srv.completion_requests()) >= 1, "the first run's request")
            before = out.read_bytes()
            second = _run_cli(argv)
            _check_one_sentence(second.returncode, second.stderr, ["being written by another cocogen run"])
            assert out.read_bytes() == before  # the second one wrote nothing
        finally:
            gate.set()
            first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    run = read_run(out)
    assert run.header is not None and run.header["task"] == "explagraphs"
    assert len(run.records) == 2 and run.duplicates == 0 and not run.partial_tail
    assert all(r["status"] == "ok" for r in run.records)
    assert not out.with_name(out.name + ".lock").exists()  # released, and the sidecar removed


def test_the_lock_is_released_for_the_next_run(data_dir: Path, tmp_path: Path) -> None:
    out = _make_run(tmp_path / "r.jsonl", "explagraphs", "cocogen-dev")
    assert main(RUN[:6] + ["3", *RUN[7:], "--out", str(out)]) == 0  # the same file again: resumes, nothing to do


# --------------------------------------------------------------------------------------
# Repeated records are scored once; a cut last line is one rule for every file
# --------------------------------------------------------------------------------------


def _eval_json(*argv: str) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["eval", *argv, "--json"]) == 0
    return json.loads(out.getvalue())


def test_eval_scores_a_repeated_recorded_row_once(data_dir: Path, tmp_path: Path) -> None:
    rows = (data_dir / EG_RECORDED).read_text(encoding="utf-8").splitlines()[:10]
    once, twice, repeats = tmp_path / "once.jsonl", tmp_path / "twice.jsonl", tmp_path / "repeats.jsonl"
    once.write_text("\n".join(rows) + "\n", encoding="utf-8")
    twice.write_text("\n".join(rows + rows) + "\n", encoding="utf-8")
    repeats.write_text("\n".join(rows + [rows[0]] * 5) + "\n", encoding="utf-8")
    a, b, c = _eval_json("--predictions", str(once)), _eval_json("--predictions", str(twice)), _eval_json("--predictions", str(repeats))
    assert a["n"] == b["n"] == c["n"] == 10
    assert a["values"] == b["values"] == c["values"]
    assert "duplicate_records" not in a["counts"]
    assert b["counts"]["duplicate_records"] == 10 and c["counts"]["duplicate_records"] == 5
    assert any("scored once" in n for n in b["notes"])


def test_eval_scores_a_repeated_run_record_once(data_dir: Path, tmp_path: Path) -> None:
    out = _make_run(tmp_path / "r.jsonl", "explagraphs", "cocogen-dev")
    single = _eval_json("--predictions", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines + lines[1:]) + "\n", encoding="utf-8")
    doubled = _eval_json("--predictions", str(out))
    assert doubled["n"] == single["n"] == 3 and doubled["values"] == single["values"]
    assert doubled["counts"]["duplicate_records"] == 3


def test_a_cut_last_line_is_one_rule_for_predictions_references_and_replay(data_dir: Path, tmp_path: Path) -> None:
    rows = (data_dir / EG_RECORDED).read_text(encoding="utf-8").splitlines()[:4]
    whole, cut = tmp_path / "whole.jsonl", tmp_path / "cut.jsonl"
    whole.write_text("\n".join(rows[:3]) + "\n", encoding="utf-8")
    cut.write_text("\n".join(rows[:3]) + "\n" + rows[3][:60], encoding="utf-8")
    as_predictions = _eval_json("--predictions", str(cut))
    assert as_predictions["n"] == 3 and any("cut mid-write" in n for n in as_predictions["notes"])
    as_references = _eval_json("--predictions", str(whole), "--references", str(cut))
    assert as_references["n"] == 3 and as_references["values"] == _eval_json("--predictions", str(whole))["values"]
    from cocogen.backends.replay import ReplayBackend

    assert len(ReplayBackend(cut, task="explagraphs")) == 3


# --------------------------------------------------------------------------------------
# --timeout reaches the openai client, and the hint names it
# --------------------------------------------------------------------------------------


def test_timeout_option_is_used_and_named_in_the_hint(tmp_path: Path) -> None:
    answered = threading.Event()

    def never(prompt: str) -> str:
        answered.wait(120)  # longer than any --timeout below: only the client's timeout ends the request
        return "x"

    with FakeOpenAIServer(never) as srv:
        try:
            proc = _run_cli(["generate", "--task", "explagraphs", "--backend", "openai", "--model", "m", "--no-cache",
                             "--base-url", srv.base_url, "--timeout", "0.2", "--input", EG_INPUT])  # fmt: skip
        finally:
            answered.set()
    _check_one_sentence(proc.returncode, proc.stderr, ["did not answer in time"])
    assert "--timeout" in proc.stderr
