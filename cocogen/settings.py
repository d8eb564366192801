"""Named defaults and environment-variable settings, in one place."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "cache_dir", "assets_dir", "DEFAULT_K", "DEFAULT_TOKEN_BUDGET", "DEFAULT_MAX_TOKENS"]

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_K = 8
DEFAULT_TOKEN_BUDGET = 3800  # prompt tokens; fits a 4k-context model with room for the answer
DEFAULT_MAX_TOKENS = 400
DEFAULT_TEMPERATURE = 0.0
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 3


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cocogen"


def data_dir() -> Path:
    """Where datasets live: ``$COCOGEN_DATA_DIR``, else ``~/.cache/cocogen/data``."""
    env = os.environ.get("COCOGEN_DATA_DIR")
    return Path(env).expanduser() if env else _user_cache_root() / "data"


def cache_dir() -> Path:
    """Where completions and downloads are cached: ``$COCOGEN_CACHE_DIR``, else ``~/.cache/cocogen``."""
    env = os.environ.get("COCOGEN_CACHE_DIR")
    return Path(env).expanduser() if env else _user_cache_root()


def assets_dir() -> Path:
    """Few-shot examples we wrote ourselves (``assets/`` beside the package)."""
    env = os.environ.get("COCOGEN_ASSETS_DIR")
    return Path(env) if env else PACKAGE_ROOT.parent / "assets"
