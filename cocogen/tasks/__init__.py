"""Built-in tasks.  Importing this package registers every entry of :data:`BUILTIN_TASKS`.

A task is one module (or package) exposing a :class:`~cocogen.tasks.base.Task` object;
adding one is adding its ``"module:attribute"`` line here (see docs/architecture.md).
"""

from importlib import import_module

from cocogen.tasks.base import REGISTRY, Format, InputField, Reference, Task, get_format, get_task, register

__all__ = ["BUILTIN_TASKS", "REGISTRY", "Format", "InputField", "Reference", "Task", "get_format", "get_task"]

# The registry list: order is the order every front end shows the tasks in.
BUILTIN_TASKS = (
    "cocogen.tasks.proscript:SCRIPT_TASK",
    "cocogen.tasks.proscript:EDGE_TASK",
    "cocogen.tasks.explagraphs:TASK",
    "cocogen.tasks.propara:TASK",
)

for _target in BUILTIN_TASKS:
    _module, _, _attr = _target.partition(":")
    register(getattr(import_module(_module), _attr))
