"""CoCoGen Studio — ``streamlit run app.py``.

This script is the frame every page runs in: it declares the pages (``st.navigation``),
draws the shared sidebar (model backend and generation settings) and starts loading the
local model in the background, so the first page is interactive at once.

The page scripts live in ``app_pages/``, one per page.  Not ``pages/``: Streamlit still
switches a server whose first request is for a sub-page (a bookmark, a reconnecting tab)
to its legacy multipage mode when a ``pages/`` folder exists, running that page without
this frame — no sidebar, no backend choice.
"""

from __future__ import annotations

import streamlit as st

from cocogen import widgets as w

st.set_page_config(page_title="CoCoGen Studio", page_icon=":material/account_tree:", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/playground.py", title="Playground", icon=":material/science:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/inspect.py", title="Inspect", icon=":material/search:"),
    st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
]

page = st.navigation(PAGES)
w.sidebar()  # also starts loading the local model in the background
with w.guard("This page"):  # a last resort: errors are short messages, never tracebacks
    page.run()
