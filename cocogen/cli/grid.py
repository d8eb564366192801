"""``cocogen grid``: the paper's ablations (formats × k × selection × seeds) as resumable runs and one table."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cocogen.cache import CompletionCache
from cocogen.cli.common import add_backend_options, add_task_option, backend_from_args, params_from_args, print_json
from cocogen.grid import GridProgress, GridSpec, GridSummary, parse_list, run_grid, summarize_grid, write_summary
from cocogen.metrics.base import METRICS, format_value
from cocogen.prompts import SELECTIONS
from cocogen.settings import DEFAULT_K, DEFAULT_TOKEN_BUDGET

__all__ = ["add_commands", "cmd_grid", "spec_from_grid_args"]


def spec_from_grid_args(args: argparse.Namespace) -> GridSpec:
    """The grid from ``--task --formats --k --select --seeds --split --limit --budget`` (checked)."""
    from cocogen.tasks.base import get_task

    task = get_task(args.task)
    formats = parse_list(args.formats, "--formats") if args.formats is not None else tuple(task.formats)
    spec = GridSpec(
        task=task.name,
        formats=formats,
        ks=parse_list(args.k, "--k", integers=True),
        selections=parse_list(args.select, "--select"),
        split=args.split,
        limit=args.limit,
        seeds=args.seeds,
        token_budget=args.budget,
    )
    spec.check()
    return spec


def _print_table(summary: GridSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    key = summary.metric
    label = METRICS[key].label if key in METRICS else key
    rows = summary.points[0].n if summary.points else 0
    table = Table(title=f"{summary.spec.task} ({summary.spec.split}, {rows} rows): {label} by format, k and selection")
    for col in ("format", "k", "selection", label, "95% CI", "CI over", "parsed"):
        table.add_column(col, justify="left" if col in ("format", "selection", "CI over") else "right")
    for p in summary.points:
        low, high = p.ci
        ci = f"{format_value(key, low)}–{format_value(key, high)}"
        parsed = "n/a" if p.parse_rate != p.parse_rate else f"{p.parse_rate * 100:.1f}%"
        over = f"{len(p.cells)} seeds" if p.ci_over == "seeds" else "rows"
        table.add_row(p.format, str(p.k), p.selection, format_value(key, p.value), ci, over, parsed)
    con = Console()
    con.print(table)
    for note in summary.notes:
        con.print(f"[dim]note: {note}[/dim]")


def cmd_grid(args: argparse.Namespace) -> int:
    """Runs (or, with ``--score-only``, only scores) the grid; exit 1 unless every cell finished."""
    spec = spec_from_grid_args(args)
    if not args.score_only:
        params = params_from_args(args)
        backend = backend_from_args(args, spec.task)
        show = not args.no_progress

        def announce(p: GridProgress) -> None:
            if show and p.finished_cell is not None:
                s = p.finished_cell
                print(
                    f"cell {p.cell_index + 1}/{p.cells} {p.cell.name}: {s.skipped + s.ok}/{s.total} done "
                    f"({s.ok} now, {s.skipped} before, {s.cached} from cache), {s.failed} failed",
                    file=sys.stderr,
                )

        with CompletionCache(enabled=not args.no_cache) as cache:
            run_grid(
                spec,
                backend,
                args.out,
                params=params,
                cache=cache,
                concurrency=args.concurrency,
                rpm=args.rpm,
                progress=show,
                on_progress=announce,
            )
    summary = summarize_grid(spec, args.out)
    json_path, csv_path = write_summary(summary, args.out)
    if args.json:
        print_json(summary.to_dict())
    else:
        _print_table(summary)
        print(f"{json_path}, {csv_path}")
    if summary.missing:
        print(
            f"{len(summary.missing)} cells not finished ({', '.join(summary.missing)}); re-run to go on.",
            file=sys.stderr,
        )
        return 1
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("grid", help="ablation grid: formats × k × selection, one resumable run per cell")
    add_task_option(p)
    p.add_argument("--formats", help="comma-separated formats (default: all of the task's)")
    p.add_argument("--k", default=str(DEFAULT_K), help="comma-separated numbers of few-shot examples, e.g. 2,4,8")
    p.add_argument("--select", default="fixed", help=f"comma-separated selections: {', '.join(SELECTIONS)}")
    p.add_argument("--seeds", type=int, default=1, help="selection seeds per seeded selection (random)")
    p.add_argument("--split", required=True)
    p.add_argument("--limit", type=int, help="the first N rows of the split")
    p.add_argument("--budget", type=int, default=DEFAULT_TOKEN_BUDGET, help="prompt token budget")
    p.add_argument("--out", required=True, help="folder of the cells' run files; re-running resumes them")
    p.add_argument("--concurrency", type=int, default=1, help="requests in flight per cell")
    p.add_argument("--rpm", type=float, default=None, help="requests per minute limit")
    p.add_argument("--score-only", action="store_true", help="summarize the cells already there; generate nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    add_backend_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_grid)
