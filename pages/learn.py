"""Learn: a guided walkthrough — input, code, prompt, completion, parsed graph, and why code helps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from cocogen.app import components as c
from cocogen.app import live_view as lv
from cocogen.app.compare import default_formats
from cocogen.app.frame import page, page_frame
from cocogen.app.presenter import PRESENTER_CSS, recorded_examples, recorded_tasks, side_by_side
from cocogen.app.state import assemble_prompt, example_text, sample_input, truncated_parse
from cocogen.streaming import was_stopped
from cocogen.tasks import REGISTRY, get_task
from cocogen.tasks.base import Task
from cocogen.types import Example, Graph

page_frame()

STEPS = ["The task", "Structure as code", "The prompt", "The model completes", "Reading it back", "Why code helps",
         "Codex beside the offline model"]  # fmt: skip


def stepper(key: str, steps: Sequence[str], *, keys: bool = False) -> int:
    """A step indicator with Back / Next (with ``keys``, also the ← and → keys); returns the current step index."""
    st.session_state.setdefault(key, 0)
    i = max(0, min(len(steps) - 1, int(st.session_state[key])))
    st.progress((i + 1) / len(steps), text=f"Step {i + 1} of {len(steps)} · **{steps[i]}**")
    cols = st.columns([1, 1, 6])
    cols[0].button(
        "Back", key=f"{key}_back", icon=":material/arrow_back:", disabled=i == 0,
        on_click=st.session_state.__setitem__, args=(key, i - 1), shortcut="Left" if keys else None,
    )  # fmt: skip
    cols[1].button(
        "Next", key=f"{key}_next", icon=":material/arrow_forward:", disabled=i == len(steps) - 1,
        on_click=st.session_state.__setitem__, args=(key, i + 1), shortcut="Right" if keys else None,
    )  # fmt: skip
    return i


@st.cache_resource(show_spinner=False, max_entries=8)
def _recorded(task_name: str, data_dir: str) -> list[tuple[str, Graph, Graph | None]]:
    return recorded_examples(task_name, root=Path(data_dir))


def codex_beside_offline(task: Task, pool: list[Example]) -> None:
    """The paper's recorded Codex answer and the offline model's answer to the same input and prompt."""
    from cocogen.app.state import BackendChoice, example_title
    from cocogen.settings import data_dir

    choice, settings = c.current()
    have = recorded_tasks()
    if task.name not in have:
        if not have:
            c.data_download_offer("learn", why="The paper's Codex outputs come with the datasets.")
        if task.recorded_outputs is None or have:
            named = [get_task(n).title for n in REGISTRY if get_task(n).recorded_outputs]
            st.info(f"The paper's recorded Codex outputs cover {' and '.join(named)}: choose one as the task above.")
        return
    rows = _recorded(task.name, str(data_dir()))
    pick = st.selectbox(
        "An input the paper's Codex answered",
        range(len(rows)),
        key=f"learn_codex_row:{task.name}",
        format_func=lambda i: example_title(task, Example(rows[i][0], rows[i][1]), 90),
    )
    ex_id, query, reference = rows[pick or 0]
    st.markdown("\n".join(f"- **{k.replace('_', ' ')}**: {c.plain(v)}" for k, v in task.to_input(query).items()))
    offline = choice if choice.kind != "replay" else BackendChoice()
    offline_label = "The offline model" if offline.kind == "local" else "The model chosen in the sidebar"
    if st.button("Show both answers", type="primary", key="learn_both_go", icon=":material/play_arrow:"):
        fmt = next(iter(task.formats.values()))
        with c.guard("Generating"), st.spinner("Replaying Codex, then asking the other model…"):
            answers = side_by_side(
                task, fmt, query, ex_id, assemble_prompt(task, fmt, query, pool, settings),
                [("Codex (the paper's recorded answer)", c.registry().get(BackendChoice("replay"), task.name)),
                 (f"{offline_label} · {offline.describe()}", c.registry().get(offline, None))],
                params=settings.params(), cache=c.completion_cache(settings.use_cache),
            )  # fmt: skip
            st.session_state["learn_both"] = (task.name, ex_id, answers)
    saved = st.session_state.get("learn_both")
    if saved is None or saved[:2] != (task.name, ex_id):
        return
    for col, (i, answer) in zip(st.columns(len(saved[2]), gap="large"), enumerate(saved[2]), strict=True):
        with col:
            st.subheader(answer.label)
            if answer.result is None:
                st.error(answer.error)
                continue
            c.show_graph(answer.result.graph, key=f"learn_both_graph_{i}", gold=reference, caption=False)
            c.show_problems(answer.result.problems, ok=answer.result.ok)
            with st.expander("The code it wrote"):
                st.code(answer.result.completion or "(empty)", language="python")


st.title("Learn how CoCoGen works")
choice, settings = c.current()
presenter = st.toggle(
    "Presenter mode", key="learn_presenter", help="Larger type for a projector; ← and → go back and next."
)
if presenter:
    st.html(PRESENTER_CSS)
task = c.task_picker(key="learn_task", label="Task to learn with")
step = stepper("learn_step", STEPS, keys=presenter)

pool = c.fewshot_pool_or_error(task)
ex = pool[:1]
code_fmt = next(iter(task.formats.values()))
text_fmt = next((f for f in task.formats.values() if f.kind == "text"), None)
query = task.from_input(sample_input(task))

if step == 0:
    st.markdown(f"**{task.title}.** {task.description}")
    st.markdown("The model gets an *input* like this one and must produce the *structure*:")
    st.markdown("\n".join(f"- **{k.replace('_', ' ')}**: {c.plain(v)}" for k, v in task.to_input(query).items()))
    st.markdown("Here is a worked example from the few-shot examples we wrote, drawn as a graph:")
    if ex:
        c.show_graph(ex[0].graph, key="learn_ex_graph")
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
    prompt = assemble_prompt(task, code_fmt, query, pool, settings)
    st.markdown(
        f"The prompt is **{len(prompt.examples)} examples**, each followed by a `# END` line, then the new "
        f"input written as the *start* of a program (≈{prompt.n_tokens} tokens). The model continues it; "
        f"generation stops at {', '.join(f'`{s.strip()}`' for s in prompt.stop)}."
    )
    st.html(c.code_html(prompt.prefix[-1500:], prompt.query_text))
    st.caption("The end of the prompt: grey is the last example, blue is the input for the model to continue.")
elif step == 3:
    st.markdown(
        f"Now a model completes the program. In use: **{choice.describe()}** (change it in the sidebar; "
        "the local model works offline)."
    )
    st.button(
        "Complete the program", type="primary", key="learn_go", icon=":material/play_arrow:",
        on_click=lv.request, args=("learn",),
    )  # fmt: skip
    with lv.answering("learn") as asked, c.guard("Generating"):
        if asked:
            lv.start_generation(
                "learn",
                task,
                code_fmt,
                query,
                c.backend_for(task.name),
                backend_kind=choice.kind,
                prompt=assemble_prompt(task, code_fmt, query, pool, settings),  # the prompt step 2 showed
                params=settings.params(),
                cache=c.completion_cache(settings.use_cache),
            )
            st.session_state.pop("learn_result", None)
    finished = lv.live_panel("learn", lambda job: lv.draw_lane(job.lanes[0], key="learn"))
    if finished is not None and finished.lanes[0].value is not None:
        st.session_state["learn_result"] = finished.lanes[0].value
    res = st.session_state.get("learn_result")
    if res is not None and res.task == task.name:
        lv.stopped_note(was_stopped(res))
        c.show_code(res.prompt.query_text, res.completion, key="learn_code")
elif step == 4:
    if (done := lv.collect("learn")) is not None and done.lanes[0].value is not None:
        st.session_state["learn_result"] = done.lanes[0].value  # it finished while this step was open
    res = st.session_state.get("learn_result")
    if lv.running("learn"):
        st.info("The model is still writing: watch it in the previous step.")
    elif res is None or res.task != task.name:
        st.info("Complete the program in the previous step first.")
    else:
        st.markdown(
            "The parser reads the structure back with Python's own tokenizer and syntax tree — it **never "
            "runs** the model's code — and lists what it noticed instead of failing."
        )
        a, b = st.columns(2)
        with a:
            st.markdown("**The full answer**")
            c.show_graph(res.graph, key="learn_graph")
            c.show_problems(res.problems, ok=res.ok)
        with b:
            cut, parsed = truncated_parse(code_fmt, res.completion, res.query)
            st.markdown("**The same answer cut at 60 %** (as a token limit would)")
            c.show_graph(parsed.graph, key="learn_graph_cut")
            c.show_problems(parsed.problems, ok=parsed.ok)
elif step == 5:
    st.markdown(
        "The paper's finding: with the *same* model and examples, the code prompt gives better structures "
        "than flat text — fewer malformed answers, and graphs closer to the reference. Try it here:"
    )
    st.button(
        "Run code and text on this input", type="primary", key="learn_cmp", on_click=lv.request, args=("learn_cmp",)
    )
    with lv.answering("learn_cmp") as asked, c.guard("Comparing"):
        if asked:
            lv.start_comparison(
                "learn_cmp",
                task,
                default_formats(task),
                query,
                c.backend_for(task.name),
                backend_kind=choice.kind,
                reference=None,
                spec=settings.prompt_spec(pool),
                params=settings.params(),
                cache=c.completion_cache(settings.use_cache),
            )
            st.session_state.pop("learn_cmp_result", None)
    finished = lv.live_panel("learn_cmp", lv.draw_columns)
    if finished is not None:
        st.session_state["learn_cmp_result"] = lv.outcomes(finished)
    outcomes = st.session_state.get("learn_cmp_result")
    if outcomes and outcomes[0].result is not None and outcomes[0].result.task == task.name:
        c.show_comparison(outcomes, None)
    compare = page("compare")
    st.page_link(compare.script, label="Go further on the Compare page, with references and metrics", icon=compare.icon)
else:
    st.markdown(
        "The paper's model, Codex, is no longer served; its answers to the paper's inputs were recorded. Here they "
        "are beside an answer of a model you can run, to the same input with the same prompt — no key needed."
    )
    codex_beside_offline(task, pool)
