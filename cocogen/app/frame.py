"""The frame every page runs in: page config, the page list, the titled navigation and the shared sidebar.

``app.py`` calls :func:`run_entry_point`; every page script calls :func:`page_frame` first.

Why both: with a ``pages/`` folder beside ``app.py``, Streamlit 1.67 runs a server in its
legacy multipage mode until some run calls ``st.navigation``
(``PagesManager.uses_pages_directory``, decided when the first browser session starts;
``AppTest`` decides it afresh on every run).  So a fresh server's first request for
``/compare`` (a bookmark, a reconnecting tab) runs ``pages/compare.py`` on its own, without
``app.py``: no sidebar, and Streamlit's automatic navigation lists raw file names.  In that
case :func:`page_frame` draws the same frame itself — page config, titled links, model
sidebar, with the same widget keys and ids (drawn under the entry point's script hash, as
``app.py`` draws them, so the sidebar's values follow the user between pages) — and when ``app.py`` runs the page, it has drawn the frame
already and :func:`page_frame` does nothing.  Whichever script runs first, the page gets the
frame once.  (Two other ways were tried and dropped: the page calling ``st.navigation`` and
then ``st.rerun()`` to leave legacy mode loses the button press of every ``AppTest`` run,
where each run is a legacy one; the page calling ``st.navigation`` without the rerun broke
a button press there too; its cause was not pursued.)

Streamlit's own navigation is hidden (``position="hidden"`` here, and
``client.showSidebarNavigation = false`` in ``.streamlit/config.toml`` for the legacy mode's
automatic one); the sidebar draws the titled page links (``st.page_link``) in both modes.
The page icon is an emoji, which the browser gets as a ``data:`` image: a ``:material/…:``
page icon makes it fetch the icon from fonts.gstatic.com, and the app makes no request to
another host.  (``:material/…:`` icons on buttons and links use a font bundled with
Streamlit, served by the app itself.)
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from cocogen.app import components as c
from cocogen.app.state import BACKEND_LABELS, BackendChoice, GenerationSettings, recorded_outputs, sample_input
from cocogen.backends.server_kind import SERVER_KINDS
from cocogen.prompts import SELECTION_LABELS, SELECTIONS
from cocogen.settings import DEFAULT_K, DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT, DEFAULT_TOKEN_BUDGET

APP_TITLE = "CoCoGen Studio"
PAGE_ICON = "🌳"  # an emoji favicon is a data: URL; see the module docstring


@dataclass(frozen=True)
class PageSpec:
    """One page: its script, its title in the navigation and its one-line summary on Home."""

    script: str  # relative to the repository root, as st.Page and st.page_link take it
    title: str
    icon: str  # shown in the sidebar links (a font bundled with Streamlit: no request)
    summary: str = ""

    @property
    def url_path(self) -> str:
        """``home`` for ``pages/home.py``: the address Streamlit gives the page in both modes."""
        return self.script.rsplit("/", 1)[-1].removesuffix(".py")


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/home.py", "Home", ":material/home:"),
    PageSpec(
        "pages/playground.py", "Playground", ":material/science:", "write an input, edit the examples, generate"
    ),
    PageSpec("pages/compare.py", "Compare", ":material/compare_arrows:", "code prompt vs text prompt on the same input"),
    PageSpec("pages/inspect.py", "Inspect", ":material/search:", "browse a run, gold vs predicted graphs"),
    PageSpec("pages/evaluate.py", "Evaluate", ":material/analytics:", "score a format on a dataset split"),
    PageSpec("pages/learn.py", "Learn", ":material/school:", "a guided walkthrough, step by step"),
)


def page(url_path: str) -> PageSpec:
    """The spec of the page at ``url_path`` (``"compare"``)."""
    return next(p for p in PAGES if p.url_path == url_path)


# --- the frame ---------------------------------------------------------------------------------------

# True while app.py runs a page inside the frame it drew (contextvars: one value per script thread).
_FRAMED: ContextVar[bool] = ContextVar("cocogen_app_framed", default=False)


def _page_config() -> None:
    st.set_page_config(page_title=APP_TITLE, page_icon=PAGE_ICON, layout="wide")


def _declare_pages() -> StreamlitPage:
    """Page config and the page list; returns the page Streamlit chose for the URL."""
    _page_config()
    return st.navigation(
        [st.Page(p.script, title=p.title, url_path=p.url_path, default=i == 0) for i, p in enumerate(PAGES)],
        position="hidden",  # the sidebar draws titled links itself (_navigation_links), in both modes
    )


def _draw_sidebar() -> None:
    c.apply_permalink()  # before any widget: a shared address sets the view
    with st.sidebar:
        _navigation_links()
    sidebar()  # also starts loading the local model in the background


def run_entry_point() -> None:
    """``app.py``: draw the frame, then run the chosen page inside it (errors as short messages)."""
    chosen = _declare_pages()
    _draw_sidebar()
    token = _FRAMED.set(True)
    try:
        with c.guard("This page"):  # a last resort: errors are short messages, never tracebacks
            chosen.run()
    finally:
        _FRAMED.reset(token)


def page_frame() -> None:
    """The first line of every page script: draw the frame unless ``app.py`` has (legacy mode, above)."""
    if _FRAMED.get():
        return
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    _page_config()
    ctx = get_script_run_ctx()
    if ctx is None:  # bare mode (python pages/x.py): nothing to draw into
        return
    # Streamlit derives widget ids from the script that draws them.  Drawn as app.py draws
    # them, the sidebar's widgets keep their ids, and so their values, from page to page.
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash):
        _draw_sidebar()


def _navigation_links() -> None:
    st.markdown(f"### {APP_TITLE}")
    for p in PAGES:
        st.page_link(p.script, label=p.title, icon=p.icon)
    st.divider()


# --- the sidebar: model and generation settings -------------------------------------------------------


def _secret(name: str) -> str | None:
    try:
        value = st.secrets.get(name)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - no secrets file is the normal case
        return None
    return str(value) if value else None


def _stored_key() -> tuple[str | None, str]:
    """An API key from Streamlit secrets or the environment, and where it came from."""
    for name in ("COCOGEN_API_KEY", "OPENAI_API_KEY"):
        if v := _secret(name):
            return v, "Streamlit secrets"
    for name in ("COCOGEN_API_KEY", "OPENAI_API_KEY"):
        if v := os.environ.get(name):
            return v, f"the environment (${name})"
    return None, ""


SETTING_DEFAULTS: dict[str, Any] = {
    "gs_k": None,  # each task's own (Task.default_k)
    "gs_select": "fixed",
    "gs_select_seed": 0,  # orders seeded-random few-shot selection
    "gs_budget": DEFAULT_TOKEN_BUDGET,
    "gs_max_tokens": DEFAULT_MAX_TOKENS,
    "gs_temperature": 0.0,
    "gs_top_p": 1.0,
    "gs_seed": 0,  # the sampling seed sent to the model
    "gs_cache": True,
}


def _backend_choice() -> BackendChoice:
    kind = st.radio(
        "Backend",
        list(BACKEND_LABELS),
        format_func=BACKEND_LABELS.__getitem__,
        key="backend_kind",
        label_visibility="collapsed",
    )
    if kind == "local":
        c.default("local_gguf", os.environ.get("COCOGEN_GGUF", ""))
        c.default("local_constrained", True)
        gguf = st.text_input(
            "GGUF model file",
            key="local_gguf",
            placeholder="bundled Gemma 3 270M",
            help="Leave empty for the bundled model, or give the path of any GGUF file.",
        )
        constrained = st.toggle(
            "Constrained decoding",
            key="local_constrained",
            help="The program writes the fixed parts of the code and token masks limit the rest, so every "
            "answer parses. Switch off to see what the small model writes on its own.",
        )
        return BackendChoice("local", model=gguf.strip() or None, constrained=constrained)
    if kind == "openai":
        c.default("openai_base_url", os.environ.get("COCOGEN_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or "")
        c.default("openai_model", os.environ.get("COCOGEN_MODEL", ""))
        base_url = st.text_input("Base URL", key="openai_base_url", placeholder="http://127.0.0.1:8000/v1")
        model = st.text_input("Model", key="openai_model")
        mode = st.selectbox(
            "Endpoint",
            ["auto", "completion", "chat"],
            key="openai_mode",
            help="auto: completions, falling back to chat for chat-only models.",
        )
        server_kind = st.selectbox(
            "Server kind",
            list(SERVER_KINDS),
            key="openai_server_kind",
            help="How a grammar is sent: llama.cpp's servers and vLLM take one, Ollama and OpenAI do not. "
            "auto: ask the server once.",
        )
        constrain = st.toggle(
            "Constrain output",
            key="openai_constrain",
            help="Send the task's grammar with each request so the answer parses. A server that cannot take it "
            "answers unconstrained, and the result says so.",
        )
        c.default("openai_timeout", DEFAULT_TIMEOUT)
        timeout = st.number_input(
            "Timeout (s)",
            min_value=1.0,
            max_value=3600.0,
            step=10.0,
            key="openai_timeout",
            help="Seconds to wait for one answer; a small model on a CPU server can need minutes.",
        )
        stored, where = _stored_key()
        typed = st.text_input(
            "API key",
            type="password",
            key="openai_key",
            placeholder=f"using the key from {where}" if stored else "none (fine for a local server)",
            help="Kept in memory for this session only; never shown, logged or written to run files.",
        )
        return BackendChoice(
            "openai",
            model=model.strip() or None,
            base_url=base_url.strip() or None,
            mode=mode,
            api_key=(typed or stored or None),
            server_kind=server_kind,
            server_constrain=bool(constrain),
            timeout=float(timeout),
        )
    recorded = {str(r.path): r.label for r in recorded_outputs()}
    picked = st.selectbox(
        "Recorded outputs",
        ["", *recorded],
        key="replay_pick",
        format_func=lambda p: recorded.get(p, "the task's recorded outputs (automatic)"),
    )
    path = st.text_input("…or a run file", key="replay_path", placeholder="runs/my-run.jsonl", help="A run file of ours.")
    return BackendChoice("replay", replay_path=(path.strip() or picked or None))


def _k_help() -> str:
    from cocogen.tasks import REGISTRY

    own = [f"{t.default_k} for {t.title}" for t in REGISTRY.values() if t.default_k != DEFAULT_K]
    return (
        f"Each task's own: {DEFAULT_K} examples" + (f" ({'; '.join(own)})" if own else "") + ", the number that "
        "measured best with the offline model (docs/benchmarks.md). More examples make a longer prompt."
    )


_K_HELP = _k_help()


def _generation_settings() -> GenerationSettings:
    for name, value in SETTING_DEFAULTS.items():
        c.default(name, value)
    with st.expander("Generation settings"):
        st.caption("The prompt")
        k = st.select_slider(
            "Few-shot examples (k)",
            [None, *range(17)],
            key="gs_k",
            format_func=lambda v: "each task's own" if v is None else str(v),
            help=_K_HELP,
        )
        select = st.selectbox(
            "Example selection",
            list(SELECTIONS),
            key="gs_select",
            format_func=SELECTION_LABELS.get,
        )
        select_seed = st.number_input(
            "Selection seed",
            0,
            2**31 - 1,
            key="gs_select_seed",
            disabled=select != "random",
            help="Which examples seeded-random selection picks, and in which order.",
        )
        budget = st.number_input("Prompt token budget", 200, 32000, step=100, key="gs_budget")
        st.caption("Sampling")
        max_tokens = st.number_input("Max new tokens", 16, 4096, step=16, key="gs_max_tokens")
        temperature = st.slider("Temperature", 0.0, 2.0, step=0.05, key="gs_temperature")
        top_p = st.slider("Top-p", 0.05, 1.0, step=0.05, key="gs_top_p")
        seed = st.number_input(
            "Sampling seed", 0, 2**31 - 1, key="gs_seed", help="Sent to the model with the request; the prompt is unchanged."
        )
        use_cache = st.toggle("Use the completion cache", key="gs_cache")
    return GenerationSettings(
        k=None if k is None else int(k),
        select=select,
        select_seed=int(select_seed),
        token_budget=int(budget),
        max_tokens=int(max_tokens),
        temperature=float(temperature),
        top_p=float(top_p),
        seed=int(seed),
        use_cache=bool(use_cache),
    )


def sidebar() -> tuple[BackendChoice, GenerationSettings]:
    """The shared sidebar: backend and generation settings.  Returns and stores both.

    Choosing the local model starts loading it in the background (:func:`warm_up`).
    """
    with st.sidebar:
        st.subheader("Model")
        choice = _backend_choice()
        warm_up(choice)  # before the status line, so it already says "loading"
        if choice.kind != "replay":
            _model_status(choice)
        settings = _generation_settings()
    st.session_state[c.CHOICE] = choice
    st.session_state[c.SETTINGS] = settings
    return choice, settings


_STATUS_ICONS = {
    "ready": ":green[:material/check_circle:]",
    "loading": ":orange[:material/hourglass_top:]",
    "warming": ":orange[:material/hourglass_top:]",
    "failed": ":red[:material/error:]",
}


def _model_status(choice: BackendChoice) -> None:
    """The backend's load state; refreshes itself every 2 s while the model loads."""
    state, _ = c.registry().status(choice)

    def draw() -> None:
        now, message = c.registry().status(choice)
        st.caption(f"{_STATUS_ICONS.get(now, ':gray[:material/radio_button_unchecked:]')} {message}")
        if now != state:
            st.rerun()  # the state changed: let the whole page see it

    st.fragment(draw, run_every=2.0 if state in ("loading", "warming") else None)()


# --- background model loading -------------------------------------------------------------------

def _warm_default_prompt(backend: Any) -> None:
    """Prefill the few-shot prefix of the default prompt, so the first Generate does not pay for it."""
    warm = getattr(backend, "warm_up", None)
    if not callable(warm):
        return
    from cocogen.prompts import build_prompt
    from cocogen.tasks import REGISTRY

    task = next(iter(REGISTRY.values()))  # the app's default task, the first registered
    prompt = build_prompt(task, None, task.from_input(sample_input(task)), GenerationSettings().prompt_spec())
    warm(prompt.prefix, background=False)  # already in the registry's loader thread


def warm_up(choice: BackendChoice) -> None:
    """Start loading the local model in the background (once per process).

    ``COCOGEN_WARMUP=0`` turns this off (tests that never use the local model).
    """
    if choice.kind != "local" or os.environ.get("COCOGEN_WARMUP", "1") == "0":
        return
    c.registry().start(choice, warm=_warm_default_prompt)
