"""Refresh ``docs/screenshot.png``: ``python -m tests.e2e.screenshot`` (from the repository root).

Starts ``streamlit run app.py`` with the local model, generates on the Playground's sample
input in headless Chromium, and saves the window as ``docs/screenshot.png`` (the tests write
their screenshots under ``artifacts/`` only).  A few minutes on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from tests.e2e.support import GENERATE_TIMEOUT_MS, REPO, chromium, open_page, serve, shot, wait_for_run, watch


def refresh(out: Path) -> Path:
    """Draw the Playground with a generated answer and save it as ``out``."""
    from playwright.sync_api import expect

    with tempfile.TemporaryDirectory() as tmp:
        env = {"COCOGEN_CACHE_DIR": str(Path(tmp) / "cache"), "COCOGEN_RUNS_DIR": str(Path(tmp) / "runs")}
        env["COCOGEN_THREADS"] = os.environ.get("COCOGEN_THREADS", "1")
        with serve(env, Path(tmp) / "server.log") as server, chromium() as browser:
            page = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
            seen = watch(page)
            open_page(page, f"{server.url}/playground", "Playground")
            page.get_by_role("button", name="Generate").click()
            parse = page.locator('[data-testid="stMetric"]').filter(has_text="Parse")
            expect(parse).to_contain_text("clean", timeout=GENERATE_TIMEOUT_MS)
            wait_for_run(page, GENERATE_TIMEOUT_MS)
            expect(page.locator('[data-testid="stGraphVizChart"] svg g.node').nth(1)).to_be_attached()
            path = shot(page, out.stem, height=1500, directory=out.parent)
            if seen.foreign():
                raise SystemExit(f"the app asked another host: {seen.foreign()}")
            return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png", help="where to write the PNG")
    args = ap.parse_args()
    print(refresh(args.out.resolve()))


if __name__ == "__main__":
    main()
