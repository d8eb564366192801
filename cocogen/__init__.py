"""CoCoGen Studio: structured commonsense reasoning as code generation.

The library behind the app and the ``cocogen`` command: task plug-ins that write graphs
as Python code (and as the paper's text baseline) and read model output back without
executing it, few-shot prompt assembly, model backends, batch runs and metrics.

Names are imported lazily so ``import cocogen.types`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "REGISTRY": "cocogen.tasks",
    "get_task": "cocogen.tasks",
    "get_format": "cocogen.tasks",
    "build_prompt": "cocogen.prompts",
    "Prompt": "cocogen.prompts",
    "PromptSpec": "cocogen.prompts",
    "Script": "cocogen.types",
    "ExplaGraph": "cocogen.types",
    "StateTable": "cocogen.types",
    "Example": "cocogen.types",
    "Problem": "cocogen.types",
    "ProblemKind": "cocogen.types",
    "ParseResult": "cocogen.types",
    "Generation": "cocogen.types",
    "CocogenError": "cocogen.errors",
    "ConfigError": "cocogen.errors",
    "InputError": "cocogen.errors",
    "DataError": "cocogen.errors",
    "BackendError": "cocogen.errors",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cocogen' has no attribute {name!r}")
