"""Write ``assets/fewshot/proscript-edge.jsonl`` from ``assets/fewshot/proscript-script.jsonl``.

Each script's steps are shuffled and its edges re-indexed to the new positions (the
edges keep the script's order).  The shuffle is the one the first 14 rows were made with:
a single ``random.Random(2022)`` over the rows in file order, each row's step order
shuffled in place, again and again, until the start step ("decided to ...") is no
longer first.  Appending scripts therefore leaves the earlier rows byte-identical.

Usage: ``python scripts/make_edge_fewshot.py`` (rewrite) or ``--check`` (exit 1 if stale).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "fewshot"
SEED = 2022


def shuffled(rows: list[dict]) -> list[dict]:
    rng = random.Random(SEED)
    out = []
    for row in rows:
        g = row["graph"]
        order = list(range(len(g["steps"])))
        while True:
            rng.shuffle(order)
            if order[0] != 0:
                break
        new_index = {old: new for new, old in enumerate(order)}
        graph = {
            "goal": g["goal"],
            "num_steps": g["num_steps"],
            "steps": [g["steps"][i] for i in order],
            "edges": [[new_index[a], new_index[b]] for a, b in g["edges"]],
        }
        out.append({"id": row["id"], "graph": graph})
    return out


def main(argv: list[str]) -> int:
    src = ASSETS / "proscript-script.jsonl"
    dst = ASSETS / "proscript-edge.jsonl"
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    text = "".join(json.dumps(r) + "\n" for r in shuffled(rows))
    if "--check" in argv:
        if dst.read_text(encoding="utf-8") != text:
            print(f"{dst} is stale: run python scripts/make_edge_fewshot.py", file=sys.stderr)
            return 1
        return 0
    dst.write_text(text, encoding="utf-8")
    print(f"wrote {len(rows)} rows to {dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
