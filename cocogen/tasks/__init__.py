"""Built-in tasks.  Importing this package registers them in :data:`REGISTRY`."""

from importlib import import_module

from cocogen.tasks.base import REGISTRY, Format, Task, get_format, get_task

__all__ = ["REGISTRY", "Format", "Task", "get_format", "get_task"]

for _name in ("proscript", "explagraphs", "propara"):
    import_module(f"cocogen.tasks.{_name}")
