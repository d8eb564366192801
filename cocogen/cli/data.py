"""``cocogen data``: download, locate or verify the datasets."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cocogen.cli.common import print_json

__all__ = ["add_commands", "cmd_data"]


def cmd_data(args: argparse.Namespace) -> int:
    from cocogen import data

    if args.action == "path":
        if args.json:
            print_json({"data_dir": str(data.data_dir())})
        else:
            print(data.data_dir())
        return 0
    if args.action == "download":
        report = data.download(base_url=args.base_url, force=args.force, only=args.only)
    else:
        report = data.verify(only=args.only)
    if args.json:
        print_json(report)
    else:
        for row in report["files"]:
            print(f"{row['status']:>10}  {row['path']}")
            if "error" in row:
                print(f"            {row['error']}", file=sys.stderr)
        print(report["summary"])
    return 0 if report["ok"] else 1


def add_commands(sub: Any) -> None:
    p = sub.add_parser("data", help="download, locate or verify the datasets")
    p.add_argument("action", choices=["download", "path", "verify"])
    p.add_argument("--base-url", help="mirror to download from (default: the original GitHub repositories)")
    p.add_argument("--only", action="append", help="only this dataset (cocogen, explagraphs, propara, proscript)")
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)
