"""Batch statistics for the dashboard's charts: one range query of the window's batches on the
time-ordered index, aggregated by ``core.batch_stats``."""

from __future__ import annotations

from typing import Any

from batchgate.aws.store import Store
from batchgate.core.batch_stats import Window, aggregate, span
from batchgate.core.ids import now_ms
from batchgate.core.principal import Principal


class BatchStats:
    def __init__(self, store: Store) -> None:
        self.store = store

    def stats(
        self,
        p: Principal,
        window: Window,
        *,
        dataset_id: str | None = None,
        utc_offset_minutes: int = 0,
        now: int | None = None,
    ) -> dict[str, Any]:
        s = span(window, now if now is not None else now_ms(), utc_offset_minutes)
        found = self.store.batches_created_since(p.org, p.sandbox, s.start, dataset_id)
        return {
            "window": window,
            "unit": "hour" if window == "24h" else "day",
            "from": s.start,
            "to": s.end,
            "dataSet": dataset_id,
            **aggregate(found, s),
        }
