"""Playground: one input, editable few-shot examples, the prompt, and the generated program and graph."""

from __future__ import annotations

import streamlit as st

from cocogen import widgets as w
from cocogen.pipeline import generate
from cocogen.session import assemble_prompt

st.title("Playground")
choice, settings = w.current()

top = st.columns([2, 3])
with top[0]:
    task = w.task_picker()
with top[1]:
    fmt_name = st.segmented_control(
        "Format",
        list(task.formats),
        key=w.bound_choice(f"pg_fmt:{task.name}", list(task.formats)),
        on_change=w.sync,
        args=(f"pg_fmt:{task.name}",),
        required=True,
        format_func=lambda n: f"{n} · {task.formats[n].kind}",
    )
fmt = task.formats[fmt_name or next(iter(task.formats))]
st.caption(f"{task.description}  \n**{fmt.name}**: {fmt.description}")

left, right = st.columns([2, 3], gap="large")
query = prompt = None
with left:
    st.subheader("Input")
    w.dataset_filler(task)
    values = w.input_form(task)
    with w.guard("Reading the input"):
        query = task.from_input(values)
    actions = st.container()  # filled below, once the examples are known
with right:
    st.subheader("Few-shot examples")
    pool = w.fewshot_pool_or_error(task)
    used = min(settings.k, len(pool))
    with st.expander(f"{len(pool)} examples in the pool · the first {used} go into the prompt — edit, reorder, add"):
        pool = w.fewshot_editor(task, fmt, query, settings.k)

with actions:
    if query is not None:
        with w.guard("Building the prompt"):
            prompt = assemble_prompt(task, fmt, query, pool, settings)
    if prompt is not None:
        dropped = f", {prompt.dropped} dropped to fit the budget" if prompt.dropped else ""
        with st.expander(f"Assembled prompt · ≈{prompt.n_tokens} tokens · {len(prompt.examples)} examples{dropped}"):
            st.html(w.code_html(prompt.prefix, prompt.query_text))
            st.caption(
                "Grey: the few-shot examples · blue: your input, which the model continues. "
                f"Stops at: {', '.join(repr(s) for s in prompt.stop)}"
            )
        if st.button("Generate", type="primary", icon=":material/play_arrow:", key="pg_generate"):
            with w.guard("Generating"):
                backend = w.backend_for(task.name)
                with st.spinner(f"Generating with {choice.describe()}…"):
                    st.session_state["pg_result"] = generate(
                        task,
                        fmt,
                        query,
                        backend,
                        prompt=prompt,
                        params=settings.params(),
                        cache=w.completion_cache(settings.use_cache),
                    )

result = st.session_state.get("pg_result")
if result is not None and result.task == task.name:
    st.divider()
    w.show_result(result, key="pg")
elif prompt is not None:
    st.info("Press **Generate** to complete the prompt with the model chosen in the sidebar.")
