"""Batch statistics over a time window (the dashboard's charts): rows ingested and failed per
hour over 24 hours or per day over 30 days, and batches by status. Pure: the caller hands in the
batches created in the window (``windows(...).start`` onwards), newest or oldest first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from batchgate.core.models import Batch

Window = Literal["24h", "30d"]
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# window → (bin width, number of bins)
WINDOWS: dict[str, tuple[int, int]] = {"24h": (HOUR_MS, 24), "30d": (DAY_MS, 30)}
MAX_UTC_OFFSET_MINUTES = 14 * 60  # every time zone lies within 14 hours of UTC (Kiribati: +14)


@dataclass(frozen=True)
class Span:
    """The bins of a window: ``bins`` bins of ``width`` ms from ``start``, the last one holding
    ``now``. Bins start at a local hour or midnight for the caller's UTC offset."""

    start: int
    width: int
    bins: int

    @property
    def end(self) -> int:
        return self.start + self.width * self.bins


def span(window: Window, now_ms: int, utc_offset_minutes: int = 0) -> Span:
    width, bins = WINDOWS[window]
    offset = utc_offset_minutes * 60_000
    # The bin holding ``now``, aligned on the caller's local clock (days start at local midnight).
    current = (now_ms + offset) // width * width - offset
    return Span(current - (bins - 1) * width, width, bins)


def aggregate(batches: Iterable[Batch], s: Span) -> dict[str, Any]:
    """``rowsIngested`` counts the output records of batches that landed and stayed (``success``)
    and of those landed then reverted (``inactive``: their rows did arrive); ``rowsFailed`` the
    failed records of every batch. A batch counts in the bin of its creation time."""
    bins = [
        {"start": s.start + i * s.width, "batches": 0, "rowsIngested": 0, "rowsFailed": 0}
        for i in range(s.bins)
    ]
    by_status: Counter[str] = Counter()
    for b in batches:
        if not s.start <= b.created < s.end:
            continue
        one = bins[(b.created - s.start) // s.width]
        one["batches"] += 1
        if b.status in ("success", "inactive"):
            one["rowsIngested"] += b.metrics.output_record_count
        one["rowsFailed"] += b.metrics.failed_record_count
        by_status[b.status] += 1
    return {
        "bins": bins,
        "byStatus": dict(sorted(by_status.items())),
        "totals": {k: sum(x[k] for x in bins) for k in ("batches", "rowsIngested", "rowsFailed")},
    }
