"""One example as one self-contained HTML file: code, graph, problems, metrics and prompt.

The file is meant to be handed out (mailed to a class, opened on a laptop with no network,
printed): everything it shows is inline — the graph as SVG drawn by Graphviz, the styles
in one ``<style>`` element — and it names no external URL.  A Content-Security-Policy
meta element forbids any load besides the inline style and the one inline script (which
opens the collapsed prompt before printing), so even a label that slipped past escaping
could not make the browser fetch anything.

Everything in it may be model output, so every piece of text is HTML-escaped; Graphviz
escapes the labels inside the SVG (see :mod:`cocogen.render`).

Task knowledge comes from the task plug-in (``task.view``, ``task.diff``): a task drawn as a
graph gets an SVG, one shown as a table (ProPara) gets an HTML table.

Examples
--------
>>> from cocogen.tasks import get_task
>>> from cocogen.types import Script
>>> g = Script("make tea", 2, ("boil water", "pour"), ((0, 1),))
>>> part = ExportPart(task="proscript-script", format="code", given="goal = 'make tea'\\n", generated="...",
...                   prediction=g)
>>> page = to_html("Make tea", [part])
>>> page.startswith("<!DOCTYPE html>") and "http://" not in page and "https://" not in page
True
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocogen import render
from cocogen.diff import CellDiff, DiffSummary, GraphView
from cocogen.errors import InputError
from cocogen.metrics.base import METRICS, format_value
from cocogen.tasks.base import get_task
from cocogen.types import Graph, Problem

__all__ = ["ExportPart", "part_of_result", "part_of_run_example", "to_html", "write_html", "check_destination"]


@dataclass(frozen=True)
class ExportPart:
    """One answer to show: the program (given + generated), its graph, and what was found in it.

    A page holds one part (Playground, Inspect) or one per format (Compare).
    """

    task: str
    format: str
    given: str  # the part of the program written from the input
    generated: str  # the part the model wrote
    prediction: Graph | None
    reference: Graph | None = None
    problems: tuple[Problem, ...] = ()
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    prompt: str | None = None  # the whole prompt; shown collapsed
    details: tuple[tuple[str, str], ...] = ()  # (label, value): model, example id, settings…
    error: str | None = None  # the generation failed; nothing else to show


def part_of_result(
    result: Any,
    *,
    reference: Graph | None = None,
    metrics: Mapping[str, float | None] | None = None,
    details: Sequence[tuple[str, str]] = (),
) -> ExportPart:
    """An :class:`ExportPart` from a :class:`cocogen.pipeline.Result`."""
    u = result.usage()
    # The model's name, not the backend signature: that may hold a server address, which a handout should not.
    facts = [("model", f"{result.backend.split(':', 1)[0]} · {result.model}"), ("format", result.format)]
    if result.example_id:
        facts.append(("example id", result.example_id))
    if u.get("completion_tokens") is not None:
        facts.append(("generated tokens", str(u["completion_tokens"])))
    facts.append(("answer", "from the cache" if u.get("cached") else f"{u.get('model_seconds') or 0:.2f} s"))
    return ExportPart(
        task=result.task,
        format=result.format,
        given=result.prompt.query_text,
        generated=result.completion,
        prediction=result.graph,
        reference=reference,
        problems=tuple(result.problems),
        metrics=dict(metrics or {}),
        prompt=result.prompt.text,
        details=(*facts, *details),
    )


def part_of_run_example(path: str | Path, example_id: str) -> tuple[str, ExportPart]:
    """The title and part of one example of a run file or of recorded outputs, scored as ``cocogen eval`` does.

    Raises :class:`~cocogen.errors.DataError` for a missing or malformed file and
    :class:`InputError` for an id the file does not have.
    """
    from cocogen.evaluate import display_metrics, evaluate_file, load_predictions
    from cocogen.runs import read_run

    p = Path(path)
    preds = load_predictions(p)
    items = {it.id: it for it in preds.items}
    item = items.get(example_id)
    if item is None:
        sample = ", ".join(repr(i) for i in list(items)[:3])
        raise InputError(
            f"{p.name} has no example with id {example_id!r}"
            + (f" (its {len(items)} ids look like {sample})." if items else " (it has no examples).")
        )
    ev = evaluate_file(p, task=preds.task, fmt=preds.format)
    row = next(r for r in ev.rows if r.id == example_id)
    task = get_task(preds.task)
    fmt = task.formats[preds.format]
    record = read_run(p).by_id().get(example_id, {}) if preds.kind == "run" else {}
    parsed = fmt.parse(item.completion, item.query) if item.completion is not None else None
    numbers = {k: v for k, v in row.values.items() if v is None or isinstance(v, (int, float))}
    order = [k for k in display_metrics(task) if numbers.get(k) is not None]
    order += sorted(k for k, v in numbers.items() if k not in order and v is not None)
    details = [("file", p.name), ("example id", example_id)]
    if model := preds.meta.get("model"):
        details.insert(1, ("model", str(model)))
    part = ExportPart(
        task=task.name,
        format=fmt.name,
        given=record.get("query_text") or (fmt.render_query(item.query) if item.query is not None else ""),
        generated=item.completion or "",
        prediction=parsed.graph if parsed is not None else None,
        reference=item.reference if isinstance(item.reference, task.graph_type) else None,
        problems=tuple(Problem.from_dict(d) for d in row.problems),
        metrics={k: numbers[k] for k in order},
        prompt=record.get("prompt"),
        details=tuple(details),
        error=item.error if item.completion is None else None,
    )
    return f"{task.name} · example {example_id}", part


# --- the page ---------------------------------------------------------------------------------------------

# Opens the collapsed prompt for printing, so a printout has it too.
_PRINT_SCRIPT = (
    "window.addEventListener('beforeprint',function(){"
    "document.querySelectorAll('details').forEach(function(d){d.open=true;});});"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_PRINT_SCRIPT.encode()).digest()).decode()
_CSP = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{_SCRIPT_HASH}'"

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
.meta { color: #57606a; font-size: .9rem; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5rem; align-items: start; }
@media (max-width: 50rem) { .grid { grid-template-columns: 1fr; } }
.stack > div + div { margin-top: 1rem; }
pre { white-space: pre-wrap; word-break: break-word; font: .82rem/1.35 ui-monospace, SFMono-Regular, Menlo,
      Consolas, monospace; background: #f6f8fa; border: 1px solid #d0d7de; border-radius: .4rem; padding: .6rem; }
.given { color: #6e7781; }
mark.generated { color: #0b3d91; background: #e7f0ff; font-weight: 600; }
.graph svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border: 1px solid #d0d7de; padding: .2rem .45rem; text-align: left; vertical-align: top; }
td.matched { background: #e3f4e1; color: #1b7837; } td.extra { background: #fff1e0; color: #d35400; }
.legend span { font-weight: 600; } .ok { color: #1b7837; } .bad { color: #b2182b; }
.matched-t { color: #1b7837; } .missing-t { color: #b2182b; } .extra-t { color: #d35400; }
ul.problems li { margin: .15rem 0; }
details summary { cursor: pointer; color: #0969da; }
footer { margin-top: 2rem; color: #57606a; font-size: .8rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  .grid { grid-template-columns: 1fr 1fr; }
  pre { max-height: none; overflow: visible; border-color: #999; }
  section.part { break-inside: avoid-page; }
  h2 { break-after: avoid-page; }
  details summary { color: inherit; }
  mark.generated { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  td.matched, td.extra { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def to_html(title: str, parts: Sequence[ExportPart], *, subtitle: str = "") -> str:
    """The whole page: a title, then each part (program beside graph, problems, metrics, prompt)."""
    body = [f"<h1>{_e(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="meta">{_e(subtitle)}</p>')
    for part in parts:
        body.append(_part_html(part, titled=len(parts) > 1))
    body.append(
        "<footer>Exported from CoCoGen Studio. The model's text is shown as data: it was never run. "
        "Grey code was written from the input; highlighted code was written by the model.</footer>"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n<script>{_PRINT_SCRIPT}</script>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _part_html(part: ExportPart, *, titled: bool) -> str:
    task = get_task(part.task)
    fmt = task.formats.get(part.format)
    out = ['<section class="part">']
    if titled:
        kind = f" · {fmt.kind}" if fmt is not None else ""
        out.append(f"<h2>{_e(part.format)}{_e(kind)}</h2>")
    if part.details:
        out.append('<p class="meta">' + " · ".join(f"{_e(k)}: {_e(v)}" for k, v in part.details) + "</p>")
    if part.error is not None:
        out.append(f'<p class="bad">The generation failed: {_e(part.error)}</p></section>')
        return "\n".join(out)
    heading = "Reference vs prediction" if part.reference is not None else "Graph"
    graph = _graph_html(task, part)
    # A wide drawing (ExplaGraphs, left to right) gets the page's width, below the program.
    out.append(f'<div class="{"stack" if _is_wide(graph) else "grid"}"><div>')
    out.append("<h3>Program</h3>")
    out.append(
        f'<pre class="code"><span class="given">{_e(part.given)}</span>'
        f'<mark class="generated">{_e(part.generated)}</mark></pre>'
    )
    out.append('<p class="meta">Grey: written from the input · highlighted: written by the model.</p>')
    out.append(f'</div><div><h3>{heading}</h3><div class="graph">{graph}</div></div></div>')
    out.append(_problems_html(part.problems, ok=part.prediction is not None))
    if part.metrics:
        out.append(_metrics_html(part.metrics))
    if part.prompt:
        out.append(
            f"<details><summary>The whole prompt ({len(part.prompt.splitlines())} lines)</summary>"
            f"<pre>{_e(part.prompt)}</pre></details>"
        )
    out.append("</section>")
    return "\n".join(out)


_SVG_SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)pt"[^>]*?\bheight="([\d.]+)pt"')


def _is_wide(graph_html: str) -> bool:
    size = _SVG_SIZE.search(graph_html)
    return size is not None and float(size.group(1)) > 2.2 * float(size.group(2))


def _graph_html(task: Any, part: ExportPart) -> str:
    if part.reference is not None:
        compared = task.diff(part.prediction, part.reference)
        if isinstance(compared, CellDiff):
            return _cell_diff_html(compared) + _summary_html(compared.summary)
        view, summary = compared
        return _view_html(view) + _legend_html() + _summary_html(summary)
    if part.prediction is None:
        return "<p>No graph could be read from the answer.</p>"
    try:
        view = task.view(part.prediction)
    except TypeError:  # a task shown as a table
        return _frame_html(render.state_frame(part.prediction))
    return _view_html(view)


_SVG_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_XMLNS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _view_html(view: GraphView) -> str:
    if not view.nodes:
        return "<p>The graph is empty.</p>"
    svg = render.to_svg(view)
    if svg is None:  # no Graphviz: the graph as text, so the file is still complete
        nodes = "".join(f"<li>{_e(n.tag + ': ' if n.tag else '')}{_e(n.label)}{_status(n.status)}</li>" for n in view.nodes)
        labels = {n.id: n.tag or n.label for n in view.nodes}
        edges = "".join(
            f"<li>{_e(labels[e.src])} → {_e(labels[e.dst])}{_e(' (' + e.label + ')' if e.label else '')}"
            f"{_status(e.status)}</li>"
            for e in view.edges
        )
        return f"<p>Nodes</p><ul>{nodes}</ul><p>Edges</p><ul>{edges}</ul>"
    # Inline SVG in HTML needs neither the XML prolog nor the namespace declarations, which
    # are URLs (never fetched, but a file meant to be offline should not name any).
    svg = _COMMENT.sub("", _SVG_PROLOG.sub("", svg, count=1))
    return _XMLNS.sub("", svg)


def _status(status: str | None) -> str:
    return f' <span class="{status}-t">({status})</span>' if status else ""


def _legend_html() -> str:
    return (
        '<p class="legend meta"><span class="matched-t">matched</span> in both · '
        '<span class="missing-t">missing</span> (dashed) only in the reference · '
        '<span class="extra-t">extra</span> (bold) invented by the model</p>'
    )


def _summary_html(summary: DiffSummary) -> str:
    out = [
        f"<p><b>{len(summary.right)}</b> right · <b>{len(summary.missed)}</b> missed · "
        f"<b>{len(summary.invented)}</b> invented {_e(summary.unit)}</p>"
    ]
    for label, items in (("Missed", summary.missed), ("Invented", summary.invented)):
        if items:
            out.append(f"<details><summary>{label} ({len(items)})</summary><ul>")
            out.extend(f"<li>{_e(item)}</li>" for item in items)
            out.append("</ul></details>")
    return "".join(out)


def _cell_diff_html(diff: CellDiff) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in ("step", *diff.columns))
    rows = []
    for t, step in enumerate(diff.rows):
        cells = []
        for p in range(len(diff.columns)):
            status = diff.status[t][p]
            pred, gold = diff.pred[t][p], diff.gold[t][p]
            text = pred if status == "matched" else f"{pred or '∅'} ≠ {gold}"
            cells.append(f'<td class="{status}">{_e(text)}</td>')
        rows.append(f"<tr><th>{_e(step)}</th>{''.join(cells)}</tr>")
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="meta">Cells right: {diff.accuracy:.0%} · green: right · orange: wrong (predicted ≠ reference)</p>'
    )


def _frame_html(frame: Any) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        '<p class="meta"><code>-</code>: does not exist · <code>?</code>: exists, location unknown</p>'
    )


def _problems_html(problems: Sequence[Problem], *, ok: bool) -> str:
    if not problems:
        return '<h3>Problems</h3><p class="ok">Parsed cleanly: no problems.</p>'
    items = "".join(
        f"<li><b>{_e(p.kind.value)}</b>{_e(f' (line {p.line})' if p.line else '')}: {_e(p.message)}</li>"
        for p in problems
    )
    lead = "" if ok else '<p class="bad">Nothing could be recovered.</p>'
    return f'<h3>Problems</h3>{lead}<ul class="problems">{items}</ul>'


def _metrics_html(metrics: Mapping[str, float | None]) -> str:
    rows = "".join(
        f"<tr><th>{_e(METRICS[k].label if k in METRICS else k)}</th><td>{_e(format_value(k, v))}</td></tr>"
        for k, v in metrics.items()
        if v is None or isinstance(v, (int, float))
    )
    return f"<h3>Metrics</h3><table><tbody>{rows}</tbody></table>"


# --- writing ---------------------------------------------------------------------------------------------


def check_destination(path: str | Path) -> Path:
    """The file an export will write, refused (:class:`InputError`) before any work when it cannot be."""
    dest = Path(path).expanduser()
    if dest.is_dir():
        raise InputError(f"{dest} is a folder; give a file name such as {dest / 'example.html'}.")
    if not dest.parent.is_dir():
        raise InputError(f"Cannot write {dest}: the folder {dest.parent} does not exist.")
    if not os.access(dest.parent, os.W_OK):
        raise InputError(f"Cannot write {dest}: the folder {dest.parent} is not writable.")
    return dest


def write_html(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a failed write leaves any earlier file as it was.

    Raises :class:`InputError` when the folder does not exist or cannot be written.
    """
    dest = check_destination(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise InputError(f"Cannot write {dest}: {e.strerror}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # a file to hand out, not mkstemp's private 0600
        os.replace(tmp, dest)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"Cannot write {dest}: {e.strerror}.") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
