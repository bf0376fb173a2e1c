"""Paged JSON-safe reads, time travel, and SQL over the tables."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from batchgate.core.errors import Conflict, InvalidRequest, NotFound
from batchgate.core.models import Dataset
from batchgate.lake.promote import promote
from batchgate.lake.read import read_rows, snapshot_for
from batchgate.lake.revert import revert
from tests.integration.lake.helpers import Lake, people


def _all_pages(lake: Lake, ds: Dataset, limit: int, **kwargs: Any) -> list[dict[str, Any]]:
    rows, token = read_rows(lake.catalog, ds, limit=limit, start=0, **kwargs)
    pages = [rows]
    while token is not None:
        rows, token = read_rows(lake.catalog, ds, limit=limit, start=token, **kwargs)
        pages.append(rows)
        assert len(pages) < 50
    assert all(len(p) == limit for p in pages[:-1]) and 0 < len(pages[-1]) <= limit
    return [r for p in pages for r in p]


def test_read_rows_pages_json_safe_values(lake: Lake) -> None:
    ds = lake.dataset()
    seen = dt.datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    born = dt.date(1990, 1, 31)
    promote(
        lake.catalog,
        ds,
        "B1",
        [
            lake.stage(ds, "B1", people("a", 4, seen=seen, born=born, address={"city": "Rome"}), name="f1"),
            lake.stage(ds, "B1", people("b", 3), name="f2"),
        ],
    )
    promote(lake.catalog, ds, "B2", [lake.stage(ds, "B2", people("c", 2))])

    rows = _all_pages(lake, ds, limit=2)

    assert len(rows) == 9 and len({r["id"] for r in rows}) == 9
    a0 = next(r for r in rows if r["id"] == "a0")
    assert a0["seen"] == "2026-05-06T07:08:09.123456Z" and a0["born"] == "1990-01-31"
    assert a0["address"] == {"city": "Rome"} and a0["_batch_id"] == "B1" and a0["_source_row"] == 0
    json.dumps(rows)  # every value is JSON-serialisable
    # A page size that spans files gives the same rows in the same order.
    assert _all_pages(lake, ds, limit=4) == rows
    assert _all_pages(lake, ds, limit=100) == rows


def test_read_rows_by_batch_and_as_of_snapshot(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    first = promote(s3lake.catalog, ds, "B1", [s3lake.stage(ds, "B1", people("a", 3))])
    second = promote(s3lake.catalog, ds, "B2", [s3lake.stage(ds, "B2", people("b", 2))])
    promote(s3lake.catalog, ds, "B3", [s3lake.stage(ds, "B3", people("c", 1))])
    revert(s3lake.catalog, ds, "B2")

    only_b3, token = read_rows(s3lake.catalog, ds, limit=10, batch_id="B3")
    now_b2, _ = read_rows(s3lake.catalog, ds, limit=10, batch_id="B2")
    then, _ = read_rows(s3lake.catalog, ds, limit=10, snapshot_id=first.snapshot_id)
    page, then_token = read_rows(s3lake.catalog, ds, limit=2, snapshot_id=first.snapshot_id)

    assert [r["id"] for r in only_b3] == ["c0"] and token is None
    assert now_b2 == []
    assert sorted(r["id"] for r in then) == ["a0", "a1", "a2"]
    # The token pins the snapshot: later pages come from the same snapshot, with no snapshot_id.
    assert then_token is not None and then_token.startswith(f"{first.snapshot_id}:")
    rest, end = read_rows(s3lake.catalog, ds, limit=2, start=then_token)
    assert [r["id"] for r in page + rest] == [r["id"] for r in then] and end is None
    # B2 was reverted: no read shows its rows again, time travel to when it was there included.
    as_of_b2, _ = read_rows(s3lake.catalog, ds, limit=10, snapshot_id=second.snapshot_id)
    assert sorted(r["id"] for r in as_of_b2) == ["a0", "a1", "a2"]
    assert (
        snapshot_for(s3lake.catalog, ds, "B2") is None and snapshot_for(s3lake.catalog, ds, "B1") is not None
    )


def test_a_revert_between_two_pages_makes_the_next_page_a_409(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    promote(s3lake.catalog, ds, "B1", [s3lake.stage(ds, "B1", people("a", 3))])
    promote(s3lake.catalog, ds, "B2", [s3lake.stage(ds, "B2", people("b", 3))])
    _, token = read_rows(s3lake.catalog, ds, limit=2)
    revert(s3lake.catalog, ds, "B1")
    with pytest.raises(Conflict) as info:
        read_rows(s3lake.catalog, ds, limit=2, start=token)
    assert info.value.code == "BG-409-ROWS-CHANGED"


def test_read_rows_rejects_bad_input(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    assert read_rows(s3lake.catalog, ds, limit=5) == ([], None)  # empty table
    promote(s3lake.catalog, ds, "B1", [s3lake.stage(ds, "B1", people("a", 1))])
    with pytest.raises(InvalidRequest):
        read_rows(s3lake.catalog, ds, limit=0)
    with pytest.raises(InvalidRequest):
        read_rows(s3lake.catalog, ds, limit=5, start="garbage:token:x")
    with pytest.raises(NotFound):
        read_rows(s3lake.catalog, ds, limit=5, snapshot_id=12345)
