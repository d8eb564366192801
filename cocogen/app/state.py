"""The app's state, kept without Streamlit: which backend, which settings, which examples.

The app keeps one of each of these per browser session (in ``st.session_state``); nothing
here imports Streamlit, so the tests and a notebook can use the same objects.

- :class:`BackendChoice` names a backend and its options.  Its API key is held only in
  memory: it is excluded from ``repr``, :meth:`BackendChoice.to_dict` and run files, and
  only a fingerprint of it keys the backend cache.
- :class:`GenerationSettings` gathers the prompt options (k, selection, selection seed, token
  budget) and the sampling parameters (including the sampling seed, a separate number).
- :class:`BackendRegistry` builds each backend once per process (a local model is big),
  optionally in a background thread so a page stays interactive while it loads.
- The few-shot helpers turn an example into editable text in a format and back, through
  the format's parser (model-style text is never executed).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from cocogen.backends.base import Backend, GenerationParams, make_backend
from cocogen.errors import CocogenError, InputError
from cocogen.prompts import Prompt, PromptSpec, build_prompt, select_examples
from cocogen.settings import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TIMEOUT, DEFAULT_TOKEN_BUDGET
from cocogen.tasks.base import Format, Task, get_format
from cocogen.types import Example, Graph, ParseResult, ProblemKind

__all__ = [
    "BackendKind",
    "BackendChoice",
    "GenerationSettings",
    "BackendRegistry",
    "LoadState",
    "example_text",
    "parse_example",
    "move",
    "nearest_examples",
    "assemble_prompt",
    "sample_input",
    "recorded_outputs",
    "home_example",
    "example_title",
    "truncated_parse",
]

log = logging.getLogger(__name__)

BackendKind = Literal["local", "openai", "replay"]
BACKEND_LABELS: dict[str, str] = {
    "local": "Local offline model",
    "openai": "OpenAI-compatible server",
    "replay": "Replay of recorded outputs",
}


@dataclass(frozen=True)
class BackendChoice:
    """Which backend to use and how, without ever exposing its key.

    Examples
    --------
    >>> c = BackendChoice("openai", model="m", base_url="http://127.0.0.1:9/v1", api_key="sk-secret-123456")
    >>> "secret" in repr(c) or "secret" in str(c.to_dict())
    False
    >>> c.describe()
    'OpenAI-compatible server · m at http://127.0.0.1:9/v1'
    """

    kind: BackendKind = "local"
    model: str | None = None  # openai: model name; local: a GGUF path (None: the bundled model)
    base_url: str | None = None
    mode: str = "auto"
    constrained: bool = True  # local: grammar-constrained decoding
    replay_path: str | None = None  # replay: a recorded-output or run file (None: the task's recorded outputs)
    api_key: str | None = field(default=None, repr=False)
    server_kind: str = "auto"  # openai: how a grammar is sent (auto: ask the server once)
    server_constrain: bool = False  # openai: send the task's grammar (llama.cpp and vLLM servers)
    timeout: float = DEFAULT_TIMEOUT  # openai: seconds to wait for one answer

    def key_fingerprint(self) -> str:
        """A short hash of the key, so two keys give two backends without storing either."""
        return hashlib.sha256(self.api_key.encode()).hexdigest()[:12] if self.api_key else ""

    def cache_id(self, task: str | None = None) -> tuple[str, ...]:
        """What identifies the built backend (the replay backend is per task)."""
        return (
            self.kind,
            self.model or "",
            self.base_url or "",
            self.mode,
            str(self.constrained),
            self.replay_path or "",
            task if self.kind == "replay" else "",
            self.key_fingerprint(),
            self.server_kind,
            str(self.server_constrain),
            f"{self.timeout:g}",
        )

    def build(self, task: str | None = None) -> Backend:
        """Construct the backend (loading a local model can take seconds; see :class:`BackendRegistry`)."""
        if self.kind == "openai":
            return make_backend(
                "openai",
                model=self.model or None,
                base_url=self.base_url or None,
                api_key=self.api_key,
                mode=self.mode,
                server_kind=self.server_kind,
                constrain=self.server_constrain,
                timeout=self.timeout,
            )
        if self.kind == "replay":
            return make_backend("replay", path=self.replay_path or None, task=task)
        return make_backend("local", model=self.model or None, constraints=self.constrained)

    def describe(self) -> str:
        """One line for people: what is in use (never the key)."""
        label = BACKEND_LABELS[self.kind]
        if self.kind == "openai":
            where = f"{label} · {self.model or '(no model chosen)'} at {self.base_url or 'the default URL'}"
            return where + (", constrained output" if self.server_constrain else "")
        if self.kind == "replay":
            return f"{label} · {Path(self.replay_path).name if self.replay_path else 'the paper’s Codex outputs'}"
        model = Path(self.model).name if self.model else "Gemma 3 270M (bundled)"
        return f"{label} · {model}" + (", constrained decoding" if self.constrained else ", free decoding")

    def to_dict(self) -> dict[str, Any]:
        """Settings as data, e.g. for a run header; the key is left out."""
        return {
            "kind": self.kind,
            "model": self.model,
            "base_url": self.base_url,
            "mode": self.mode,
            "constrained": self.constrained,
            "replay_path": self.replay_path,
            "server_kind": self.server_kind,
            "server_constrain": self.server_constrain,
            "timeout": self.timeout,
        }


@dataclass(frozen=True)
class GenerationSettings:
    """Prompt options and sampling, with the project's defaults.

    ``select_seed`` orders the examples of seeded-random selection; ``seed`` is the
    sampling seed sent to the model (:class:`~cocogen.backends.base.GenerationParams`).
    They are separate numbers: changing how the model samples must not change the prompt.

    Examples
    --------
    >>> s = GenerationSettings(temperature=0.5, select="random", select_seed=3, seed=7)
    >>> s.params().temperature, s.params().seed, s.prompt_spec().selection_seed
    (0.5, 7, 3)
    """

    k: int | None = None  # None: the task's own default (Task.default_k)
    select: str = "fixed"
    select_seed: int = 0
    token_budget: int | None = DEFAULT_TOKEN_BUDGET
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = 1.0
    seed: int | None = None
    use_cache: bool = True

    def k_for(self, task: Task) -> int:
        """How many few-shot examples ``task``'s prompt gets: ``k``, or the task's own default."""
        return task.default_k if self.k is None else self.k

    def params(self) -> GenerationParams:
        """The sampling parameters (the sampling seed among them)."""
        return GenerationParams(
            max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p, seed=self.seed
        )

    def prompt_spec(self, pool: Sequence[Example] | None = None) -> PromptSpec:
        """The few-shot part of these settings (the selection seed, not the sampling seed)."""
        return PromptSpec(
            pool=tuple(pool) if pool is not None else None,
            k=self.k,
            selection=self.select,
            selection_seed=self.select_seed,
            token_budget=self.token_budget,
        )

    def replace(self, **changes: Any) -> GenerationSettings:
        return replace(self, **changes)


# --- building backends once ------------------------------------------------------------------

LoadState = Literal["idle", "loading", "warming", "ready", "failed"]


@dataclass
class _Slot:
    state: LoadState = "idle"
    backend: Backend | None = None
    error: CocogenError | None = None
    started: float = 0.0
    seconds: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


class BackendRegistry:
    """Builds each backend once per process and shares it; can build in the background.

    A local model takes seconds to load and its prompt prefix longer to prefill; doing
    that in a thread lets the first page answer at once.  Backends are shared between
    users of the same process (the local backend serialises its own generation).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, ...], _Slot] = {}

    def _slot(self, key: tuple[str, ...]) -> tuple[_Slot, bool]:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None or slot.state == "failed":
                slot = _Slot(state="loading", started=time.perf_counter())
                self._slots[key] = slot
                return slot, True
            return slot, False

    def _build(
        self, slot: _Slot, choice: BackendChoice, task: str | None, warm: Callable[[Backend], None] | None
    ) -> None:
        try:
            backend = choice.build(task)
            slot.backend = backend
            slot.state = "ready"
            slot.seconds = time.perf_counter() - slot.started
        except CocogenError as e:
            slot.error, slot.state = e, "failed"
        except Exception as e:  # noqa: BLE001 - a broken model file must not take the app down
            log.exception("building the %s backend failed", choice.kind)
            slot.error, slot.state = CocogenError(f"The {choice.kind} backend could not start: {e}"), "failed"
        finally:
            slot.done.set()
        if slot.backend is not None and warm is not None:
            slot.state = "warming"
            try:
                warm(slot.backend)
            except Exception:  # noqa: BLE001 - warming is an optimisation only
                log.exception("warming the %s backend failed", choice.kind)
            finally:
                slot.state = "ready"
                slot.seconds = time.perf_counter() - slot.started

    def get(self, choice: BackendChoice, task: str | None = None, timeout: float | None = None) -> Backend:
        """The backend for ``choice``, building it now if needed (or waiting for a background build)."""
        slot, mine = self._slot(choice.cache_id(task))
        if mine:
            self._build(slot, choice, task, None)
        elif not slot.done.wait(timeout):
            raise CocogenError("The model is still loading.", hint="Try again in a few seconds.")
        if slot.backend is None:
            assert slot.error is not None
            raise slot.error
        return slot.backend

    def start(
        self, choice: BackendChoice, task: str | None = None, warm: Callable[[Backend], None] | None = None
    ) -> None:
        """Build (and then ``warm``) the backend in a daemon thread if it is not built or building."""
        slot, mine = self._slot(choice.cache_id(task))
        if mine:
            threading.Thread(
                target=self._build, args=(slot, choice, task, warm), daemon=True, name="cocogen-load"
            ).start()

    def status(self, choice: BackendChoice, task: str | None = None) -> tuple[LoadState, str]:
        """``(state, message)`` for showing in a UI."""
        slot = self._slots.get(choice.cache_id(task))
        if slot is None:
            return "idle", "not loaded yet (loads on first use)"
        if slot.state in ("loading", "warming"):
            what = "loading the model" if slot.state == "loading" else "loading the model and reading the examples"
            return slot.state, f"{what}… {time.perf_counter() - slot.started:.0f} s"
        if slot.state == "failed":
            return "failed", slot.error.user_message() if slot.error else "failed"
        return "ready", f"ready (started in {slot.seconds:.1f} s)" if slot.seconds else "ready"


# --- few-shot examples -----------------------------------------------------------------------


def example_text(task: Task, fmt: Format | str | None, ex: Example) -> str:
    """An example as the text it takes in the prompt (without the separator line)."""
    f = fmt if isinstance(fmt, Format) else get_format(task, fmt)
    return f.render(ex.graph)


def parse_example(task: Task, fmt: Format | str | None, text: str, example_id: str) -> Example:
    """Read an edited example back (with the format's parser; nothing is executed).

    Raises :class:`InputError` with the parser's first problems when the text is not a
    complete, clean example, so a typo cannot silently drop steps from every prompt.
    """
    f = fmt if isinstance(fmt, Format) else get_format(task, fmt)
    if not text.strip():
        raise InputError("The example is empty.", hint="Write it in the prompt format, or delete it.")
    res = f.parse(text)
    serious = [p for p in res.problems if p.kind != ProblemKind.EXTRA]
    if res.graph is None or serious:
        detail = (
            "; ".join((f"line {p.line}: " if p.line else "") + p.message for p in (serious or res.problems)[:3])
            or "nothing could be read"
        )
        raise InputError(f"The edited example does not parse: {detail}.", hint="Fix it, or reset the examples.")
    return Example(example_id, res.graph, {"source": "edited"})


def move(items: Sequence[Any], index: int, delta: int) -> list[Any]:
    """A copy of ``items`` with ``items[index]`` moved by ``delta`` places (clamped).

    Examples
    --------
    >>> move(["a", "b", "c"], 0, 1), move(["a", "b", "c"], 2, 5), move(["a", "b"], 0, -1)
    (['b', 'a', 'c'], ['a', 'b', 'c'], ['a', 'b'])
    """
    out = list(items)
    if not 0 <= index < len(out):
        return out
    new = max(0, min(len(out) - 1, index + delta))
    out.insert(new, out.pop(index))
    return out


def nearest_examples(task: Task, pool: Sequence[Example], query: Graph, k: int) -> list[Example]:
    """The ``k`` examples of ``pool`` most similar to the query (BM25), nearest last."""
    return select_examples(task, pool, query, k, "knn")


def assemble_prompt(
    task: Task, fmt: Format | str | None, query: Graph, pool: Sequence[Example] | None, settings: GenerationSettings
) -> Prompt:
    """The prompt :func:`cocogen.pipeline.generate` will send for these settings."""
    return build_prompt(task, fmt, query, settings.prompt_spec(pool))


# --- sample inputs ---------------------------------------------------------------------------


def sample_input(task: Task) -> dict[str, Any]:
    """A ready-to-run input for ``task``: the task's own sample (``{}`` for a task without one)."""
    return dict(getattr(task, "sample_input", None) or {})


# --- recorded outputs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """A file of recorded model outputs the app can replay or inspect."""

    task: str
    path: Path
    label: str


def recorded_outputs(data_dir: Path | None = None) -> list[Recorded]:
    """The paper's recorded outputs that are present in the data directory."""
    from cocogen.backends.replay import RECORDED_OUTPUTS
    from cocogen.settings import data_dir as _data_dir
    from cocogen.tasks import get_task

    root = data_dir or _data_dir()
    return [
        Recorded(t, root / p, f"CoCoGen · Codex outputs · {get_task(t).title}")
        for t, p in RECORDED_OUTPUTS.items()
        if (root / p).is_file()
    ]


def home_example(task_name: str | None = None) -> tuple[str, Graph]:
    """One of our own few-shot examples as code and as a graph (the app's opening picture).

    The default task is the first one registered (the app's default everywhere).
    """
    from cocogen.tasks import REGISTRY, get_task

    task = get_task(task_name) if task_name else next(iter(REGISTRY.values()))
    ex = task.fewshot()[0]
    return example_text(task, None, ex), ex.graph


def example_title(task: Task, ex: Example, width: int = 70) -> str:
    """A one-line name for an example: its goal, belief or first sentence."""
    fields = task.to_input(ex.graph)
    first = next((v for v in fields.values() if isinstance(v, str) and v.strip()), None)
    if first is None:
        first = next((v[0] for v in fields.values() if isinstance(v, (list, tuple)) and v), ex.id)
    text = " ".join(str(first).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def truncated_parse(fmt: Format, completion: str, query: Graph, fraction: float = 0.6) -> tuple[str, ParseResult]:
    """Cut a completion at ``fraction`` of its length (as a token limit would) and parse what is left.

    Shows that the parser keeps everything complete before the cut and reports the cut as
    a :attr:`~cocogen.types.ProblemKind.TRUNCATED` problem instead of failing.
    """
    cut = completion[: max(0, int(len(completion) * fraction))]
    return cut, fmt.parse(cut, query)
