"""Ids and clock: the shapes AEP's catalog uses."""

from __future__ import annotations

import secrets
import time


def now_ms() -> int:
    """Epoch milliseconds, as AEP's catalog stamps ``created`` / ``updated``."""
    return int(time.time() * 1000)


def new_id() -> str:
    """24 hex characters, the shape of AEP's catalog ids; random, so ids reveal nothing."""
    return secrets.token_hex(12)
