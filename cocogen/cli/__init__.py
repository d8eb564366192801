"""``cocogen``: the command-line front end, one module per command group.

Every command that prints data takes ``--json``.  Errors print one actionable sentence to
stderr and exit with status 1 (2 for usage errors, as argparse does).  The library never
imports this package; each command is a thin layer over one library call.

=====================  ===========================================
module                 commands
=====================  ===========================================
:mod:`.tasks`          ``tasks``, ``prompt``, ``parse``
:mod:`.generate`       ``generate``
:mod:`.run`            ``run``
:mod:`.evaluation`     ``eval``, ``report``
:mod:`.data`           ``data``
:mod:`.export`         ``export``
:mod:`.grid`           ``grid``
=====================  ===========================================
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cocogen.cli import data, evaluation, export, generate, grid, run, tasks
from cocogen.errors import CocogenError

__all__ = ["main", "build_parser", "COMMAND_GROUPS"]

# Each group adds its subcommands to the parser; the order is the order of `cocogen --help`.
COMMAND_GROUPS = (tasks, data, generate, run, evaluation, export, grid)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cocogen", description="Structured commonsense reasoning as code generation.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    return ap


def _one_line(message: str) -> str:
    """A message on one line: a file name or a server's text may hold line breaks."""
    return " ".join(message.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors are one line on stderr and exit status 1 (usage errors 2).

    Every expected failure is a :class:`CocogenError` with its own sentence.  Anything
    else is a bug: it still gets one line, not a traceback (``COCOGEN_DEBUG=1`` re-raises
    it to show one).
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CocogenError as e:
        print(f"error: {_one_line(e.user_message())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished work was kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - the last resort: no traceback reaches a user
        if os.environ.get("COCOGEN_DEBUG"):
            raise
        detail = _one_line(str(e))[:300]
        print(
            f"error: internal error in `cocogen {args.command}` ({type(e).__name__}{': ' + detail if detail else ''}); "
            "this is a bug in cocogen, please report it with the command and files you used "
            "(COCOGEN_DEBUG=1 shows the traceback).",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
