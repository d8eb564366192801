"""Home: what CoCoGen does, which model is active, where to start."""

from __future__ import annotations

import streamlit as st

from cocogen.app import components as c
from cocogen.app.frame import PAGES, page_frame
from cocogen.app.state import home_example

page_frame()

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
    choice, _ = c.current()
    state, message = c.registry().status(choice)
    st.info(f"**Model in use:** {choice.describe()}" + (f"  \n{message}" if choice.kind != "replay" else ""))
    st.markdown("**Where to start**")
    for p in PAGES:
        if p.summary:
            st.page_link(p.script, label=f"{p.title} — {p.summary}", icon=p.icon)
with right:
    with c.guard("Drawing the example"):
        code, graph = home_example()
        tab_graph, tab_code = st.tabs(["The graph…", "…written as code"])
        with tab_graph:
            c.show_graph(graph, key="home_graph")
        with tab_code:
            st.code(code, language="python")
