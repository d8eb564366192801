"""The embedded local model: real llama.cpp, real Gemma 3 270M weights, real datasets.

Prompts use 2 few-shot examples so that prefill stays short on a 2-core CI machine;
the model is loaded once per session and shared by every test (as the app shares it).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cocogen.backends import GenerationParams, RequestContext, make_backend
from cocogen.backends.llamacpp import LlamaCppBackend, _loops, load_model
from cocogen.constrained import Limits
from cocogen.errors import ConfigError
from cocogen.prompts import Prompt, PromptSpec, build_prompt
from cocogen.tasks import get_task
from cocogen.types import BENIGN, Example, Generation

pytestmark = pytest.mark.slow

K = 2
TASKS = {"proscript-script": "dev", "proscript-edge": "dev", "explagraphs": "dev", "propara": "dev"}
ROWS_PER_TASK = 30
# Short values and at most 4 triples keep the 30-row runs affordable on 2 cores; the
# structure, not the prose, is what these tests check.
SHORT = Limits(step_tokens=6, concept_tokens=6, location_tokens=4, max_triples=4)


@pytest.fixture(scope="session")
def backend() -> LlamaCppBackend:
    b = make_backend("local")
    assert isinstance(b, LlamaCppBackend)
    return b


@pytest.fixture(scope="session")
def free_backend(backend: LlamaCppBackend) -> LlamaCppBackend:
    b = make_backend("local", constraints=False)
    assert isinstance(b, LlamaCppBackend)
    assert b.local is backend.local  # one model per process, shared
    return b


def _rows(task_name: str, n: int) -> list[Example]:
    """``n`` rows spread over the whole split (varied lengths and topics), deterministic."""
    rows = get_task(task_name).load(TASKS[task_name])
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def _ask(backend: LlamaCppBackend, task_name: str, ex: Example, **kw: object) -> tuple[Prompt, Generation]:
    task = get_task(task_name)
    query = task.query_of(ex.graph)
    prompt = build_prompt(task, None, query, PromptSpec(k=K))
    ctx = RequestContext(task=task_name, format=prompt.format, query=query, prompt=prompt)
    gens = backend.complete(prompt.text, GenerationParams(stop=prompt.stop, **kw), ctx)  # type: ignore[arg-type]
    return prompt, gens[0]


def _bad(problems: tuple) -> list[str]:
    return [f"{p.kind.value}: {p.message}" for p in problems if p.kind not in BENIGN]


# --- basics ----------------------------------------------------------------------------


def test_model_is_loaded_once_and_shared(backend: LlamaCppBackend) -> None:
    assert load_model() is backend.local
    assert make_backend("local").local is backend.local
    assert backend.model.endswith(".gguf")
    assert backend.local.fragments_ok  # Gemma 3 tokenizes fragments without a space prefix
    sig = backend.signature()
    assert sig.startswith("local:") and "constrained" in sig
    assert make_backend("local", constraints=False).signature() != sig  # the cache keeps them apart


def test_missing_model_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCOGEN_GGUF", str(tmp_path / "nope.gguf"))
    with pytest.raises(ConfigError, match="does not exist") as e:
        make_backend("local").complete("x")
    assert "COCOGEN_GGUF" in e.value.hint


@pytest.mark.parametrize(
    ("text", "done", "loops"),
    [
        (b"replicate the pasta at the house", True, False),
        (b"replicate the pasta at the househouse", False, True),  # refused before the word ends
        (b"buy a carmatemate", False, True),
        (b"keep singing and bringing", True, False),  # three letters twice is English
        (b"pick a fruit and pick a fruit", True, True),
        (b"pick a fruit and pick a fru", False, False),  # the last word may still go on
    ],
)
def test_a_value_loops_on_a_phrase_said_twice_or_a_stuttering_word(text: bytes, done: bool, loops: bool) -> None:
    assert _loops(text, done) is loops


def test_free_completion_honours_stop_and_max_tokens(free_backend: LlamaCppBackend) -> None:
    prompt = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n"
    g = free_backend.complete(prompt, GenerationParams(stop=("\n\n",), max_tokens=12))[0]
    assert g.completion_tokens is not None and 1 <= g.completion_tokens <= 12
    assert "\n\n" not in g.text
    assert g.finish_reason in ("stop", "length")
    assert g.raw is not None and g.raw["constrained"] is False


# --- every task, with constraints (the default) -------------------------------------------


@pytest.mark.parametrize("task_name", list(TASKS))
def test_generates_a_graph_for_every_task(backend: LlamaCppBackend, data_dir: Path, task_name: str) -> None:
    ex = _rows(task_name, 1)[0]
    prompt, g = _ask(backend, task_name, ex)
    assert g.raw is not None and g.raw["constrained"] is True
    task = get_task(task_name)
    result = task.formats[prompt.format].parse(g.text, task.query_of(ex.graph))
    assert result.graph is not None, result.problems
    assert _bad(result.problems) == []
    d = result.graph.to_dict()
    assert d.get("steps") or d.get("triples") or d.get("states")
    if task_name == "proscript-edge":
        assert d["edges"]


@pytest.mark.parametrize("task_name", list(TASKS))
def test_thirty_rows_per_task_all_parse_cleanly(backend: LlamaCppBackend, data_dir: Path, task_name: str) -> None:
    short = LlamaCppBackend(limits=SHORT)
    task = get_task(task_name)
    failures = []
    rows = _rows(task_name, ROWS_PER_TASK)
    assert len(rows) == ROWS_PER_TASK
    for ex in rows:
        prompt, g = _ask(short, task_name, ex, max_tokens=200)
        query = task.query_of(ex.graph)
        result = task.formats[prompt.format].parse(g.text, query)
        if result.graph is None or _bad(result.problems):
            failures.append((ex.id, _bad(result.problems), g.text[:300]))
            continue
        # The output answers *this* input: same goal / belief / procedure.
        got, want = result.graph.to_dict(), query.to_dict()
        for key in ("goal", "num_steps", "belief", "argument", "stance", "sentences", "participants"):
            if key in want:
                assert got[key] == want[key], (ex.id, key)
        if task_name == "proscript-edge":
            assert got["steps"] == want["steps"]
    assert failures == []


def test_every_format_of_a_task_decodes_with_constraints(data_dir: Path) -> None:
    backend = LlamaCppBackend(limits=SHORT)
    task = get_task("explagraphs")
    ex = _rows("explagraphs", 1)[0]
    query = task.query_of(ex.graph)
    for name, fmt in task.formats.items():
        prompt = build_prompt(task, fmt, query, PromptSpec(k=K))
        ctx = RequestContext(task=task.name, format=name, query=query, prompt=prompt)
        g = backend.complete(prompt.text, GenerationParams(max_tokens=120), ctx)[0]
        assert g.raw is not None and g.raw["constrained"] is True, name
        result = fmt.parse(g.text, query)
        assert result.graph is not None and _bad(result.problems) == [], (name, result.problems, g.text)


# --- prefix reuse ------------------------------------------------------------------------


def test_the_few_shot_prefix_is_evaluated_once(backend: LlamaCppBackend, data_dir: Path) -> None:
    a, b = _rows("proscript-script", 2)
    task = get_task("proscript-script")
    pa = build_prompt(task, None, task.query_of(a.graph), PromptSpec(k=3))
    pb = build_prompt(task, None, task.query_of(b.graph), PromptSpec(k=3))
    assert pa.prefix == pb.prefix
    backend.warm_up(pa.prefix, background=True).join()  # type: ignore[union-attr]
    n_prefix = backend.local.count_tokens(pa.prefix)
    for p, ex in ((pa, a), (pb, b)):
        query = task.query_of(ex.graph)
        g = backend.complete(p.text, None, RequestContext(task=task.name, format="code", query=query, prompt=p))[0]
        assert g.raw is not None
        # Everything of the prefix came from the KV cache; only the query was evaluated.
        assert g.raw["reused_tokens"] >= n_prefix - 1
        assert g.raw["prefill_tokens"] <= backend.local.count_tokens(p.query_text) + 2


# --- sampling ----------------------------------------------------------------------------


def test_seeded_sampling_is_reproducible_and_n_gives_n(backend: LlamaCppBackend, data_dir: Path) -> None:
    ex = _rows("explagraphs", 3)[2]
    kw = {"temperature": 0.9, "top_p": 0.95, "max_tokens": 60}
    _, g1 = _ask(backend, "explagraphs", ex, seed=7, **kw)
    _, g2 = _ask(backend, "explagraphs", ex, seed=7, **kw)
    assert g1.text == g2.text
    task = get_task("explagraphs")
    query = task.query_of(ex.graph)
    prompt = build_prompt(task, None, query, PromptSpec(k=K))
    ctx = RequestContext(task=task.name, format="code", query=query, prompt=prompt)
    gens = backend.complete(prompt.text, GenerationParams(n=3, seed=100, **kw), ctx)  # type: ignore[arg-type]
    assert len(gens) == 3
    assert len({g.text for g in gens}) > 1  # three seeds, at temperature 0.9: not all the same
    for g in gens:
        assert _bad(task.formats["code"].parse(g.text, query).problems) == []


# --- concurrency -------------------------------------------------------------------------


def test_two_threads_at_once_get_their_own_answers(
    backend: LlamaCppBackend, free_backend: LlamaCppBackend, data_dir: Path
) -> None:
    """Concurrent callers are serialised and each gets exactly what it gets alone.

    The two prompts share no token but the first (``def main():`` vs ``class ...:``), so
    each is evaluated the same way whichever thread goes first, and the answers must be
    identical to the ones computed alone.
    """
    jobs = [
        (backend, "propara", _rows("propara", 5)[3]),
        (free_backend, "proscript-script", _rows("proscript-script", 40)[25]),
    ]

    def run(i: int) -> str:
        be, task_name, ex = jobs[i]
        task = get_task(task_name)
        q = task.query_of(ex.graph)
        prompt = build_prompt(task, None, q, PromptSpec(k=K))
        ctx = RequestContext(task=task_name, format=prompt.format, query=q, prompt=prompt)
        return be.complete(prompt.text, GenerationParams(stop=prompt.stop, max_tokens=120), ctx)[0].text

    def reset() -> None:
        backend.warm_up("", background=False)  # the KV cache holds only the start token

    alone = []
    for i in range(2):
        reset()
        alone.append(run(i))

    reset()
    together: list[str | None] = [None, None]
    start = threading.Barrier(2)

    def worker(i: int) -> None:
        start.wait()
        together[i] = run(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert together == alone
    # Each answer is about its own input.
    task = get_task("propara")
    q = task.query_of(jobs[0][2].graph)
    parsed = task.formats["code"].parse(together[0] or "", q)
    assert parsed.graph is not None and _bad(parsed.problems) == []
    assert parsed.graph.to_dict()["sentences"] == list(q.sentences)
    assert together[1] and "def main" not in together[1]


# --- the direct API and the command line ------------------------------------------------


def test_generate_constrained_api(backend: LlamaCppBackend, data_dir: Path) -> None:
    from cocogen.backends.base import GenerationParams
    from cocogen.tasks.explagraphs import TextFormat

    task = get_task("proscript-script")
    query = task.from_input({"goal": "plant a tree", "num_steps": 5})
    prompt = build_prompt(task, "text", query, PromptSpec(k=K))
    g = backend.generate_constrained(task, "text", prompt, query, GenerationParams(max_tokens=80, seed=3))
    result = task.formats["text"].parse(g.text, query)
    assert result.graph is not None and _bad(result.problems) == []
    assert len(result.graph.to_dict()["steps"]) == 5

    class Shouting(TextFormat):  # writes values upper-cased: no hole can be found in it
        name = "shouting"

        def render(self, graph):  # type: ignore[no-untyped-def]
            head = self.render_query(graph)
            return head + super().render(graph)[len(head) :].upper()

    eg = get_task("explagraphs")
    q2 = eg.from_input({"belief": "Zoos are good.", "argument": "Zoos save species.", "stance": "support"})
    with pytest.raises(ConfigError, match="not available"):
        backend.generate_constrained(eg, Shouting(), build_prompt(eg, "text", q2, PromptSpec(k=K)), q2)


@pytest.mark.parametrize("flags", [[], ["--no-constraints"]])
def test_cli_generate_with_the_local_backend(
    backend: LlamaCppBackend, data_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    import json

    from cocogen.cli import main

    argv = ["generate", "--task", "explagraphs", "--backend", "local", "--k", str(K), "--max-tokens", "80", "--json"]
    inp = {"belief": "Zoos are good for animals.", "argument": "Zoos protect endangered species.", "stance": "support"}
    code = main([*argv, "--input", json.dumps(inp), *flags])
    out = json.loads(capsys.readouterr().out)
    assert out["usage"] is not None
    if not flags:  # constrained: always a clean graph
        assert code == 0 and out["ok"] and [p for p in out["problems"] if p["kind"] != "extra"] == []
        assert out["graph"]["belief"] == inp["belief"]
    else:
        assert code in (0, 1) and "code" in out
