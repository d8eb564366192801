"""Where things live: the library imports no front end, and every page script draws the frame first."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STREAMLIT_MODULES = {
    "cocogen/app/frame.py",
    "cocogen/app/components.py",
    "cocogen/app/live_view.py",
    "cocogen/app/grid_section.py",
}  # the app's Streamlit code
PAGE_SCRIPTS = sorted((REPO / "pages").glob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path",
    [p for p in sorted((REPO / "cocogen").rglob("*.py")) if p.relative_to(REPO).as_posix() not in STREAMLIT_MODULES],
    ids=lambda p: p.relative_to(REPO).as_posix(),
)
def test_only_the_apps_streamlit_modules_import_streamlit(path: Path) -> None:
    assert "streamlit" not in _imports(path), "the library, and the app's state, run without Streamlit"


def test_the_library_does_not_import_the_app() -> None:
    for path in sorted((REPO / "cocogen").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("cocogen/app/"):
            continue
        text = path.read_text(encoding="utf-8")
        assert "cocogen.app" not in text, f"{rel} reaches into the front end"


def test_the_page_scripts_are_the_ones_the_frame_declares() -> None:
    from cocogen.app.frame import PAGES

    assert sorted(p.script for p in PAGES) == sorted(p.relative_to(REPO).as_posix() for p in PAGE_SCRIPTS)


@pytest.mark.parametrize("path", PAGE_SCRIPTS, ids=lambda p: p.name)
def test_every_page_script_draws_the_frame_before_anything_else(path: Path) -> None:
    body = [n for n in ast.parse(path.read_text(encoding="utf-8")).body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    body = body[1:] if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body  # docstring
    first = body[0]
    assert isinstance(first, ast.Expr) and ast.unparse(first) == "page_frame()", ast.unparse(first)
