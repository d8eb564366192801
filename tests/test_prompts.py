"""Few-shot selection and prompt assembly, over every task's shipped examples."""

from __future__ import annotations

import pytest

from cocogen.errors import ConfigError
from cocogen.prompts import PromptSpec, approx_token_count, build_prompt, select_examples
from cocogen.tasks import REGISTRY, get_task

TASKS = sorted(REGISTRY)


@pytest.mark.parametrize("name", TASKS)
def test_fewshot_assets_are_ours_and_round_trip_in_every_format(name: str) -> None:
    task = get_task(name)
    shots = task.fewshot()
    assert len(shots) >= (4 if name == "propara" else 8)
    assert len({s.id for s in shots}) == len(shots)
    for fmt in task.formats.values():
        for ex in shots:
            assert fmt.parse(fmt.render(ex.graph)).graph == ex.graph, (fmt.name, ex.id)


@pytest.mark.parametrize("name", TASKS)
def test_prompt_is_examples_separated_then_query(name: str) -> None:
    task = get_task(name)
    shots = task.fewshot()
    query = task.query_of(shots[-1].graph)
    for fmt_name, fmt in task.formats.items():
        p = build_prompt(task, fmt_name, query, PromptSpec(pool=shots[:-1], k=3))
        assert p.text.endswith(fmt.render_query(query))
        assert p.prefix.count(fmt.separator + "\n") == 3
        assert p.stop and p.stop[0] == fmt.separator
        assert [e.id for e in p.examples] == [e.id for e in shots[:3]]
        assert p.n_tokens == approx_token_count(p.text)


def test_fixed_prefix_does_not_depend_on_the_query() -> None:
    task = get_task("explagraphs")
    shots = task.fewshot()
    a = build_prompt(task, None, task.query_of(shots[0].graph), PromptSpec(pool=shots[1:], k=4))
    b = build_prompt(task, None, task.query_of(shots[1].graph), PromptSpec(pool=shots[2:] + shots[:2], k=4))
    c = build_prompt(task, None, task.query_of(shots[-1].graph), PromptSpec(pool=shots[1:-1], k=4))
    assert a.prefix == c.prefix
    assert a.prefix != b.prefix
    assert a.query_text != c.query_text


def test_random_selection_is_seeded() -> None:
    task = get_task("proscript-script")
    shots = task.fewshot()
    q = task.query_of(shots[0].graph)
    pick = lambda seed: [e.id for e in select_examples(task, shots, q, 4, "random", seed)]  # noqa: E731
    assert pick(1) == pick(1)
    assert any(pick(1) != pick(s) for s in range(2, 8))


def test_knn_puts_the_nearest_example_last() -> None:
    task = get_task("proscript-script")
    shots = task.fewshot()
    target = shots[3]
    q = task.from_input({"goal": target.graph.goal, "num_steps": target.graph.num_steps + 1})
    chosen = select_examples(task, shots, q, 3, "knn")
    assert chosen[-1].id == target.id


def test_fixed_plus_knn_keeps_the_fixed_prefix_and_adds_the_nearest_last() -> None:
    task = get_task("proscript-script")
    shots = task.fewshot()
    target = shots[20]
    q = task.from_input({"goal": target.graph.goal, "num_steps": target.graph.num_steps + 1})
    other = task.from_input({"goal": shots[30].graph.goal, "num_steps": 5})
    chosen = select_examples(task, shots, q, 4, "fixed+knn")
    assert [e.id for e in chosen] == [e.id for e in shots[:3]] + [target.id]
    assert [e.id for e in select_examples(task, shots, other, 4, "fixed+knn")] == [e.id for e in shots[:3]] + [shots[30].id]
    # Two queries' prompts share the few-shot text up to the nearest example (what the KV cache keeps).
    spec = PromptSpec(k=4, selection="fixed+knn")
    a, b = build_prompt(task, "code", q, spec), build_prompt(task, "code", other, spec)
    shared = build_prompt(task, "code", q, PromptSpec(k=3)).prefix
    assert a.prefix.startswith(shared) and b.prefix.startswith(shared) and a.prefix != b.prefix
    assert select_examples(task, shots, q, 0, "fixed+knn") == []
    # The nearest is never one of the fixed examples again, even when it is the closest.
    near_fixed = task.from_input({"goal": shots[1].graph.goal, "num_steps": 4})
    ids = [e.id for e in select_examples(task, shots, near_fixed, 4, "fixed+knn")]
    assert len(set(ids)) == 4 and ids[:3] == [e.id for e in shots[:3]]


def test_budget_drops_examples_but_never_the_query() -> None:
    task = get_task("explagraphs")
    shots = task.fewshot()
    q = task.query_of(shots[0].graph)
    full = build_prompt(task, None, q, PromptSpec(pool=shots, k=8, token_budget=None))
    tight = build_prompt(task, None, q, PromptSpec(pool=shots, k=8, token_budget=full.n_tokens // 2))
    assert tight.n_tokens <= full.n_tokens // 2
    assert 0 < tight.dropped < 8
    assert tight.query_text == full.query_text
    assert [e.id for e in tight.examples] == [e.id for e in full.examples][tight.dropped :]
    with pytest.raises(ConfigError, match="budget"):
        build_prompt(task, None, q, PromptSpec(pool=shots, token_budget=5))


def test_unknown_selection_is_a_clear_error() -> None:
    task = get_task("propara")
    with pytest.raises(ConfigError, match="selection"):
        select_examples(task, task.fewshot(), task.fewshot()[0].graph, 2, "magic")


def test_a_dataset_row_is_never_its_own_example() -> None:
    from cocogen.prompts import select_examples
    from cocogen.tasks import get_task

    task = get_task("proscript-script")
    pool = task.fewshot()
    query = pool[3].graph
    for method in ("fixed", "random", "knn", "fixed+knn"):
        chosen = select_examples(task, pool, query, k=len(pool), method=method)
        assert pool[3] not in chosen and len(chosen) == len(pool) - 1, method
