"""The whole library reads model output as data: no module may call exec/eval/compile/__import__."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.joinpath("cocogen").rglob("*.py"), ROOT / "app.py", *ROOT.joinpath("pages").glob("*.py")])
FORBIDDEN = {"exec", "eval", "compile", "__import__", "execfile"}


def _forbidden_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            # ``re.compile`` and ``llm.eval(tokens)`` (llama.cpp's token evaluation) are not code execution.
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in {"re", "self"}:
                continue
            if isinstance(f, ast.Attribute) and name == "eval" and "llm" in ast.unparse(f.value):
                continue
            if name in FORBIDDEN:
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:60]}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(n in {"importlib.util", "runpy", "code"} for n in names):
                found.append(f"{path.name}:{node.lineno}: imports {names}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_never_executes_text(path: Path) -> None:
    assert _forbidden_calls(path) == []


def test_the_check_itself_catches_exec_eval_and_dunder_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import runpy\ndef f(s):\n    exec(s)\n    return eval(s), __import__('os'), builtins.compile(s, 'x', 'exec')\n")
    found = _forbidden_calls(bad)
    assert len(found) == 5, found
