"""Home: what CoCoGen does, which model is active, where to start."""

from __future__ import annotations

import streamlit as st

from cocogen import widgets as w
from cocogen.session import home_example

st.title("CoCoGen Studio")
st.markdown("##### Structured commonsense reasoning as code generation")

left, right = st.columns([5, 6], gap="large")
with left:
    st.markdown(
        "A script of steps, an argument graph or the states of things in a procedure are **structures**. "
        "CoCoGen writes each one as a small **Python program** — a class whose methods are the steps and "
        "whose `get_relations` lists the order — shows a code model a few such programs, and lets it "
        "**complete the next one**. A parser reads the graph back from the code *without ever running it*. "
        "Code models turn out to be better at this than the same model prompted with flat text."
    )
    choice, _ = w.current()
    state, message = w.registry().status(choice)
    st.info(f"**Model in use:** {choice.describe()}" + (f"  \n{message}" if choice.kind != "replay" else ""))
    st.markdown("**Where to start**")
    st.page_link(
        "app_pages/playground.py",
        label="Playground — write an input, edit the examples, generate",
        icon=":material/science:",
    )
    st.page_link(
        "app_pages/compare.py",
        label="Compare — code prompt vs text prompt on the same input",
        icon=":material/compare_arrows:",
    )
    st.page_link(
        "app_pages/inspect.py", label="Inspect — browse a run, gold vs predicted graphs", icon=":material/search:"
    )
    st.page_link(
        "app_pages/evaluate.py", label="Evaluate — score a format on a dataset split", icon=":material/analytics:"
    )
    st.page_link("app_pages/learn.py", label="Learn — a guided walkthrough, step by step", icon=":material/school:")
with right:
    with w.guard("Drawing the example"):
        code, graph = home_example()
        tab_graph, tab_code = st.tabs(["The graph…", "…written as code"])
        with tab_graph:
            w.show_graph(graph, key="home_graph")
        with tab_code:
            st.code(code, language="python")
