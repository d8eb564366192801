"""ExplaGraphs plug-in: exact round trips over all the data, CoCoGen byte-exactness, our
few-shot assets, and a parser that survives truncated, noisy and hostile output without
ever running it."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cocogen.errors import ConfigError, DataError, InputError
from cocogen.prompts import PromptSpec, build_prompt
from cocogen.tasks import explagraphs as eg
from cocogen.tasks.base import Format, get_format, get_task
from cocogen.tasks.explagraphs import (
    RELATIONS,
    TASK,
    AddEdgeFormat,
    CodeFormat,
    TextFormat,
    example_id,
    format_triples,
    parse_triples,
)
from cocogen.types import Example, ExplaGraph, ParseResult, ProblemKind

CODE, ADD_EDGE, TEXT = CodeFormat(), AddEdgeFormat(), TextFormat()
FORMATS = {"code": CODE, "add_edge": ADD_EDGE, "text": TEXT}
COCOGEN_DEV = "cocogen/data/explagraphs/dev.jsonl"
OUTPUTS = "cocogen/outputs/explagraphs/dev_output.jsonl"

GRAPH = ExplaGraph(
    "Zoos should be closed.",
    "Zoos protect endangered species.",
    "counter",
    (
        ("zoos", "capable of", "protect"),
        ("protect", "used for", "endangered species"),
        ("zoos", "not desires", "closed"),
    ),
)
QUERY = TASK.query_of(GRAPH)


def kinds(result: ParseResult) -> set[ProblemKind]:
    return {p.kind for p in result.problems}


def tsv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def splits(data_dir: Path) -> dict[str, list[Example]]:
    return {s: TASK.load(s) for s in TASK.splits}


@pytest.fixture(scope="module")
def cocogen_rows(data_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (data_dir / COCOGEN_DEV).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def completions(data_dir: Path) -> list[tuple[ExplaGraph, str]]:
    """(query, recorded code-davinci-002 completion) for the 396 CoCoGen dev rows."""
    out = []
    for ln in (data_dir / OUTPUTS).read_text(encoding="utf-8").splitlines():
        r = json.loads(ln)
        out.append((ExplaGraph(r["belief"], r["argument"], r["stance"]), r["codex_response"]["choices"][0]["text"]))
    return out


# --- registration and interface ------------------------------------------------------------


def test_registered_with_formats_in_order() -> None:
    assert get_task("explagraphs") is TASK
    assert list(TASK.formats) == ["code", "add_edge", "text"]
    assert get_format("explagraphs").name == "code"
    for name, fmt in TASK.formats.items():
        assert isinstance(fmt, Format) and fmt.name == name and fmt.description
        assert fmt.separator == "# END" and fmt.stop()[0] == "# END"
    assert [f.kind for f in TASK.formats.values()] == ["code", "code", "text"]
    assert [f.name for f in TASK.input_fields] == ["belief", "argument", "stance"]
    assert TASK.splits == ("train", "dev", "cocogen-dev")


def test_relations_are_the_dataset_vocabulary(data_dir: Path) -> None:
    listed = (data_dir / "explagraphs" / "relations.txt").read_text(encoding="utf-8").split("\n")
    assert list(RELATIONS) == [r for r in listed if r]
    assert len(set(RELATIONS)) == 28


def test_render_query_is_a_prefix_of_render() -> None:
    for fmt in FORMATS.values():
        assert fmt.render(GRAPH).startswith(fmt.render_query(GRAPH))
        assert fmt.render_query(GRAPH) == fmt.render_query(QUERY)


# --- data -------------------------------------------------------------------------------


def test_split_sizes_and_stances(splits: dict[str, list[Example]]) -> None:
    assert [len(splits[s]) for s in TASK.splits] == [2368, 398, 396]
    dev = splits["dev"]
    assert sum(ex.graph.stance == "support" for ex in dev) == 199
    for ex in splits["train"] + dev:
        assert ex.meta["gold_stance"] == ex.graph.stance
    cg = splits["cocogen-dev"]
    assert all(ex.meta["prompt_stance"] == ex.graph.stance for ex in cg)
    assert sum(ex.meta["gold_stance"] != ex.graph.stance for ex in cg) == 55


def test_ids_are_content_derived_and_shared_across_files(splits: dict[str, list[Example]]) -> None:
    dev = {ex.id: ex for ex in splits["dev"]}
    for ex in splits["cocogen-dev"]:
        assert ex.id == example_id(ex.graph.belief, ex.graph.argument)
        twin = dev[ex.id]  # the same row of ExplaGraphs dev.tsv
        assert twin.graph.triples == ex.graph.triples
        assert twin.graph.stance == ex.meta["gold_stance"]
    all_ids = [ex.id for ex in splits["train"] + splits["dev"]]
    assert len(set(all_ids)) == len(all_ids)
    assert all(re.fullmatch(r"[0-9a-f]{12}", i) for i in all_ids)


def test_graph_strings_round_trip_exactly(data_dir: Path, cocogen_rows: list[dict[str, Any]]) -> None:
    raw = [r[3] for f in ("train.tsv", "dev.tsv") for r in tsv_rows(data_dir / "explagraphs" / f)]
    raw += [r["graph"] for r in cocogen_rows]
    for s in raw:
        triples, problems = parse_triples(s)
        assert not problems, s
        assert format_triples(triples) == s


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("split", ["train", "dev", "cocogen-dev"])
def test_round_trip_every_row(splits: dict[str, list[Example]], split: str, fmt: str) -> None:
    f = FORMATS[fmt]
    for ex in splits[split]:
        full = f.render(ex.graph)
        query = TASK.query_of(ex.graph)
        q = f.render_query(query)
        for text, given in ((full, query), (full, None), (full[len(q) :], query)):
            r = f.parse(text, given)
            assert r.graph == ex.graph and r.problems == (), (ex.id, text)


def test_code_format_is_byte_exact(splits: dict[str, list[Example]], cocogen_rows: list[dict[str, Any]]) -> None:
    examples = splits["cocogen-dev"]
    assert len(examples) == len(cocogen_rows) == 396
    for ex, row in zip(examples, cocogen_rows, strict=True):
        assert CODE.render_query(ex.graph) == row["input_prompt_code"]
        assert CODE.render(ex.graph) == row["reference_code"]


def test_recorded_completions_parse_like_the_reference(data_dir: Path) -> None:
    for ln in (data_dir / OUTPUTS).read_text(encoding="utf-8").splitlines():
        r = json.loads(ln)
        query = ExplaGraph(r["belief"], r["argument"], r["stance"])
        text = r["codex_response"]["choices"][0]["text"]
        expected = tuple(tuple(t.split("; ")) for t in r["generated_graph"]["graph"][1:-1].split(")("))
        for parsed in (
            CODE.parse(text, query),
            CODE.parse(r["generated_code"], query),
            CODE.parse(r["generated_code"]),
        ):
            assert parsed.graph is not None and parsed.graph.triples == expected
            assert kinds(parsed) <= {ProblemKind.BAD_RELATION, ProblemKind.CYCLE}


def test_quotes_in_fields_stay_valid_python(splits: dict[str, list[Example]]) -> None:
    quoted = [ex for ex in splits["train"] if '"' in ex.graph.belief + ex.graph.argument]
    assert len(quoted) == 5
    assert any('\\"three strikes\\"' in CODE.render(ex.graph) for ex in quoted)


@pytest.mark.parametrize("fmt", ["code", "add_edge"])
def test_odd_characters_round_trip_in_code(fmt: str) -> None:
    for s in ['say "no"', "back\\slash", "tab\there", "line\nbreak", "sep\u2028x", "nul\x00", "café ☕", "it's"]:
        g = ExplaGraph(s, s, "support", ((s.replace("\n", " "), "is a", "x (y)"),) if ";" not in s else ())
        assert FORMATS[fmt].parse(FORMATS[fmt].render(g)).graph == g


# --- few-shot assets ------------------------------------------------------------------------


def _concepts_in(concepts: set[str], sentence: str) -> int:
    low = sentence.lower()
    return sum(bool(re.search(rf"(?<!\w){re.escape(c.lower())}(?!\w)", low)) for c in concepts)


def test_fewshot_assets_follow_the_rules() -> None:
    import networkx as nx

    examples = TASK.fewshot()
    assert len(examples) >= 10
    assert {ex.graph.stance for ex in examples} == {"support", "counter"}
    assert len({ex.id for ex in examples}) == len(examples)
    for ex in examples:
        g = ex.graph
        assert 3 <= len(g.triples) <= 6, ex.id
        assert len(set(g.triples)) == len(g.triples), ex.id
        assert all(r in RELATIONS for _, r, _ in g.triples), ex.id
        concepts = {c for h, _, t in g.triples for c in (h, t)}
        assert all(1 <= len(c.split()) <= 3 for c in concepts), ex.id
        assert _concepts_in(concepts, g.belief) >= 2, ex.id
        assert _concepts_in(concepts, g.argument) >= 2, ex.id
        dg = nx.DiGraph([(h, t) for h, _, t in g.triples])
        assert nx.is_directed_acyclic_graph(dg) and nx.is_weakly_connected(dg), ex.id
        for f in FORMATS.values():
            r = f.parse(f.render(g), TASK.query_of(g))
            assert r.graph == g and r.problems == (), (ex.id, f.name)


def test_fewshot_assets_are_not_copied_from_the_dataset(splits: dict[str, list[Example]]) -> None:
    seen = {ex.graph.belief.lower() for s in ("train", "dev") for ex in splits[s]}
    seen |= {ex.graph.argument.lower() for s in ("train", "dev") for ex in splits[s]}
    for ex in TASK.fewshot():
        assert ex.graph.belief.lower() not in seen and ex.graph.argument.lower() not in seen


def test_prompt_is_the_papers_shape() -> None:
    p = build_prompt(TASK, "code", QUERY, PromptSpec(k=3))
    assert p.text.endswith(CODE.render_query(QUERY))
    assert p.prefix.count("\n# END\n\n") == 3 and p.prefix.startswith("class ExplaGraph:\n")
    assert p.stop[0] == "# END"


# --- truncated output ---------------------------------------------------------------------


def _gold_prefix(completion: str, k: int) -> tuple[tuple[str, str, str], ...]:
    """Triples complete in ``completion[:k]`` (dataset concepts hold no parentheses)."""
    start = completion.index('"') + 1
    end = completion.index('"', start)
    gold = [tuple(t.split("; ")) for t in completion[start:end][1:-1].split(")(")]
    return tuple(gold[: completion[start : min(k, end)].count(")")])  # type: ignore[misc]


def test_truncated_completions_keep_every_complete_triple(completions: list[tuple[ExplaGraph, str]]) -> None:
    base_ok = {ProblemKind.BAD_RELATION, ProblemKind.CYCLE}
    n = 0
    for i, (query, text) in enumerate(completions):
        end = text.index('"', text.index('"') + 1)  # the closing quote of the graph string
        step = 1 if i < 30 else 7
        for k in sorted({*range(0, len(text) + 1, step), end, end + 1, len(text)}):
            r = CODE.parse(text[:k], query)
            n += 1
            expected = _gold_prefix(text, k)
            got = r.graph.triples if r.graph is not None else ()
            assert got == expected, (i, k, text[:k])
            if r.graph is not None:
                assert (r.graph.belief, r.graph.argument, r.graph.stance) == (
                    query.belief,
                    query.argument,
                    query.stance,
                )
            if k <= end and text[:k].strip():
                assert ProblemKind.TRUNCATED in kinds(r), (i, k)
            elif k > end:
                assert kinds(r) <= base_ok, (i, k, r.problems)
            if not expected:
                assert ProblemKind.EMPTY in kinds(r)
    assert n > 10_000


def test_truncation_at_every_line_of_generated_code(data_dir: Path) -> None:
    for ln in (data_dir / OUTPUTS).read_text(encoding="utf-8").splitlines()[:120]:
        r = json.loads(ln)
        query = ExplaGraph(r["belief"], r["argument"], r["stance"])
        lines = r["generated_code"].split("\n")
        graph_line = next(j for j, x in enumerate(lines) if "self.graph" in x)
        for j in range(len(lines) + 1):
            for text in ("\n".join(lines[:j]), "\n".join(lines[:j]) + "\n"):
                res = CODE.parse(text, query)
                if j <= graph_line:
                    assert res.graph is None and ProblemKind.EMPTY in kinds(res)
                    assert ProblemKind.MISMATCH not in kinds(res)
                else:
                    assert res.graph is not None and res.graph.belief == query.belief
                    assert res.graph.triples == _gold_prefix(lines[graph_line], len(lines[graph_line]))


@pytest.mark.parametrize("fmt", ["add_edge", "text"])
def test_truncation_in_the_other_formats(splits: dict[str, list[Example]], fmt: str) -> None:
    f = FORMATS[fmt]
    for ex in splits["cocogen-dev"][:25]:
        query = TASK.query_of(ex.graph)
        cont = f.render(ex.graph)[len(f.render_query(query)) :]
        for k in range(len(cont) + 1):
            r = f.parse(cont[:k], query)
            got = r.graph.triples if r.graph is not None else ()
            # A triple counts once its closing ")" (text) or ")" of add_edge(...) is in.
            closed = cont[:k].count(")")
            assert got == ex.graph.triples[:closed], (fmt, k, cont[:k])
            # Cut inside a triple: reported.  Cut just after one: the output looks complete.
            if cont[:k][cont[:k].rfind(")") + 1 :].strip():
                assert ProblemKind.TRUNCATED in kinds(r), (k, cont[:k])
            else:
                assert ProblemKind.TRUNCATED not in kinds(r), (k, cont[:k])


# --- noise around the answer ------------------------------------------------------------------


FULL = CODE.render(GRAPH)
CONT = FULL[len(CODE.render_query(QUERY)) :]


@pytest.mark.parametrize(
    "text",
    [
        "```python\n" + FULL + "```\n",
        "Sure! Here is the completed class:\n\n```python\n" + FULL + "```\nHope this helps.",
        "Here is the code:\n" + FULL,
        CONT + "# END\n\nclass ExplaGraph:\n    def __init__(self):\n        self.belief = 'other'\n",
        FULL + "# END\nprint('junk')\n",
        CONT + '\nclass ExplaGraph:\n    def __init__(self):\n        self.graph = "(x; is a; y)"\n',
        FULL,  # a repeated class header before the continuation
        "```\n" + CONT + "```",
    ],
)
def test_noise_is_tolerated(text: str) -> None:
    r = CODE.parse(text, QUERY)
    assert r.graph == GRAPH, r.problems
    assert kinds(r) <= {ProblemKind.EXTRA}


def test_noise_in_text_and_add_edge_formats() -> None:
    text_full = TEXT.render(GRAPH)
    for t in (
        "```\n" + text_full + "```",
        "Here is my answer.\n" + text_full + "# END\nbelief: more\n",
        text_full + "belief: another example\n",
        TEXT.render(GRAPH)[len(TEXT.render_query(QUERY)) :] + "\nThat is the graph.",
    ):
        r = TEXT.parse(t, QUERY)
        assert r.graph == GRAPH and kinds(r) <= {ProblemKind.EXTRA}, (t, r.problems)
    wrapped = "graph: (zoos; capable of; protect)\n(protect; used for; endangered species)\n(zoos; not desires; closed)"
    assert TEXT.parse(wrapped, QUERY).graph == GRAPH
    edges = ADD_EDGE.render(GRAPH)
    r = ADD_EDGE.parse("```python\n" + edges + "```\nDone!", QUERY)
    assert r.graph == GRAPH and kinds(r) <= {ProblemKind.EXTRA}
    positional = '        self.graph.add_edge("zoos", "capable of", "protect")\n'
    assert ADD_EDGE.parse(positional, QUERY).graph.triples == (("zoos", "capable of", "protect"),)  # type: ignore[union-attr]
    # The paper's string form is read by the add_edge format too.
    assert ADD_EDGE.parse(CONT, QUERY).graph == GRAPH


def test_multiline_statement_and_wrong_indentation() -> None:
    text = 'self.graph = (\n    "(zoos; capable of; protect)(protect; used for; endangered species)"\n  "(zoos; not desires; closed)"\n)\n'
    assert CODE.parse(text, QUERY).graph == GRAPH


# --- hostile output ---------------------------------------------------------------------------


def test_hostile_code_is_never_run(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    cmd = f"__import__('os').system('touch {target}')"
    attacks = [
        (CODE, f"        self.graph = {cmd}\n"),
        (CODE, f'{cmd}\n        self.graph = "(a; causes; b)"\n'),
        (CODE, f'        self.graph = f"{{{cmd}}}"\n'),
        (CODE, f'class ExplaGraph({cmd}):\n    def __init__(self):\n        self.graph = "(a; causes; b)"\n'),
        (CODE, f'import os\nos.system(\'touch {target}\')\nexec("{cmd}")\neval("{cmd}")\n'),
        (CODE, f'        self.graph = "(a; causes; b)" + {cmd}\n'),
        (ADD_EDGE, f'        self.graph.add_edge({cmd}, "b", relation="causes")\n'),
        (ADD_EDGE, f'        self.graph.add_edge("a", "b", relation={cmd})\n'),
        (TEXT, f" (a; causes; b)\n{cmd}\n"),
    ]
    for fmt, text in attacks:
        r = fmt.parse(text, QUERY)
        if r.graph is not None:
            assert r.graph.triples == (("a", "causes", "b"),)
    assert not target.exists()


def test_module_never_calls_exec_or_eval() -> None:
    src = Path(eg.__file__).read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])(exec|eval|compile|__import__)\s*\(", src)
    assert "importlib" not in src


# --- each problem kind -------------------------------------------------------------------------


def test_problem_kinds() -> None:
    P = ProblemKind

    def run(body: str, fmt: Format = CODE) -> ParseResult:
        return fmt.parse(body, QUERY)

    r = run('        self.graph = "(a; causes; b)(b; is a; c')
    assert r.graph.triples == (("a", "causes", "b"),) and kinds(r) == {P.TRUNCATED}  # type: ignore[union-attr]

    r = run('        self.x = = 1\n        self.graph = "(a; causes; b)"\n')
    assert kinds(r) == {P.SYNTAX} and r.problems[0].line == 1 and r.graph is not None

    r = run('        self.graph = "(a; causes; b)(b; caused by; c)"\n')
    assert kinds(r) == {P.BAD_RELATION} and len(r.graph.triples) == 2  # type: ignore[union-attr]

    r = run('        self.graph = "(a; causes; b)(a; causes; b)"\n')
    assert kinds(r) == {P.DUPLICATE} and r.graph.triples == (("a", "causes", "b"),)  # type: ignore[union-attr]

    r = run('        self.graph = "(a; causes; b)(b; causes; a)"\n')
    assert kinds(r) == {P.CYCLE} and "a -> b -> a" in r.problems[0].message

    r = run(CODE.render(ExplaGraph("Another belief.", GRAPH.argument, GRAPH.stance, GRAPH.triples)))
    assert kinds(r) == {P.MISMATCH} and r.graph.belief == QUERY.belief  # type: ignore[union-attr]

    r = run(CODE.render(ExplaGraph(GRAPH.belief, GRAPH.argument, "support", GRAPH.triples)))
    assert kinds(r) == {P.MISMATCH} and r.graph.stance == "support"  # type: ignore[union-attr]  (the stance written)

    r = run(TEXT.render(ExplaGraph(GRAPH.belief, GRAPH.argument, "support", GRAPH.triples)), TEXT)
    assert kinds(r) == {P.MISMATCH} and r.graph.stance == "support"  # type: ignore[union-attr]

    for body in ("", "   \n", '        self.graph = ""\n', "I cannot help with that."):
        r = run(body)
        assert r.graph is None and P.EMPTY in kinds(r) and not r.ok
    assert TEXT.parse("", QUERY).graph is None

    r = run('        self.graph = "(a; causes; b)(a; causes; b; c)(a; ; c)(x)"\n')
    bad = [p for p in r.problems if p.kind is P.BAD_VALUE]
    assert len(bad) == 3 and r.graph.triples == (("a", "causes", "b"),)  # type: ignore[union-attr]

    r = run('        self.stance = "neutral"\n        self.graph = "(a; causes; b)"\n')
    assert kinds(r) == {P.BAD_VALUE}

    r = CODE.parse('        self.graph = "(a; causes; b)"\n')  # no query: the input fields are missing
    assert kinds(r) == {P.MISSING_STEP} and r.graph is not None

    r = run('        self.graph = "(a; causes; b)"\n        self.graph = "(c; causes; d)"\n')
    assert kinds(r) == {P.DUPLICATE} and r.graph.triples == (("a", "causes", "b"),)  # type: ignore[union-attr]

    r = run(
        '        self.graph.add_edge("a", "b")\n        self.graph.add_edge("a", "b", relation="causes")\n', ADD_EDGE
    )
    assert kinds(r) == {P.BAD_VALUE} and r.problems[0].line == 1


def test_problem_lines_count_from_the_original_text() -> None:
    r = CODE.parse('Sure:\n```python\n        self.graph = "(a; causes; b)(b; causes; a)"\n        oops(\n', QUERY)
    lines = {p.kind: p.line for p in r.problems}
    assert lines[ProblemKind.TRUNCATED] == 4


def test_parse_triples_keeps_text_as_written() -> None:
    s = "(New York; at location;  USA )(drug (legal); is a; Medicine)"
    triples, problems = parse_triples(s)
    assert triples == (("New York", "at location", "USA"), ("drug (legal)", "is a", "Medicine"))
    assert problems == ()
    assert format_triples(triples) == "(New York; at location; USA)(drug (legal); is a; Medicine)"
    for bad in [
        ("a;b", "is a", "c"),
        ("", "is a", "c"),
        (" a", "is a", "c"),
        ("a(", "is a", "c"),
        ("a\nb", "is a", "c"),
    ]:
        with pytest.raises(ValueError):
            format_triples([bad])
    triples, problems = parse_triples("junk (a; is a; b) more")
    assert triples == (("a", "is a", "b"),) and [p.kind for p in problems] == [ProblemKind.BAD_VALUE]


# --- user input --------------------------------------------------------------------------------


def test_from_input_and_to_input() -> None:
    g = TASK.from_input(
        {"belief": "  Zoos should\nbe closed. ", "argument": "Zoos\tsave species.", "stance": " Counter"}
    )
    assert g == ExplaGraph("Zoos should be closed.", "Zoos save species.", "counter")
    assert TASK.from_input(TASK.to_input(g)) == g
    assert TASK.query_of(GRAPH) == ExplaGraph(GRAPH.belief, GRAPH.argument, GRAPH.stance)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"belief": "", "argument": "a", "stance": "support"}, "belief is empty"),
        ({"belief": "b", "argument": "   ", "stance": "support"}, "argument is empty"),
        ({"argument": "a", "stance": "support"}, "belief is missing"),
        ({"belief": "b", "argument": 3, "stance": "support"}, "argument must be text"),
        ({"belief": "b", "argument": "a"}, "stance is missing"),
        ({"belief": "b", "argument": "a", "stance": "neutral"}, "'support' or 'counter'"),
        ({"belief": "x" * 2001, "argument": "a", "stance": "support"}, "2001 characters long; the limit is 2000"),
        ({"belief": "b", "argument": "a", "stance": "support", "graph": "(a; b; c)"}, "Unknown input field 'graph'"),
    ],
)
def test_from_input_rejects_bad_input(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        TASK.from_input(fields)
    with pytest.raises(InputError):
        TASK.from_input(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_text_format_refuses_what_it_cannot_read_back() -> None:
    with pytest.raises(ValueError, match="one line"):
        TEXT.render(ExplaGraph("two\nlines", "a", "support", (("a", "is a", "b"),)))


# --- malformed files ---------------------------------------------------------------------------


def _write(root: Path, rel: str, text: str | bytes) -> Path:
    p = root.joinpath(*rel.split("/"))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


GOOD_ROW = "Zoos should be closed.\tZoos save species.\tcounter\t(zoos; capable of; save species)"


def test_tsv_without_final_newline_loads(tmp_path: Path) -> None:
    _write(tmp_path, "explagraphs/dev.tsv", GOOD_ROW + "\n" + GOOD_ROW.replace("Zoos save", "Zoos keep"))
    rows = TASK.load("dev", tmp_path)
    assert len(rows) == 2 and rows[1].meta["line"] == 2


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD_ROW + "\nonly\tthree\tcolumns\n", 2, "expected 4 tab-separated columns"),
        (GOOD_ROW.replace("counter", "neutral") + "\n", 1, "stance 'neutral'"),
        (GOOD_ROW + "\n" + GOOD_ROW.replace("Zoos save", "Zoos keep").replace(")", "") + "\n", 2, "malformed graph"),
        ("\n" + GOOD_ROW.replace("capable of", "likes") + "\n", 2, "not an ExplaGraphs relation"),
        (GOOD_ROW + "\n" + GOOD_ROW + "\n", 2, "appear again (first on line 1)"),
        (b"\xff\xfe\tx\tsupport\t(a; is a; b)\n", 1, "not UTF-8"),
        ("\tZoos save species.\tcounter\t(zoos; capable of; save species)\n", 1, "is empty"),
    ],
)
def test_malformed_tsv_names_file_and_line(tmp_path: Path, text: str | bytes, line: int, message: str) -> None:
    path = _write(tmp_path, "explagraphs/train.tsv", text)
    with pytest.raises(DataError, match=re.escape(message)) as err:
        TASK.load("train", tmp_path)
    assert err.value.path == str(path) and err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            '{"belief": "b", "argument": "a", "stance": "support", "graph": "(a; is a; b)"}\n{oops\n',
            2,
            "not valid JSON",
        ),
        ('{"belief": "b", "argument": "a", "graph": "(a; is a; b)"}\n', 1, "no 'stance' field"),
        ("[1, 2]\n", 1, "JSON object"),
        ('{"belief": "b", "argument": "a", "stance": "support", "graph": 3}\n', 1, "must be strings"),
    ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path, COCOGEN_DEV, text)
    with pytest.raises(DataError, match=re.escape(message)) as err:
        TASK.load("cocogen-dev", tmp_path)
    assert err.value.path == str(path) and err.value.line == line


def test_missing_file_and_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as err:
        TASK.load("dev", tmp_path)
    assert err.value.path == str(tmp_path / "explagraphs" / "dev.tsv") and "cocogen data download" in err.value.hint
    with pytest.raises(ConfigError, match="no split 'test'"):
        TASK.load("test", tmp_path)


def test_malformed_assets_name_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCOGEN_ASSETS_DIR", str(tmp_path))
    good = json.dumps({"id": "x", "graph": GRAPH.to_dict()})
    for text, line in [
        (good + "\n" + good + "\n", 2),  # duplicate id
        (good + "\n" + json.dumps({"id": "y", "graph": {"belief": "b"}}) + "\n", 2),
        (json.dumps({"id": "z", "graph": {**GRAPH.to_dict(), "stance": "maybe"}}) + "\n", 1),
        (json.dumps({"id": "w", "graph": {**GRAPH.to_dict(), "triples": [["a;", "is a", "b"]]}}) + "\n", 1),
    ]:
        path = _write(tmp_path, "fewshot/explagraphs.jsonl", text)
        with pytest.raises(DataError) as err:
            TASK.fewshot()
        assert err.value.path == str(path) and err.value.line == line


def test_cut_ends_and_trailing_remarks_are_told_apart() -> None:
    P = ProblemKind
    done = '        self.graph = "(a; causes; b)"\n'
    for text in (done + "\nThis graph shows why.", done + "\nThis graph shows why.\n", done + "        foo()\n"):
        r = CODE.parse(text, QUERY)
        assert kinds(r) == {P.EXTRA} and r.problems[0].line == 3 - text.endswith("foo()\n"), (text, r.problems)
    for cut in ("        self.gra", "        self.graph = nx.DiG", '        self.graph = ("(a; causes; b)"\n  "(b; is'):
        r = CODE.parse(cut, QUERY)
        assert P.TRUNCATED in kinds(r) and P.BAD_VALUE not in kinds(r) and P.SYNTAX not in kinds(r), (cut, r.problems)
    r = CODE.parse('        self.graph = ("(a; causes; b)"\n  "(b; is a; c)" "(c; ', QUERY)
    assert r.graph.triples == (("a", "causes", "b"), ("b", "is a", "c")) and kinds(r) == {P.TRUNCATED}  # type: ignore[union-attr]
    r = ADD_EDGE.parse('        self.graph.add_edge("a", "b", relation="causes")\n        self.graph.add_', QUERY)
    assert r.graph.triples == (("a", "causes", "b"),) and kinds(r) == {P.TRUNCATED}  # type: ignore[union-attr]
    # A broken line mid-text is a syntax error; it never swallows the graph line after it.
    r = CODE.parse('        self.stance = "counter"\n        print(\n        self.graph = "(a; causes; b)"\n', QUERY)
    assert kinds(r) == {P.SYNTAX} and r.problems[0].line == 2 and r.graph is not None
    r = CODE.parse(FULL + "\nclass ExplaGraph:\n", QUERY)
    assert kinds(r) == {P.EXTRA} and r.problems[0].line == FULL.count("\n") + 2
    r = CODE.parse("        self.graph = __import__('os').getcwd()\n", QUERY)
    assert kinds(r) == {P.BAD_VALUE, P.EMPTY}
