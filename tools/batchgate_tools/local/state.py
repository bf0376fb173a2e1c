"""Where a running `batchgate up` says how to reach it (read by `batchgate invoke`, `gc`, `query`,
and by the API commands, which use its key when none is given).

Kept free of heavy imports: reading it must not create loggers before a handler's environment
and output streams are in place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "batchgate"


def state_file(aws_port: int) -> Path:
    return state_dir() / f"stack-{aws_port}.json"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def running_stacks() -> list[dict[str, Any]]:
    """The state of every `batchgate up` still running, newest first. A file left by a stack that
    was killed (no Ctrl-C to remove it) names a dead pid and is skipped."""
    found = []
    for path in sorted(state_dir().glob("stack-*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            info: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info.get("pid"), int) and alive(info["pid"]):
            found.append(info)
    return found
