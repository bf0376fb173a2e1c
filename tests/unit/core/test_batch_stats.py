"""The charts' numbers: bins aligned on the caller's clock, what counts as ingested and failed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchgate.core.batch_stats import DAY_MS, HOUR_MS, aggregate, span
from batchgate.core.models import Batch, InputFormat, Metrics


def ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


NOW = ms(datetime(2026, 11, 30, 20, 47, 12, tzinfo=UTC))


def batch(created: int, status: str, out: int = 0, failed: int = 0) -> Batch:
    return Batch(
        id=f"b{created}{status}",
        org="o",
        sandbox="s",
        datasetId="d",
        status=status,
        inputFormat=InputFormat(format="json"),
        created=created,
        updated=created,
        metrics=Metrics(outputRecordCount=out, failedRecordCount=failed),
    )


def test_24h_is_24_hourly_bins_ending_with_the_current_hour() -> None:
    s = span("24h", NOW)
    assert (s.width, s.bins) == (HOUR_MS, 24)
    assert s.start == ms(datetime(2026, 11, 29, 21, tzinfo=UTC))
    assert s.end == ms(datetime(2026, 11, 30, 21, tzinfo=UTC)) and s.start <= NOW < s.end


@pytest.mark.parametrize(
    ("offset", "midnight"),
    [
        (0, datetime(2026, 11, 30, 0, tzinfo=UTC)),
        (60, datetime(2026, 11, 29, 23, tzinfo=UTC)),  # Paris in winter: its midnight is 23:00 UTC
        (-300, datetime(2026, 11, 30, 5, tzinfo=UTC)),  # New York
        (330, datetime(2026, 11, 30, 18, 30, tzinfo=UTC)),  # India: 20:47 UTC is already Dec 1st, 02:17
    ],
)
def test_30d_days_start_at_the_callers_midnight(offset: int, midnight: datetime) -> None:
    s = span("30d", NOW, offset)
    assert s.start + 29 * DAY_MS == ms(midnight)
    assert s.start <= NOW < s.end


def test_rows_are_counted_in_the_bin_of_the_batch_creation() -> None:
    s = span("24h", NOW)
    h20 = ms(datetime(2026, 11, 30, 20, 5, tzinfo=UTC))
    h18 = ms(datetime(2026, 11, 30, 18, 59, tzinfo=UTC))
    got = aggregate(
        [
            batch(h20, "success", out=100, failed=3),
            batch(h20, "failed", out=0, failed=7),
            batch(h18, "inactive", out=50),  # reverted since: its rows did arrive
            batch(h18, "loading"),
            batch(s.start - 1, "success", out=999),  # before the window
            batch(s.end, "success", out=999),  # after it
        ],
        s,
    )
    bins = {b["start"]: b for b in got["bins"]}
    assert bins[ms(datetime(2026, 11, 30, 20, tzinfo=UTC))] == {
        "start": ms(datetime(2026, 11, 30, 20, tzinfo=UTC)),
        "batches": 2,
        "rowsIngested": 100,
        "rowsFailed": 10,
    }
    assert bins[ms(datetime(2026, 11, 30, 18, tzinfo=UTC))]["rowsIngested"] == 50
    assert got["byStatus"] == {"failed": 1, "inactive": 1, "loading": 1, "success": 1}
    assert got["totals"] == {"batches": 4, "rowsIngested": 150, "rowsFailed": 10}
    assert [b["start"] for b in got["bins"]] == [s.start + i * HOUR_MS for i in range(24)]


def test_an_empty_window_has_every_bin_at_zero() -> None:
    got = aggregate([], span("30d", NOW))
    assert len(got["bins"]) == 30 and got["byStatus"] == {}
    assert got["totals"] == {"batches": 0, "rowsIngested": 0, "rowsFailed": 0}
