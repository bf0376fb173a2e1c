"""Failure drills: make one step of batchgate fail on purpose, to watch what becomes of the data.

``BATCHGATE_FAULT`` holds ``point[:action]`` entries, comma-separated. Each fires once, the first
time the step reaches its point, and is then forgotten. Off unless the variable is set.

Points, in the order a batch meets them:

``validate``
    a file's validation, after its first block was checked and staged
``assemble``
    joining an AEP chunked upload at its COMPLETE, after the first part is in S3
``commit``
    a batch's landing (promote, replay, upsert), just before its Iceberg commit
``abort-cleanup``
    an aborted batch's cleanup, after its staged files were handled
``revert``
    a revert, just before its Iceberg commit
``gc``
    the GC sweep, after a reverted batch's snapshots were expired, before its prefixes go
``bundle-export``
    a bundle's export, after a dataset's parts were written, before the bundle is finished
``bundle-import``
    a bundle's import, after its first part was copied into its batch

Actions: ``transient`` (the default) raises a transient error, which the state machines retry;
``kill`` ends the process at once (``os._exit``: no cleanup, no flush — as ``kill -9`` would), to
drill crash recovery; ``delay=SECONDS`` sleeps there, to widen a race (an ABORT during a commit).
Several processes (``batchgate up`` runs each function in processes of its own) share one drill
through two more variables: ``BATCHGATE_FAULT_STATE`` names a directory where each entry, when it
fires, leaves a claim, so it fires once across all of them; ``BATCHGATE_FAULT_KILL_PID`` names the
process ``kill`` ends first (the stack's, so a drill still ends the whole system at once).
``tests/e2e/test_faults.py`` runs each kill point end to end and checks the invariants after a
restart; an operator can run the same drills against their own stack.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from batchgate.core.errors import Transient

POINTS = ("validate", "assemble", "commit", "abort-cleanup", "revert", "gc", "bundle-export", "bundle-import")
ENV = "BATCHGATE_FAULT"
STATE_ENV = "BATCHGATE_FAULT_STATE"
KILL_PID_ENV = "BATCHGATE_FAULT_KILL_PID"
_lock = threading.Lock()


def inject(point: str) -> None:
    """Fire the drill set for ``point``, if any (and forget it)."""
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r}")
    if not os.environ.get(ENV):
        return
    shared = os.environ.get(STATE_ENV)
    with _lock:
        entries = [e.strip() for e in os.environ.get(ENV, "").split(",") if e.strip()]
        for i, entry in enumerate(entries):
            name, _, action = entry.partition(":")
            if name != point:
                continue
            if shared:
                if not _claim(Path(shared) / f"fired-{i}"):
                    continue  # another process fired this entry; a later one may be ours
            else:
                del entries[i]
                if entries:
                    os.environ[ENV] = ",".join(entries)
                else:
                    os.environ.pop(ENV, None)
            break
        else:
            return
    _act(point, action or "transient")


def _claim(marker: Path) -> bool:
    """True for the one process that creates ``marker`` (O_EXCL is atomic across processes)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def _act(point: str, action: str) -> None:
    if action == "transient":
        raise Transient(f"injected fault at {point} ({ENV})", code="BG-503-INJECTED")
    if action == "kill":
        # The one trace of the drill: the process ends before any log would be flushed.
        os.write(2, f"{ENV}: {point}: kill\n".encode())
        target = os.environ.get(KILL_PID_ENV)
        if target and int(target) != os.getpid():
            os.kill(int(target), signal.SIGKILL)
        os._exit(137)
    if action.startswith("delay="):
        time.sleep(float(action.removeprefix("delay=")))
        return
    raise ValueError(f"{ENV}: unknown action {action!r} at {point} (transient, kill or delay=SECONDS)")
