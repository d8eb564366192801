"""CoCoGen Studio — ``streamlit run app.py``.

This script is the frame every page runs in: it declares the pages (``st.navigation``),
draws the shared sidebar (model backend and generation settings) and starts loading the
local model in the background, so the first page is interactive at once.
"""

from __future__ import annotations

import streamlit as st

from cocogen import widgets as w

st.set_page_config(page_title="CoCoGen Studio", page_icon=":material/account_tree:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/playground.py", title="Playground", icon=":material/science:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/inspect.py", title="Inspect", icon=":material/search:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
]

page = st.navigation(PAGES)
choice, _settings = w.sidebar()
w.warm_up(choice)
with w.guard("This page"):  # a last resort: errors are short messages, never tracebacks
    page.run()
