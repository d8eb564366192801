"""The package layout the architecture promises: the library names no task and imports no front end.

These read the source with :mod:`ast`; they fail when someone adds a task-name literal or an
``isinstance`` chain over the graph types to a module that should ask the task plug-in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cocogen.tasks import REGISTRY

ROOT = Path(__file__).resolve().parents[1] / "cocogen"
FRONT_ENDS = {"cli", "app", "__main__.py"}
# Modules that reach tasks only through the Task protocol.
TASK_AGNOSTIC = [
    "evaluate.py",
    "pipeline.py",
    "runs.py",
    "prompts.py",
    "diff.py",
    "constrained.py",
    "grammar.py",
    "backends/replay.py",
    "backends/base.py",
    "backends/openai_compat.py",
    "backends/server_kind.py",
    "metrics/base.py",
    "metrics/structure.py",
    "metrics/proscript.py",
    "metrics/explagraphs.py",
    "metrics/propara.py",
    "cli/__init__.py",
    "cli/common.py",
    "cli/tasks.py",
    "cli/generate.py",
    "cli/run.py",
    "cli/evaluation.py",
]
GRAPH_TYPES = {"Script", "ExplaGraph", "StateTable"}


def _library_modules() -> list[Path]:
    return [p for p in ROOT.rglob("*.py") if p.relative_to(ROOT).parts[0] not in FRONT_ENDS]


@pytest.mark.parametrize("path", _library_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_library_modules_import_neither_argparse_nor_a_front_end(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for n in names:
            assert n not in ("argparse", "streamlit") and not n.startswith("cocogen.cli"), n


@pytest.mark.parametrize("rel", TASK_AGNOSTIC)
def test_task_agnostic_modules_name_no_task(rel: str) -> None:
    tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
    literals = [
        (n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in REGISTRY.keys()
    ]
    assert not literals, f"task names in {rel}: {literals}"
    # A function for one graph type may guard its argument; a function that tells several graph
    # types apart is dispatching, which is the task plug-in's job.
    typed_helpers = rel == "diff.py" or rel.startswith("metrics/")
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        checked: set[str] = set()
        for n in ast.walk(fn):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance":
                checked |= {x.id for x in ast.walk(n.args[1]) if isinstance(x, ast.Name) and x.id in GRAPH_TYPES}
        allowed = 1 if typed_helpers else 0
        assert len(checked) <= allowed, f"{rel}:{fn.lineno} {fn.name} branches on {sorted(checked)}"
