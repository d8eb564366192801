"""Learn: a guided walkthrough — input, code, prompt, completion, parsed graph, and why code helps."""

from __future__ import annotations

import streamlit as st

from cocogen import widgets as w
from cocogen.compare import compare_formats
from cocogen.pipeline import generate
from cocogen.session import assemble_prompt, example_text, truncated_parse

STEPS = ["The task", "Structure as code", "The prompt", "The model completes", "Reading it back", "Why code helps"]

st.title("Learn how CoCoGen works")
choice, settings = w.current()
task = w.task_picker(key="learn_task", label="Task to learn with")
step = w.stepper("learn_step", STEPS)

ex = w.fewshot_pool_or_error(task)[:1]
code_fmt = next(iter(task.formats.values()))
text_fmt = next((f for f in task.formats.values() if f.kind == "text"), None)
query = task.from_input(w.SAMPLE_INPUTS[task.name])

if step == 0:
    st.markdown(f"**{task.title}.** {task.description}")
    st.markdown("The model gets an *input* like this one and must produce the *structure*:")
    st.markdown("\n".join(f"- **{k.replace('_', ' ')}**: {w.plain(v)}" for k, v in task.to_input(query).items()))
    st.markdown("Here is a worked example from the few-shot examples we wrote, drawn as a graph:")
    if ex:
        w.show_graph(ex[0].graph, key="learn_ex_graph")
elif step == 1:
    st.markdown(
        "CoCoGen writes the same structure as **Python code**. Code models have read millions of programs, "
        "so classes, methods, strings and lists are a shape they complete reliably. The flat-text baseline "
        "says the same thing in a format the model has rarely seen."
    )
    if ex:
        a, b = st.columns(2)
        a.markdown(f"**Code** (`{code_fmt.name}` format)")
        a.code(example_text(task, code_fmt, ex[0]), language="python")
        if text_fmt is not None:
            b.markdown(f"**Flat text** (`{text_fmt.name}` format, the paper's baseline)")
            b.code(example_text(task, text_fmt, ex[0]), language=None, wrap_lines=True)
elif step == 2:
    prompt = assemble_prompt(task, code_fmt, query, w.fewshot_pool_or_error(task), settings)
    st.markdown(
        f"The prompt is **{len(prompt.examples)} examples**, each followed by a `# END` line, then the new "
        f"input written as the *start* of a program (≈{prompt.n_tokens} tokens). The model continues it; "
        f"generation stops at {', '.join(f'`{s.strip()}`' for s in prompt.stop)}."
    )
    st.html(w.code_html(prompt.prefix[-1500:], prompt.query_text))
    st.caption("The end of the prompt: grey is the last example, blue is the input for the model to continue.")
elif step == 3:
    st.markdown(
        f"Now a model completes the program. In use: **{choice.describe()}** (change it in the sidebar; "
        "the local model works offline)."
    )
    if st.button("Complete the program", type="primary", key="learn_go", icon=":material/play_arrow:"):
        with w.guard("Generating"):
            backend = w.backend_for(task.name)
            with st.spinner("Generating…"):
                st.session_state["learn_result"] = generate(
                    task,
                    code_fmt,
                    query,
                    backend,
                    spec=settings.prompt_spec(w.fewshot_pool_or_error(task)),
                    params=settings.params(),
                    cache=w.completion_cache(settings.use_cache),
                )
    res = st.session_state.get("learn_result")
    if res is not None and res.task == task.name:
        w.show_code(res.prompt.query_text, res.completion, key="learn_code")
elif step == 4:
    res = st.session_state.get("learn_result")
    if res is None or res.task != task.name:
        st.info("Complete the program in the previous step first.")
    else:
        st.markdown(
            "The parser reads the structure back with Python's own tokenizer and syntax tree — it **never "
            "runs** the model's code — and lists what it noticed instead of failing."
        )
        a, b = st.columns(2)
        with a:
            st.markdown("**The full answer**")
            w.show_graph(res.graph, key="learn_graph")
            w.show_problems(res.problems, ok=res.ok)
        with b:
            cut, parsed = truncated_parse(code_fmt, res.completion, res.query)
            st.markdown("**The same answer cut at 60 %** (as a token limit would)")
            w.show_graph(parsed.graph, key="learn_graph_cut")
            w.show_problems(parsed.problems, ok=parsed.ok)
else:
    st.markdown(
        "The paper's finding: with the *same* model and examples, the code prompt gives better structures "
        "than flat text — fewer malformed answers, and graphs closer to the reference. Try it here:"
    )
    if st.button("Run code and text on this input", type="primary", key="learn_cmp"):
        with w.guard("Comparing"):
            backend = w.backend_for(task.name)
            with st.spinner("Generating both…"):
                st.session_state["learn_cmp_result"] = compare_formats(
                    task,
                    w.compare_default(task),
                    query,
                    backend,
                    pool=w.fewshot_pool_or_error(task),
                    k=settings.k,
                    select=settings.select,
                    token_budget=settings.token_budget,
                    params=settings.params(),
                    cache=w.completion_cache(settings.use_cache),
                )
    outcomes = st.session_state.get("learn_cmp_result")
    if outcomes and outcomes[0].result is not None and outcomes[0].result.task == task.name:
        w.show_comparison(outcomes, None)
    st.page_link(
        "app_pages/compare.py",
        label="Go further on the Compare page, with references and metrics",
        icon=":material/compare_arrows:",
    )
