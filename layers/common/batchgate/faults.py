"""Failure drills: ``BATCHGATE_FAULT=<point>`` makes the next pass through that point fail as a
transient error, so operators (and the end-to-end tests) can watch a batch go retrying → staging
→ success and check that nothing of the failed attempt stayed. Off unless the variable is set;
each drill fires once.

Points: ``commit`` (a batch's Iceberg commit: promote, replay, upsert), ``revert``.
"""

from __future__ import annotations

import os

from batchgate.core.errors import Transient


def inject(point: str) -> None:
    if os.environ.get("BATCHGATE_FAULT") == point:
        os.environ.pop("BATCHGATE_FAULT")
        raise Transient(f"injected fault at {point} (BATCHGATE_FAULT)", code="BG-503-INJECTED")
