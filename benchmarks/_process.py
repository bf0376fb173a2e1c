"""A benchmark case in a process of its own, so its peak RSS (``VmHWM``) and CPU time are its own:
the child prints one JSON object as its last line of output, and that is the answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The runtime package and the tools, as a Lambda layer and the CLI see them.
PACKAGES = f"{ROOT / 'layers' / 'common'}:{ROOT / 'tools'}"


def run_module(module: str, *args: str, env_defaults: dict[str, str] | None = None) -> dict[str, Any]:
    """``python -m module *args`` from the repository's root, with the repository on PYTHONPATH
    and this process's environment (``env_defaults`` filling in what it does not set)."""
    env = {**(env_defaults or {}), **os.environ, "PYTHONPATH": f"{ROOT}:{PACKAGES}"}
    return _last_line_json([sys.executable, "-m", module, *args], env)


def run_script(script: str, *args: str) -> dict[str, Any]:
    """``python -c script *args`` in a bare environment: only the runtime package and the tools on
    PYTHONPATH, only the system's bin folders on PATH."""
    return _last_line_json(
        [sys.executable, "-c", script, *args], {"PYTHONPATH": PACKAGES, "PATH": "/usr/bin:/bin"}
    )


def _last_line_json(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
