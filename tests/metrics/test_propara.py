"""ProPara scoring: the official evaluator's own unit-test cases, hand-made cases, the gold data.

The cases in the ``Official*`` sections are ported from the unit tests shipped with the
evaluator (``allenai/aristo-leaderboard``, ``propara/evaluator``: ``text/test_terms.py``,
``scoring/test_scoring.py``, ``process/test_process.py``) with their expected values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cocogen.errors import DataError
from cocogen.metrics import propara as P
from cocogen.metrics.propara import (
    NO_LOCATION as NO_LOC,
)
from cocogen.metrics.propara import (
    UNKNOWN_LOCATION as UNK,
)
from cocogen.metrics.propara import (
    ActionRow,
    Conversion,
    Input,
    Metric,
    Move,
    Output,
    ProcessGrid,
    ProcessSummary,
    QuestionScores,
)
from cocogen.types import StateTable

# --- official: text/test_terms.py -------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "normalize", "expected"),
    [
        ("dew", False, [{"dew"}]),
        ("raining", False, [{"raining"}]),  # not stemmed without normalisation
        ("dew", True, [{"dew"}]),
        ("raining", True, [{"rain"}]),
        ("raining cats and dogs", True, [{"raining cats and dog"}]),  # the whole phrase is one word
        ("dew AND rain", True, [{"dew"}, {"rain"}]),
        ("dew OR rain", True, [{"dew", "rain"}]),
        ("dew OR rain AND sun", True, [{"dew", "rain"}, {"sun"}]),
        ("dew OR rain AND sun AND foo OR bar OR baz", True, [{"dew", "rain"}, {"sun"}, {"foo", "bar", "baz"}]),
        (
            "dew OR droplet OR droplets AND sun AND foo OR bar OR baz",
            True,
            [{"dew", "droplet"}, {"sun"}, {"foo", "bar", "baz"}],
        ),
    ],
)
def test_official_termsets(phrase: str, normalize: bool, expected: list[set[str]]) -> None:
    assert P._termsets(phrase, normalize=normalize) == expected


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ([{"foo"}], [{"foo"}], 1),
        ([{"foo"}], [{"bar"}], 0),
        ([{"diesel"}, {"energi"}], [{"diesel"}, {"petrol"}], 1),
        ([{"plant", "anim"}], [{"soft tissu"}], 0),
        ([{"nitrogen"}], [{"fixed nitrogen", "usable nitrogen"}], 0),
        ([{"rain"}, {"water", "liquid"}], [{"rain"}, {"water"}], 2),
    ],
)
def test_official_terms_overlap(a: list[set[str]], b: list[set[str]], overlap: int) -> None:
    assert P._overlap(a, b) == overlap


def test_official_normalization() -> None:
    assert P._normalize(["the Raining", "DANCING", "experimenting"]) == ["rain", "danc", "experi"]


# --- official: scoring/test_scoring.py ----------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "prediction", "expected"),
    [
        ("", "", 1.0),
        ("", "-", 0.0),
        ("?", "?", 1.0),
        ("plant OR leaf", "leaf", 1.0),
        ("", "leaf", 0.0),
        ("-", "leaf", 0.0),
        ("plant  OR leaf", "leaf", 1.0),
        ("dew OR rain", "water OR dew", 1.0),
        ("dew", "dew AND sun", 0.5),
        ("dew AND sun", "dew", 0.5),
        ("dew AND sun", "dew AND blah1 AND blah2", 0.25),
        ("dew AND rain", "water OR dew", 0.5),
        ("water OR dew AND sun", "dew OR rain", 0.5),
    ],
)
def test_official_compare_locations(answer: str, prediction: str, expected: float) -> None:
    assert P.compare_locations(answer, prediction) == expected


_ANSWERS = [
    Move("plant OR leaf", "root", "earth", "event2"),
    Move("leaf", "soil", "mud", "event2"),
]
_PREDICTIONS = [
    Move("plants OR leaf", "root", "earth", "event2"),
    Move("plant", "mud OR plant", "room OR earth", "event2"),
]


@pytest.mark.parametrize(
    ("answers", "predictions", "f1"),
    [
        (_ANSWERS, _PREDICTIONS, 0.8333333333333333),
        (_ANSWERS, _PREDICTIONS[:1], 0.8),
        (_ANSWERS, [*_PREDICTIONS, Move("tree", "monkey", "earth", "event2")], 0.6666666666666666),
        (_ANSWERS, [], 0.0),
        ([], _PREDICTIONS, 0.0),
        ([], [], 1.0),
    ],
)
def test_official_score_moves(answers: list[Move], predictions: list[Move], f1: float) -> None:
    assert P._score_list(answers, predictions, P._pair_move).f1() == f1


@pytest.mark.parametrize(
    ("answer", "prediction", "expected"),
    [
        (
            Conversion("tree", "animal OR monkey", "branch", "event1"),
            Conversion("tree", "animal", "branch", "event1"),
            1.0,
        ),
        (
            Conversion("root", "plant OR leaf", "earth", "event2"),
            Conversion("root OR plant", "leaf", "soil OR earth", "event2"),
            1.0,
        ),
        # "plants" matches "plant" in locations only after stemming; participants by alias
        (
            Conversion("root", "plants OR leaf", "earth", "event2"),
            Conversion("root OR plant", "leaf", "soil OR earth", "event2"),
            1.0,
        ),
        (Conversion("bar", "foo", "baz", "eventX"), Conversion("bar", "foo", "baz", "eventY"), 0.0),  # other step
    ],
)
def test_official_conversion_pair(answer: Conversion, prediction: Conversion, expected: float) -> None:
    assert P._pair_conversion(answer, prediction) == expected


@pytest.mark.parametrize(
    ("answer", "prediction", "expected"),
    [("", "-", 0.0), ("plant OR leaf", "leaf", 1.0), ("?", "?", 1.0)],
)
def test_official_input_pair(answer: str, prediction: str, expected: float) -> None:
    assert P._pair_participants(Input(answer), Input(prediction)) == expected


def test_official_calculate() -> None:
    score = P.score_process(
        ProcessSummary(
            1,
            inputs=[Input("plant")],
            outputs=[Output("plant OR leaf"), Output("soil")],
            conversions=[],
            moves=[Move("plant OR leaf", "root", "event2", "event2")],
        ),
        ProcessSummary(
            1,
            inputs=[Input("tree")],
            outputs=[Output("leaf"), Output("mud")],
            conversions=[Conversion("root", "tree", "soil", "event1")],
            moves=[Move("plant", "root", "soil", "event2")],
        ),
    )
    assert score.conversions.f1() == 0.0
    score = P.score_process(
        ProcessSummary(
            1,
            inputs=[Input("monkey"), Input("ape")],
            outputs=[Output("langur OR langer")],
            conversions=[Conversion("tree", "animal OR monkey", "branch", "event1")],
            moves=[],
        ),
        ProcessSummary(
            1,
            inputs=[Input("langur"), Input("ape")],
            outputs=[Output("monkey")],
            conversions=[Conversion("tree", "animal", "branch", "event1")],
            moves=[],
        ),
    )
    assert score.conversions.f1() == 1.0


def test_official_empty_answers() -> None:
    empty = ProcessSummary(1, [], [], [], [])
    s = P.score_process(empty, empty)
    assert s.inputs.f1() == s.outputs.f1() == s.conversions.f1() == 1.0


@pytest.mark.parametrize(
    ("pair", "precision", "recall", "f1"),
    [
        (lambda a, p: 1.0, 1.0, 1.0, 1.0),
        (lambda a, p: 1.0 if (a.participants, p.participants) == ("xxx", "yyy") else 0.0, 0.5, 1.0, 2 / 3),
    ],
)
def test_official_score(pair: object, precision: float, recall: float, f1: float) -> None:
    m = P._score_list([Input("xxx")], [Input("yyy"), Input("zzz")], pair)
    assert (m.precision, m.recall, m.f1()) == (precision, recall, f1)


# --- official: process/test_process.py ----------------------------------------------------


def test_official_process_514() -> None:
    grid = ProcessGrid(
        514,
        7,
        {
            "glacier": [NO_LOC] * 6 + ["area", "area"],
            "snow": ["area"] * 4 + [NO_LOC] * 4,
            "mass": [NO_LOC] * 5 + ["area"] * 3,
        },
        {
            "glacier": ["NONE"] * 5 + ["CREATE", "NONE"],
            "snow": ["NONE"] * 3 + ["DESTROY"] + ["NONE"] * 3,
            "mass": ["NONE"] * 4 + ["CREATE", "NONE", "NONE"],
        },
    )
    s = P.summarize(grid)
    assert s.inputs == [Input("snow")]
    assert s.outputs == [Output("glacier"), Output("mass")]
    assert s.conversions == [Conversion(created="mass", destroyed="snow", locations="area", step_id="4")]
    assert s.moves == []


def test_official_process_540() -> None:
    grid = ProcessGrid(
        540,
        10,
        {
            "air": [UNK, UNK, UNK, "bronchiole", "alveolus", UNK, UNK, UNK, UNK, UNK, UNK],
            "oxygen": [UNK] * 5 + ["bloodstream"] + [UNK] * 5,
            "carbon dioxide": [UNK] * 5 + ["bloodstream", "bloodstream", "alveolus", "bronchiole", "lung", "body"],
        },
        {
            "air": ["NONE", "NONE", "MOVE", "MOVE", "MOVE"] + ["NONE"] * 5,
            "oxygen": ["NONE"] * 4 + ["MOVE", "MOVE"] + ["NONE"] * 4,
            "carbon dioxide": ["NONE"] * 4 + ["MOVE", "NONE", "MOVE", "MOVE", "MOVE", "MOVE"],
        },
    )
    s = P.summarize(grid)
    assert (s.inputs, s.outputs, s.conversions) == ([], [], [])
    assert s.moves == [
        Move("air", UNK, "bronchiole", "3"),
        Move("air", "bronchiole", "alveolus", "4"),
        Move("air", "alveolus", UNK, "5"),
        Move("oxygen", UNK, "bloodstream", "5"),
        Move("oxygen", "bloodstream", UNK, "6"),
        Move("carbon dioxide", UNK, "bloodstream", "5"),
        Move("carbon dioxide", "bloodstream", "alveolus", "7"),
        Move("carbon dioxide", "alveolus", "bronchiole", "8"),
        Move("carbon dioxide", "bronchiole", "lung", "9"),
        Move("carbon dioxide", "lung", "body", "10"),
    ]


@pytest.mark.parametrize("actions", [["NONE", "CREATE", "DESTROY", "NONE"], ["CREATE", "DESTROY", "NONE", "NONE"]])
def test_official_not_an_input(actions: list[str]) -> None:
    assert not P._is_input(actions)


@pytest.mark.parametrize("participant", ["gasoline; gas", "gasoline;gas"])
def test_official_aliases(participant: str) -> None:
    assert P._aliases(participant) == "gasoline OR gas"


# --- hand-made cases ------------------------------------------------------------------------


def _table(*rows: tuple[str, ...], participants: tuple[str, ...] | None = None) -> StateTable:
    n = len(rows[0]) - 1
    names = participants or tuple(f"p{i}" for i in range(len(rows)))
    return StateTable(tuple(f"s{i}" for i in range(1, n + 1)), names, tuple(rows))


@pytest.mark.parametrize(
    ("row", "actions"),
    [
        (("-", "-", "-"), ["NONE", "NONE"]),
        (("-", "cloud", "cloud"), ["CREATE", "NONE"]),
        (("sea", "-", "-"), ["DESTROY", "NONE"]),
        (("sea", "?", "sky"), ["MOVE", "MOVE"]),
        (("?", "-", "?"), ["DESTROY", "CREATE"]),
        # a cell the completion did not fill ("") carries the previous value, as CoCoGen did
        (("sea", "", ""), ["NONE", "NONE"]),
        (("", "sea", "sea"), ["CREATE", "NONE"]),
    ],
)
def test_table_to_actions(row: tuple[str, ...], actions: list[str]) -> None:
    assert [r.action for r in P.table_to_actions(_table(row), 3)] == actions


def test_short_and_missing_rows_are_filled() -> None:
    t = StateTable(("s1", "s2"), ("a", "b"), (("x",),))  # "a" truncated after Init, "b" absent
    rows = P.table_to_actions(t, 1)
    assert [(r.participant, r.before, r.after) for r in rows] == [
        ("a", "x", "x"),
        ("a", "x", "x"),
        ("b", "-", "-"),
        ("b", "-", "-"),
    ]


@pytest.mark.parametrize(
    "row",
    [
        ActionRow(1, 1, "a", "NONE", "x", "y"),
        ActionRow(1, 1, "a", "CREATE", "x", "y"),
        ActionRow(1, 1, "a", "CREATE", "-", "-"),
        ActionRow(1, 1, "a", "DESTROY", "-", "-"),
        ActionRow(1, 1, "a", "DESTROY", "x", "y"),
        ActionRow(1, 1, "a", "MOVE", "-", "y"),
        ActionRow(1, 1, "a", "MOVE", "x", "-"),
        ActionRow(1, 1, "a", "JUMP", "x", "y"),
    ],
)
def test_invalid_rows_are_rejected_like_the_evaluator(row: ActionRow) -> None:
    with pytest.raises(DataError):
        P.grids_from_actions([row], source="preds.tsv")


def test_read_action_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t1\ta\tNONE\tx\n")
    with pytest.raises(DataError, match=r"bad\.tsv:1: expected 6"):
        P.read_action_file(bad)
    with pytest.raises(DataError, match="cannot read"):
        P.read_action_file(tmp_path / "missing.tsv")
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no rows"):
        P.read_action_file(empty)


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    t = _table(("-", "cloud", "sky", "-"), ("sea", "sea", "?", "?"), participants=("water vapor; vapor", "salt"))
    rows = P.table_to_actions(t, 42)
    path = tmp_path / "a.tsv"
    P.write_action_file(rows, path)
    grid = P.read_action_file(path)[42]
    assert grid.num_steps == 3
    assert grid.locations["water vapor; vapor"] == [NO_LOC, "cloud", "sky", NO_LOC]
    assert grid.actions["salt"] == ["NONE", "MOVE", "NONE"]


def test_perfect_prediction_scores_one() -> None:
    t = _table(("-", "cloud", "sky", "-"), ("sea", "sea", "-", "-"), ("-", "-", "rain", "rain"))
    row, qs = P.score_example("5", t, t)
    assert all(m == Metric(1.0, 1.0) for m in qs)
    assert row.values["process_f1"] == 1.0
    assert P.official_result([qs]).f1 == 1.0


def test_parse_failure_scores_zero_and_is_kept() -> None:
    gold = _table(("sea", "-", "-"), ("-", "cloud", "cloud"))
    row, qs = P.score_example("9", None, gold, problems=[{"kind": "empty", "message": "x", "line": None}])
    assert qs == P.FAILED_SCORES
    assert not row.parsed and row.values["process_f1"] == 0.0 and row.problems
    ok_row, ok = P.score_example("10", gold, gold)
    score = P.aggregate([row, ok_row], [qs, ok], task="propara")
    assert (score.n, score.n_failed, score.parse_rate) == (2, 1, 0.5)
    assert score.values["precision"] == 0.5 and score.values["recall"] == 0.5


def test_all_none_prediction_is_not_zero() -> None:
    """An empty prediction follows the evaluator's edge cases, unlike a parse failure."""
    gold = _table(("sea", "-"), ("-", "cloud"))
    nothing = _table(("-", "-"), ("-", "-"))
    _, qs = P.score_example("3", nothing, gold)
    assert qs.inputs == Metric(1.0, 0.0) and qs.moves == Metric(1.0, 1.0)


def test_participant_mismatch_is_reported() -> None:
    gold = _table(("sea", "-"), participants=("water",))
    pred = _table(("sea", "-"), participants=("waters",))
    row, qs = P.score_example("3", pred, gold)
    assert row.info["participant_mismatch"] == {"missing": ["water"], "unexpected": ["waters"]}
    assert qs.inputs.precision == 0.0


def test_official_result_rounds_each_question_before_averaging() -> None:
    a = QuestionScores(Metric(1.0, 0.0), Metric(0.0, 0.0), Metric(0.0, 0.0), Metric(0.0, 0.0))
    b = QuestionScores(Metric(0.0, 0.0), Metric(0.0, 0.0), Metric(0.0, 0.0), Metric(0.0, 0.0))
    res = P.official_result([a, b, b])  # inputs precision 1/3 -> 0.333
    assert res.by_question["inputs"].precision == 0.333
    assert res.overall.precision == pytest.approx(0.333 / 4)
    with pytest.raises(ValueError):
        P.official_result([])


def test_conversion_across_two_steps() -> None:
    """A destruction followed by a creation at the next step is one conversion."""
    t = _table(("sea", "-", "-", "-", "-"), ("-", "-", "cloud", "cloud", "cloud"), participants=("water", "cloud"))
    s = P.summarize(P.grids_from_actions(P.table_to_actions(t, 1))[1])
    assert s.conversions == [Conversion(created="cloud", destroyed="water", locations="cloud AND sea", step_id="1")]


# --- the real gold data -----------------------------------------------------------------------


def test_gold_tables_give_the_official_answer_file(data_dir: Path) -> None:
    """Actions derived from CoCoGen's 54 test tables equal the leaderboard's answers.tsv row for row."""
    answers = P.read_action_file(data_dir / "propara/leaderboard/test/answers.tsv")
    rows = [json.loads(x) for x in (data_dir / "cocogen/data/propara/test.jsonl").read_text().splitlines()]
    assert len(rows) == len(answers) == 54
    for r in rows:
        names = tuple(q["question"][len("the location/state of ") :] for q in r["questions"])
        t = StateTable(tuple(r["steps"][1:]), names, tuple(tuple(q["answers"]) for q in r["questions"]))
        grid = P.grids_from_actions(P.table_to_actions(t, r["id"]))[int(r["id"])]
        gold = answers[int(r["id"])]
        assert grid.locations == gold.locations and grid.actions == gold.actions and grid.num_steps == gold.num_steps


def test_gold_against_itself_is_perfect(data_dir: Path) -> None:
    answers = P.read_action_file(data_dir / "propara/leaderboard/test/answers.tsv")
    scores = [P.score_process(P.summarize(g), P.summarize(g)) for g in answers.values()]
    res = P.official_result(scores)
    assert (res.overall.precision, res.overall.recall, res.f1) == (1.0, 1.0, 1.0)
    assert not math.isnan(res.f1)


def test_official_regression_testfiles_7(data_dir: Path) -> None:
    """The evaluator's own regression case: ProGlobal's test predictions score P 0.442, R 0.431, F1 0.437."""
    answers = P.read_action_file(data_dir / "propara/leaderboard/test/answers.tsv")
    preds = P.read_action_file(Path(__file__).parent / "data" / "propara_testfiles7_predictions.tsv")
    res = P.official_result([P.score_process(P.summarize(a), P.summarize(preds[pid])) for pid, a in answers.items()])
    assert (round(res.overall.precision, 3), round(res.overall.recall, 3), round(res.f1, 3)) == (0.442, 0.431, 0.437)
