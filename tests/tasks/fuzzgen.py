"""Seeded inputs for fuzzing the parsers: real renderings, their mutations and cuts, hostile text.

Shared by ``tests/tasks/test_fuzz.py`` (small, bounded) and ``bench/bench_fuzz.py`` (a
large campaign).  Everything is a pure function of a :class:`random.Random` seed, so a
failure is reproduced by its seed and case number.

Graphs come from our few-shot assets and, when the datasets are present
(``$COCOGEN_DATA_DIR``, default ``../shared/data``), from a seeded sample of every split.
For every graph and format this module also knows *where each item of the rendering is
complete* (:func:`item_ends`): the shortest prefix of the rendering from which the parser
must recover that step, edge, triple or cell.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cocogen.errors import CocogenError
from cocogen.tasks import REGISTRY, Format, Task
from cocogen.tasks import explagraphs as eg
from cocogen.tasks import propara as pp
from cocogen.tasks import proscript as ps
from cocogen.types import ExplaGraph, Graph, ParseResult, Problem, ProblemKind, Script, StateTable

REPO = Path(__file__).resolve().parents[2]

GRAPH_TYPES: dict[str, type] = {
    "proscript-script": Script,
    "proscript-edge": Script,
    "explagraphs": ExplaGraph,
    "propara": StateTable,
}


def data_dir() -> Path:
    return Path(os.environ.get("COCOGEN_DATA_DIR") or REPO.parent / "shared" / "data")


def task_formats() -> list[tuple[str, str]]:
    """Every registered ``(task, format)`` pair."""
    return [(t, f) for t, task in sorted(REGISTRY.items()) for f in task.formats]


def sample_graphs(task: Task, rng: random.Random, per_split: int) -> list[Graph]:
    """The few-shot graphs, then up to ``per_split`` seeded picks from each dataset split present."""
    graphs = [ex.graph for ex in task.fewshot()]
    if per_split <= 0:
        return graphs
    for split in task.splits:
        try:
            rows = task.load(split, data_dir())
        except CocogenError:  # the dataset is not downloaded: assets only
            continue
        graphs += [ex.graph for ex in rng.sample(rows, min(per_split, len(rows)))]
    return graphs


# --------------------------------------------------------------------------- where items end

Item = tuple


def items_of(task_name: str, graph: Graph | None) -> set[Item]:
    """The items a parse recovered: steps and edges, triples, or filled cells."""
    if graph is None:
        return set()
    if isinstance(graph, Script):
        steps = {("step", k, t) for k, t in enumerate(graph.steps)} if task_name == "proscript-script" else set()
        return steps | {("edge", a, b) for a, b in graph.edges}
    if isinstance(graph, ExplaGraph):
        return {("triple", *t) for t in graph.triples}
    assert isinstance(graph, StateTable)
    return {("cell", p, t, v) for p, row in enumerate(graph.states) for t, v in enumerate(row) if v != pp.MISSING}


def _find(text: str, needle: str, start: int) -> int:
    at = text.find(needle, start)
    assert at >= 0, f"{needle!r} is not in the rendering after {start}"
    return at


def item_ends(task_name: str, fmt: Format, graph: Graph) -> list[tuple[Item, int]]:
    """``(item, end)`` for every item of ``fmt.render(graph)``: a prefix of ``end`` characters holds it whole.

    Code formats close every item with a quote or a parenthesis, so an item is whole once
    that is written.  The text formats have no such marker for their last item on a line:
    it is whole once the ``;`` after it (proScript) or the line break (ProPara) is written.
    """
    text = fmt.render(graph)
    out: list[tuple[Item, int]] = []
    script_mode = task_name == "proscript-script"
    if isinstance(graph, Script):
        if fmt.name == "code":
            pos = 0
            for k, t in enumerate(graph.steps):
                needle = f"    def step{k}(self):\n        return {ps._quote(t)}"
                pos = _find(text, needle, pos) + len(needle)
                if script_mode:
                    out.append((("step", k, t), pos))
            for a, b in graph.edges:
                needle = f'"step{a} -> step{b}"'
                pos = _find(text, needle, pos) + len(needle)
                out.append((("edge", a, b), pos))
        elif fmt.name == "networkx":
            pos = 0
            for k, t in enumerate(graph.steps):
                needle = f'    G.add_node("step{k}", text={ps._quote(t)})'
                pos = _find(text, needle, pos) + len(needle)
                if script_mode:
                    out.append((("step", k, t), pos))
            for a, b in graph.edges:
                needle = f'    G.add_edge("step{a}", "step{b}")'
                pos = _find(text, needle, pos) + len(needle)
                out.append((("edge", a, b), pos))
        else:  # text: "; "-separated items, the last of a line whole at its line break
            lines = text.split("\n")
            line_start = len(lines[0]) + 1
            if not script_mode:
                line_start += len(lines[1]) + 1
            items: list[Item] = [("step", k, t) for k, t in enumerate(graph.steps)] if script_mode else []
            items += [("edge", a, b) for a, b in graph.edges]
            line = lines[1] if script_mode else lines[2]
            pieces = line.split("; ") if line else []
            assert len(pieces) == len(items), (pieces, items)
            pos = line_start
            for item, piece in zip(items, pieces, strict=True):
                pos += len(piece)
                out.append((item, pos + 1))  # the ";" or the line break after it
                pos += 2
        return out
    if isinstance(graph, ExplaGraph):
        if fmt.name == "code":
            start = _find(text, "self.graph = ", 0) + len("self.graph = ")
            for k, t in enumerate(graph.triples):
                out.append((("triple", *t), start + len(eg._py_str(eg.format_triples(graph.triples[: k + 1]))) - 1))
        elif fmt.name == "add_edge":
            pos = 0
            for h, r, t in graph.triples:
                needle = f"self.graph.add_edge({eg._py_str(h)}, {eg._py_str(t)}, relation={eg._py_str(r)})"
                pos = _find(text, needle, pos) + len(needle)
                out.append((("triple", h, r, t), pos))
        else:
            start = _find(text, "\ngraph: ", 0) + len("\ngraph: ")
            for k, t in enumerate(graph.triples):
                out.append((("triple", *t), start + len(eg.format_triples(graph.triples[: k + 1]))))
        return out
    assert isinstance(graph, StateTable)
    pos = len(fmt.render_query(graph))
    body = text[pos:]
    t = -1
    if fmt.name == "code":
        for line in body.split("\n"):
            stripped = line.strip()
            if stripped.startswith("def "):
                t += 1
            elif stripped.startswith("state_"):
                p = int(stripped[len("state_") : stripped.index(" ")])
                out.append((("cell", p, t, graph.states[p][t]), pos + len(line)))
            pos += len(line) + 1
    else:
        p = 0
        for line in body.split("\n"):
            if line.startswith("Question "):
                t, p = t + 1, 0
            elif line and line != "Answers:":
                while graph.states[p][t] == pp.MISSING:
                    p += 1
                out.append((("cell", p, t, graph.states[p][t]), pos + len(line) + 1))
                p += 1
            pos += len(line) + 1
    return out


def cut_short_ok(task_name: str, fmt: Format, recovered: set[Item], full: set[Item], cut_in_last_line: bool) -> bool:
    """The documented loss of ProPara's text format: the very last answer, cut, reads as a shorter location.

    ``steam is located at a`` (cut from ``... at air``) cannot be told from a whole answer
    when no answer follows.  Such an item must still be a cut-short reading of a real one.
    """
    extra = recovered - full
    if not (task_name == "propara" and fmt.name == "text" and cut_in_last_line and len(extra) == 1):
        return False
    ((_, p, t, v),) = extra
    written = {pp.UNKNOWN: "unknown place"}  # how the text format writes a value after "is located at"
    return any(f[1] == p and f[2] == t and written.get(f[3], f[3]).startswith(v) for f in full)


# --------------------------------------------------------------------------- checking one result


def check_result(task_name: str, result: object) -> None:
    """What every parse must give back, whatever the text: a ParseResult of typed problems."""
    assert isinstance(result, ParseResult), type(result)
    if result.graph is not None:
        assert isinstance(result.graph, GRAPH_TYPES[task_name]), type(result.graph)
    else:
        assert result.problems, "no graph and no problem saying why"
    for p in result.problems:
        assert isinstance(p, Problem) and isinstance(p.kind, ProblemKind) and isinstance(p.message, str)
        assert p.line is None or (isinstance(p.line, int) and p.line >= 1), p


# --------------------------------------------------------------------------- mutations

# Characters and fragments that have broken tokenizers, regular expressions and int() before.
JUNK: tuple[str, ...] = (
    "\x00",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1e",
    "\r",
    "\r\n",
    "\n",
    "\t",
    " ",
    "\ufeff",
    "\u200b",
    "\xa0",
    "\\",
    '"',
    "'",
    '"""',
    "'''",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ";",
    ":",
    "=",
    "->",
    "#",
    ",",
    ".",
    "# END",
    "```",
    "```python\n",
    "\n```\n",
    "9" * 5000,
    "-" * 3000 + "1",
    "(" * 300,
    "[" * 300,
    "step",
    "step99999999",
    "state_",
    "state_99999999 = 'x'",
    "def ",
    "class ",
    "return ",
    "None",
    "UNK",
    "Question 99999999:",
    "Answers:",
    "Document",
    "participant 7: x",
    "self.graph = ",
    "self.graph.add_edge(",
    "relation=",
    "G.add_edge(",
    "G.add_node(",
    "title = ",
    "steps = ",
    "You want to ",
    "graph: ",
    "(a; is a; b)",
    "lambda: ",
    "__import__('os').system('true')",
    " " * 200,
)


def _junk(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(1, 8)))
    if rng.random() < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))).decode("latin-1")
    return rng.choice(JUNK)


def mutate(text: str, rng: random.Random) -> str:
    """One to three random edits: cut, delete, duplicate, insert junk, swap or repeat lines, flip case."""
    for _ in range(rng.randint(1, 3)):
        n = len(text)
        i = rng.randint(0, n)
        j = min(n, i + rng.randint(0, 40))
        op = rng.randrange(9)
        if op == 0:
            text = text[:i]
        elif op == 1:
            text = text[:i] + text[j:]
        elif op == 2:
            text = text[:j] + text[i:j] * rng.randint(1, 4) + text[j:]
        elif op in (3, 4):
            text = text[:i] + _junk(rng) + text[i:]
        elif op == 5:
            text = text[:i] + _junk(rng) + text[j:]
        elif op == 6:
            lines = text.split("\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        elif op == 7:
            lines = text.split("\n")
            a = rng.randrange(len(lines))
            lines[a : a + 1] = [lines[a]] * rng.randint(2, 30)
            text = "\n".join(lines)
        else:
            text = text[:i] + text[i:j].swapcase() + text[j:]
    return text


@dataclass(frozen=True)
class Case:
    task: str
    fmt: str
    text: str
    query: Graph | None
    origin: str  # how the case was made, to reproduce a failure


def mutated_cases(rng: random.Random, graphs: dict[str, list[Graph]], count: int) -> Iterator[Case]:
    """``count`` mutations of real renderings (and of their query continuations), round robin over task × format."""
    pairs = task_formats()
    for c in range(count):
        task_name, fmt_name = pairs[c % len(pairs)]
        task = REGISTRY[task_name]
        fmt = task.formats[fmt_name]
        g = rng.choice(graphs[task_name])
        full = fmt.render(g)
        query = task.query_of(g)
        if rng.random() < 0.5:
            text, q = full, None
        else:
            text, q = full[len(fmt.render_query(query)) :], query
        yield Case(task_name, fmt_name, mutate(text, rng), q, f"mutation {c}")


# --------------------------------------------------------------------------- hostile text of a given size


def _repeat(unit: str, n: int) -> str:
    return (unit * (n // max(1, len(unit)) + 1))[:n]


def _spaces_inside(prefix: str) -> Callable[[int], str]:
    """A line of the given shape with a long run of spaces inside: quadratic for a lazy ``.*?\\s*$``."""
    return lambda n: prefix + "x" + " " * max(0, n - len(prefix) - 3) + "y\n"


def _digits(prefix: str, suffix: str) -> Callable[[int], str]:
    return lambda n: prefix + "9" * max(1, n - len(prefix) - len(suffix)) + suffix


def _random_chars(n: int) -> str:
    rng = random.Random(n)
    return "".join(chr(rng.randrange(0x110000)) for _ in range(n))


def _binary(n: int) -> str:
    rng = random.Random(n)
    return bytes(rng.randrange(256) for _ in range(n)).decode("latin-1")


HOSTILE: dict[str, Callable[[int], str]] = {
    # nesting
    "open parens": lambda n: "(" * n,
    "open brackets": lambda n: "[" * n,
    "balanced brackets": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "mixed nesting": lambda n: _repeat("([{", n),
    "unary minus": lambda n: "-" * (n - 1) + "1",
    "graph = unary minus": lambda n: "        self.graph = " + "-" * (n - 30) + "1\n",
    "not chain": lambda n: _repeat("not ", n) + "x",
    "attribute chain": lambda n: _repeat("a.", n) + "a",
    "binary op chain": lambda n: _repeat("a+", n) + "a",
    "lambda chain": lambda n: _repeat("lambda:", n) + "0",
    "nested calls": lambda n: _repeat("f(", n),
    "nested strings in calls": lambda n: _repeat('G.add_edge("step0", ', n),
    # numbers
    "huge number": lambda n: "9" * n,
    "huge step method": _digits("    def step", '(self):\n        return "x"\n'),
    "huge steps count": _digits("    steps = ", "\n"),
    "huge text step": _digits("step", ": x; step0 -> step1\n"),
    "huge text head": _digits("You want to x. How can you do this in ", " steps?\n"),
    "huge add_node": _digits('    G.add_node("step', '", text="x")\n'),
    "huge DiGraph steps": _digits('    G = nx.DiGraph(goal="x", steps=', ")\n"),
    "huge state index": _digits("def main():\n\tdef init():\n\t\tstate_", ' = "x"\n'),
    "huge tracks index": _digits("def main():\n\t# state_", " tracks x\n\tdef init():\n\t\tstate_0 = 'x'\n"),
    "huge question": _digits(
        "Question ", ": after step 1 (x) is executed where are the participants?\nAnswers:\nx does not exist\n"
    ),
    "huge document step": _digits("Document\nstep ", ": x\n"),
    "huge participant": _digits("Document\nparticipant ", ": x\n"),
    # junk
    "binary": _binary,
    "random code points": _random_chars,
    "NUL bytes": lambda n: "\x00" * n,
    "lone surrogates": lambda n: _repeat("\ud800x\udfff", n),
    "unicode line breaks": lambda n: _repeat("a\u2028b\x85c\x1cd\x0be\x0cf\u2029", n),
    "carriage returns": lambda n: _repeat("x = 1\r", n),
    "form feeds and tabs": lambda n: _repeat("\x0c\tx\t\x0c\n", n),
    "BOMs": lambda n: _repeat("\ufeffclass X:\n", n),
    # repeated separators and shapes
    "a semicolons": lambda n: _repeat("a; ", n),
    "semicolons": lambda n: _repeat(";", n),
    "arrows": lambda n: _repeat("->", n),
    "step arrows": lambda n: _repeat("step0 -> step1; ", n),
    "close-open parens": lambda n: _repeat(")(", n),
    "triples": lambda n: _repeat("(a; is a; b)", n),
    "END lines": lambda n: _repeat("# END\n", n),
    "fences": lambda n: _repeat("```\n", n),
    "newlines": lambda n: "\n" * n,
    "colons": lambda n: _repeat(":", n),
    "quotes": lambda n: _repeat("\"'", n),
    "triple quotes": lambda n: _repeat("\"\"\"\n'''\n", n),
    "open string lines": lambda n: _repeat('x = "a\n', n),
    "open bracket lines": lambda n: _repeat("x = (\n", n),
    "def arrows": lambda n: "def f(" + _repeat(")->", n),
    "def parens": lambda n: "def a" + _repeat("()->", n),
    "class lines": lambda n: _repeat("class A:\n", n),
    "def lines": lambda n: _repeat("\tdef s():\n", n),
    "state lines": lambda n: _repeat("\t\tstate_0 = 'x'\n", n),
    "tracks lines": lambda n: "def main():\n" + "".join(f"\t# state_{i % 150} tracks p{i}\n" for i in range(n // 22)),
    "comment lines": lambda n: "def main():\n" + _repeat("\t# a sentence.\n", n),
    "question lines": lambda n: "".join(
        f"Question {i % 500}: x\nAnswers:\np{i} does not exist\n" for i in range(n // 40)
    ),
    "answer lines": lambda n: "Question 1: x\nAnswers:\n" + "".join(f"p{i} is located at x\n" for i in range(n // 22)),
    "add_edge lines": lambda n: _repeat('        self.graph.add_edge("a", "b", relation="is a")\n', n),
    "statements on one line": lambda n: _repeat("self.belief = 'x'; ", n),
    # long runs of spaces inside each line shape the parsers match
    "spaces in comment": _spaces_inside("def main():\n\t# "),
    "spaces in tracks": _spaces_inside("def main():\n\t# state_0 tracks "),
    "spaces in def": _spaces_inside("def main():\n\tdef "),
    "spaces in step line": _spaces_inside("Document\nstep 1: "),
    "spaces in question": _spaces_inside("Question 1: "),
    "spaces in edge": _spaces_inside("step0 -> "),
    "spaces in item": _spaces_inside("step0: a; "),
    "spaces in relation": lambda n: '    def get_relations(self):\n        return ["x' + " " * n + 'y"]\n',
    "spaces in field": _spaces_inside("        self.belief = "),
    "spaces in text key": _spaces_inside("graph: "),
}


def rendering_of_size(fmt: Format, graph: Graph, n: int) -> str:
    """A real rendering repeated until it is ``n`` characters long (cut there)."""
    return _repeat(fmt.render(graph), n)
