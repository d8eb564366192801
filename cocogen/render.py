"""Drawing graphs for people: DOT, SVG, an interactive pyvis page, and ProPara tables.

Everything drawn here may be model output, so every label is treated as untrusted text:

- **DOT**: labels are escaped for Graphviz (backslashes doubled, quotes escaped by
  :mod:`graphviz`, and marked as *not* HTML-like so ``<img ...>`` is drawn as text).
  Node ids are generated (``s0``, ``c3``), never taken from model text.
- **pyvis**: vis.js shows a node's ``title`` as HTML, so titles are HTML-escaped; labels
  are drawn on a canvas, and pyvis writes the node data with Jinja's ``tojson``, which
  escapes ``<``/``>``/``&`` so a label cannot close the ``<script>`` element.  The page
  embeds vis.js (``cdn_resources="in_line"``) and the template's Bootstrap CDN links are
  removed, so the view works with no network.

Colours of a comparison (see :mod:`cocogen.diff`): matched green, missing red and dashed,
extra (invented) orange and bold — told apart by line style as well as colour.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import graphviz

from cocogen.diff import CellDiff, GraphView, Node, Status, table_rows, view_of
from cocogen.types import Graph, StateTable

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

__all__ = [
    "COLOURS",
    "to_dot",
    "to_svg",
    "dot_available",
    "to_pyvis_html",
    "state_frame",
    "diff_frame",
    "style_diff_frame",
    "style_state_frame",
    "legend_text",
    "dot_label",
    "confidence_note",
]

WRAP = 26  # characters per label line; keeps a 10-step script readable side by side
MAX_LABEL = 240  # longer model text is cut; the full text is in the code view
COLOURS: dict[str, dict[str, str]] = {
    # status: line colour, fill colour, DOT line style
    "none": {"line": "#3b5b92", "fill": "#eef3fb", "style": "solid"},
    "matched": {"line": "#1b7837", "fill": "#e3f4e1", "style": "solid"},
    "missing": {"line": "#b2182b", "fill": "#fde8e8", "style": "dashed"},
    "extra": {"line": "#d35400", "fill": "#fff1e0", "style": "bold"},
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clip(text: str) -> str:
    text = _CONTROL.sub(" ", text.replace("\n", " ").replace("\t", " "))
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def dot_label(*lines: str) -> str:
    """A Graphviz label from plain-text lines: wrapped, escaped, never read as HTML.

    Examples
    --------
    >>> dot_label("step1", "<img src=x onerror=alert(1)>")
    'step1\\\\n<img src=x\\\\nonerror=alert(1)>'
    >>> print(graphviz.quoting.quote(dot_label('say "hi" \\\\')))
    "say \\"hi\\" \\\\"
    """
    out: list[str] = []
    for line in lines:
        if line:
            out.extend(textwrap.wrap(_clip(line), WRAP, break_long_words=True) or [""])
    # Backslashes first (DOT escString), then join with DOT's own newline escape.
    return graphviz.nohtml("\\n".join(s.replace("\\", "\\\\") for s in out))


def _as_view(graph: Graph | GraphView) -> GraphView:
    return graph if isinstance(graph, GraphView) else view_of(graph)


def _style(status: Status | None) -> dict[str, str]:
    return COLOURS[status or "none"]


def confidence_note(
    key: str,
    sureness: Mapping[str, float | None] | None,
    runner_up: Mapping[str, Any] | None = None,
    what: str = "confidence",
) -> tuple[float, str] | None:
    """An element's number and its tooltip text (``confidence 0.83 · runner-up "step1 -> step4" 0.12``).

    ``None`` where there is no number for ``key``.

    >>> confidence_note("e", {"e": 0.834}, {"e": {"p": 0.12, "label": "step1 -> step4"}})
    (0.834, 'confidence 0.83 · runner-up "step1 -> step4" 0.12')
    """
    p = (sureness or {}).get(key) if key else None
    if p is None:
        return None
    text = f"{what} {p:.2f}"
    other = (runner_up or {}).get(key)
    if isinstance(other, Mapping) and isinstance(other.get("p"), (int, float)):
        text += f' · runner-up "{_clip(str(other.get("label") or "?"))}" {float(other["p"]):.2f}'
    return float(p), text


def to_dot(
    graph: Graph | GraphView,
    *,
    rankdir: str | None = None,
    caption: bool = True,
    confidence: Mapping[str, float | None] | None = None,
    runner_up: Mapping[str, Any] | None = None,
    what: str = "confidence",
) -> graphviz.Digraph:
    """A Graphviz digraph of a script or ExplaGraph (or of a comparison view).

    Scripts are drawn top to bottom (they are partial orders); ExplaGraphs left to right
    with the relation on each edge.  With ``confidence`` (element key → number in [0, 1],
    see :mod:`cocogen.confidence`; or a merge's agreement, ``what="agreement"``) an edge is
    as wide and as opaque as the model was sure of it, and its tooltip says the number
    and the runner-up.

    Examples
    --------
    >>> from cocogen.types import Script
    >>> src = to_dot(Script("make tea", 2, ("boil water", "pour"), ((0, 1),))).source
    >>> 's0 -> s1' in src and 'label="step0\\\\nboil water"' in src
    True
    """
    view = _as_view(graph)
    g = graphviz.Digraph("G")
    g.attr(rankdir=rankdir or ("TB" if view.kind == "script" else "LR"), bgcolor="transparent", pad="0.2")
    if caption and view.title:
        g.attr(label=dot_label(view.title), labelloc="t", fontname="Helvetica", fontsize="13")
    g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11", margin="0.12,0.06")
    g.attr("edge", fontname="Helvetica", fontsize="10", arrowsize="0.7")
    for n in view.nodes:
        st = _style(n.status)
        node_style = "rounded,filled" + (",dashed" if n.status == "missing" else "")
        note = confidence_note(n.key, confidence, runner_up, what)
        g.node(
            n.id,
            label=dot_label(n.tag, n.label),
            color=st["line"],
            fillcolor=st["fill"],
            style=node_style,
            penwidth="2" if n.status == "extra" else "1.2",
            **({"tooltip": note[1]} if note is not None else {}),
        )
    for e in view.edges:
        st = _style(e.status)
        attrs = {"color": st["line"], "style": st["style"], "fontcolor": st["line"]}
        if e.label:
            attrs["label"] = dot_label(e.label)
        note = confidence_note(e.key, confidence, runner_up, what)
        if note is not None:
            attrs["penwidth"] = f"{0.6 + 3.4 * note[0]:.2f}"
            attrs["color"] = st["line"] + f"{round(64 + 191 * note[0]):02x}"  # #rrggbbaa: unsure is faint
            attrs["tooltip"] = note[1]
            attrs["labeltooltip"] = note[1]
        g.edge(e.src, e.dst, **attrs)
    return g


def dot_available() -> bool:
    """Whether the Graphviz ``dot`` program is installed (needed for SVG export only)."""
    return shutil.which("dot") is not None


def to_svg(graph: Graph | GraphView | graphviz.Digraph) -> str | None:
    """SVG text of the graph drawn by ``dot``, or ``None`` when ``dot`` is not installed.

    The app still draws graphs without ``dot`` (in the browser); only the SVG download
    needs it.
    """
    if not dot_available():
        return None
    g = graph if isinstance(graph, graphviz.Digraph) else to_dot(graph)
    try:
        return g.pipe(format="svg", encoding="utf-8")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError):
        return None


def _tooltip(node: Node, status: Status | None) -> str:
    # The vis.js bundled by pyvis (vis-network 9) shows a string title as plain text, never as
    # HTML: escaping it would show "&lt;" to the user.  The browser test hovers over a node.
    parts = [node.tag] if node.tag else []
    parts.append(node.label)
    if status:
        parts.append(f"({status})")
    return "\n".join(parts)


_CDN = re.compile(r"<(link|script)\b[^>]*https?://[^>]*>(\s*</script>)?", re.IGNORECASE)


def to_pyvis_html(
    graph: Graph | GraphView,
    *,
    height: int = 460,
    confidence: Mapping[str, float | None] | None = None,
    runner_up: Mapping[str, Any] | None = None,
    what: str = "confidence",
) -> str:
    """A self-contained, offline HTML page with an interactive (drag, zoom) view of the graph.

    ``confidence``, ``runner_up``, ``what``: as for :func:`to_dot` (edge width, opacity, tooltip).
    """
    from pyvis.network import Network

    view = _as_view(graph)
    net = Network(height=f"{height}px", width="100%", directed=True, cdn_resources="in_line", bgcolor="#ffffff")
    for n in view.nodes:
        st = _style(n.status)
        label = "\n".join(textwrap.wrap(_clip(n.label), WRAP)) or " "
        if n.tag:
            label = f"{n.tag}\n{label}"
        note = confidence_note(n.key, confidence, runner_up, what)
        net.add_node(
            n.id,
            label=label,
            title=_tooltip(n, n.status) + (f"\n{note[1]}" if note is not None else ""),
            color={"background": st["fill"], "border": st["line"]},
            shape="box",
            borderWidth=2 if n.status == "extra" else 1,
            shapeProperties={"borderDashes": n.status == "missing"},
            font={"face": "Helvetica", "size": 13},
        )
    for e in view.edges:
        st = _style(e.status)
        note = confidence_note(e.key, confidence, runner_up, what)
        width = 3 if e.status == "extra" else 1.5
        title = e.label or None
        if note is not None:
            width = 0.6 + 4.4 * note[0]
            title = "\n".join(x for x in (e.label, note[1]) if x)
        net.add_edge(
            e.src,
            e.dst,
            label=_clip(e.label) if e.label else None,
            title=title,
            color=st["line"] if note is None else {"color": st["line"], "opacity": 0.25 + 0.75 * note[0]},
            dashes=e.status == "missing",
            width=width,
            arrows="to",
            font={"size": 11, "color": st["line"], "strokeWidth": 3},
        )
    options: dict[str, Any] = {
        "physics": {"enabled": view.kind != "script", "stabilization": {"iterations": 150}},
        "interaction": {"hover": True, "tooltipDelay": 120},
        "edges": {"smooth": {"type": "cubicBezier"}},
    }
    if view.kind == "script":
        options["layout"] = {
            "hierarchical": {"enabled": True, "direction": "UD", "sortMethod": "directed", "levelSeparation": 90}
        }
    net.set_options(json.dumps(options))
    page = net.generate_html(notebook=False)
    # The template always links Bootstrap from a CDN; nothing here needs it, and offline it only stalls.
    return _CDN.sub("", page)


# --- ProPara tables -------------------------------------------------------------------------


def state_frame(table: StateTable) -> pd.DataFrame:
    """A ProPara state table as a DataFrame: one row per time step, one column per participant.

    Examples
    --------
    >>> t = StateTable(("Water evaporates.",), ("water",), (("sea", "air"),))
    >>> state_frame(t).to_dict("list")
    {'step': ['Init', 'Water evaporates.'], 'water': ['sea', 'air']}
    """
    import pandas as pd

    rows = table_rows(table)
    data: dict[str, list[str]] = {"step": list(rows)}
    for p, name in enumerate(table.participants):
        col = _unique(name, data)
        data[col] = [
            table.states[p][t] if p < len(table.states) and t < len(table.states[p]) else "" for t in range(len(rows))
        ]
    return pd.DataFrame(data)


def style_state_frame(table: StateTable, sureness: Sequence[Sequence[float | None]]) -> Styler:
    """:func:`state_frame` with each cell's background as strong as the model was sure of it.

    ``sureness[p][t]``: the number of participant ``p``'s cell at time ``t`` (``None``: none).
    """
    frame = state_frame(table)

    def shade(_: Any) -> pd.DataFrame:
        out = frame.copy().astype(object)
        out.loc[:, :] = ""
        for p in range(len(frame.columns) - 1):
            for t in range(len(frame)):
                v = sureness[p][t] if p < len(sureness) and t < len(sureness[p]) else None
                if v is not None:
                    out.iloc[t, p + 1] = f"background-color: rgba(59, 91, 146, {0.08 + 0.6 * v:.2f})"
        return out

    return frame.style.apply(shade, axis=None)


def _unique(name: str, taken: dict[str, Any]) -> str:
    col, k = name, 2
    while col in taken:
        col, k = f"{name} ({k})", k + 1
    return col


def diff_frame(diff: CellDiff) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Display values and statuses of a compared ProPara table.

    A wrong cell reads ``predicted ≠ reference`` so both are visible without colour.
    """
    import pandas as pd

    values: dict[str, list[str]] = {"step": list(diff.rows)}
    status: dict[str, list[str]] = {"step": ["" for _ in diff.rows]}
    for p, name in enumerate(diff.columns):
        col = _unique(name, values)
        values[col] = [
            diff.pred[t][p] if diff.status[t][p] == "matched" else f"{diff.pred[t][p] or '∅'} ≠ {diff.gold[t][p]}"
            for t in range(len(diff.rows))
        ]
        status[col] = [diff.status[t][p] for t in range(len(diff.rows))]
    return pd.DataFrame(values), pd.DataFrame(status)


def style_diff_frame(diff: CellDiff) -> Styler:
    """A pandas Styler of :func:`diff_frame` with matched cells green and wrong ones orange."""
    values, status = diff_frame(diff)

    def colour(_: Any) -> pd.DataFrame:
        return status.map(lambda s: f"background-color: {COLOURS[s]['fill']}; color: {COLOURS[s]['line']}" if s else "")

    return values.style.apply(colour, axis=None)


def legend_text() -> str:
    """One line explaining the colours of a comparison (plain Markdown, no HTML)."""
    return (
        ":green[**matched**] — in both · :red[**missing**] (dashed) — only in the reference · "
        ":orange[**extra**] (bold) — invented by the model"
    )
