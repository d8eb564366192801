"""The constrained-decoding planners, driven by an adversarial stand-in for the model.

The planners (:mod:`cocogen.constrained`) decide what is offered to the model; the model
only picks.  Here a seeded random decoder picks instead, honouring the decoder contract
(values end before a stop character, contain no banned one, are not refused), and is
biased towards trouble: backward edges, repeated values, words like ``UNK``.  Whatever
it picks, every task's every format must parse back with no problem.  The real model is
exercised in ``tests/backends/test_llamacpp.py``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from cocogen.constrained import (
    HOLE,
    FreeSpec,
    Limits,
    Option,
    Unsupported,
    check_supported,
    common_prefix,
    copied_values,
    generate_graph,
    lent_values,
    split_at_hole,
)
from cocogen.tasks import REGISTRY, get_task
from cocogen.tasks.explagraphs import TextFormat
from cocogen.types import BENIGN, ExplaGraph, Graph, Script

SPLITS = {"proscript-script": "dev", "proscript-edge": "dev", "explagraphs": "dev", "propara": "dev"}
WORDS = ["water", "the soil", "UNK", "unknown place", "None", "go to the store", "it's done", "a-b", "x"]


class RandomDecoder:
    """Picks options and writes values at random, within the decoder contract."""

    def __init__(self, seed: int, budget: int = 400) -> None:
        self.rng = random.Random(seed)
        self.budget = budget
        self.values: list[str] = []
        self.offered: list[list[str]] = []

    @property
    def budget_left(self) -> int:
        return self.budget

    def choose(self, options: Sequence[Option]) -> tuple[int, str | None]:
        assert options, "a choice with nothing to choose"
        texts = [o.text for o in options]
        assert len(set(texts)) == len(texts) or all(o.free is None for o in options), texts
        self.offered.append(texts)
        # Prefer the last options (backward edges, late relations, the free value).
        i = len(options) - 1 - min(len(options) - 1, int(self.rng.expovariate(0.7)))
        self.budget = max(0, self.budget - 2)
        spec = options[i].free
        return i, (self._value(spec) if spec is not None else None)

    def _value(self, spec: FreeSpec) -> str:
        pool = [w for w in WORDS + self.values[-3:] if w.strip() not in spec.forbidden]
        pool = [w for w in pool if not any(c in w for c in spec.banned + spec.stop)]
        pool = [w for w in pool if not spec.max_words or len(w.split()) <= spec.max_words]
        value = self.rng.choice(pool)
        self.values.append(value)
        return value


def _rows(task_name: str, n: int) -> list[Graph]:
    rows = get_task(task_name).load(SPLITS[task_name])
    step = max(1, len(rows) // n)
    return [r.graph for r in rows[::step][:n]]


@pytest.mark.parametrize("task_name", list(SPLITS))
def test_every_format_parses_cleanly_whatever_the_model_picks(data_dir: Path, task_name: str) -> None:
    task = get_task(task_name)
    for fmt_name, fmt in task.formats.items():
        for i, graph in enumerate(_rows(task_name, 25)):
            query = task.query_of(graph)
            check_supported(fmt, query)
            out = generate_graph(RandomDecoder(seed=i), fmt, query)
            text = fmt.render(out)
            head = fmt.render_query(query)
            assert text.startswith(head)
            result = fmt.parse(text[len(head) :], query)
            bad = [p for p in result.problems if p.kind not in BENIGN]
            assert result.graph is not None and not bad, (fmt_name, i, bad, text[len(head) :][:400])
            assert result.graph == out


def test_scripts_get_n_minus_1_to_n_plus_1_acyclic_edges(data_dir: Path) -> None:
    task = get_task("proscript-script")
    fmt = task.formats["code"]
    for i, graph in enumerate(_rows("proscript-script", 40)):
        out = generate_graph(RandomDecoder(seed=100 + i), fmt, task.query_of(graph))
        assert isinstance(out, Script)
        n = len(out.steps)
        assert n == graph.num_steps  # type: ignore[union-attr]
        assert n - 1 <= len(out.edges) <= n + 1
        assert len(set(out.edges)) == len(out.edges) and all(a != b for a, b in out.edges)
        assert len(set(out.steps)) == n, "a step repeated word for word is refused"


def test_two_step_scripts_and_edge_prediction_keep_the_given_steps() -> None:
    task = get_task("proscript-script")
    q = task.from_input({"goal": "blink", "num_steps": 2})
    out = generate_graph(RandomDecoder(seed=1), task.formats["code"], q)
    # Two steps have one possible order edge in either direction, never both (a cycle).
    assert isinstance(out, Script) and len(out.steps) == 2 and len(out.edges) == 1
    edge = get_task("proscript-edge")
    q2 = edge.from_input({"goal": "make tea", "steps": ["boil water", "add tea", "pour water", "drink"]})
    out2 = generate_graph(RandomDecoder(seed=2), edge.formats["code"], q2)
    assert isinstance(out2, Script) and out2.steps == q2.steps and 3 <= len(out2.edges) <= 5


def test_explagraphs_triples_use_the_fixed_relations_and_stay_acyclic(data_dir: Path) -> None:
    from cocogen.metrics.explagraphs import structural_checks
    from cocogen.tasks.explagraphs import RELATIONS, structure_problems

    task = get_task("explagraphs")
    lim = Limits(min_triples=3, max_triples=8)
    for i, graph in enumerate(_rows("explagraphs", 40)):
        out = generate_graph(RandomDecoder(seed=200 + i), task.formats["add_edge"], task.query_of(graph), lim)
        assert isinstance(out, ExplaGraph)
        assert 3 <= len(out.triples) <= 8
        assert all(r in RELATIONS for _, r, _ in out.triples)
        assert len(set(out.triples)) == len(out.triples)
        assert structure_problems(out.triples) == []
        # What the official evaluator checks holds by construction, whatever the model picks.
        checks = structural_checks(["; ".join(t) for t in out.triples], graph.belief, graph.argument)
        assert all(checks.values()), (checks, out.triples, graph.belief, graph.argument)


def test_propara_places_are_spans_of_the_paragraph_never_the_participant_itself(data_dir: Path) -> None:
    """A place is chosen among the paragraph's spans: nothing copied from an example, nothing inside itself."""
    from cocogen.types import ABSENT, UNKNOWN

    task = get_task("propara")
    for i, graph in enumerate(_rows("propara", 15)):
        query = task.query_of(graph)
        out = generate_graph(RandomDecoder(seed=300 + i), task.formats["text"], query)
        paragraph = " ".join(query.sentences).lower()
        for name, row in zip(query.participants, out.states, strict=True):
            for place in row:
                if place in (ABSENT, UNKNOWN):
                    continue
                assert place in paragraph, (place, paragraph)
                assert place not in {n.strip().lower() for n in name.split(";")}


class IsADecoder:
    """Always the relation "is a", the last concept offered, a new word where it writes one."""

    def __init__(self) -> None:
        self.n = 0

    @property
    def budget_left(self) -> int:
        return 400

    def choose(self, options: Sequence[Option]) -> tuple[int, str | None]:
        if options[-1].free is not None:
            self.n += 1
            return len(options) - 1, f"thing{self.n}"
        for i, o in enumerate(options):
            if o.text.endswith("; is a; "):
                return i, None
        return len(options) - 1, None


def test_a_relation_in_the_argument_does_not_count_as_one_of_its_concepts() -> None:
    """ "is a" is in "a zoo is a safe place": the graph still needs two concepts of the argument."""
    from cocogen.metrics.explagraphs import structural_checks

    task = get_task("explagraphs")
    q = task.from_input({"belief": "Zoos keep wild animals.", "argument": "A zoo is a safe place.", "stance": "support"})
    out = generate_graph(IsADecoder(), task.formats["text"], q, Limits(min_triples=3, max_triples=8))
    assert isinstance(out, ExplaGraph) and all(r == "is a" for _, r, _ in out.triples)
    checks = structural_checks(["; ".join(t) for t in out.triples], q.belief, q.argument)
    assert all(checks.values()), (checks, out.triples)


def test_edges_never_offered_twice_or_backwards_into_a_cycle() -> None:
    task = get_task("proscript-edge")
    q = task.from_input({"goal": "g", "steps": ["a", "b", "c"]})
    dec = RandomDecoder(seed=3)
    generate_graph(dec, task.formats["text"], q)
    for texts in dec.offered:
        assert len(set(texts)) == len(texts)


class ShoutingFormat(TextFormat):
    """A format that changes what it is given (upper-cases the graph): holes cannot be found."""

    name = "shouting"

    def render(self, graph: Graph) -> str:
        text = super().render(graph)
        head = self.render_query(graph)
        return head + text[len(head) :].upper()


def test_a_format_that_rewrites_values_is_reported_unsupported() -> None:
    task = get_task("explagraphs")
    q = task.from_input({"belief": "Zoos are good.", "argument": "Zoos save species.", "stance": "support"})
    with pytest.raises(Unsupported, match="verbatim"):
        check_supported(ShoutingFormat(), q)


def test_helpers() -> None:
    assert split_at_hole(f"(a; is a; {HOLE})(") == ("(a; is a; ", ")\n")
    with pytest.raises(Unsupported):
        split_at_hole("no marker here")
    assert common_prefix(["abc", "abd", "ab"]) == "ab"
    assert set(REGISTRY) == set(SPLITS)


def test_values_of_examples_about_something_else_are_refused_as_copies() -> None:
    tea = Script(goal="make a cup of tea", num_steps=3, steps=("boil water", "steep the tea bag", "make a cup of tea"))
    card = Script(goal="mail a birthday card", num_steps=2, steps=("write the address", "mail a birthday card"))
    query = Script(goal="make iced tea for the party", num_steps=4)
    assert copied_values([tea, card], query) == {"write the address", "mail a birthday card"}  # tea lends its steps
    cars = ExplaGraph(
        belief="Cars pollute.", argument="Cars burn fuel.", stance="support",
        triples=(("cars", "capable of", "burning fuel"), ("burning fuel", "causes", "pollution")),
    )
    school = ExplaGraph(
        belief="School uniforms help.", argument="Uniforms save money.", stance="support",
        triples=(("uniforms", "capable of", "saving money"), ("saving money", "is a", "help")),
    )
    about_trains = ExplaGraph(belief="Trains pollute less than cars.", argument="Trains burn less fuel.", stance="support")
    # The cars example shares a topic word ("cars") with the trains query: its concepts may be used.
    assert copied_values([cars, school], about_trains) == {"uniforms", "saving money", "help"}


def test_a_script_takes_one_step_of_a_related_example_then_its_steps_are_refused() -> None:
    tea = Script(goal="make a cup of tea", num_steps=3, steps=("boil water", "steep the tea bag", "make a cup of tea"))
    query = Script(goal="make iced tea for the party", num_steps=5)
    assert lent_values([tea], query) == {"boil water", "steep the tea bag", "make a cup of tea"}
    specs: list[FreeSpec] = []

    class Copier:  # writes the example's steps, one after the other, as a small model does
        budget_left = 400

        def choose(self, options: Sequence[Option]) -> tuple[int, str | None]:
            spec = options[0].free
            if spec is None:  # an edge: the first one offered
                return 0, None
            specs.append(spec)
            own = ("chill the tea", "pour it over ice", "add lemon")
            return 0, next(v for v in tea.steps + own if v not in spec.shown | spec.forbidden)

    lim = Limits(lent=lent_values([tea], query), shown=frozenset({"write the address"}))
    graph = generate_graph(Copier(), get_task("proscript-script").formats["code"], query, lim)
    assert isinstance(graph, Script)
    assert graph.steps == ("boil water", "chill the tea", "pour it over ice", "add lemon", "make iced tea for the party")
    assert specs[0].shown == lim.shown and all(lim.lent <= sp.shown for sp in specs[1:])


def test_the_planners_refuse_copies_the_goal_before_the_end_and_shortened_steps() -> None:
    specs: list[FreeSpec] = []

    class Recording(RandomDecoder):
        def choose(self, options: Sequence[Option]) -> tuple[int, str | None]:
            specs.extend(o.free for o in options if o.free is not None)
            return super().choose(options)

    lim = Limits(shown=frozenset({"write the address"}))
    fmt = get_task("proscript-script").formats["code"]
    generate_graph(Recording(0), fmt, Script(goal="make a cup of tea", num_steps=4), lim)
    assert specs and all(sp.shown == lim.shown and sp.no_shortening for sp in specs)
    assert len(specs) == 3 and all("make a cup of tea" in sp.forbidden for sp in specs)  # the goal only at the end
    specs.clear()
    fmt = get_task("explagraphs").formats["code"]
    query = ExplaGraph(belief="Cars pollute.", argument="Cars burn fuel.", stance="support")
    for seed in range(20):  # concepts are free once the graph holds enough of the belief and argument
        generate_graph(Recording(seed), fmt, query, lim)
    assert specs and all(sp.shown == lim.shown for sp in specs)


@pytest.mark.parametrize("fmt_name", list(REGISTRY["proscript-script"].formats))
def test_a_generated_script_ends_on_its_goal_and_the_model_writes_the_steps_before_it(fmt_name: str) -> None:
    fmt = get_task("proscript-script").formats[fmt_name]
    for n in (2, 5, 7):
        dec = RandomDecoder(n)
        graph = generate_graph(dec, fmt, Script(goal="plant  a tree", num_steps=n))
        assert isinstance(graph, Script)
        assert len(graph.steps) == n and graph.steps[-1] == "plant a tree"
        assert list(graph.steps[:-1]) == dec.values[: n - 1]  # the model's own values, one per step
        assert "plant a tree" not in graph.steps[:-1]
        result = fmt.parse(fmt.render(graph)[len(fmt.render_query(graph)) :], graph)
        assert result.clean and result.graph.steps[-1] == "plant a tree"
    one = generate_graph(RandomDecoder(0), fmt, Script(goal="plant a tree", num_steps=1))
    assert isinstance(one, Script) and len(one.steps) == 1  # a one-step script is the model's step
