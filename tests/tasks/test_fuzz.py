"""Fuzzing every task × format parser: no exception, linear time, nothing complete lost on a cut.

Seeded and bounded (well under a minute on two cores).  ``bench/bench_fuzz.py`` runs the
same generators as a campaign of 100,000+ cases.  Time is never compared with a fixed
threshold: linearity is the ratio of the best of several timings of a 4n-character input
to those of an n-character one (4 when linear, 16 when quadratic), measured interleaved
so a busy machine slows both alike.
"""

from __future__ import annotations

import random
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


# Each class of input that once raised, with the problem it must now be reported as.
KNOWN_CRASHES = [
    # RecursionError / MemoryError inside ast.parse
    ("explagraphs", "code", "-" * 2980 + "1", ProblemKind.SYNTAX),
    ("explagraphs", "add_edge", "-" * 2980 + "1", ProblemKind.SYNTAX),
    ("explagraphs", "code", "        self.graph = " + "-" * 5000 + "1\n", ProblemKind.SYNTAX),
    ("explagraphs", "add_edge", "        self.graph.add_edge(" + "not " * 3000 + "x)\n", ProblemKind.SYNTAX),
    ("explagraphs", "code", "a." * 100_000 + "a\n", ProblemKind.SYNTAX),
    # int() of more than 4,300 digits
    (
        "proscript-script",
        "code",
        "class A:\n    def step" + "9" * 5000 + '(self):\n        return "x"\n',
        ProblemKind.BAD_VALUE,
    ),
    (
        "proscript-edge",
        "code",
        "class A:\n    def step" + "9" * 5000 + '(self):\n        return "x"\n',
        ProblemKind.BAD_VALUE,
    ),
    ("propara", "code", "def main():\n\tdef init():\n\t\tstate_" + "9" * 5000 + ' = "x"\n', ProblemKind.BAD_VALUE),
    ("propara", "code", "def main():\n\t# state_" + "9" * 5000 + " tracks x\n", ProblemKind.BAD_VALUE),
    ("propara", "text", "Question " + "9" * 5000 + ": x\nAnswers:\nwater does not exist\n", ProblemKind.EXTRA),
    ("propara", "text", "Document\nstep " + "9" * 5000 + ": x\n", ProblemKind.EXTRA),
    # a few bytes that sized a table of 10^11 cells (memory) or a list of 10^6 missing steps
    ("propara", "code", "def main():\n\tdef init():\n\t\tstate_99999999999 = 'x'\n", ProblemKind.BAD_VALUE),
    ("propara", "text", "Question 9999999: x\nAnswers:\nwater does not exist\n", ProblemKind.EXTRA),
    ("proscript-script", "code", "class A:\n    steps = 999999\n", ProblemKind.BAD_VALUE),
    ("proscript-script", "networkx", 'def a():\n    G = nx.DiGraph(goal="a", steps=999999)\n', ProblemKind.BAD_VALUE),
]


@pytest.mark.parametrize(("task_name", "fmt_name", "text", "kind"), KNOWN_CRASHES, ids=range(len(KNOWN_CRASHES)))
def test_inputs_that_once_raised_are_typed_problems(
    task_name: str, fmt_name: str, text: str, kind: ProblemKind
) -> None:
    result = REGISTRY[task_name].formats[fmt_name].parse(text)
    check_result(task_name, result)
    assert kind in {p.kind for p in result.problems}, result.problems


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
    best_small = best_big = float("inf")
    for _ in range(rounds):  # interleaved: a burst of load slows both sizes, not one
        for text, is_big in ((small, False), (big, True)):
            t0 = time.perf_counter()
            parse(text)
            dt = time.perf_counter() - t0
            if is_big:
                best_big = min(best_big, dt)
            else:
                best_small = min(best_small, dt)
    return best_small, best_big


LINEAR_N = 3_000
MAX_RATIO = 10.0  # 4 when linear, 16 when quadratic; the rest is room for a busy machine


def _assert_linear(parse: Callable[[str], object], make: Callable[[int], str], what: str) -> None:
    small, big = make(LINEAR_N), make(4 * LINEAR_N)
    t_small, t_big = _best_times(parse, small, big, 2)
    floor = 2e-3  # below a couple of milliseconds the ratio is timer noise, not growth
    if t_big > floor and t_big / max(t_small, floor / 4) > MAX_RATIO:
        t_small, t_big = _best_times(parse, small, big, 7)  # measure again before blaming the parser
        assert t_big <= floor or t_big / max(t_small, floor / 4) <= MAX_RATIO, (
            f"{what}: {len(small)} chars in {t_small * 1e3:.1f} ms but {len(big)} in {t_big * 1e3:.1f} ms"
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
