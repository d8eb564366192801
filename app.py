"""CoCoGen Studio — ``streamlit run app.py``.

The entry point is the frame: it declares the pages (``pages/*.py``) with ``st.navigation``,
draws the shared sidebar (navigation, model backend, generation settings; it also starts
loading the local model in the background, so the first page is interactive at once) and
runs the chosen page inside it.  See :mod:`cocogen.app.frame`, which also explains why every
page script draws the same frame when Streamlit runs it without this file.
"""

from __future__ import annotations

from cocogen.app.frame import run_entry_point

run_entry_point()
