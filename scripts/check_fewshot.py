"""Check our few-shot pools (``assets/fewshot/*.jsonl``): structure, round trips, and
that no example is a near-duplicate of a dataset row.

For every task and example: each format renders and parses back to the same graph with no
problems; proScript scripts are DAGs from the start step to the goal; ExplaGraphs graphs
are connected DAGs over the 28 relations; ProPara grids have one row per participant and
one column per sentence plus one.

Overlap: the text that names an example's topic (proScript goal, ExplaGraphs belief and
argument, ProPara first two sentences) is compared with the same text of every row of
every split we have (not only the evaluation splits), by the Jaccard index of content
words and by difflib's character ratio.  An example is flagged when either reaches its
threshold (``--jaccard``, ``--ratio``).

Usage: ``python scripts/check_fewshot.py [--data-dir DIR] [--jaccard 0.5] [--ratio 0.75]``
(data from ``--data-dir``, else ``$COCOGEN_DATA_DIR``, else ``../shared/data``).
Exit status 1 when a check fails or an example is flagged.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cocogen.tasks import get_task  # noqa: E402
from cocogen.tasks.explagraphs import RELATIONS  # noqa: E402

STOP = frozenset(
    "a an the to of in on for and or with at by from into is are be it its that this these those "
    "some your my his her their our should not no can would will do does go get make".split()
)


def words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP)


def jaccard(a: str, b: str) -> float:
    x, y = words(a), words(b)
    return len(x & y) / len(x | y) if x | y else 0.0


def ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def topic_texts(task_name: str, g) -> list[str]:
    if task_name.startswith("proscript"):
        return [g.goal]
    if task_name == "explagraphs":
        return [g.belief, g.argument]
    return [" ".join(g.sentences[:2])]


def structure_problems(task_name: str, g) -> list[str]:
    out = []
    if task_name.startswith("proscript"):
        n = len(g.steps)
        G = nx.DiGraph(g.edges)
        start, goal = g.steps.index(f"decided to {g.goal}"), g.steps.index(g.goal)
        if set(G.nodes) != set(range(n)) or not nx.is_directed_acyclic_graph(G):
            out.append("not a DAG over all steps")
        elif not all(nx.has_path(G, start, k) and nx.has_path(G, k, goal) for k in range(n)):
            out.append("a step is not between the start and the goal")
        if len(g.edges) < n - 1:
            out.append("fewer than n-1 edges")
        if task_name == "proscript-script" and (start != 0 or goal != n - 1):
            out.append("the start step is not first or the goal is not last")
        if any(s != s.lower() or s.endswith(".") for s in g.steps if '"' not in s):
            out.append("a step is not lowercase or ends with a period")
    elif task_name == "explagraphs":
        G = nx.DiGraph([(h, t) for h, _, t in g.triples])
        if not (nx.is_directed_acyclic_graph(G) and nx.is_weakly_connected(G)):
            out.append("not a connected DAG")
        if any(r not in RELATIONS for _, r, _ in g.triples):
            out.append("a relation outside the 28")
        if any(len(c.split()) > 3 or c != c.lower() for h, _, t in g.triples for c in (h, t)):
            out.append("a concept is longer than 3 words or not lowercase")
        if g.stance not in ("support", "counter"):
            out.append("bad stance")
    else:
        if len(g.states) != len(g.participants) or any(len(r) != len(g.sentences) + 1 for r in g.states):
            out.append("the grid's shape does not match the sentences and participants")
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--jaccard", type=float, default=0.5)
    ap.add_argument("--ratio", type=float, default=0.75)
    args = ap.parse_args(argv)
    data_dir = args.data_dir or Path(os.environ.get("COCOGEN_DATA_DIR") or REPO.parent / "shared" / "data")

    failed = 0
    for name in ("proscript-script", "proscript-edge", "explagraphs", "propara"):
        task = get_task(name)
        shots = task.fewshot()
        pool: list[str] = []
        for split in task.splits:
            try:
                rows = task.load(split, data_dir)
            except Exception as e:  # a split we do not have: say so, check the others
                print(f"  ({name} {split}: not loaded: {e})")
                continue
            pool += [t for ex in rows for t in topic_texts(name, ex.graph)]
        pool = sorted(set(pool))
        worst = (0.0, 0.0)
        for ex in shots:
            for fmt in task.formats.values():
                r = fmt.parse(fmt.render(ex.graph), task.query_of(ex.graph))
                r0 = fmt.parse(fmt.render(ex.graph))
                if r.graph != ex.graph or r.problems or r0.graph != ex.graph:
                    print(f"FAIL {name} {ex.id}: {fmt.name} does not round-trip ({r.problems})")
                    failed += 1
            for p in structure_problems(name, ex.graph):
                print(f"FAIL {name} {ex.id}: {p}")
                failed += 1
            for text in topic_texts(name, ex.graph):
                j = max(pool, key=lambda s: jaccard(text, s))
                c = max(pool, key=lambda s: ratio(text, s))
                jv, cv = jaccard(text, j), ratio(text, c)
                worst = (max(worst[0], jv), max(worst[1], cv))
                if jv >= args.jaccard or cv >= args.ratio:
                    print(f"NEAR {name} {ex.id}: {text!r} ~ {j!r} (jaccard {jv:.2f}) / {c!r} (ratio {cv:.2f})")
                    failed += 1
        print(
            f"{name}: {len(shots)} examples, {len(pool)} dataset texts; "
            f"max jaccard {worst[0]:.2f}, max ratio {worst[1]:.2f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
