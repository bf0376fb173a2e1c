"""Holding a running stack's pollers back, so `batchgate invoke` handles an event the pollers
would otherwise take first (and then the invocation finds nothing left to do).

Files in the state directory carry the handshake between two processes: ``invoke`` writes
``stack-{port}.hold/{Function}`` with its pid and waits until every poller of that function has
written ``{Function}.{worker}.ack``: a poller acknowledges only between two deliveries, so once
all have, none is receiving or handling a message, and none will until the request is gone. A
request whose process died is ignored, so a killed ``invoke`` never stalls the stack.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from batchgate_tools.local.state import alive, state_dir


def hold_dir(aws_port: int) -> Path:
    return state_dir() / f"stack-{aws_port}.hold"


class PollerHold:
    """The pollers' side: asked before each receive."""

    def __init__(self, aws_port: int) -> None:
        self.dir = hold_dir(aws_port)

    def held(self, function: str, worker: str) -> bool:
        ack = self.dir / f"{function}.{worker}.ack"
        request = self.dir / function
        try:
            holder = int(request.read_text() or "0")
        except (OSError, ValueError):
            holder = 0
        if holder and alive(holder):
            ack.touch()
            return True
        ack.unlink(missing_ok=True)
        return False


class HoldTimeout(RuntimeError):
    pass


@contextmanager
def hold_pollers(aws_port: int, function: str, workers: int, timeout: float = 20.0) -> Iterator[None]:
    """The invoker's side: returns once the stack's ``workers`` pollers of ``function`` stand
    aside, and lets them go on leaving the block."""
    directory = hold_dir(aws_port)
    directory.mkdir(parents=True, exist_ok=True)
    request = directory / function
    request.write_text(str(os.getpid()))
    try:
        deadline = time.monotonic() + timeout
        while len(list(directory.glob(f"{function}.*.ack"))) < workers:
            if time.monotonic() > deadline:
                raise HoldTimeout(
                    f"the stack's {workers} poller(s) of {function} did not stand aside in {timeout:g}s"
                )
            time.sleep(0.05)
        yield
    finally:
        request.unlink(missing_ok=True)
