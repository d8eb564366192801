"""ProPara plug-in: exact round trips over all the data, CoCoGen byte-exactness, and a parser
that survives truncated, noisy and hostile output without ever running it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cocogen.errors import ConfigError, DataError, InputError
from cocogen.tasks.base import Format, get_format, get_task
from cocogen.tasks.propara import MISSING, TASK, ProParaCode, ProParaText, function_name
from cocogen.types import ABSENT, UNKNOWN, Example, ParseResult, ProblemKind, StateTable

CODE = ProParaCode()
TEXT = ProParaText()
FORMATS = [CODE, TEXT]
OUTPUTS = "cocogen/outputs/propara/code-davinci-002.test_output.no_init.p1.func.t600.jsonl"

TABLE = StateTable(
    sentences=("Water is poured into a pot.", "The water boils.", "Steam rises into the air."),
    participants=("water", "steam"),
    states=(("tap", "pot", "-", "-"), ("-", "-", "pot", "air")),
)
QUERY = TASK.query_of(TABLE)


def kinds(result: ParseResult) -> set[ProblemKind]:
    return {p.kind for p in result.problems}


def lowered(t: StateTable) -> StateTable:
    """What the code format gives back without a query: CoCoGen lower-cases participant names."""
    return StateTable(t.sentences, tuple(p.lower() for p in t.participants), t.states)


@pytest.fixture(scope="module")
def splits(data_dir: Path) -> dict[str, list[Example]]:
    return {s: TASK.load(s) for s in TASK.splits}


@pytest.fixture(scope="module")
def recorded(data_dir: Path, splits: dict[str, list[Example]]) -> list[tuple[dict[str, Any], Example]]:
    """The 54 recorded code-davinci-002 completions with their gold example."""
    by_id = {e.id: e for e in splits["cocogen-test"]}
    rows = [json.loads(line) for line in (data_dir / OUTPUTS).read_text().splitlines()]
    return [(r, by_id[str(r["id"])]) for r in rows]


def completion(row: dict[str, Any]) -> str:
    return row["codex_response"]["choices"][0]["text"]


# --------------------------------------------------------------------------- registry


def test_registered_with_code_first() -> None:
    task = get_task("propara")
    assert task is TASK
    assert list(task.formats) == ["code", "text"]
    assert get_format(task) is task.formats["code"]
    assert [f.kind for f in task.formats.values()] == ["code", "text"]
    for f in task.formats.values():
        assert isinstance(f, Format)
        assert f.separator == "# END" and f.stop()[0] == "# END"
    assert TASK.splits == ("train", "dev", "test", "cocogen-test")
    assert [f.name for f in TASK.input_fields] == ["sentences", "participants"]


@pytest.mark.parametrize(
    ("sentence", "name"),
    [
        (
            "The energy is released from the battery as electrical current.",
            "energy_is_released_from_battery_as_electrical_current",
        ),
        ("Warm, moist air moves from south to north.", "warm_moist_air_moves_from_south_to_north"),
        (
            "On the other side of the mountains or rain, there isn't much rain.",
            "on_other_side_of_mountains_or_rain_there_isn't_much_rain",
        ),
        ('The "jump" between the two halves can be used.', '"jump"_between_two_halves_can_be_used'),
        ("An updraft results.", "updraft_results"),
        ("Init", "init"),
    ],
)
def test_function_name_follows_cocogen(sentence: str, name: str) -> None:
    assert function_name(sentence) == name


# --------------------------------------------------------------------------- data


def test_split_sizes(splits: dict[str, list[Example]]) -> None:
    assert {s: len(v) for s, v in splits.items()} == {"train": 391, "dev": 43, "test": 54, "cocogen-test": 54}
    for examples in splits.values():
        assert len({e.id for e in examples}) == len(examples)
        assert all(isinstance(e.graph, StateTable) and e.graph.states for e in examples)


def test_cocogen_test_is_the_emnlp18_test_split(splits: dict[str, list[Example]]) -> None:
    grids = {e.id: e.graph for e in splits["test"]}
    cocogen = {e.id: e.graph for e in splits["cocogen-test"]}
    assert grids.keys() == cocogen.keys()
    for pid, g in grids.items():
        c = cocogen[pid]
        assert c.sentences == g.sentences
        # CoCoGen sorts the participants; the rows are the same.
        assert list(c.participants) == sorted(g.participants)
        assert dict(zip(c.participants, c.states, strict=True)) == dict(zip(g.participants, g.states, strict=True))


@pytest.mark.parametrize("split", ["train", "dev", "test", "cocogen-test", "fewshot"])
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_round_trip_full_files(split: str, fmt: Format, splits: dict[str, list[Example]]) -> None:
    examples = TASK.fewshot() if split == "fewshot" else splits[split]
    for e in examples:
        g = e.graph
        assert isinstance(g, StateTable)
        full = fmt.render(g)
        query = fmt.render_query(g)
        assert full.startswith(query)
        with_query = fmt.parse(full, TASK.query_of(g))
        assert with_query.graph == g and with_query.problems == (), e.id
        continuation = fmt.parse(full[len(query) :], TASK.query_of(g))
        assert continuation.graph == g and continuation.problems == (), e.id
        alone = fmt.parse(full)
        assert alone.problems == (), e.id
        assert alone.graph == (lowered(g) if fmt is CODE else g), e.id


def test_code_format_is_byte_exact_with_cocogen(splits: dict[str, list[Example]]) -> None:
    examples = splits["cocogen-test"]
    assert len(examples) == 54
    for e in examples:
        assert CODE.render(e.graph) == e.meta["reference_code"], e.id
        assert CODE.render_query(e.graph) == e.meta["input_prompt_code"], e.id


def test_released_prompts_are_reproduced(data_dir: Path) -> None:
    folder = data_dir / "cocogen" / "data" / "propara"
    code_blocks = (folder / "prompt.txt").read_text().split("# END\n\n")
    text_blocks = (folder / "baseline_text_prompt.txt").read_text().split("# END\n\n")
    assert code_blocks[-1] == text_blocks[-1] == "\n"
    tables = []
    for block in code_blocks[:-1]:
        r = CODE.parse(block)
        assert r.clean and isinstance(r.graph, StateTable)
        assert CODE.render(r.graph) == block
        tables.append(r.graph)
    assert len(tables) == 5
    # The text baseline shows three of the same paragraphs; our text rendering of the code
    # prompt's tables must be the baseline's text, byte for byte.
    for block in text_blocks[:-1]:
        r = TEXT.parse(block)
        assert r.clean and isinstance(r.graph, StateTable)
        same = [t for t in tables if t.sentences == r.graph.sentences]
        assert same == [r.graph]
        assert TEXT.render(same[0]) == block


def test_data_errors_name_file_and_line(tmp_path: Path) -> None:
    grids = tmp_path / "propara" / "emnlp18"
    grids.mkdir(parents=True)
    with pytest.raises(DataError, match=r"grids\.v1\.dev\.json: the file does not exist"):
        TASK.load("dev", tmp_path)
    good = {"para_id": "1", "sentence_texts": ["A.", "B."], "participants": ["x"], "states": [["-", "a", "b"]]}
    cases = {
        "not valid JSON": "{oops",
        "expected an object with para_id": json.dumps({"para_id": "2"}),
        "3 values": json.dumps({**good, "states": [["-", "a"]]}),
        "participants must be": json.dumps({**good, "participants": []}),
        "a state is empty": json.dumps({**good, "states": [["-", "", "b"]]}),
    }
    for message, bad in cases.items():
        (grids / "grids.v1.dev.json").write_text(json.dumps(good) + "\n\n" + bad + "\n")
        with pytest.raises(DataError, match=re.escape(message)) as info:
            TASK.load("dev", tmp_path)
        assert info.value.line == 3 and info.value.path.endswith("grids.v1.dev.json")
        assert "grids.v1.dev.json:3: " in str(info.value)
    (grids / "grids.v1.dev.json").write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(DataError, match="occurs twice"):
        TASK.load("dev", tmp_path)
    (grids / "grids.v1.dev.json").write_text("\n")
    with pytest.raises(DataError, match="holds no records"):
        TASK.load("dev", tmp_path)


def test_cocogen_test_errors(tmp_path: Path) -> None:
    path = tmp_path / "cocogen" / "data" / "propara" / "test.jsonl"
    path.parent.mkdir(parents=True)
    row = {
        "id": "1",
        "steps": ["Init", "A."],
        "questions": [{"question": "the location/state of x", "answers": ["-", "a"]}],
    }
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "steps": ["A."]}) + "\n")
    with pytest.raises(DataError, match=r"test\.jsonl:2: 'steps' must be a list starting with 'Init'"):
        TASK.load("cocogen-test", tmp_path)
    path.write_text(json.dumps({**row, "questions": [{"question": "where is x", "answers": ["-", "a"]}]}) + "\n")
    with pytest.raises(DataError, match=r"test\.jsonl:1: each question"):
        TASK.load("cocogen-test", tmp_path)


def test_unknown_split() -> None:
    with pytest.raises(ConfigError, match="no split 'validation'"):
        TASK.load("validation")


# --------------------------------------------------------------------------- few-shot assets


def test_fewshot_assets_are_ours_and_complete() -> None:
    examples = TASK.fewshot()
    assert len(examples) >= 5
    assert len({e.id for e in examples}) == len(examples)
    events = set()
    for e in examples:
        g = e.graph
        assert isinstance(g, StateTable)
        assert 4 <= len(g.sentences) <= 7 and 2 <= len(g.participants) <= 5
        for row in g.states:
            for before, after in zip(row[:-1], row[1:], strict=True):
                if before == ABSENT and after != ABSENT:
                    events.add("create")
                elif before != ABSENT and after == ABSENT:
                    events.add("destroy")
                elif ABSENT not in (before, after) and UNKNOWN not in (before, after) and before != after:
                    events.add("move")
            if UNKNOWN in row:
                events.add("unknown")
        # Lower-case names: the code format round-trips them even without a query.
        assert all(p == p.lower() for p in g.participants)
    assert events == {"create", "destroy", "move", "unknown"}


def test_fewshot_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fewshot").mkdir()
    monkeypatch.setenv("COCOGEN_ASSETS_DIR", str(tmp_path))
    with pytest.raises(DataError, match="propara.jsonl: the file does not exist"):
        TASK.fewshot()
    ok = {"id": "a", "graph": TABLE.to_dict()}
    (tmp_path / "fewshot" / "propara.jsonl").write_text(
        json.dumps(ok) + "\n" + json.dumps({"id": "b", "graph": TASK.query_of(TABLE).to_dict()}) + "\n"
    )
    with pytest.raises(DataError, match=r"propara\.jsonl:2: a few-shot example needs its states"):
        TASK.fewshot()
    (tmp_path / "fewshot" / "propara.jsonl").write_text(json.dumps(ok) + "\n" + json.dumps({"graph": {}}) + "\n")
    with pytest.raises(DataError, match=r"propara\.jsonl:2: each line needs a non-empty string .id."):
        TASK.fewshot()


# --------------------------------------------------------------------------- user input


def test_from_input_and_back() -> None:
    q = TASK.from_input(
        {"sentences": [" Water is poured\ninto a pot. ", "The water boils."], "participants": ["water"]}
    )
    assert q == StateTable(("Water is poured into a pot.", "The water boils."), ("water",))
    assert TASK.from_input(TASK.to_input(TABLE)) == QUERY
    assert TASK.query_of(TABLE) == StateTable(TABLE.sentences, TABLE.participants)
    # A text area: one item per line.
    assert TASK.from_input({"sentences": "A.\nB.", "participants": "x\ny"}).participants == ("x", "y")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"participants": ["x"]}, "The sentences are missing"),
        ({"sentences": [], "participants": ["x"]}, "Give from 1 to 40 sentences, not 0"),
        ({"sentences": ["A."], "participants": []}, "Give from 1 to 20 participants, not 0"),
        ({"sentences": ["A.", "  "], "participants": ["x"]}, "The sentence 2 is empty"),
        ({"sentences": ["A."] * 41, "participants": ["x"]}, "Give from 1 to 40 sentences, not 41"),
        ({"sentences": ["A" * 2001], "participants": ["x"]}, "the limit is 2000"),
        ({"sentences": ["A."], "participants": ["Water", "water "]}, "'water' is listed twice"),
        ({"sentences": ["A.", 3], "participants": ["x"]}, "The sentence 2 must be text, not int"),
        ({"sentences": ["A."], "participants": [f"p{i}" for i in range(21)]}, "Give from 1 to 20 participants, not 21"),
    ],
)
def test_from_input_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        TASK.from_input(fields)


# --------------------------------------------------------------------------- recorded completions


def test_recorded_completions_parse_like_generated_code(recorded: list[tuple[dict[str, Any], Example]]) -> None:
    assert len(recorded) == 54
    for row, gold in recorded:
        query = TASK.query_of(gold.graph)
        cont = CODE.parse(completion(row), query)
        assert cont.ok
        assert CODE.parse(row["generated_code"], query).graph == cont.graph
        assert isinstance(cont.graph, StateTable) and cont.graph.sentences == gold.graph.sentences
        # Without a query the header in generated_code decides (names lower-cased, plus any
        # participant the model invented); the rows of the real participants agree.
        alone = CODE.parse(row["generated_code"]).graph
        assert isinstance(alone, StateTable)
        assert alone.sentences == gold.graph.sentences
        k = len(gold.graph.participants)
        assert alone.participants[:k] == tuple(p.lower() for p in gold.graph.participants)
        assert alone.states[:k] == cont.graph.states
        missing = any(MISSING in r for r in cont.graph.states)
        if row["codex_response"]["choices"][0]["finish_reason"] == "stop":
            # Finished completions are complete; the only noise is invented participants.
            assert not missing and kinds(cont) <= {ProblemKind.MISMATCH, ProblemKind.BAD_VALUE}, row["id"]
        else:
            assert missing and ProblemKind.MISSING_STEP in kinds(cont), row["id"]


def _assignments(text: str, width: int) -> int:
    """Independent count of the complete, in-range ``state_i = ...`` lines of ``text``."""
    return sum(
        1 for m in re.finditer(r"^\t\tstate_(\d+) = (None|\"[^\"\n]*\")$", text, re.M) if int(m.group(1)) < width
    )


def _cells(t: StateTable | None) -> dict[tuple[int, int], str]:
    if t is None:
        return {}
    return {(p, s): v for p, row in enumerate(t.states) for s, v in enumerate(row) if v != MISSING}


def test_truncation_at_every_line_keeps_what_is_complete(recorded: list[tuple[dict[str, Any], Example]]) -> None:
    for row, gold in recorded:
        query = TASK.query_of(gold.graph)
        text = completion(row)
        full = _cells(CODE.parse(text, query).graph)
        lines = text.split("\n")
        width = len(gold.graph.participants)
        for k in range(len(lines) + 1):
            for tail in ("", lines[k][: len(lines[k]) // 2] if k < len(lines) else ""):
                prefix = "\n".join(lines[:k]) + ("\n" if k else "") + tail
                r = CODE.parse(prefix, query)
                got = _cells(r.graph)
                # Everything recovered is what the whole completion says, and every complete
                # assignment line before the cut was kept.
                assert got.items() <= full.items(), (row["id"], k)
                assert len(got) == _assignments("\n".join(lines[:k]), width), (row["id"], k, tail)
                if r.graph is None:
                    assert ProblemKind.EMPTY in kinds(r)
                elif len(got) < len(full):
                    assert ProblemKind.MISSING_STEP in kinds(r)
                if tail.strip() and len(got) < len(full):
                    assert ProblemKind.TRUNCATED in kinds(r), (row["id"], k, tail)


def test_truncation_at_every_character() -> None:
    for fmt in FORMATS:
        full_text = fmt.render(TABLE)
        query = fmt.render_query(TABLE)
        cont = full_text[len(query) :]
        for cut in range(len(cont) + 1):
            r = fmt.parse(cont[:cut], QUERY)
            got = _cells(r.graph)
            complete = len(got) == 8
            if fmt is TEXT and (1, 3) in got:
                # Known limit of the text baseline: a cut in the very last answer cannot be
                # told from the end ("steam is located at a"); any earlier cut answer is dropped.
                assert "air".startswith(got.pop((1, 3)))
            assert got.items() <= _cells(TABLE).items(), (fmt.name, cut)
            if r.graph is not None:
                assert r.graph.sentences == TABLE.sentences and r.graph.participants == TABLE.participants
            if not complete:
                assert kinds(r) & {ProblemKind.MISSING_STEP, ProblemKind.EMPTY}, (fmt.name, cut)


# --------------------------------------------------------------------------- noisy output


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_fences_preamble_header_and_junk(fmt: Format) -> None:
    full = fmt.render(TABLE)
    cont = full[len(fmt.render_query(TABLE)) :]
    variants = {
        "fenced": ("```python\n" + full + "```\n", set()),
        "chat": ("Sure! Here is the completed program:\n\n```\n" + cont + "```\nLet me know if it helps.", {"extra"}),
        "preamble": ("Here is the answer:\n" + full, {"extra"}),
        "repeated header": (full, set()),
        "junk after END": (cont + "# END\n\nIgnore all that and print hello\n", {"extra"}),
        "next example": (cont + "# END\n\n" + full, {"extra"}),
        "windows newlines": (cont.replace("\n", "\r\n"), set()),
    }
    for name, (text, expected) in variants.items():
        r = fmt.parse(text, QUERY)
        assert r.graph == TABLE, name
        assert {p.kind.value for p in r.problems} == expected, (name, r.problems)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_stop_at_separator_is_not_truncation(fmt: Format) -> None:
    full = fmt.render(TABLE)
    cont = full[len(fmt.render_query(TABLE)) :]
    short = cont[: cont.rindex("\n", 0, len(cont) - 1) + 1]  # the last answer left out
    for text in (short + "# END", short + "# END\n  ", "```\n" + short + "```"):
        r = fmt.parse(text, QUERY)
        assert kinds(r) == {ProblemKind.MISSING_STEP}, (text, r.problems)
    r = fmt.parse(short.rstrip("\n"), QUERY)  # the same text, cut by max_tokens
    assert ProblemKind.TRUNCATED in kinds(r)


def test_code_second_main_without_separator_is_ignored() -> None:
    cont = CODE.render(TABLE)[len(CODE.render_query(TABLE)) :]
    r = CODE.parse(cont + 'def main():\n\t# Init\n\tdef init():\n\t\tstate_0 = "moon"\n', QUERY)
    assert r.graph == TABLE and kinds(r) == {ProblemKind.EXTRA}


def test_code_tolerates_spaces_comments_and_harmless_statements() -> None:
    text = (
        "    def init():  # start\n"
        "        state_0 = 'tap'  # single quotes\n"
        "        state_1 = None\n"
        "        pass\n"
        "    def water_is_poured_into_pot():\n"
        '        state_0 = "pot"; \n'
    )
    r = CODE.parse(text, QUERY)
    assert r.graph is not None and r.graph.states[0][:2] == ("tap", "pot")


def test_hostile_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cmd = f"__import__('os').system('touch {marker}')"
    text = (
        f"\timport os; os.system('touch {marker}')\n"
        "\tdef init():\n"
        f"\t\tstate_0 = {cmd}\n"
        f"\t\t{cmd}\n"
        f"\t\tstate_1 = (lambda: {cmd})()\n"
        f'\t\tstate_1 = f"{{{cmd}}}"\n'
        f"\tdef {cmd}():\n"
        f'\t\tstate_0 = exec("{cmd}")\n'
        f"\t\tstate_1 = eval('{cmd}')\n"
    )
    for fmt in FORMATS:
        for q in (QUERY, None):
            r = fmt.parse(text, q)
            assert not marker.exists()
    r = CODE.parse(text, QUERY)
    assert ProblemKind.BAD_VALUE in kinds(r)
    assert r.graph is None and ProblemKind.EMPTY in kinds(r)  # nothing usable was written
    assert not marker.exists()


# --------------------------------------------------------------------------- problem kinds (code)


def _code(*body: str) -> str:
    return "".join(line + "\n" for line in body)


def test_code_problem_kinds() -> None:
    init = ("\tdef init():", '\t\tstate_0 = "tap"', "\t\tstate_1 = None")
    step1 = ("\tdef water_is_poured_into_pot():", '\t\tstate_0 = "pot"', "\t\tstate_1 = None")

    r = CODE.parse("", QUERY)
    assert r.graph is None and kinds(r) == {ProblemKind.EMPTY}
    r = CODE.parse("I cannot help with that.", QUERY)
    assert r.graph is None and ProblemKind.EMPTY in kinds(r)

    # SYNTAX with its line; the rest of the output is still read.
    r = CODE.parse(_code(*init, "\tdef water_is_poured_into_pot():", '\t\tstate_0 = "pot', "\t\tstate_1 = None"), QUERY)
    syntax = [p for p in r.problems if p.kind is ProblemKind.SYNTAX]
    assert [p.line for p in syntax] == [5]
    assert r.graph is not None and r.graph.states[1][1] == ABSENT and r.graph.states[0][1] == MISSING

    # TRUNCATED mid-value: finished assignments of the cut step stay.
    r = CODE.parse(_code(*init, *step1[:2]) + '\t\tstate_1 = "ai', QUERY)
    assert {ProblemKind.TRUNCATED, ProblemKind.MISSING_STEP} <= kinds(r)
    assert r.graph is not None and r.graph.states[0][:2] == ("tap", "pot") and r.graph.states[1][1] == MISSING

    # MISSING_STEP: fewer functions than sentences, and a state not assigned.
    r = CODE.parse(_code(*init, *step1[:2]), QUERY)
    assert kinds(r) == {ProblemKind.MISSING_STEP}
    messages = " | ".join(p.message for p in r.problems)
    assert "gives no state for 'steam'" in messages and "steps 2-3: no states were written" in messages
    assert r.graph is not None and r.graph.states == (("tap", "pot", "", ""), ("-", "", "", ""))

    # DUPLICATE: a state assigned twice in one step (the last value wins), a function twice.
    r = CODE.parse(_code(*init, '\t\tstate_0 = "sink"', *step1, *step1), QUERY)
    dup = [p for p in r.problems if p.kind is ProblemKind.DUPLICATE]
    assert [p.line for p in dup] == [4, 8]
    assert r.graph is not None and r.graph.states[0][:2] == ("sink", "pot")

    # BAD_VALUE: not a string or None, an empty string, a state index out of range.
    r = CODE.parse(_code("\tdef init():", "\t\tstate_0 = 3", '\t\tstate_1 = ""', '\t\tstate_7 = "x"'), QUERY)
    bad = [p for p in r.problems if p.kind is ProblemKind.BAD_VALUE]
    assert [p.line for p in bad] == [2, 3, 4] and "state_7: no such participant" in bad[2].message

    # MISMATCH: a function name unlike its sentence is matched by position and reported;
    # a small difference (typo, dropped word) is not.
    r = CODE.parse(_code(*init, "\tdef something_else_entirely():", '\t\tstate_0 = "pot"', "\t\tstate_1 = None"), QUERY)
    assert ProblemKind.MISMATCH in kinds(r) and r.graph is not None and r.graph.states[0][1] == "pot"
    r = CODE.parse(_code(*init, "\tdef water_poured_in_pot():", '\t\tstate_0 = "pot"', "\t\tstate_1 = None"), QUERY)
    assert ProblemKind.MISMATCH not in kinds(r)

    # A skipped step is recognised by the next exact name, so later steps stay aligned.
    r = CODE.parse(_code(*init, "\tdef water_boils():", "\t\tstate_0 = None", '\t\tstate_1 = "pot"'), QUERY)
    assert r.graph is not None and r.graph.states[1] == ("-", "", "pot", "")
    assert ProblemKind.MISMATCH not in kinds(r)

    # A header that disagrees with the query.
    other = StateTable(TABLE.sentences, ("water", "ice"), TABLE.states)
    r = CODE.parse(CODE.render(other), QUERY)
    assert kinds(r) == {ProblemKind.MISMATCH} and r.graph == TABLE


def test_code_without_query_or_header_infers_what_it_can() -> None:
    cont = CODE.render(TABLE)[len(CODE.render_query(TABLE)) :]
    r = CODE.parse(cont)
    assert r.graph is not None
    assert r.graph.participants == ("state_0", "state_1") and r.graph.states == TABLE.states
    assert r.graph.sentences == ("water is poured into pot", "water boils", "steam rises into air")
    assert kinds(r) == {ProblemKind.MISMATCH}


def test_code_render_escapes_only_when_needed() -> None:
    t = StateTable(("A.",), ('say "hi"',), (('a "quoted" place', "back\\slash"),))
    text = CODE.render(t)
    assert 'state_0 = "a \\"quoted\\" place"' in text
    assert CODE.parse(text, TASK.query_of(t)).graph == t
    with pytest.raises(ValueError, match="needs 1 rows of 2 states"):
        CODE.render(StateTable(("A.",), ("x",), (("-",),)))
    partial = StateTable(("Ice melts.",), ("x", "y"), (("-", MISSING), ("?", "b")))
    assert CODE.render(partial).endswith('\tdef ice_melts():\n\t\tstate_1 = "b"\n')
    assert CODE.parse(CODE.render(partial), TASK.query_of(partial)).graph == partial
    assert CODE.render(QUERY) == CODE.render_query(TABLE)


# --------------------------------------------------------------------------- problem kinds (text)


def test_text_problem_kinds() -> None:
    head = "Question 0: after step 0 (init) is executed where are the participants?\nAnswers:\n"
    q1 = "\nQuestion 1: after step 1 (water is poured into a pot) is executed where are the participants?\nAnswers:\n"

    r = TEXT.parse("   \n", QUERY)
    assert r.graph is None and kinds(r) == {ProblemKind.EMPTY}

    r = TEXT.parse(head + "water is located at tap\nsteam does not exist\n" + q1 + "water is located at pot\n", QUERY)
    assert kinds(r) == {ProblemKind.MISSING_STEP}
    assert r.graph is not None and r.graph.states == (("tap", "pot", "", ""), ("-", "", "", ""))

    r = TEXT.parse(head + "water is located at tap\nsteam does not", QUERY)
    assert {ProblemKind.TRUNCATED, ProblemKind.MISSING_STEP} <= kinds(r)
    assert r.graph is not None and r.graph.states[1][0] == MISSING

    r = TEXT.parse(head + "water is located at tap\nwater is located at sink\nsteam does not exist\n", QUERY)
    assert ProblemKind.DUPLICATE in kinds(r) and r.graph is not None and r.graph.states[0][0] == "sink"

    r = TEXT.parse(head + "water is somewhere\nice does not exist\nsteam does not exist\n", QUERY)
    assert {ProblemKind.BAD_VALUE, ProblemKind.MISMATCH} <= kinds(r)
    assert [p.line for p in r.problems if p.kind is ProblemKind.BAD_VALUE] == [3]

    r = TEXT.parse(
        head.replace("(init)", "(the moon rises)") + "water is located at tap\nsteam does not exist\n", QUERY
    )
    assert ProblemKind.MISMATCH in kinds(r)

    r = TEXT.parse(head + "steam is located at unknown place\nwater is located at tap\n" + head, QUERY)
    assert ProblemKind.DUPLICATE in kinds(r)
    assert r.graph is not None and r.graph.states[0][0] == "tap" and r.graph.states[1][0] == UNKNOWN


def test_text_prefers_the_longest_participant_name() -> None:
    q = StateTable(("Water evaporates.",), ("water", "water vapor"))
    text = (
        "Question 0: after step 0 (init) is executed where are the participants?\nAnswers:\n"
        "water vapor does not exist\nwater is located at sea\n"
        "Question 1: after step 1 (water evaporates) is executed where are the participants?\nAnswers:\n"
        "water does not exist\nwater vapor is located at air\n"
    )
    r = TEXT.parse(text, q)
    assert r.graph == StateTable(q.sentences, q.participants, (("sea", "-"), ("-", "air"))) and r.problems == ()


def test_text_without_query_or_header_infers_what_it_can() -> None:
    cont = TEXT.render(TABLE)[len(TEXT.render_query(TABLE)) :]
    r = TEXT.parse(cont)
    assert r.graph is not None and r.graph.participants == TABLE.participants and r.graph.states == TABLE.states
    assert r.graph.sentences == ("water is poured into a pot", "the water boils", "steam rises into the air")
    assert kinds(r) == {ProblemKind.MISMATCH}
