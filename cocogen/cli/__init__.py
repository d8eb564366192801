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
=====================  ===========================================
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cocogen.cli import data, evaluation, generate, run, tasks
from cocogen.errors import CocogenError

__all__ = ["main", "build_parser", "COMMAND_GROUPS"]

# Each group adds its subcommands to the parser; the order is the order of `cocogen --help`.
COMMAND_GROUPS = (tasks, data, generate, run, evaluation)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cocogen", description="Structured commonsense reasoning as code generation.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CocogenError as e:
        print(f"error: {e.user_message()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished work was kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
