"""Where a running `batchgate up` says how to reach it (read by `batchgate invoke`, `gc`, `check`,
by `batchgate query`, which finds it by its API URL, and by the API commands, which use its key
when none is given).

Kept free of heavy imports: reading it must not create loggers before a handler's environment
and output streams are in place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "batchgate"


def state_file(aws_port: int) -> Path:
    return state_dir() / f"stack-{aws_port}.json"


def state_files() -> list[Path]:
    """The state files of every stack that says it is running (a killed one may leave its file)."""
    return sorted(state_dir().glob("stack-*.json"))


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
    for path in state_files():
        try:
            info: dict[str, Any] = json.loads(path.read_text())
            mtime = path.stat().st_mtime
        except (OSError, ValueError):  # removed meanwhile by a stack stopping, or half written
            continue
        if isinstance(info.get("pid"), int) and alive(info["pid"]):
            found.append((mtime, info))
    return [info for _, info in sorted(found, key=lambda f: f[0], reverse=True)]
