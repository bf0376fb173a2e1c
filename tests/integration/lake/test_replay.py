"""Replay: predecessors' rows replaced by the new batch's in one snapshot."""

from __future__ import annotations

from batchgate.lake.commit import PREDECESSORS_KEY
from batchgate.lake.promote import promote, replay
from batchgate.lake.read import snapshot_for
from batchgate.lake.revert import revert
from tests.integration.lake.helpers import Lake, people, rows_of


def test_replay_swaps_rows_atomically_in_one_snapshot(lake: Lake) -> None:
    ds = lake.dataset()
    promote(lake.catalog, ds, "B1", [lake.stage(ds, "B1", people("old", 3))])
    promote(lake.catalog, ds, "K", [lake.stage(ds, "K", people("keep", 1))])
    before = lake.catalog.load_table(ds.table).current_snapshot()
    assert before is not None

    result = replay(lake.catalog, ds, "B2", [lake.stage(ds, "B2", people("new", 2))], ["B1"])

    assert (result.rows_added, result.rows_deleted, result.files_deleted, result.bytes_rewritten) == (
        2,
        3,
        1,
        0,
    )
    table = lake.catalog.load_table(ds.table)
    after = table.current_snapshot()
    assert after is not None and after.parent_snapshot_id == before.snapshot_id  # exactly one new snapshot
    assert after.summary is not None and after.summary[PREDECESSORS_KEY] == "B1"
    assert {r["_batch_id"] for r in rows_of(lake, ds, before.snapshot_id)} == {"B1", "K"}
    assert {r["_batch_id"] for r in rows_of(lake, ds, after.snapshot_id)} == {"B2", "K"}
    assert [r["id"] for r in rows_of(lake, ds) if r["_batch_id"] == "B2"] == ["new0", "new1"]
    assert snapshot_for(lake.catalog, ds, "B2") == after.snapshot_id


def test_replay_is_idempotent_and_revert_of_replay_keeps_predecessors_out(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    promote(s3lake.catalog, ds, "B1", [s3lake.stage(ds, "B1", people("old", 2))])
    path = s3lake.stage(ds, "B2", people("new", 2))
    first = replay(s3lake.catalog, ds, "B2", [path], ["B1"])

    again = replay(s3lake.catalog, ds, "B2", [path], ["B1"])
    revert(s3lake.catalog, ds, "B2")

    assert again.noop and again.snapshot_id == first.snapshot_id
    assert rows_of(s3lake, ds) == []


def test_replay_of_already_reverted_predecessor_just_adds(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    promote(s3lake.catalog, ds, "B1", [s3lake.stage(ds, "B1", people("old", 2))])
    revert(s3lake.catalog, ds, "B1")

    result = replay(s3lake.catalog, ds, "B2", [s3lake.stage(ds, "B2", people("new", 1))], ["B1"])

    assert (result.rows_added, result.rows_deleted) == (1, 0)
    assert [r["id"] for r in rows_of(s3lake, ds)] == ["new0"]
