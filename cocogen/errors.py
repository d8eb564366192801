"""One exception family.  Messages are one sentence a user can act on.

Parse problems in model output are *data* (:class:`cocogen.types.Problem`), not exceptions.
"""

from __future__ import annotations

__all__ = ["CocogenError", "ConfigError", "InputError", "DataError", "BackendError"]


class CocogenError(Exception):
    """Base class; ``str(err)`` is shown to users as is."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def user_message(self) -> str:
        return f"{self} {self.hint}".strip()


class ConfigError(CocogenError):
    """A setting is missing or invalid (unknown task, format, backend option...)."""


class InputError(CocogenError):
    """A task input given by a user is empty, too large or malformed."""


class DataError(CocogenError):
    """A data file is missing or malformed; the message names the file and line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, hint: str = "") -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message, hint=hint)
        self.path = path
        self.line = line


class BackendError(CocogenError):
    """A model backend failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False, hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable
        self.status = status
