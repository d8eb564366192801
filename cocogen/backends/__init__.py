"""Model backends behind one interface (see :mod:`cocogen.backends.base`).

Importing this package imports no backend implementation; :func:`make_backend` loads the
one asked for.
"""

from cocogen.backends.base import (
    BACKENDS,
    Backend,
    GenerationParams,
    RequestContext,
    make_backend,
    redact,
    register_backend,
    translate_errors,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "GenerationParams",
    "RequestContext",
    "make_backend",
    "redact",
    "register_backend",
    "translate_errors",
]
