"""CoCoGen Studio, the Streamlit front end: ``streamlit run app.py``.

- :mod:`cocogen.app.frame` — the frame every page runs in: page list, navigation, shared sidebar.
- :mod:`cocogen.app.components` — Streamlit pieces used by two or more pages.
- :mod:`cocogen.app.state` — the session's state without Streamlit (backend choice, settings,
  few-shot helpers); :mod:`cocogen.app.jobs` — background jobs and batch runs;
  :mod:`cocogen.app.compare` and :mod:`cocogen.app.inspection` — the Compare and Inspect pages'
  computations, without Streamlit.

The page scripts are ``pages/*.py`` at the top of the repository; each owns the sections only
it shows.  Nothing in the library (the rest of :mod:`cocogen`) imports this package, and this
``__init__`` imports nothing, so ``import cocogen.app.state`` does not load Streamlit.
"""
