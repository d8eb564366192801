"""What the app and the CLI hand out: an example of a run, a Playground answer or a comparison as an
:class:`~cocogen.export.ExportPart`, ready for :func:`cocogen.export.to_html`.  No Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cocogen.app.compare import Outcome
from cocogen.app.inspection import InspectedRun, Row
from cocogen.errors import InputError
from cocogen.export import ExportPart, part_of_result
from cocogen.types import Graph

__all__ = ["find_row", "row_part", "run_page", "outcome_parts", "export_name"]


def find_row(run: InspectedRun, example_id: str) -> Row:
    """The row of ``example_id``, or an :class:`InputError` that shows what ids look like."""
    for row in run.rows:
        if row.id == example_id:
            return row
    sample = ", ".join(repr(r.id) for r in run.rows[:3])
    raise InputError(
        f"{Path(run.path).name} has no example with id {example_id!r}"
        + (f" (its {len(run.rows)} ids look like {sample})." if run.rows else " (it has no examples).")
    )


def row_part(run: InspectedRun, row: Row) -> ExportPart:
    """One example of a run as the Inspect detail view shows it."""
    details = [("run", Path(run.path).name), ("example id", row.id)]
    if model := run.meta.get("model"):
        details.insert(1, ("model", str(model)))
    return ExportPart(
        task=run.task,
        format=run.format,
        given=row.given,
        generated=row.completion or "",
        prediction=row.pred,
        reference=row.gold,
        problems=row.problems,
        metrics={k: row.values.get(k) for k in run.metrics},
        prompt=row.prompt,
        details=tuple(details),
        error=row.error if row.completion is None else None,
    )


def run_page(run: InspectedRun, example_id: str) -> tuple[str, list[ExportPart]]:
    """The title and parts of the export of one example of a run."""
    row = find_row(run, example_id)
    return f"{run.task} · example {row.id}", [row_part(run, row)]


def outcome_parts(task: str, outcomes: Sequence[Outcome], reference: Graph | None) -> list[ExportPart]:
    """One part per format of a comparison, each coloured against ``reference`` when there is one."""
    parts = []
    for oc in outcomes:
        if oc.result is None:
            parts.append(ExportPart(task, oc.format, "", "", None, error=oc.error or "no answer"))
        else:
            parts.append(part_of_result(oc.result, reference=reference, metrics=oc.scores))
    return parts


def export_name(*words: Any) -> str:
    """A file name from a few words: ``explagraphs-code-dev_12.html`` (no path separators, no spaces)."""
    stem = "-".join(str(w) for w in words if w not in (None, ""))
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem).strip("._") or "cocogen"
    return safe[:100] + ".html"
