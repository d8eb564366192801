"""The GBNF recognizer (cocogen/gbnf.py): whole matches, prefixes, bad grammars, and the project's largest grammars."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cocogen.gbnf import accepts
from cocogen.tasks import get_task
from cocogen.types import Script

NUMBERS = 'root ::= item ("," item)*\nitem ::= "-"? [0-9]{1,3} ("." [0-9]+)?\n'


@pytest.mark.parametrize(
    ("text", "whole", "start"),
    [
        ("1", True, True),
        ("-12,3.25,999", True, True),
        ("1,", False, True),
        ("1.", False, True),
        ("-", False, True),
        ("", False, True),
        ("1234", False, False),  # four digits before the point
        ("1,,2", False, False),
        ("1.x", False, False),
    ],
)
def test_whole_texts_and_starts_of_texts(text: str, whole: bool, start: bool) -> None:
    assert accepts(NUMBERS, text) is whole
    assert accepts(NUMBERS, text, prefix=True) is start


def test_literals_escapes_classes_and_counts() -> None:
    g = 'root ::= "say \\"hi\\"\\n" [a-c-]{2} x{2,} "\\t"?\nx ::= "x"\n'
    assert accepts(g, 'say "hi"\n-bxx')
    assert accepts(g, 'say "hi"\nc-xxxx\t')
    assert not accepts(g, 'say "hi"\nabx')  # one x where two are needed
    assert not accepts(g, 'say "hi"\nadxx')  # d is not in the class
    assert accepts(g, 'say "h', prefix=True)  # cut inside a literal
    assert not accepts(g, 'say "ho', prefix=True)


def test_an_ambiguous_grammar_and_a_repeat_of_nothing_end() -> None:
    # Every split of the a's between the two rules is a parse; the group can match the empty string forever.
    g = 'root ::= a* b* ("" | "c")* "!"\na ::= "a" | "aa"\nb ::= "a"+\n'
    assert accepts(g, "a" * 40 + "ccc!")
    assert not accepts(g, "a" * 40 + "b!")


@pytest.mark.parametrize(
    "grammar",
    ['item ::= "a"\n', "root ::= item\n", 'root ::= ("a"\n', 'root ::= "a\n', "root = 'a'\n", 'root ::= "a" )\n'],
)
def test_a_grammar_it_cannot_read_is_a_value_error(grammar: str) -> None:
    with pytest.raises(ValueError, match="GBNF"):
        accepts(grammar, "a")


def _edge_case(n: int, fmt_name: str) -> tuple[str, str]:
    """The real proScript edge-prediction grammar for ``n`` given steps and the completion of a chain of them."""
    task = get_task("proscript-edge")
    steps = tuple(f"take step number {i} of planning the party" for i in range(n))
    graph = Script("plan a surprise party", n, steps, tuple((i, i + 1) for i in range(n - 1)))
    query = task.query_of(graph)
    grammar = task.grammar(fmt_name, query)
    assert grammar is not None
    fmt = task.formats[fmt_name]
    return grammar, fmt.render(graph)[len(fmt.render_query(query)) :]


# Beyond ten steps edges go in (target, source) order: 14 steps, the most edge rules that
# order counts (~2,900, e-k-c chained); 30 steps, the longest chain of rules, each naming the
# next (the grammar stops counting edges there).
@pytest.mark.parametrize("n", [14, 30])
@pytest.mark.parametrize("fmt_name", list(get_task("proscript-edge").formats))
def test_the_largest_edge_grammars_check_a_gold_completion_quickly(n: int, fmt_name: str) -> None:
    grammar, gold = _edge_case(n, fmt_name)
    t0 = time.perf_counter()
    assert accepts(grammar, gold)
    assert accepts(grammar, gold[: len(gold) // 2], prefix=True)
    assert not accepts(grammar, gold[: len(gold) // 2])
    assert not accepts(grammar, gold + gold)
    # Generous for two busy cores: it takes about a tenth of a second.
    assert time.perf_counter() - t0 < 5.0


def test_the_largest_edge_prediction_of_the_data_fits_its_grammar(data_dir: Path) -> None:
    from tests.test_grammar import as_path

    task = get_task("proscript-edge")
    ex = max(task.load("dev"), key=lambda e: (len(e.graph.steps), len(e.graph.edges)))
    graph = as_path(ex.graph)  # what the grammar writes: a path, then up to two more edges
    query = task.query_of(graph)
    fmt = task.formats["code"]
    grammar = task.grammar("code", query)
    assert grammar is not None and grammar.count("\n") > 50
    gold = fmt.render(graph)[len(fmt.render_query(query)) :]
    t0 = time.perf_counter()
    assert accepts(grammar, gold)
    assert time.perf_counter() - t0 < 5.0
