"""Fuzzing every task × format parser: no exception, linear time, nothing complete lost on a cut.

Seeded and bounded (well under a minute on two cores).  ``bench/bench_fuzz.py`` runs the
same generators as a campaign of 100,000+ cases.  Time is never compared with a fixed
threshold: linearity is the ratio of the best of several CPU times of a 4n-character input
to those of an n-character one (4 when linear, 16 when quadratic), measured interleaved
and in process CPU time, so other work on a busy machine does not count.
"""

from __future__ import annotations

import gc
import random
import re
import time
from collections.abc import Callable

import pytest

from cocogen.parsing import MAX_OUTPUT_CHARS
from cocogen.tasks import REGISTRY
from cocogen.types import Graph, ProblemKind
from tests.tasks.fuzzgen import (
    HOSTILE,
    check_result,
    cut_short_ok,
    item_ends,
    items_of,
    mutated_cases,
    rendering_of_size,
    sample_graphs,
    task_formats,
)

PAIRS = task_formats()
SEED = 20261201


@pytest.fixture(scope="module")
def graphs() -> dict[str, list[Graph]]:
    rng = random.Random(SEED)
    return {name: sample_graphs(task, rng, per_split=1) for name, task in sorted(REGISTRY.items())}


# --------------------------------------------------------------------------- no exception escapes


def test_mutated_renderings_never_raise(graphs: dict[str, list[Graph]]) -> None:
    rng = random.Random(SEED)
    count = 0
    for case in mutated_cases(rng, graphs, 150 * len(PAIRS)):
        fmt = REGISTRY[case.task].formats[case.fmt]
        try:
            result = fmt.parse(case.text, case.query)
        except Exception as e:  # noqa: BLE001  (the failure report names the case)
            pytest.fail(f"{case.task}/{case.fmt} {case.origin} raised {type(e).__name__}: {e}\n{case.text[:300]!r}")
        check_result(case.task, result)
        count += 1
    assert count == 150 * len(PAIRS)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_never_raises(name: str, graphs: dict[str, list[Graph]]) -> None:
    text = HOSTILE[name](10_000)
    for task_name, fmt_name in PAIRS:
        task = REGISTRY[task_name]
        query = task.query_of(graphs[task_name][0])
        for q in (None, query):
            try:
                result = task.formats[fmt_name].parse(text, q)
            except Exception as e:  # noqa: BLE001
                pytest.fail(f"{task_name}/{fmt_name} raised {type(e).__name__} on {name!r}: {e}")
            check_result(task_name, result)


# Each class of input that once raised, with the problems it may now be reported as.  How
# deep ast.parse can go depends on the recursion limit (a library may raise it), so the
# 2,980-deep case may also parse and be ignored; 100,000 is past the parser's own stack.
SYNTAX_OR_IGNORED = {ProblemKind.SYNTAX, ProblemKind.EXTRA}
KNOWN_CRASHES = [
    # RecursionError / MemoryError inside ast.parse
    ("explagraphs", "code", "-" * 2980 + "1", SYNTAX_OR_IGNORED),
    ("explagraphs", "add_edge", "-" * 2980 + "1", SYNTAX_OR_IGNORED),
    ("explagraphs", "code", "-" * 100_000 + "1", {ProblemKind.SYNTAX}),
    ("explagraphs", "add_edge", "        self.graph.add_edge(" + "not " * 30_000 + "x)\n", {ProblemKind.SYNTAX}),
    ("explagraphs", "code", "        self.graph = " + "-" * 100_000 + "1\n", {ProblemKind.SYNTAX}),
    ("explagraphs", "code", "a." * 100_000 + "a\n", SYNTAX_OR_IGNORED),
    # int() of more than 4,300 digits
    (
        "proscript-script",
        "code",
        "class A:\n    def step" + "9" * 5000 + '(self):\n        return "x"\n',
        {ProblemKind.BAD_VALUE},
    ),
    (
        "proscript-edge",
        "code",
        "class A:\n    def step" + "9" * 5000 + '(self):\n        return "x"\n',
        {ProblemKind.BAD_VALUE},
    ),
    ("propara", "code", "def main():\n\tdef init():\n\t\tstate_" + "9" * 5000 + ' = "x"\n', {ProblemKind.BAD_VALUE}),
    ("propara", "code", "def main():\n\t# state_" + "9" * 5000 + " tracks x\n", {ProblemKind.BAD_VALUE}),
    ("propara", "text", "Question " + "9" * 5000 + ": x\nAnswers:\nwater does not exist\n", {ProblemKind.EXTRA}),
    ("propara", "text", "Document\nstep " + "9" * 5000 + ": x\n", {ProblemKind.EXTRA}),
    # a few bytes that sized a table of 10^11 cells (memory) or a list of 10^6 missing steps
    ("propara", "code", "def main():\n\tdef init():\n\t\tstate_99999999999 = 'x'\n", {ProblemKind.BAD_VALUE}),
    ("propara", "text", "Question 9999999: x\nAnswers:\nwater does not exist\n", {ProblemKind.EXTRA}),
    ("proscript-script", "code", "class A:\n    steps = 999999\n", {ProblemKind.BAD_VALUE}),
    ("proscript-script", "networkx", 'def a():\n    G = nx.DiGraph(goal="a", steps=999999)\n', {ProblemKind.BAD_VALUE}),
]


@pytest.mark.parametrize(("task_name", "fmt_name", "text", "kinds"), KNOWN_CRASHES, ids=range(len(KNOWN_CRASHES)))
def test_inputs_that_once_raised_are_typed_problems(
    task_name: str, fmt_name: str, text: str, kinds: set[ProblemKind]
) -> None:
    result = REGISTRY[task_name].formats[fmt_name].parse(text)
    check_result(task_name, result)
    assert kinds & {p.kind for p in result.problems}, result.problems


def test_a_huge_step_count_is_not_a_list_of_missing_steps() -> None:
    result = REGISTRY["proscript-script"].formats["text"].parse("You want to x. How can you do this in 999999 steps?\n")
    assert all(len(p.message) < 300 for p in result.problems)


# --------------------------------------------------------------------------- bounded input


@pytest.mark.parametrize(("task_name", "fmt_name"), PAIRS)
def test_text_past_the_cap_is_reported_and_what_came_before_is_kept(
    task_name: str, fmt_name: str, graphs: dict[str, list[Graph]]
) -> None:
    task = REGISTRY[task_name]
    fmt = task.formats[fmt_name]
    g = graphs[task_name][0]
    text = fmt.render(g) + "x" * (MAX_OUTPUT_CHARS + 10)
    result = fmt.parse(text, task.query_of(g))
    check_result(task_name, result)
    assert any(p.kind is ProblemKind.EXTRA and f"{MAX_OUTPUT_CHARS:,}" in p.message for p in result.problems)
    assert items_of(task_name, result.graph) == items_of(task_name, g)


# --------------------------------------------------------------------------- linear time


def _best_times(parse: Callable[[str], object], small: str, big: str, rounds: int) -> tuple[float, float]:
    """The best CPU time of each size: CPU time, not wall clock, so other processes on the machine do not count."""
    best_small = best_big = float("inf")
    gc_was_on = gc.isenabled()
    gc.disable()  # a collection landing in one timing is noise, not growth
    try:
        for _ in range(rounds):  # interleaved: what slows one size slows the other alike
            for text, is_big in ((small, False), (big, True)):
                t0 = time.process_time()
                parse(text)
                dt = time.process_time() - t0
                if is_big:
                    best_big = min(best_big, dt)
                else:
                    best_small = min(best_small, dt)
    finally:
        if gc_was_on:
            gc.enable()
    return best_small, best_big


LINEAR_N = 3_000
MAX_RATIO = 10.0  # 4 when linear, 16 when quadratic; the rest is room for a busy machine
FLOOR = 3e-3  # below a few milliseconds of CPU the ratio is timer noise, not growth


def _assert_linear(parse: Callable[[str], object], make: Callable[[int], str], what: str) -> None:
    small, big = make(LINEAR_N), make(4 * LINEAR_N)

    def too_slow(t_small: float, t_big: float) -> bool:
        return t_big > FLOOR and t_big / max(t_small, FLOOR / 4) > MAX_RATIO

    t_small, t_big = _best_times(parse, small, big, 2)
    if too_slow(t_small, t_big):
        t_small, t_big = _best_times(parse, small, big, 7)  # measure again before blaming the parser
        assert not too_slow(t_small, t_big), (
            f"{what}: {len(small)} chars in {t_small * 1e3:.1f} ms but {len(big)} in {t_big * 1e3:.1f} ms (CPU)"
        )


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_parse_time_is_linear_in_hostile_text(name: str, graphs: dict[str, list[Graph]]) -> None:
    for task_name, fmt_name in PAIRS:
        task = REGISTRY[task_name]
        fmt = task.formats[fmt_name]
        query = task.query_of(graphs[task_name][0])
        _assert_linear(
            lambda text, fmt=fmt, q=query: fmt.parse(text, q), HOSTILE[name], f"{task_name}/{fmt_name} {name}"
        )


@pytest.mark.parametrize(("task_name", "fmt_name"), PAIRS)
def test_parse_time_is_linear_in_repeated_renderings(
    task_name: str, fmt_name: str, graphs: dict[str, list[Graph]]
) -> None:
    fmt = REGISTRY[task_name].formats[fmt_name]
    g = graphs[task_name][0]
    for q in (None, REGISTRY[task_name].query_of(g)):
        _assert_linear(lambda text, q=q: fmt.parse(text, q), lambda n: rendering_of_size(fmt, g, n), task_name)


# --------------------------------------------------------------------------- truncation


def _cuts(rng: random.Random, ends: list[int], length: int, every: bool) -> list[int]:
    if every:
        return list(range(length + 1))
    around = {c for e in ends for c in (e - 1, e) if 0 <= c <= length}
    return sorted(around | {rng.randint(0, length) for _ in range(20)} | {length})


@pytest.mark.parametrize(("task_name", "fmt_name"), PAIRS)
def test_every_cut_keeps_every_complete_item(task_name: str, fmt_name: str, graphs: dict[str, list[Graph]]) -> None:
    rng = random.Random(SEED)
    task = REGISTRY[task_name]
    fmt = task.formats[fmt_name]
    for n, g in enumerate(graphs[task_name]):
        text = fmt.render(g)
        query = task.query_of(g)
        start = len(fmt.render_query(query))
        full = items_of(task_name, g)
        ends = item_ends(task_name, fmt, g)
        assert {item for item, _ in ends} == full
        last_line_start = text.rstrip("\n").rfind("\n") + 1
        for cut in _cuts(rng, [e for _, e in ends], len(text), every=n == 0):
            complete = {item for item, end in ends if end <= cut}
            texts = [(text[:cut], "the rendering")]
            if cut >= start:
                texts.append((text[start:cut], "the completion"))
            for part, what in texts:
                result = fmt.parse(part, query)
                check_result(task_name, result)
                got = items_of(task_name, result.graph)
                where = f"{task_name}/{fmt_name} graph {n}, {what} cut at {cut}: {text[max(0, cut - 40) : cut]!r}"
                assert got <= full or cut_short_ok(task_name, fmt, got, full, cut > last_line_start), (
                    f"{where}: invented {sorted(got - full)}"
                )
                assert complete <= got, f"{where}: lost {sorted(complete - got)}"


# --------------------------------------------------------------------------- the linear matchers


def _short_texts(rng: random.Random, alphabet: list[str], starts: list[str], count: int) -> list[str]:
    texts = []
    for _ in range(count):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        texts.append(rng.choice(starts) + s if rng.random() < 0.6 else s)
    return texts


# The regular expressions the linear matchers replaced: they stay the specification.
_WHITESPACE = [" ", "\t", "\x0c", "\x1c", "\u2028", "\xa0", "\x85"]
OLD_PATTERNS = {
    "explagraphs def line": r"^(async\s+)?def\s+\w+\s*\(.*\)\s*(->[^:]*)?:\s*(#.*)?$",
    "propara def": r"^(?P<indent>\s*)def\s+(?P<name>.*?)\s*\(\s*\)\s*(?:->[^:]*)?:\s*(?:#.*)?$",
    "proscript arrow": r"\s*(.*?)\s*->\s*(.*?)\s*",
}


def test_def_header_matchers_agree_with_the_patterns_they_replace() -> None:
    from cocogen.tasks import explagraphs, propara

    rng = random.Random(SEED)
    alphabet = ["(", ")", "()", ":", "->", "#", "x", "a_b", "main", "def ", *_WHITESPACE]
    old_eg = re.compile(OLD_PATTERNS["explagraphs def line"])
    old_pp = re.compile(OLD_PATTERNS["propara def"])
    for text in _short_texts(rng, alphabet, ["def f", "async def f", "def ", "\tdef ", "  def  "], 30_000):
        assert explagraphs._is_def_line(text) == bool(old_eg.match(text)), repr(text)
        m = old_pp.match(text)
        assert propara._def_header(text) == ((m["indent"], m["name"]) if m else None), repr(text)


def test_arrow_split_agrees_with_the_pattern_it_replaces() -> None:
    from cocogen.tasks import proscript

    rng = random.Random(SEED)
    old = re.compile(OLD_PATTERNS["proscript arrow"], re.DOTALL)
    for text in _short_texts(rng, ["-", ">", "->", "a", "step1", "\n", *_WHITESPACE], ["step0 ->", " "], 30_000):
        m = old.fullmatch(text)
        assert proscript._arrow(text) == ((m[1], m[2]) if m else None), repr(text)


@pytest.mark.parametrize(
    ("name", "lazy"),
    [
        ("_TRACKS", r"^\s*#\s*state_(?P<idx>\d+)\s+tracks\s+(?:the\s+location/state\s+of\s+)?(?P<name>.*?)\s*$"),
        ("_COMMENT", r"^\s*#\s?(?P<text>.*?)\s*$"),
        ("_STEP", r"^\s*step\s+(?P<i>\d+)\s*:\s?(?P<text>.*?)\s*$"),
        ("_PARTICIPANT", r"^\s*participant\s+(?P<i>\d+)\s*:\s?(?P<text>.*?)\s*$"),
        ("_QUESTION", r"^\s*Question\s+(?P<i>\d+)\s*:\s*(?P<rest>.*?)\s*$"),
    ],
)
def test_linear_line_patterns_read_what_the_lazy_ones_did(name: str, lazy: str) -> None:
    from cocogen.tasks import propara

    rng = random.Random(SEED)
    new, old = getattr(propara, name), re.compile(lazy)
    starts = ["# state_1 tracks the location/state of ", "#", "step 2:", "participant 3: ", "Question 4:"]
    alphabet = ["a", "b c", "#", ":", "1", "of ", "tracks ", *_WHITESPACE]
    for text in _short_texts(rng, alphabet, starts, 20_000):
        m_new, m_old = new.match(text), old.match(text)
        assert (m_new and m_new.groupdict()) == (m_old and m_old.groupdict()), repr(text)
