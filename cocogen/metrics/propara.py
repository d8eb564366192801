"""ProPara scoring with the semantics of the official leaderboard evaluator.

The official evaluator (``allenai/aristo-leaderboard``, ``propara/evaluator``) reads *action
files* — one row per (paragraph, step, participant) with an action (``NONE``, ``CREATE``,
``DESTROY``, ``MOVE``) and the locations before and after the step — summarises each
paragraph into the answers to four questions, and scores them:

* **Inputs**: participants destroyed, never created before nor created/moved after;
* **Outputs**: participants created, never destroyed/moved before nor destroyed after;
* **Conversions**: at one step some participants are destroyed and others created (or a
  destruction is followed, at the next step, by a creation, and vice versa);
* **Moves**: a ``MOVE`` action, or an existing participant whose location changes.

Participants compare by Jaccard overlap of their ``;``-separated aliases; locations the same
way after lower-casing, dropping a leading article and Porter stemming.  Per paragraph each
question gets a precision and a recall; the corpus score averages each over paragraphs
(rounded to 3 decimals, as the evaluator prints them), averages the four questions, and takes
F1 of those two averages.

This module re-implements those rules over our :class:`~cocogen.types.StateTable` (no code
of the evaluator is used).  A predicted table becomes actions the way CoCoGen converted its
predictions: ``NONE`` when the location is unchanged, ``CREATE`` from ``-``, ``DESTROY`` to
``-``, otherwise ``MOVE``.

A paragraph whose completion did not parse scores 0 precision and 0 recall on all four
questions (the official evaluator would abort on a missing paragraph instead).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from cocogen.errors import DataError
from cocogen.metrics.base import ExampleScore, MetricBase, Score
from cocogen.types import ABSENT, UNKNOWN, StateTable

__all__ = [
    "NO_LOCATION",
    "UNKNOWN_LOCATION",
    "ActionRow",
    "table_to_actions",
    "ProcessGrid",
    "grids_from_actions",
    "read_action_file",
    "write_action_file",
    "Input",
    "Output",
    "Conversion",
    "Move",
    "ProcessSummary",
    "summarize",
    "Metric",
    "QuestionScores",
    "score_process",
    "FAILED_SCORES",
    "OfficialResult",
    "official_result",
    "score_example",
    "aggregate",
]

# Internal location codes, as the evaluator stores them after reading "-" and "?".
NO_LOCATION = "null"
UNKNOWN_LOCATION = "unk"
ACTIONS = ("NONE", "CREATE", "DESTROY", "MOVE")


# --------------------------------------------------------------------------------------
# Action files
# --------------------------------------------------------------------------------------


class ActionRow(NamedTuple):
    """One row of an action file; locations keep the file's ``-`` / ``?`` spelling."""

    process_id: int
    step: int  # 1-based sentence number
    participant: str
    action: str
    before: str
    after: str


def _action(prev: str, cur: str) -> str:
    if prev == cur:
        return "NONE"
    if prev == ABSENT:
        return "CREATE"
    if cur == ABSENT:
        return "DESTROY"
    return "MOVE"


def _filled_row(row: Sequence[str], width: int) -> list[str]:
    """A state row of exactly ``width`` values; gaps are filled the way CoCoGen filled them.

    CoCoGen carries the previous value forward over a missing one (``None``/``""``) and uses
    ``-`` when there is no previous value; extra values are ignored.
    """
    out: list[str] = []
    for i in range(width):
        v = row[i] if i < len(row) else None
        if v is None or (isinstance(v, str) and v.strip() == ""):
            v = out[-1] if out else ABSENT
        out.append(v)
    return out


# ProPara paragraphs have at most about 10 steps; this bounds the grid an answer file can make.
MAX_ACTION_STEP = 1000


def _grid_key(example_id: int | str) -> int:
    """The paragraph number the action rows of one example are grouped under.

    It only groups one example's rows, so any id works: a dataset's numeric id is kept
    (as in the answer files), any other (an edited or foreign file's ``"abc"``, a number
    too long for ``int``) is scored under 0.

    >>> _grid_key("37"), _grid_key("abc"), _grid_key("9" * 5000)
    (37, 0, 0)
    """
    s = str(example_id).strip()
    return int(s) if s.isascii() and s.isdigit() and len(s) <= 18 else 0


def table_to_actions(table: StateTable, process_id: int | str) -> list[ActionRow]:
    """Action-file rows of a state table (participant-major, like the answer files).

    Parameters
    ----------
    table : StateTable
        ``states[p]`` has ``len(sentences) + 1`` values (before step 1, after each step).
        Missing or short rows are filled as CoCoGen did (see :func:`_filled_row`).
    process_id : int or str
        The paragraph id.

    Examples
    --------
    >>> t = StateTable(("s1", "s2"), ("water",), (("-", "cloud", "-"),))
    >>> [(r.step, r.action, r.before, r.after) for r in table_to_actions(t, 1)]
    [(1, 'CREATE', '-', 'cloud'), (2, 'DESTROY', 'cloud', '-')]
    """
    pid = _grid_key(process_id)
    n = len(table.sentences)
    rows: list[ActionRow] = []
    for p_idx, participant in enumerate(table.participants):
        raw = table.states[p_idx] if p_idx < len(table.states) else ()
        locs = _filled_row(raw, n + 1)
        for step in range(1, n + 1):
            prev, cur = locs[step - 1], locs[step]
            rows.append(ActionRow(pid, step, participant, _action(prev, cur), prev, cur))
    return rows


def _internal(loc: str) -> str:
    return NO_LOCATION if loc == ABSENT else UNKNOWN_LOCATION if loc == UNKNOWN else loc


def _check_row(r: ActionRow) -> str | None:
    """Why the evaluator would reject this row, or ``None`` if it is valid."""
    if r.action == "NONE":
        return None if r.before == r.after else f"Unequal NONE locations: {r.before} -- {r.after}"
    if r.action == "CREATE":
        if r.before != ABSENT:
            return f"Invalid CREATE before_location: {r.before}"
        return None if r.after not in ("", ABSENT) else f"Invalid CREATE after_location: {r.after}"
    if r.action == "DESTROY":
        if r.before in ("", ABSENT):
            return f"Invalid DESTROY before_location: {r.before}"
        return None if r.after == ABSENT else f"Invalid DESTROY after_location: {r.after}"
    if r.action == "MOVE":
        if r.before in ("", ABSENT):
            return f"Invalid MOVE before_location: {r.before}"
        return None if r.after not in ("", ABSENT) else f"Invalid MOVE after_location: {r.after}"
    return f"Invalid action: {r.action}"


@dataclass
class ProcessGrid:
    """One paragraph as the evaluator holds it: locations (``n + 1`` each) and actions (``n`` each).

    Participants keep their first-seen order (it decides the order of listed answers only).
    """

    process_id: int
    num_steps: int
    locations: dict[str, list[str]] = field(default_factory=dict)
    actions: dict[str, list[str]] = field(default_factory=dict)


def grids_from_actions(rows: Iterable[ActionRow], *, source: str | None = None) -> dict[int, ProcessGrid]:
    """Assemble paragraphs from action rows, validating each row as the evaluator does.

    A participant's locations start as unknown; step 1 sets the location before the
    process, every step its location after.  ``num_steps`` is the largest step seen.

    Raises
    ------
    DataError
        For a row the official evaluator would reject (it names ``source`` and the row).
    """
    rows = list(rows)
    num_steps: dict[int, int] = {}
    for r in rows:
        num_steps[r.process_id] = max(num_steps.get(r.process_id, 0), r.step)
    grids: dict[int, ProcessGrid] = {}
    for i, r in enumerate(rows, start=1):
        why = _check_row(r)
        if why:
            raise DataError(why, path=source, line=i)
        g = grids.setdefault(r.process_id, ProcessGrid(r.process_id, num_steps[r.process_id]))
        locs = g.locations.setdefault(r.participant, [UNKNOWN_LOCATION] * (g.num_steps + 1))
        acts = g.actions.setdefault(r.participant, ["NONE"] * g.num_steps)
        if r.step == 1:
            locs[0] = NO_LOCATION if r.action == "CREATE" else _internal(r.before)
        locs[r.step] = _internal(r.after)
        acts[r.step - 1] = r.action
    return grids


def read_action_file(path: str | Path) -> dict[int, ProcessGrid]:
    """Read an official action file (``answers.tsv`` or a predictions TSV).

    Raises
    ------
    DataError
        When the file is missing, a line has fewer than 6 columns, or a row is invalid.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(f"cannot read action file ({e.strerror})", path=str(p)) from None
    except UnicodeDecodeError as e:
        raise DataError(f"the action file is not UTF-8 text (byte {e.start + 1})", path=str(p)) from None
    rows: list[ActionRow] = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 6:
            raise DataError(f"expected 6 tab-separated columns, got {len(parts)}", path=str(p), line=i)
        pid, step = parts[0].strip(), parts[1].strip()
        # Short digit strings only: int() of thousands of digits fails, and a grid is as long as its last step.
        if not (pid.isascii() and pid.isdigit() and len(pid) <= 18 and step.isascii() and step.isdigit()):
            raise DataError("paragraph id and step must be whole numbers", path=str(p), line=i)
        if not 1 <= int(step[:6]) <= MAX_ACTION_STEP or len(step) > 6:
            raise DataError(f"the step must be from 1 to {MAX_ACTION_STEP}, not {step[:20]}", path=str(p), line=i)
        rows.append(ActionRow(int(pid), int(step), parts[2], parts[3], parts[4], parts[5]))
    if not rows:
        raise DataError("no rows in action file", path=str(p))
    return grids_from_actions(rows, source=str(p))


def write_action_file(rows: Iterable[ActionRow], path: str | Path) -> None:
    """Write rows in the official TSV format (no header), e.g. to submit or cross-check."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
        for r in rows:
            w.writerow([r.process_id, r.step, r.participant, r.action, r.before, r.after])


# --------------------------------------------------------------------------------------
# Summaries: the answers to the four questions
# --------------------------------------------------------------------------------------


class Input(NamedTuple):
    participants: str


class Output(NamedTuple):
    participants: str


class Conversion(NamedTuple):
    created: str
    destroyed: str
    locations: str
    step_id: str


class Move(NamedTuple):
    participants: str
    location_before: str
    location_after: str
    step_id: str


class ProcessSummary(NamedTuple):
    process_id: int
    inputs: list[Input]
    outputs: list[Output]
    conversions: list[Conversion]
    moves: list[Move]


def _aliases(participant: str) -> str:
    """``"plant; leaf"`` → ``"plant OR leaf"`` (the evaluator's alias notation)."""
    return " OR ".join(p.strip() for p in participant.split(";"))


def _is_input(actions: Sequence[str]) -> bool:
    # Destroyed at some step, not created before it, and neither created nor moved after it.
    for i, a in enumerate(actions):
        if a == "DESTROY" and "CREATE" not in actions[:i] and not {"CREATE", "MOVE"} & set(actions[i + 1 :]):
            return True
    return False


def _is_output(actions: Sequence[str]) -> bool:
    # Created at some step, neither destroyed nor moved before it, not destroyed after it.
    for i, a in enumerate(actions):
        if a == "CREATE" and not {"DESTROY", "MOVE"} & set(actions[:i]) and "DESTROY" not in actions[i + 1 :]:
            return True
    return False


def _changes_at(grid: ProcessGrid, step: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """Participants created and destroyed at ``step`` (from locations), with their locations."""
    created, c_locs, destroyed, d_locs = [], [], [], []
    for participant, locs in grid.locations.items():
        before, after = locs[step - 1], locs[step]
        if before == NO_LOCATION and after != NO_LOCATION:
            created.append(_aliases(participant))
            c_locs.append(after)
        elif before != NO_LOCATION and after == NO_LOCATION:
            destroyed.append(_aliases(participant))
            d_locs.append(before)
    return created, c_locs, destroyed, d_locs


def _and(items: Iterable[str]) -> str:
    return " AND ".join(items)


def _conversions(grid: ProcessGrid) -> list[Conversion]:
    out: list[Conversion] = []
    n = grid.num_steps
    for step in range(1, n + 1):
        created, c_locs, destroyed, d_locs = _changes_at(grid, step)
        if created and destroyed:
            out.append(Conversion(_and(created), _and(destroyed), _and(sorted(set(c_locs + d_locs))), str(step)))
        # A destruction followed by a creation at the next step (or the reverse) is a
        # conversion too.  The evaluator only looks ahead while step < n - 1; kept as is.
        elif destroyed and step < n - 1:
            created2, c_locs2, destroyed2, _ = _changes_at(grid, step + 1)
            new = [c for c in dict.fromkeys(created2) if c not in set(destroyed)]
            if not destroyed2 and new:
                out.append(Conversion(_and(new), _and(destroyed), _and(sorted(set(c_locs2 + d_locs))), str(step)))
        elif created and step < n - 1:
            created2, _, destroyed2, d_locs2 = _changes_at(grid, step + 1)
            gone = [d for d in dict.fromkeys(destroyed2) if d not in set(created)]
            if not created2 and gone:
                out.append(Conversion(_and(created), _and(gone), _and(sorted(set(c_locs + d_locs2))), str(step)))
    return out


def _moves(grid: ProcessGrid) -> list[Move]:
    out: list[Move] = []
    for participant, locs in grid.locations.items():
        acts = grid.actions[participant]
        for step in range(1, len(locs)):
            before, after = locs[step - 1], locs[step]
            relocated = NO_LOCATION not in (before, after) and before != after
            if acts[step - 1] == "MOVE" or relocated:
                out.append(Move(_aliases(participant), before, after, str(step)))
    return out


def summarize(grid: ProcessGrid) -> ProcessSummary:
    """Answer the four questions for one paragraph.

    Examples
    --------
    >>> t = StateTable(("s1", "s2"), ("water", "cloud"), (("sea", "-", "-"), ("-", "sky", "sky")))
    >>> s = summarize(grids_from_actions(table_to_actions(t, 7))[7])
    >>> s.inputs, s.outputs
    ([Input(participants='water')], [Output(participants='cloud')])
    >>> s.conversions
    [Conversion(created='cloud', destroyed='water', locations='sea AND sky', step_id='1')]
    """
    inputs = [Input(_aliases(p)) for p in grid.locations if _is_input(grid.actions[p])]
    outputs = [Output(_aliases(p)) for p in grid.locations if _is_output(grid.actions[p])]
    return ProcessSummary(grid.process_id, inputs, outputs, _conversions(grid), _moves(grid))


# --------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------


class Metric(NamedTuple):
    precision: float
    recall: float

    def f1(self) -> float:
        s = self.precision + self.recall
        return 2 * self.precision * self.recall / s if s else 0.0


_ARTICLES = ("a", "an", "the", "your", "his", "their", "my", "another", "other", "this", "that")


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    # NLTK's Porter stemmer (default NLTK_EXTENSIONS mode): the evaluator ships a copy of it.
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


@functools.lru_cache(maxsize=65536)
def _stem(phrase: str) -> str:
    return _stemmer().stem(phrase).strip()


def _normalize(words: Sequence[str]) -> list[str]:
    """Lower-case, drop one leading article, Porter-stem the whole phrase.

    As in the evaluator, a single empty alias makes the whole list ``[""]``.
    """
    out: list[str] = []
    for w in words:
        if not w.strip():
            return [""]
        w = w.lower()
        art = next((a for a in _ARTICLES if w.startswith(a + " ")), None)
        if art is not None:
            w = w.replace(art + " ", "", 1)
        out.append(_stem(w))
    return out


def _termsets(phrase: str, *, normalize: bool) -> list[set[str]]:
    """``"a OR b AND c"`` → ``[{"a", "b"}, {"c"}]`` (optionally normalising each alias)."""
    groups = [g.strip() for g in phrase.split(" AND ")]
    if normalize:
        return [set(_normalize(g.split(" OR "))) for g in groups]
    return [set(g.split(" OR ")) for g in groups]


def _overlap(a: list[set[str]], b: list[set[str]]) -> int:
    """Pairs of term sets (one from each side) that share a term."""
    return sum(1 for x in a for y in b if x & y)


def _jaccard(a: list[set[str]], b: list[set[str]]) -> float:
    overlap = _overlap(a, b)
    return overlap / (len(a) + len(b) - overlap)


def compare_participants(answer: str, prediction: str) -> float:
    """Similarity of two participant phrases (no normalisation).

    >>> compare_participants("plant OR leaf", "leaf")
    1.0
    """
    if answer == prediction:
        return 1.0
    return _jaccard(_termsets(prediction, normalize=False), _termsets(answer, normalize=False))


def compare_locations(answer: str, prediction: str) -> float:
    """Similarity of two location phrases after normalisation.

    >>> compare_locations("dew AND sun", "dew")
    0.5
    >>> compare_locations("the branches", "branch")
    1.0
    """
    if answer == prediction:
        return 1.0
    return _jaccard(_termsets(prediction, normalize=True), _termsets(answer, normalize=True))


def _score_list(answers: Sequence[Any], predictions: Sequence[Any], pair_score: Any) -> Metric:
    """Precision/recall of one question: each item scores its best match on the other side.

    Empty lists follow the evaluator: both empty → (1, 1); no answers → (0, 1); no
    predictions → (1, 0).  When the two lists have equal length the recall numerator is the
    precision numerator (the evaluator's shortcut, kept so scores match exactly).
    """
    if not answers and not predictions:
        return Metric(1.0, 1.0)
    if not answers:
        return Metric(0.0, 1.0)
    if not predictions:
        return Metric(1.0, 0.0)
    p_num = sum(max((pair_score(a, p) for a in answers), default=0.0) for p in predictions)
    r_num = p_num
    if len(predictions) != len(answers):
        r_num = sum(max((pair_score(a, p) for p in predictions), default=0.0) for a in answers)
    return Metric(p_num / len(predictions) if p_num else 0.0, r_num / len(answers) if r_num else 0.0)


def _pair_participants(a: Input | Output, p: Input | Output) -> float:
    return compare_participants(a.participants, p.participants)


def _pair_conversion(a: Conversion, p: Conversion) -> float:
    if a.step_id != p.step_id:
        return 0.0
    return (
        compare_locations(a.locations, p.locations)
        + compare_participants(a.destroyed, p.destroyed)
        + compare_participants(a.created, p.created)
    ) / 3


def _pair_move(a: Move, p: Move) -> float:
    if a.step_id != p.step_id:
        return 0.0
    return (
        compare_participants(a.participants, p.participants)
        + compare_locations(a.location_before, p.location_before)
        + compare_locations(a.location_after, p.location_after)
    ) / 3


class QuestionScores(NamedTuple):
    inputs: Metric
    outputs: Metric
    conversions: Metric
    moves: Metric


FAILED_SCORES = QuestionScores(Metric(0.0, 0.0), Metric(0.0, 0.0), Metric(0.0, 0.0), Metric(0.0, 0.0))
QUESTIONS = QuestionScores._fields


def score_process(answer: ProcessSummary, prediction: ProcessSummary) -> QuestionScores:
    """Precision and recall of each of the four questions for one paragraph."""
    return QuestionScores(
        inputs=_score_list(answer.inputs, prediction.inputs, _pair_participants),
        outputs=_score_list(answer.outputs, prediction.outputs, _pair_participants),
        conversions=_score_list(answer.conversions, prediction.conversions, _pair_conversion),
        moves=_score_list(answer.moves, prediction.moves, _pair_move),
    )


@dataclass(frozen=True)
class OfficialResult:
    """Corpus scores as the evaluator reports them.

    ``by_question[q]`` is the per-paragraph mean precision and recall of question ``q``,
    each rounded to 3 decimals (the evaluator rounds before averaging the questions);
    ``overall`` averages the four, and ``f1`` is the harmonic mean of the overall pair.
    """

    by_question: dict[str, Metric]
    overall: Metric
    n: int

    @property
    def f1(self) -> float:
        return self.overall.f1()

    def to_dict(self) -> dict[str, float]:
        d: dict[str, float] = {"precision": self.overall.precision, "recall": self.overall.recall, "f1": self.f1}
        for q, m in self.by_question.items():
            d[f"{q}_precision"], d[f"{q}_recall"], d[f"{q}_f1"] = m.precision, m.recall, m.f1()
        return d


def official_result(scores: Sequence[QuestionScores]) -> OfficialResult:
    """Average per-paragraph scores the way the evaluator does (see :class:`OfficialResult`)."""
    n = len(scores)
    if n == 0:
        raise ValueError("no paragraphs to score")
    by_q: dict[str, Metric] = {}
    for i, q in enumerate(QUESTIONS):
        p = round(sum(s[i].precision for s in scores) / n, 3)
        r = round(sum(s[i].recall for s in scores) / n, 3)
        by_q[q] = Metric(p, r)
    overall = Metric(sum(m.precision for m in by_q.values()) / 4, sum(m.recall for m in by_q.values()) / 4)
    return OfficialResult(by_q, overall, n)


# --------------------------------------------------------------------------------------
# Per-example rows and the aggregate Score
# --------------------------------------------------------------------------------------


def _row_values(qs: QuestionScores) -> dict[str, float | None]:
    vals: dict[str, float | None] = {}
    for q, m in zip(QUESTIONS, qs, strict=True):
        vals[f"{q}_precision"], vals[f"{q}_recall"] = m.precision, m.recall
    p = sum(m.precision for m in qs) / 4
    r = sum(m.recall for m in qs) / 4
    vals["process_precision"], vals["process_recall"] = p, r
    vals["process_f1"] = 2 * p * r / (p + r) if p + r else 0.0
    return vals


def score_example(
    example_id: str,
    prediction: StateTable | None,
    reference: StateTable | ProcessGrid,
    *,
    problems: Sequence[Mapping[str, Any]] = (),
) -> tuple[ExampleScore, QuestionScores]:
    """Score one paragraph.

    Parameters
    ----------
    example_id : str
        The paragraph id (an integer, as in the answer files).
    prediction : StateTable or None
        The parsed table; ``None`` when the completion did not parse (scores 0).
    reference : StateTable or ProcessGrid
        The gold table, or the paragraph read from an official ``answers.tsv``.

    Returns
    -------
    (ExampleScore, QuestionScores)
        The row for reports and the raw scores for :func:`aggregate`.
    """
    pid = _grid_key(example_id)
    gold = (
        reference if isinstance(reference, ProcessGrid) else grids_from_actions(table_to_actions(reference, pid))[pid]
    )
    info: dict[str, Any] = {}
    if prediction is None:
        qs = FAILED_SCORES
    else:
        pred_rows = table_to_actions(prediction, pid)
        pred = grids_from_actions(pred_rows).get(pid, ProcessGrid(pid, gold.num_steps))
        missing = [p for p in gold.locations if p not in pred.locations]
        extra = [p for p in pred.locations if p not in gold.locations]
        if missing or extra:
            info["participant_mismatch"] = {"missing": missing, "unexpected": extra}
        qs = score_process(summarize(gold), summarize(pred))
    return ExampleScore(str(example_id), prediction is not None, _row_values(qs), info, list(problems)), qs


def aggregate(
    rows: Sequence[ExampleScore], scores: Sequence[QuestionScores], *, task: str, signature: str = ""
) -> Score:
    """The corpus :class:`Score`: official overall P/R/F1 plus each question's P/R/F1."""
    res = official_result(scores)
    n_failed = sum(1 for r in rows if not r.parsed)
    return Score(
        task=task,
        values=dict(res.to_dict()),
        n=len(rows),
        n_failed=n_failed,
        counts={"participant_mismatch": sum(1 for r in rows if "participant_mismatch" in r.info)},
        signature=signature,
        notes=[
            "official aristo-leaderboard semantics: per-question means rounded to 3 decimals, overall = mean of the 4",
            "a paragraph that failed to parse scores precision 0 and recall 0 on every question",
        ],
    )


class ProParaMetric(MetricBase):
    """The official ProPara leaderboard evaluator: per-question and overall P/R/F1."""

    display: ClassVar[tuple[str, ...]] = (
        "precision",
        "recall",
        "f1",
        "inputs_f1",
        "outputs_f1",
        "conversions_f1",
        "moves_f1",
    )
    main: ClassVar[str] = "process_f1"
    # The aggregate Score names its headline figure differently: the official overall F1.
    corpus_main: ClassVar[str] = "f1"

    def score(
        self,
        example_id: str,
        prediction: Any,
        reference: Any,
        *,
        labels: Mapping[str, Any],
        problems: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[ExampleScore, QuestionScores]:
        pred = prediction if isinstance(prediction, StateTable) else None
        return score_example(example_id, pred, reference, problems=problems)

    def aggregate(self, rows: Sequence[ExampleScore], stats: Sequence[Any], *, signature: str = "") -> Score:
        return aggregate(rows, stats, task=self.task, signature=signature)
