"""proScript script generation and edge prediction: exact round trips over the whole dev
set, the paper's code byte for byte, and a parser that recovers what it can and never runs
model text."""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from cocogen import parsing
from cocogen.errors import ConfigError, DataError, InputError
from cocogen.tasks import get_format, get_task, proscript
from cocogen.tasks.base import CODE_SEPARATOR, Format
from cocogen.tasks.proscript import EDGE_TASK, MAX_STEPS, MAX_TEXT_CHARS, SCRIPT_TASK, class_name, function_name
from cocogen.types import Example, ParseResult, ProblemKind, Script

K = ProblemKind
TASKS = [SCRIPT_TASK, EDGE_TASK]
FORMATS = ["code", "networkx", "text"]
CODE_FORMATS = ["code", "networkx"]
SUBDIR = {"proscript-script": "proscript_script_generation", "proscript-edge": "proscript_edge_prediction"}
task_ids = pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)


@pytest.fixture(scope="module")
def rows(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The raw dev rows of both tasks, as CoCoGen released them."""
    out = {}
    for name, sub in SUBDIR.items():
        with open(data_dir / "cocogen" / "data" / sub / "dev.jsonl", encoding="utf-8") as f:
            out[name] = [json.loads(line) for line in f]
    return out


@pytest.fixture(scope="module")
def dev(data_dir: Path) -> dict[str, list[Example]]:
    return {t.name: t.load("dev") for t in TASKS}


def kinds(r: ParseResult) -> set[ProblemKind]:
    return {p.kind for p in r.problems}


def split_query(task: Any, fmt_name: str, g: Script) -> tuple[Format, Script, str, str]:
    """The format, the query graph, the full rendering and the model's part of it."""
    fmt = task.formats[fmt_name]
    q = task.query_of(g)
    full = fmt.render(g)
    head = fmt.render_query(q)
    assert full.startswith(head)
    return fmt, q, full, full[len(head) :]


# --------------------------------------------------------------------------- registry and interface


def test_tasks_are_registered_with_their_formats() -> None:
    assert get_task("proscript-script") is SCRIPT_TASK
    assert get_task("proscript-edge") is EDGE_TASK
    for task in TASKS:
        assert list(task.formats) == FORMATS
        assert get_format(task) is task.formats["code"]
        assert task.splits == ("dev",)
        assert task.title and task.description
        for name, fmt in task.formats.items():
            assert isinstance(fmt, Format)
            assert fmt.name == name and fmt.description
            assert fmt.kind == ("text" if name == "text" else "code")
            assert fmt.separator == CODE_SEPARATOR
            assert fmt.stop()[0] == CODE_SEPARATOR
    assert [f.name for f in SCRIPT_TASK.input_fields] == ["goal", "num_steps"]
    assert [f.name for f in EDGE_TASK.input_fields] == ["goal", "steps"]


def test_names_derived_from_the_goal_are_identifiers() -> None:
    assert class_name("go to a doctor's appointment") == "GoToADoctorsAppointment"
    assert class_name("enter a salsa-making competition") == "EnterASalsamakingCompetition"
    assert class_name("run the 5K race") == "RunThe5kRace"
    for goal in ["", "!!!", "5 a day", "class", "true", "café au lait", "a\tb\nc"]:
        assert class_name(goal).isidentifier() and function_name(goal).isidentifier(), goal
    assert function_name("class") == "class_"


# --------------------------------------------------------------------------- the dev data


@task_ids
def test_code_format_reproduces_cocogen_prompts_byte_for_byte(task, rows, dev) -> None:
    fmt = task.formats["code"]
    assert len(dev[task.name]) == len(rows[task.name]) == 1085
    for row, ex in zip(rows[task.name], dev[task.name], strict=True):
        assert fmt.render(ex.graph) == row["reference_code"], ex.id
        assert fmt.render_query(task.query_of(ex.graph)) == row["input_prompt_code"], ex.id


@task_ids
def test_text_format_is_the_datasets_own_flattening(task, rows, dev) -> None:
    fmt = task.formats["text"]
    for row, ex in zip(rows[task.name], dev[task.name], strict=True):
        lines = fmt.render(ex.graph).split("\n")
        if task is SCRIPT_TASK:
            assert lines[0] == row["flatten_input_for_script_generation"]
            assert lines[1] == row["flatten_output_for_script_generation"]
        else:
            assert lines[1] == row["flatten_input_for_edge_prediction"]
            assert lines[2] == row["flatten_output_for_edge_prediction"]


@task_ids
@pytest.mark.parametrize("fmt_name", FORMATS)
def test_every_dev_row_round_trips_cleanly(task, fmt_name, dev) -> None:
    for ex in dev[task.name]:
        fmt, q, full, completion = split_query(task, fmt_name, ex.graph)
        whole = fmt.parse(full)
        assert whole.graph == ex.graph and whole.clean, (ex.id, whole.problems)
        cont = fmt.parse(completion, q)
        assert cont.graph == ex.graph and cont.clean, (ex.id, cont.problems)


@task_ids
def test_the_papers_prompt_examples_parse_and_render_back(task, data_dir) -> None:
    text = (data_dir / "cocogen" / "data" / SUBDIR[task.name] / "prompt.txt").read_text(encoding="utf-8")
    blocks = [b.lstrip("\n") for b in text.split(CODE_SEPARATOR + "\n") if b.strip()]
    assert len(blocks) == 15
    fmt = task.formats["code"]
    for block in blocks:
        r = fmt.parse(block)
        assert r.clean, r.problems
        assert fmt.render(r.graph) == block


def test_both_tasks_share_ids_and_goals(dev) -> None:
    a, b = dev["proscript-script"], dev["proscript-edge"]
    assert [e.id for e in a] == [e.id for e in b] == [f"dev-{i:04d}" for i in range(1085)]
    for x, y in zip(a, b, strict=True):
        assert x.graph.goal == y.graph.goal and sorted(x.graph.steps) == sorted(y.graph.steps)


# --------------------------------------------------------------------------- our few-shot assets


@task_ids
def test_fewshot_assets_are_plausible_scripts_of_our_own(task, dev) -> None:
    shots = task.fewshot()
    assert len(shots) >= 10
    assert len({e.id for e in shots}) == len(shots)
    dataset_goals = {e.graph.goal.lower() for e in dev[task.name]}
    branching = 0
    for ex in shots:
        g = ex.graph
        assert 5 <= len(g.steps) <= 9 and g.num_steps == len(g.steps)
        assert g.goal in g.steps and f"decided to {g.goal}" in g.steps
        assert g.goal.lower() not in dataset_goals, "few-shot examples must be written by us"
        G = nx.DiGraph(g.edges)
        assert set(G.nodes) == set(range(len(g.steps))) and nx.is_directed_acyclic_graph(G), ex.id
        start, goal = g.steps.index(f"decided to {g.goal}"), g.steps.index(g.goal)
        assert all(nx.has_path(G, start, n) and nx.has_path(G, n, goal) for n in G.nodes), ex.id
        branching += any(d > 1 for _, d in G.out_degree())
        for name, fmt in task.formats.items():
            r = fmt.parse(fmt.render(g))
            assert r.graph == g and r.clean, (ex.id, name, r.problems)
    assert branching >= len(shots) // 2, "most scripts should be partial orders, not chains"
    if task is SCRIPT_TASK:
        assert all(e.graph.steps[0].startswith("decided to") and e.graph.steps[-1] == e.graph.goal for e in shots)


def test_edge_fewshot_is_the_script_fewshot_shuffled() -> None:
    scripts = {e.id: e.graph for e in SCRIPT_TASK.fewshot()}
    edges = {e.id: e.graph for e in EDGE_TASK.fewshot()}
    assert scripts.keys() == edges.keys()
    for id_, s in scripts.items():
        e = edges[id_]
        assert e.steps != s.steps and sorted(e.steps) == sorted(s.steps), id_
        by_text = {(s.steps[a], s.steps[b]) for a, b in s.edges}
        assert {(e.steps[a], e.steps[b]) for a, b in e.edges} == by_text, id_


def test_edge_fewshot_is_what_the_generator_writes() -> None:
    """``scripts/make_edge_fewshot.py --check``: the edge pool is the script pool's seeded shuffle."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_edge_fewshot.py"
    r = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------- truncation


def _item_ends(fmt_name: str, g: Script, full: str) -> tuple[list[int], list[int]]:
    """Offsets in ``full`` at which each step and each edge is completely written."""

    def q(s: str) -> str:
        return json.dumps(s, ensure_ascii=False)

    if fmt_name == "code":
        steps = [f"def step{k}(self):\n        return {q(t)}" for k, t in enumerate(g.steps)]
        edges = [f'"step{a} -> step{b}"' for a, b in g.edges]
    elif fmt_name == "networkx":
        steps = [f'G.add_node("step{k}", text={q(t)})' for k, t in enumerate(g.steps)]
        edges = [f'G.add_edge("step{a}", "step{b}")' for a, b in g.edges]
    else:  # text: an item is whole once its separator or line break is written
        steps = [f"step{k}: {t}" for k, t in enumerate(g.steps)]
        edges = [f"step{a} -> step{b}" for a, b in g.edges]
    pos, out = 0, []
    for item in steps + edges:
        pos = full.index(item, pos) + len(item)
        out.append(pos + (1 if fmt_name == "text" else 0))
    return out[: len(steps)], out[len(steps) :]


def _check_cut(task, fmt_name: str, g: Script, text: str, cut: int, ends, shift: int, query, strict: bool) -> None:
    """Everything complete before ``cut`` is recovered, in order; nothing else is invented."""
    fmt = task.formats[fmt_name]
    r = fmt.parse(text[:cut], query)
    step_ends, edge_ends = ends
    want_steps = (
        g.steps
        if (query is not None and task is EDGE_TASK)
        else tuple(t for t, e in zip(g.steps, step_ends, strict=True) if e + shift <= cut)
    )
    want_edges = tuple(x for x, e in zip(g.edges, edge_ends, strict=True) if e + shift <= cut)
    got_steps = r.graph.steps if r.graph else ()
    got_edges = r.graph.edges if r.graph else ()
    where = f"{task.name}/{fmt_name} cut at {cut}: ...{text[max(0, cut - 40) : cut]!r}"
    if strict:
        if r.graph is not None or want_edges or (want_steps and query is None) or task is SCRIPT_TASK:
            assert got_steps == want_steps or (r.graph is None and not want_edges and query is not None), where
        assert got_edges == want_edges, where
    else:  # text without an end marker: the last item may be a cut-short one (documented)
        assert got_steps[: len(want_steps)] == want_steps or (r.graph is None and not want_edges), where
        assert got_edges[: len(want_edges)] == want_edges, where
        assert len(got_steps) + len(got_edges) <= len(want_steps) + len(want_edges) + 1, where
    assert not kinds(r) - {K.TRUNCATED, K.MISSING_STEP, K.EMPTY, K.EXTRA}, (where, r.problems)
    assert (r.graph is None) == (K.EMPTY in kinds(r)), where


def _truncation_graphs(dev) -> list[tuple[Any, Script]]:
    out = []
    for task in TASKS:
        out += [(task, e.graph) for e in dev[task.name][::150]]
        out += [(task, e.graph) for e in task.fewshot()[:3]]
    return out


@pytest.mark.parametrize("fmt_name", FORMATS)
def test_truncation_at_every_line_keeps_every_complete_step_and_edge(fmt_name, dev) -> None:
    for task, g in _truncation_graphs(dev):
        fmt, q, full, completion = split_query(task, fmt_name, g)
        ends = _item_ends(fmt_name, g, full)
        head = len(full) - len(completion)
        for text, shift, query in ((full, 0, None), (completion, -head, q)):
            cuts = [i + 1 for i, c in enumerate(text) if c == "\n"] + [i for i, c in enumerate(text) if c == "\n"]
            for cut in sorted(set(cuts)):
                _check_cut(task, fmt_name, g, text, cut, ends, shift, query, strict=fmt_name != "text")
        # A cut inside the output is reported (text: only where it shows); the whole text is clean.
        if fmt_name != "text":
            assert K.TRUNCATED in kinds(fmt.parse(completion[: len(completion) // 2], q))
        else:
            assert K.TRUNCATED in kinds(fmt.parse(completion[: completion.index(";") + 1], q))
        assert fmt.parse(completion, q).clean


@pytest.mark.parametrize("fmt_name", FORMATS)
def test_truncation_at_random_characters(fmt_name, dev) -> None:
    rng = random.Random(7)
    for task in TASKS:
        for ex in rng.sample(dev[task.name], 25) + task.fewshot()[:3]:
            g = ex.graph
            _, q, full, completion = split_query(task, fmt_name, g)
            ends = _item_ends(fmt_name, g, full)
            head = len(full) - len(completion)
            for _ in range(6):
                _check_cut(task, fmt_name, g, full, rng.randrange(len(full) + 1), ends, 0, None, fmt_name != "text")
                cut = rng.randrange(len(completion) + 1)
                _check_cut(task, fmt_name, g, completion, cut, ends, -head, q, fmt_name != "text")


def _realistic(task, fmt_name: str, g: Script, nxt: Script) -> list[tuple[str, int]]:
    """Completions as models write them, with the offset of the answer's first character."""
    fmt, _, full, completion = split_query(task, fmt_name, g)
    head = len(full) - len(completion)
    chat = "Sure! Here is the completed program:\n\n```python\n"
    return [
        # a completion model running past the answer into the next example
        (completion + CODE_SEPARATOR + "\n\n" + fmt.render(nxt), -head),
        # a chat model re-writing everything in a fence that the cut leaves open
        (chat + full + "```\n\nEach step depends on the previous one.", len(chat)),
    ]


@task_ids
@pytest.mark.parametrize("fmt_name", FORMATS)
def test_truncated_realistic_completions(task, fmt_name) -> None:
    shots = task.fewshot()
    rng = random.Random(3)
    for g, nxt in zip([s.graph for s in shots[:4]], [s.graph for s in shots[4:8]], strict=True):
        full = task.formats[fmt_name].render(g)
        ends = _item_ends(fmt_name, g, full)
        q = task.query_of(g)
        for text, shift in _realistic(task, fmt_name, g, nxt):
            cuts = {i for i, c in enumerate(text) if c == "\n"} | {rng.randrange(len(text) + 1) for _ in range(40)}
            for cut in sorted(cuts | {len(text)}):
                _check_cut(task, fmt_name, g, text, cut, ends, shift, q, fmt_name != "text")
            assert task.formats[fmt_name].parse(text, q).graph == g


# --------------------------------------------------------------------------- noisy but complete outputs


def _tea(task=SCRIPT_TASK, fmt_name: str = "code") -> tuple[Format, Script, Script, str, str]:
    g = next(e.graph for e in task.fewshot() if e.id == "make-a-cup-of-tea")
    fmt, q, full, completion = split_query(task, fmt_name, g)
    return fmt, g, q, full, completion


@pytest.mark.parametrize("fmt_name", FORMATS)
@task_ids
def test_tolerated_noise_leaves_the_graph_intact(task, fmt_name) -> None:
    fmt, g, q, full, completion = _tea(task, fmt_name)
    other = task.fewshot()[1].graph
    cases = {
        "fences and chat preamble": (
            "Sure! Here you go:\n\n```python\n" + completion + "```\nHope this helps!",
            {K.EXTRA},
        ),
        "the whole program re-written": (full, set()),
        # (edge prediction: the query's steps were written twice, which is reported as noise)
        "query repeated twice": (fmt.render_query(q) + full, {K.EXTRA} if task is EDGE_TASK else set()),
        "junk after # END": (completion + "# END\n\nclass Foo:\n    import os\n", {K.EXTRA}),
        "a second example without # END": (completion + "\n" + fmt.render(other), {K.EXTRA}),
        "windows line ends": (completion.replace("\n", "\r\n"), set()),
    }
    for name, (text, expected) in cases.items():
        r = fmt.parse(text, q)
        assert r.graph == g, (name, r.problems)
        assert kinds(r) == expected, (name, r.problems)


def test_code_format_tolerates_python_variations() -> None:
    fmt, g, q, full, completion = _tea()
    variations = {
        "tabs": completion.replace("    ", "\t"),
        "single quotes": completion.replace('"', "'"),
        "docstrings": completion.replace("(self):\n", '(self):\n        """Say what to do."""\n'),
        "annotations": completion.replace("(self):", "(self) -> str:"),
        "comments": completion.replace("\n\n", "\n    # next\n"),
        "one-line defs": completion.replace("(self):\n        return", "(self): return"),
        "no indentation": "\n".join(ln.strip() for ln in completion.split("\n")),
    }
    for name, text in variations.items():
        r = fmt.parse(text, q)
        assert r.graph == g and r.clean, (name, r.problems)


def test_restarted_answer_uses_the_second_attempt() -> None:
    fmt, g, q, full, completion = _tea()
    r = fmt.parse(completion[: completion.index("def step3")] + "\n" + full, q)
    assert r.graph == g
    assert [p.kind for p in r.problems] == [K.EXTRA] and "started over" in r.problems[0].message


def test_prose_after_the_answer_is_extra_not_a_syntax_error() -> None:
    fmt, g, q, full, completion = _tea()
    r = fmt.parse(completion + "\nThat's it: you're done! Don't forget the milk.\n", q)
    assert r.graph == g and kinds(r) == {K.EXTRA}


# --------------------------------------------------------------------------- hostile output


@task_ids
@pytest.mark.parametrize("fmt_name", FORMATS)
def test_hostile_completion_is_never_run(task, fmt_name, tmp_path: Path) -> None:
    fmt, g, q, full, completion = _tea(task, fmt_name)
    marks = [tmp_path / f"pwned{i}" for i in range(4)]
    payloads = [
        f"__import__('os').system('touch {marks[0]}')",
        f"import os\nos.system('touch {marks[1]}')",
        f"exec(\"open('{marks[2]}', 'w')\")",
        f"eval(compile(\"__import__('os').system('touch {marks[3]}')\", 'x', 'exec'))",
    ]
    lines = completion.split("\n")
    middle = len(lines) // 2
    # Payloads in front of, inside and after the answer, and in place of values.
    text = "\n".join([payloads[1], *lines[:middle], payloads[0], *lines[middle:], payloads[2], payloads[3]])
    text = text.replace('"fill the kettle with water"', payloads[0].replace("\n", "; "))
    text = text.replace('"step1"', f"__import__('os').system('touch {marks[0]}')")
    r = fmt.parse(text, q)
    full_r = fmt.parse(payloads[3] + "\n" + full)
    assert not any(m.exists() for m in marks)
    assert r.graph is not None and full_r.graph is not None
    assert not r.clean
    if fmt_name == "code" and task is SCRIPT_TASK:
        assert K.BAD_VALUE in kinds(r) and "fill the kettle with water" not in r.graph.steps


def test_parsers_contain_no_code_execution() -> None:
    """The parsing modules never call exec/eval/compile/__import__ or import dynamically."""
    forbidden = {"exec", "eval", "compile", "__import__", "import_module", "run_path", "system", "popen"}
    for module in (proscript, parsing):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", None) == "re":
                    continue  # re.compile builds a regular expression
                assert name not in forbidden, f"{module.__name__}:{node.lineno} calls {name}"


# --------------------------------------------------------------------------- each problem kind


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def test_syntax_error_names_the_original_line_and_keeps_the_rest() -> None:
    fmt, g, q, full, completion = _tea()
    broken = _replace(completion, '"switch on the kettle"', '"switch on the kettle')
    text = "Here it is:\n```python\n" + broken + "```"
    r = fmt.parse(text, q)
    bad_line = text.split("\n").index('        return "switch on the kettle') + 1
    syntax = [p for p in r.problems if p.kind is K.SYNTAX]
    assert len(syntax) == 1 and syntax[0].line == bad_line
    assert r.graph.steps == g.steps[:2] + g.steps[3:]
    assert K.MISSING_STEP in kinds(r) and K.UNKNOWN_NODE in kinds(r)  # step2 is lost, so are its edges


def test_each_problem_kind_where_expected() -> None:
    fmt, g, q, full, completion = _tea()
    rel = completion.index("    def get_relations")
    cases: list[tuple[str, str, Script | None, set[ProblemKind], Callable[[Script | None], bool]]] = [
        ("empty", "", q, {K.EMPTY}, lambda x: x is None),
        ("prose only", "I can't help with that.", q, {K.EMPTY, K.EXTRA}, lambda x: x is None),
        ("truncated", completion[:-40], q, {K.TRUNCATED}, lambda x: x.steps == g.steps and x.edges == g.edges[:-1]),
        (
            "step skipped",
            _replace(completion, "def step3(", "def step30("),
            q,
            {K.MISSING_STEP, K.UNKNOWN_NODE},
            lambda x: len(x.steps) == 7,
        ),
        (
            "fewer steps",
            completion[:rel].replace("def step6", "def nope") + completion[rel:],
            q,
            {K.MISSING_STEP, K.UNKNOWN_NODE, K.EXTRA},
            lambda x: len(x.steps) == 6,
        ),
        (
            "no relations",
            completion[:rel] + "# END\n",
            q,
            {K.MISSING_STEP},
            lambda x: x.steps == g.steps and not x.edges,
        ),
        ("stops before relations", completion[:rel], q, {K.TRUNCATED}, lambda x: x.steps == g.steps),
        (
            "duplicate step",
            completion[:rel] + '    def step2(self):\n        return "again"\n\n' + completion[rel:],
            q,
            {K.DUPLICATE},
            lambda x: x == g,
        ),
        (
            "duplicate edge",
            _replace(completion, '"step0 -> step1",', '"step0 -> step1",\n"step0 -> step1",'),
            q,
            {K.DUPLICATE},
            lambda x: x == g,
        ),
        (
            "unknown step",
            _replace(completion, '"step0 -> step1",', '"step0 -> step1",\n"step3 -> step9",'),
            q,
            {K.UNKNOWN_NODE},
            lambda x: x == g,
        ),
        (
            "cycle",
            _replace(completion, '"step0 -> step1",', '"step0 -> step1",\n"step6 -> step0",'),
            q,
            {K.CYCLE},
            lambda x: (6, 0) in x.edges and len(x.edges) == len(g.edges) + 1,
        ),
        (
            "not an edge",
            _replace(completion, '"step0 -> step1",', '"step0 -> step1",\n"step0 then step2",\nf"step{1} -> step2",'),
            q,
            {K.BAD_VALUE},
            lambda x: x == g,
        ),
        (
            "step is not a string",
            _replace(completion, '"switch on the kettle"', "42"),
            q,
            {K.BAD_VALUE, K.MISSING_STEP, K.UNKNOWN_NODE},
            lambda x: len(x.steps) == 6,
        ),
        ("other goal", _replace(full, 'title = "make a cup', 'title = "make a mug'), q, {K.MISMATCH}, lambda x: x == g),
        ("other step count", _replace(full, "steps = 7", "steps = 8"), q, {K.MISMATCH}, lambda x: x == g),
        ("no title, no query", completion, None, {K.MISSING_STEP}, lambda x: x.goal == "" and x.steps == g.steps),
    ]
    for name, text, query, expected, check in cases:
        r = fmt.parse(text, query)
        assert kinds(r) == expected, (name, r.problems)
        assert check(r.graph), (name, r.graph)
        assert r.ok == (r.graph is not None) and all(p.message for p in r.problems)


def test_edge_prediction_output_that_redefines_the_steps() -> None:
    fmt, g, q, full, completion = _tea(EDGE_TASK)
    # The model re-wrote the steps in another order: its edges are read by step text.
    sg = next(e.graph for e in SCRIPT_TASK.fewshot() if e.id == "make-a-cup-of-tea")
    r = fmt.parse(SCRIPT_TASK.formats["code"].render(sg), q)
    assert kinds(r) == {K.MISMATCH} and r.graph == g
    # Steps that are not the input's: the input's steps stay, the problem is reported.
    r = fmt.parse(_replace(full, '"fill the kettle with water"', '"fill a pot"'), q)
    assert kinds(r) == {K.MISMATCH} and r.graph == g
    # An edge to a step that does not exist is dropped.
    r = fmt.parse(_replace(completion, '"step1 -> step0",', '"step1 -> step0",\n"step1 -> step7",'), q)
    assert kinds(r) == {K.UNKNOWN_NODE} and r.graph == g


@pytest.mark.parametrize("fmt_name", ["networkx", "text"])
def test_problem_kinds_in_the_other_formats(fmt_name) -> None:
    fmt, g, q, full, completion = _tea(SCRIPT_TASK, fmt_name)
    if fmt_name == "networkx":
        dup = _replace(completion, 'G.add_edge("step0", "step1")\n', 'G.add_edge("step0", "step1")\n' * 2)
        unknown = _replace(completion, "    return G", '    G.add_edge("step0", "step9")\n    return G')
        cycle = _replace(completion, "    return G", '    G.add_edge("step6", "step0")\n    return G')
        bad = _replace(completion, "    return G", "    G.add_edge(0, 1)\n    return G")
    else:
        dup = _replace(completion, "step0 -> step1; ", "step0 -> step1; step0 -> step1; ")
        unknown = _replace(completion, "step0 -> step1; ", "step0 -> step1; step0 -> step9; ")
        cycle = _replace(completion, "step0 -> step1; ", "step0 -> step1; step6 -> step0; ")
        bad = _replace(completion, "step0 -> step1; ", "step0 -> step1; then boil; ")
    expected = {
        "dup": (dup, {K.DUPLICATE}),
        "unknown": (unknown, {K.UNKNOWN_NODE}),
        "cycle": (cycle, {K.CYCLE}),
        "bad": (bad, {K.BAD_VALUE} if fmt_name == "networkx" else {K.SYNTAX}),
        "cut": (completion[: len(completion) // 2], {K.TRUNCATED}),
        "empty": ("\n\n", {K.EMPTY}),
    }
    for name, (text, want) in expected.items():
        r = fmt.parse(text, q)
        assert kinds(r) - {K.MISSING_STEP} == want, (name, r.problems)
        assert K.MISSING_STEP not in kinds(r) or name == "cut"


@task_ids
@pytest.mark.parametrize("fmt_name", FORMATS)
@pytest.mark.parametrize("text", ["", "   \n\n", "```python\n```", "# END\nclass Foo:\n    pass\n"])
def test_empty_output_gives_no_graph(task, fmt_name, text) -> None:
    fmt = task.formats[fmt_name]
    for query in (None, task.query_of(task.fewshot()[0].graph)):
        r = fmt.parse(text, query)
        assert r.graph is None and not r.ok and K.EMPTY in kinds(r)


# --------------------------------------------------------------------------- arbitrary text


def _nasty_text(rng: random.Random) -> str:
    alphabet = list("abc xyz") + [
        '"',
        "'",
        "\\",
        "\n",
        "\r",
        "\t",
        ";",
        "; ",
        "->",
        "#",
        "# END",
        "```",
        "é",
        "漢",
        "\u2028",
        "\x00",
        "\x0b",
        "{",
        "}",
        "\ud800",
        "step1 -> step2",
        "step3:",
    ]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))


def test_arbitrary_text_round_trips_in_every_format() -> None:
    rng = random.Random(11)
    for _ in range(150):
        n = rng.randint(1, 9)
        steps = tuple(_nasty_text(rng) for _ in range(n))
        edges = tuple(dict.fromkeys((rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(0, 2 * n))))
        g = Script(_nasty_text(rng).replace("\n", " "), n, steps, edges)
        for task in TASKS:
            for name, fmt in task.formats.items():
                r = fmt.parse(fmt.render(g))
                assert r.graph == g, (name, g, r.problems)
                _, q, _, completion = split_query(task, name, g)
                if name == "text" and task is EDGE_TASK and not g.edges:
                    continue  # the answer is an empty line: nothing to read, by design
                assert fmt.parse(completion, q).graph == g, (name, g)


# --------------------------------------------------------------------------- data files


def test_load_rejects_unknown_split_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no split 'test'"):
        SCRIPT_TASK.load("test")
    with pytest.raises(DataError, match=r"proscript_script_generation/dev\.jsonl: the file does not exist") as e:
        SCRIPT_TASK.load("dev", data_dir=tmp_path)
    assert "cocogen data download" in e.value.user_message()


@task_ids
def test_malformed_rows_name_file_and_line(task, tmp_path: Path, data_dir: Path) -> None:
    real = (data_dir / "cocogen" / "data" / SUBDIR[task.name] / "dev.jsonl").read_text(encoding="utf-8").split("\n")
    target = tmp_path / "cocogen" / "data" / SUBDIR[task.name] / "dev.jsonl"
    target.parent.mkdir(parents=True)

    def bad_graph(**change: Any) -> str:
        row = json.loads(real[0])
        row["reference_graph"].update(change)
        return json.dumps(row)

    cases = {
        "not valid JSON": '{"reference_graph": ',
        "no reference_graph": "{}",
        "should start with 'step1: '": bad_graph(schema=["step0: a", "stepX: b"]),
        "not 'stepA -> stepB' between listed steps": bad_graph(relations=["step0 -> step9"]),
        "num_steps is 9": bad_graph(num_steps=9),
    }
    for message, line in cases.items():
        target.write_text("\n".join([real[0], "", line, real[1]]) + "\n", encoding="utf-8")
        with pytest.raises(DataError, match=message) as e:
            task.load("dev", data_dir=tmp_path)
        assert e.value.line == 3 and e.value.path == str(target)
        assert f"{target}:3: " in str(e.value)
    # A good file written with a blank line keeps ids by record.
    target.write_text("\n".join([real[0], "", real[1]]) + "\n", encoding="utf-8")
    assert [e.id for e in task.load("dev", data_dir=tmp_path)] == ["dev-0000", "dev-0001"]


def test_malformed_fewshot_file_names_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCOGEN_ASSETS_DIR", str(tmp_path))
    (tmp_path / "fewshot").mkdir()
    path = tmp_path / "fewshot" / "proscript-edge.jsonl"
    good = {"id": "a", "graph": {"goal": "g", "num_steps": 2, "steps": ["x", "g"], "edges": [[0, 1]]}}
    bad = {"id": "b", "graph": {"goal": "g", "num_steps": 2, "steps": ["x", "g"], "edges": [[0, 2]]}}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"proscript-edge\.jsonl:2: the edge \[0, 2\]"):
        EDGE_TASK.fewshot()
    path.write_text(json.dumps(good) + "\n", encoding="utf-8")
    assert EDGE_TASK.fewshot() == [Example("a", Script("g", 2, ("x", "g"), ((0, 1),)))]


# --------------------------------------------------------------------------- user input


def test_input_round_trips_for_every_dev_row(dev) -> None:
    for task in TASKS:
        for ex in dev[task.name]:
            assert task.from_input(task.to_input(ex.graph)) == task.query_of(ex.graph)


def test_valid_input() -> None:
    assert SCRIPT_TASK.from_input({"goal": "  make tea ", "num_steps": "5"}) == Script("make tea", 5)
    q = EDGE_TASK.from_input({"goal": "make tea", "steps": "boil water\n\npour water\n"})
    assert q == Script("make tea", 2, ("boil water", "pour water"))


@pytest.mark.parametrize(
    ("task", "fields", "message"),
    [
        (SCRIPT_TASK, {"num_steps": 5}, "The goal is missing"),
        (SCRIPT_TASK, {"goal": "   ", "num_steps": 5}, "The goal is empty"),
        (SCRIPT_TASK, {"goal": 3, "num_steps": 5}, "The goal must be text"),
        (SCRIPT_TASK, {"goal": "a\nb", "num_steps": 5}, "single line"),
        (SCRIPT_TASK, {"goal": "x" * (MAX_TEXT_CHARS + 1), "num_steps": 5}, "the limit is 2000"),
        (SCRIPT_TASK, {"goal": "tea"}, "number of steps is missing"),
        (SCRIPT_TASK, {"goal": "tea", "num_steps": 1}, f"from 2 to {MAX_STEPS}, not 1"),
        (SCRIPT_TASK, {"goal": "tea", "num_steps": 31}, "not 31"),
        (SCRIPT_TASK, {"goal": "tea", "num_steps": True}, "whole number"),
        (SCRIPT_TASK, {"goal": "tea", "num_steps": 2.5}, "whole number"),
        (SCRIPT_TASK, {"goal": "tea", "num_steps": 5, "steps": []}, "Unknown input field 'steps'"),
        (EDGE_TASK, {"goal": "tea"}, "The steps are missing"),
        (EDGE_TASK, {"goal": "tea", "steps": []}, "not 0"),
        (EDGE_TASK, {"goal": "tea", "steps": ["a"] * 31}, "not 31"),
        (EDGE_TASK, {"goal": "tea", "steps": ["boil", "  "]}, "step 2 is empty"),
        (EDGE_TASK, {"goal": "tea", "steps": ["boil", 7]}, "step 2 must be text"),
        (EDGE_TASK, {"goal": "tea", "steps": {"a": 1}}, "must be a list"),
        (EDGE_TASK, {"goal": "tea", "steps": ["a", "b"], "num_steps": 2}, "Unknown input field 'num_steps'"),
    ],
)
def test_invalid_input_is_explained(task, fields, message) -> None:
    with pytest.raises(InputError, match=message):
        task.from_input(fields)
