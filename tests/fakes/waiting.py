"""Waiting for a condition, not for the machine to be fast."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# Long enough for two busy cores: a deadline only turns a hang into a failure.
DEADLINE_S = 180.0


def wait_until(condition: Callable[[], object], what: str, timeout: float = DEADLINE_S) -> None:
    """Poll ``condition`` until it is true; fail with ``what`` if ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)  # polling interval


def records_in(path: Path) -> int:
    """Complete example lines in a run file so far (the header is not one)."""
    if not path.exists():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    return sum(1 for ln in lines if ln.endswith("\n") and '"kind": "header"' not in ln)


def signal_delivered(pid: int, signum: int) -> bool:
    """Whether a signal sent to process ``pid`` has left its pending set (Linux ``/proc``).

    Once it has, the process's handler has started: here, Python's SIGINT handler in the
    main thread, which raises KeyboardInterrupt before any worker thread runs again.
    """
    status = Path(f"/proc/{pid}/status")
    try:
        fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
    except FileNotFoundError:
        return True  # it is gone: delivered and acted upon
    pending = int(fields.get("ShdPnd", "0"), 16) | int(fields.get("SigPnd", "0"), 16)
    return not pending & (1 << (signum - 1))
