"""``python -m tests.llama_server_main ARGS``: llama-cpp-python's own server, loaded as we load models.

The real server, started with :func:`cocogen.backends.llamacpp.model_params_that_load_safely`
around it, so llama.cpp's extra (AMX) buffer types stay off on the virtual machines where they
crash, as they do for the local backend (the server has no switch for them).
"""

from __future__ import annotations

import runpy

from cocogen.backends.llamacpp import model_params_that_load_safely

if __name__ == "__main__":
    with model_params_that_load_safely():  # the server loads its model before it serves
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
