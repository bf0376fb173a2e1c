"""Where a running `batchgate up` says how to reach it (read by `batchgate invoke`, `gc`, `query`).

Kept free of heavy imports: reading it must not create loggers before a handler's environment
and output streams are in place.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_file(aws_port: int) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "batchgate" / f"stack-{aws_port}.json"
