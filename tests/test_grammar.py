"""Server grammars (cocogen/grammar.py): what each task × format grammar accepts and refuses.

Checked with the recognizer in cocogen/gbnf.py, no model: the gold completion of an
example is accepted, and each structural mistake the grammar is meant to prevent is
refused.  The real server enforcing them is tested in tests/backends/test_llama_server.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cocogen.gbnf import accepts
from cocogen.tasks import REGISTRY, get_task
from cocogen.tasks.base import Task
from cocogen.types import ExplaGraph, Graph, Script, StateTable

CELLS = [(t, f) for t in REGISTRY for f in REGISTRY[t].formats]
SPLITS = {"proscript-script": "dev", "proscript-edge": "dev", "explagraphs": "cocogen-dev", "propara": "test"}


def canonical(graph: Graph, task_name: str = "") -> Graph:
    """The graph as the grammar writes it: script generation's edges by target, then source;
    edge prediction's as a path (:func:`as_path`)."""
    if isinstance(graph, Script) and task_name == "proscript-edge":
        return as_path(graph)
    if isinstance(graph, Script):
        return replace(graph, edges=tuple(sorted(graph.edges, key=lambda e: (e[1], e[0]))))
    return graph


def as_path(graph: Script, extras: int = 2) -> Script:
    """An edge-prediction answer the grammar can write: the steps in the gold graph's
    topological order as one path (from the decision to the goal step), then up to
    ``extras`` of the gold's other edges."""
    import networkx as nx

    g = nx.DiGraph(list(graph.edges))
    g.add_nodes_from(range(len(graph.steps)))
    order = list(nx.lexicographical_topological_sort(g))
    path = list(zip(order, order[1:], strict=False))
    return replace(graph, edges=(*path, *[e for e in graph.edges if e not in path][:extras]))


def completion(task_name: str, fmt_name: str, answer: Graph, query: Graph) -> str:
    fmt = get_task(task_name).formats[fmt_name]
    full, head = fmt.render(answer), fmt.render_query(query)
    assert full.startswith(head)
    return full[len(head) :]


def grammar_for(task_name: str, fmt_name: str, graph: Graph) -> tuple[str, Graph]:
    task = get_task(task_name)
    query = task.query_of(graph)
    grammar = task.grammar(fmt_name, query)
    assert grammar is not None, f"{task_name} {fmt_name} has no grammar"
    return grammar, query


def first_example(task_name: str) -> Graph:
    return canonical(get_task(task_name).fewshot()[0].graph, task_name)


@pytest.mark.parametrize(("task_name", "fmt_name"), CELLS)
def test_the_gold_completion_is_accepted_and_a_cut_one_is_not(task_name: str, fmt_name: str) -> None:
    graph = first_example(task_name)
    grammar, query = grammar_for(task_name, fmt_name, graph)
    gold = completion(task_name, fmt_name, graph, query)
    assert accepts(grammar, gold)
    assert not accepts(grammar, gold[: len(gold) // 2])
    assert not accepts(grammar, gold + "# END\n")


@pytest.mark.parametrize("fmt_name", list(REGISTRY["proscript-script"].formats))
def test_script_grammar_fixes_the_step_count_and_forward_unique_edges(fmt_name: str) -> None:
    graph = first_example("proscript-script")
    assert isinstance(graph, Script)
    grammar, query = grammar_for("proscript-script", fmt_name, graph)
    n = graph.num_steps
    one_short = replace(graph, num_steps=n - 1, steps=graph.steps[:-1], edges=((0, 1), (1, 2), (2, 3), (3, 4)))
    backward = replace(graph, edges=((1, 0), *graph.edges[1:]))
    repeated = replace(graph, edges=(graph.edges[0], *graph.edges))
    unknown = replace(graph, edges=(*graph.edges, (n - 1, n)))
    # A 6-step answer (what follows a 6-step query) where 7 steps were asked for.
    assert not accepts(grammar, completion("proscript-script", fmt_name, one_short, Script(graph.goal, n - 1)))
    for wrong in (backward, repeated, unknown):
        assert not accepts(grammar, completion("proscript-script", fmt_name, wrong, query)), wrong.edges
    few = replace(graph, edges=graph.edges[:2])  # fewer than n - 1 edges cannot connect n steps
    assert not accepts(grammar, completion("proscript-script", fmt_name, few, query))
    # The last step is the goal: the model writes the others.
    other_end = replace(graph, steps=(*graph.steps[:-1], "admire the tree"))
    assert not accepts(grammar, completion("proscript-script", fmt_name, other_end, query))
    own = replace(graph, steps=("decided to go", "dig a big hole", *graph.steps[2:]))
    assert accepts(grammar, completion("proscript-script", fmt_name, own, query))


@pytest.mark.parametrize("fmt_name", list(REGISTRY["proscript-edge"].formats))
def test_edge_grammar_wants_a_path_from_the_decision_to_the_goal_then_few_extra_edges(fmt_name: str) -> None:
    graph = first_example("proscript-edge")
    assert isinstance(graph, Script)
    grammar, query = grammar_for("proscript-edge", fmt_name, graph)
    n = len(graph.steps)
    path = graph.edges[: n - 1]
    decided = next(i for i, s in enumerate(graph.steps) if s.startswith("decided"))
    assert path[0][0] == decided and graph.steps[path[-1][1]] == graph.goal
    for extras in range(3):
        answer = as_path(graph, extras)
        assert accepts(grammar, completion("proscript-edge", fmt_name, answer, query)), answer.edges
    other = [(a, b) for a in range(n) for b in range(n) if a != b and (a, b) not in graph.edges]
    for wrong in (
        path[:-1],  # the goal step is never reached
        (*path, *other[:3]),  # three extra edges
        tuple((b, a) for a, b in reversed(path)),  # from the goal back to the decision
        (path[0], *path[2:]),  # the path does not go on from the step it got to
        (*path[:1], (path[0][1], path[0][1]), *path[1:]),  # a self-loop
        (*path, (0, n)),  # a step that does not exist
    ):
        assert not accepts(grammar, completion("proscript-edge", fmt_name, replace(graph, edges=wrong), query)), wrong


@pytest.mark.parametrize("fmt_name", list(REGISTRY["explagraphs"].formats))
def test_explagraph_grammar_wants_3_to_8_triples_of_known_relations(fmt_name: str) -> None:
    graph = first_example("explagraphs")
    assert isinstance(graph, ExplaGraph)
    grammar, query = grammar_for("explagraphs", fmt_name, graph)
    chain = tuple((f"c{i}", "causes", f"c{i + 1}") for i in range(9))
    assert accepts(grammar, completion("explagraphs", fmt_name, replace(graph, triples=chain[:3]), query))
    assert accepts(grammar, completion("explagraphs", fmt_name, replace(graph, triples=chain[:8]), query))
    for wrong in (
        chain[:2],
        chain[:9],
        (("a", "likes", "b"), *chain[:3]),
        (("one two three four", "causes", "c"), *chain[:3]),
    ):
        assert not accepts(grammar, completion("explagraphs", fmt_name, replace(graph, triples=wrong), query))


@pytest.mark.parametrize("fmt_name", list(REGISTRY["propara"].formats))
def test_state_grammar_wants_one_value_per_participant_and_step(fmt_name: str) -> None:
    graph = first_example("propara")
    assert isinstance(graph, StateTable)
    grammar, query = grammar_for("propara", fmt_name, graph)
    n_t = len(graph.sentences) + 1
    values = [["-"] * n_t, ["?"] * n_t, ["the leaf"] * n_t] + [["soil"] * n_t] * (len(graph.participants) - 3)
    table = replace(graph, states=tuple(tuple(r) for r in values))
    assert accepts(grammar, completion("propara", fmt_name, table, query))
    quoted = replace(graph, states=(("a (b)",) * n_t, *graph.states[1:]))
    assert not accepts(grammar, completion("propara", fmt_name, quoted, query))


@pytest.mark.slow
@pytest.mark.parametrize(("task_name", "fmt_name"), CELLS)
def test_most_gold_answers_of_the_data_fit_the_grammar(task_name: str, fmt_name: str, data_dir: object) -> None:
    """How much of the data the grammar can say: at least 80% of 30 rows.

    The rest are backward edges (proScript writes a few), a colon in a step, a longer value.
    """
    task = get_task(task_name)
    rows = task.load(SPLITS[task_name])[:30]
    fits = 0
    for ex in rows:
        graph = canonical(ex.graph, task_name)
        grammar, query = grammar_for(task_name, fmt_name, graph)
        fits += accepts(grammar, completion(task_name, fmt_name, graph, query))
    assert fits >= 0.8 * len(rows)


def test_a_format_without_a_grammar_says_none() -> None:
    task = get_task("proscript-script")
    assert task.grammar("code", Script("make tea", 2)) is None  # two steps: too few to learn the edge list


# --- asking again where a constrained answer closes a cycle (Retry) -------------------------


def explagraph_with(triples: tuple[tuple[str, str, str], ...]) -> tuple[ExplaGraph, ExplaGraph]:
    graph = replace(first_example("explagraphs"), triples=triples)
    return graph, get_task("explagraphs").query_of(graph)


CHAIN = (("cars", "causes", "smoke"), ("smoke", "causes", "pollution"))


@pytest.mark.parametrize("fmt_name", list(REGISTRY["explagraphs"].formats))
@pytest.mark.parametrize(
    ("fault", "why"),
    [
        (("pollution", "causes", "cars"), "closes a cycle"),  # back to the start
        (("pollution", "is a", "pollution"), "closes a cycle"),  # onto itself
        (("smoke", "has property", "pollution"), "is said twice"),  # smoke -> pollution again
    ],
)
def test_a_triple_that_closes_a_cycle_or_repeats_a_pair_is_asked_again(
    fmt_name: str, fault: tuple[str, str, str], why: str
) -> None:
    task = get_task("explagraphs")
    graph, query = explagraph_with((*CHAIN, fault, ("cars", "used for", "driving")))
    faulty = completion("explagraphs", fmt_name, graph, query)
    assert accepts(task.grammar(fmt_name, query), faulty)  # the grammar alone lets it through
    retry = task.grammar_retry(fmt_name, query, faulty)
    assert retry is not None and retry.reason == f"({'; '.join(fault)}) {why}"
    # The head concept (and, where it comes first, the relation) stand; the tail is asked again.
    assert faulty.startswith(retry.keep) and fault[0] in retry.keep[retry.keep.rindex(CHAIN[-1][2]) :]
    assert not accepts(retry.grammar, faulty[len(retry.keep) :])
    h, r, _ = fault
    for tail in ("acid rain", "car", "cars and", "pollutions"):  # new concepts, some a banned one's start
        fixed, _ = explagraph_with((*CHAIN, (h, r, tail)))
        rest = completion("explagraphs", fmt_name, fixed, query)
        assert rest.startswith(retry.keep)
        assert accepts(retry.grammar, rest[len(retry.keep) :]), tail
        assert task.grammar_retry(fmt_name, query, rest) is None  # clean now


def test_a_clean_or_foreign_completion_needs_no_retry() -> None:
    task = get_task("explagraphs")
    graph, query = explagraph_with((*CHAIN, ("pollution", "causes", "illness")))
    assert task.grammar_retry("code", query, completion("explagraphs", "code", graph, query)) is None
    assert task.grammar_retry("code", query, "print('hello')\n") is None
    assert get_task("propara").grammar_retry("code", get_task("propara").fewshot()[0].graph, "x") is None


def edge_path_example() -> tuple[Task, Script, Script, tuple[tuple[int, int], ...], list[int]]:
    """The first edge-prediction example, its query, its path (:func:`as_path`) and the steps in path order."""
    task = get_task("proscript-edge")
    base = first_example("proscript-edge")
    path = as_path(base, 0).edges
    assert len(path) == len(base.steps) - 1
    return task, base, task.query_of(base), path, [path[0][0], *(b for _, b in path)]


@pytest.mark.parametrize("fmt_name", list(REGISTRY["proscript-edge"].formats))
def test_an_edge_that_closes_a_cycle_is_asked_again_without_the_steps_the_path_has_seen(fmt_name: str) -> None:
    task, base, query, path, order = edge_path_example()
    n = len(query.steps)
    d, x1, x2 = order[:3]
    # The path comes back to x1 from x2, then goes on and leaves out the step before the goal.
    walk = [d, x1, x2, x1, *order[3 : n - 2], order[-1]]
    faulty_edges = tuple(zip(walk, walk[1:], strict=False))
    assert n >= 5 and len(faulty_edges) == n - 1
    faulty = completion("proscript-edge", fmt_name, replace(base, edges=faulty_edges), query)
    assert accepts(task.grammar(fmt_name, query), faulty)  # the grammar alone lets it through
    retry = task.grammar_retry(fmt_name, query, faulty)
    assert retry is not None and retry.reason == f"step{x2} -> step{x1} closes a cycle"
    assert faulty.startswith(retry.keep)
    assert not accepts(retry.grammar, faulty[len(retry.keep) :])
    # Going on along the path itself is accepted, and clean.
    fixed = completion("proscript-edge", fmt_name, replace(base, edges=path), query)
    assert fixed.startswith(retry.keep) and accepts(retry.grammar, fixed[len(retry.keep) :])
    assert task.grammar_retry(fmt_name, query, fixed) is None
    # Script generation writes forward edges only: nothing to ask again.
    script = get_task("proscript-script")
    sgraph = first_example("proscript-script")
    squery = script.query_of(sgraph)
    assert script.grammar_retry(fmt_name, squery, completion("proscript-script", fmt_name, sgraph, squery)) is None


def test_every_grammar_asked_again_is_one_a_server_can_read(data_dir: object) -> None:
    """Random walks over the steps of 30 dev rows: each retry's grammar names only rules it defines
    (llama.cpp refuses the whole request otherwise) and the walk's own rest is refused by it."""
    import random

    task = get_task("proscript-edge")
    rng = random.Random(7)
    asked = 0
    for ex in task.load("dev")[:30]:
        query = task.query_of(ex.graph)
        n = len(query.steps)
        path = as_path(ex.graph, 0).edges
        order = [path[0][0], *(b for _, b in path)]
        for _ in range(5):
            # The gold path's start, then a walk that comes back to a step it has seen.
            walk = order[: rng.randint(2, n - 1)]
            walk.append(rng.choice(walk[1:-1] or walk[:1]))
            walk += [s for s in order if s not in walk][: max(0, n - len(walk))]
            edges = tuple(zip(walk, walk[1:], strict=False))[: n - 1]
            text = completion("proscript-edge", "code", replace(ex.graph, edges=edges), query)
            retry = task.grammar_retry("code", query, text)
            if retry is None:
                continue
            asked += 1
            assert accepts(retry.grammar, "", prefix=True)  # reads it: every named rule is defined
            assert not accepts(retry.grammar, text[len(retry.keep) :])
    assert asked >= 30


@pytest.mark.parametrize("fmt_name", list(REGISTRY["proscript-edge"].formats))
def test_an_extra_edge_that_closes_a_cycle_is_asked_again_without_any_edge_that_would(fmt_name: str) -> None:
    """After the path, the extras: asked again, no extra edge may close a cycle with what stands."""
    import networkx as nx

    task, base, query, path, order = edge_path_example()
    n = len(query.steps)
    back = (order[2], order[1])  # against the path's second step: a cycle of two edges
    faulty = completion("proscript-edge", fmt_name, replace(base, edges=(*path, back)), query)
    assert accepts(task.grammar(fmt_name, query), faulty)  # the grammar alone lets it through
    retry = task.grammar_retry(fmt_name, query, faulty)
    assert retry is not None and retry.reason == f"step{back[0]} -> step{back[1]} closes a cycle"
    kept = nx.DiGraph(path)
    for a, b in [(x, y) for x in range(n) for y in range(n) if x != y]:
        text = completion("proscript-edge", fmt_name, replace(base, edges=(*path, (a, b))), query)
        assert text.startswith(retry.keep)
        closes = nx.has_path(kept, b, a) or kept.has_edge(a, b)
        assert accepts(retry.grammar, text[len(retry.keep) :]) is not closes, (a, b)
