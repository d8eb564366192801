"""``python -m cocogen.backends.llama_server ARGS``: llama-cpp-python's own server, loaded as the local backend loads models.

The same server and arguments as ``python -m llama_cpp.server``, started inside
:func:`cocogen.backends.llamacpp.model_params_that_load_safely`, so llama.cpp's extra
(AMX) buffer types stay off on the virtual machines where they crash (the server has no
switch for them).  The tests and ``bench/bench_server.py`` start it this way.
"""

from __future__ import annotations

from cocogen.backends.llamacpp import model_params_that_load_safely

if __name__ == "__main__":
    from llama_cpp.server.__main__ import main  # reads sys.argv as `python -m llama_cpp.server` does

    with model_params_that_load_safely():  # the server loads its model before it serves
        main()
