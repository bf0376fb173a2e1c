"""Where a running `batchgate up` says how to reach it (read by `batchgate invoke`, `gc`, `check`,
and by `batchgate query`, which finds it by its API URL).

Kept free of heavy imports: reading it must not create loggers before a handler's environment
and output streams are in place.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "batchgate"


def state_file(aws_port: int) -> Path:
    return state_dir() / f"stack-{aws_port}.json"


def state_files() -> list[Path]:
    """The state files of every stack that says it is running (a killed one may leave its file)."""
    return sorted(state_dir().glob("stack-*.json"))
