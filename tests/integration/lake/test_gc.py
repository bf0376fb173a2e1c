"""gc: expired snapshots' files go, files any remaining snapshot needs stay."""

from __future__ import annotations

import time

from batchgate.lake.gc import gc
from batchgate.lake.promote import promote
from batchgate.lake.revert import revert
from batchgate.lake.upsert import upsert
from tests.integration.lake.helpers import Lake, people, rows_of


def _future() -> int:
    return int(time.time() * 1000) + 60_000


def _every_snapshot_readable(lake: Lake, table_name: str) -> int:
    """Scan every remaining snapshot in full (fails if any file it needs is gone)."""
    table = lake.catalog.load_table(table_name)
    for snapshot in table.metadata.snapshots:
        table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()
    return len(table.metadata.snapshots)


def test_gc_deletes_reverted_batch_files_only_after_expiry(lake: Lake) -> None:
    ds = lake.dataset()
    b1 = lake.stage(ds, "B1", people("a", 2))
    b2 = lake.stage(ds, "B2", people("b", 2))
    promote(lake.catalog, ds, "B1", [b1])
    promote(lake.catalog, ds, "B2", [b2])
    revert(lake.catalog, ds, "B1")

    # Too young to expire: nothing happens.
    young = gc(lake.catalog, ds, older_than_ms=0)
    assert (young.expired_snapshots, young.deleted_files) == (0, 0) and lake.exists(b1)

    # keep_last=2 keeps B2's snapshot, which still shows B1's rows: B1's file must stay.
    partial = gc(lake.catalog, ds, older_than_ms=_future(), keep_last=2)
    assert partial.expired_snapshots == 1
    assert lake.exists(b1) and lake.exists(b2)
    assert b1 not in partial.deleted_paths
    assert _every_snapshot_readable(lake, ds.table) == 2

    full = gc(lake.catalog, ds, older_than_ms=_future(), keep_last=1)
    assert full.expired_snapshots == 1
    assert b1 in full.deleted_paths and not lake.exists(b1)
    assert lake.exists(b2)  # live in the current snapshot
    assert _every_snapshot_readable(lake, ds.table) == 1
    assert [r["id"] for r in rows_of(lake, ds)] == ["b0", "b1"]
    # Manifests of expired snapshots went too; re-running finds nothing more to do.
    assert any("/metadata/" in p for p in full.deleted_paths)
    again = gc(lake.catalog, ds, older_than_ms=_future())
    assert (again.expired_snapshots, again.deleted_files) == (0, 0)


def test_gc_candidates_deleted_only_when_unreferenced(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    live = s3lake.stage(ds, "B1", people("a", 1))
    promote(s3lake.catalog, ds, "B1", [live])
    aborted = s3lake.stage(ds, "B9", people("z", 1))  # staged, never promoted

    result = gc(s3lake.catalog, ds, older_than_ms=_future(), candidates=[live, aborted])

    assert result.deleted_paths == [aborted]
    assert s3lake.exists(live) and not s3lake.exists(aborted)
    assert len(rows_of(s3lake, ds)) == 1


def test_gc_keeps_prior_snapshot_of_protected_upsert_batch(s3lake: Lake) -> None:
    ds = s3lake.dataset(upsert=True)
    upsert(s3lake.catalog, ds, "U1", [s3lake.stage(ds, "U1", people("a", 2))], ["id"], None)
    before_u2 = {r["id"]: r for r in rows_of(s3lake, ds)}
    upsert(
        s3lake.catalog, ds, "U2", [s3lake.stage(ds, "U2", [{"id": "a0", "age": 1}])], ["id"], ["id", "age"]
    )
    upsert(s3lake.catalog, ds, "U3", [s3lake.stage(ds, "U3", [{"id": "x", "age": 3}])], ["id"], ["id", "age"])

    result = gc(s3lake.catalog, ds, older_than_ms=_future(), keep_last=1, protected_batches=["U2"])

    assert result.expired_snapshots == 0  # U1's snapshot is U2's prior, U2's is U3's parent
    _every_snapshot_readable(s3lake, ds.table)
    revert(s3lake.catalog, ds, "U2")
    got = {r["id"]: r for r in rows_of(s3lake, ds)}
    assert sorted(got) == ["a0", "a1", "x"]
    assert got["a0"] == before_u2["a0"]  # restored from the protected prior snapshot
    # Unprotected, the same call expires the older snapshots.
    assert gc(s3lake.catalog, ds, older_than_ms=_future(), keep_last=1).expired_snapshots == 3
    assert _every_snapshot_readable(s3lake, ds.table) == 1


def test_purge_removes_a_reverted_batch_from_storage_now(lake: Lake) -> None:
    """REVERT {"purge": true}: every snapshot that still reads the batch's files is expired and
    the files are deleted at once, not after the retention; every snapshot left stays readable."""
    from batchgate.core.errors import Conflict
    from batchgate.lake.gc import purge

    ds = lake.dataset()
    b1 = lake.stage(ds, "B1", people("a", 2))
    b2 = lake.stage(ds, "B2", people("b", 2))
    promote(lake.catalog, ds, "B1", [b1])
    promote(lake.catalog, ds, "B2", [b2])
    try:
        purge(lake.catalog, ds, "B1")
        raise AssertionError("purging a batch the current snapshot reads must be refused")
    except Conflict as exc:
        assert exc.code == "BG-409-PURGE-NOT-REVERTED"
    revert(lake.catalog, ds, "B1")
    result = purge(lake.catalog, ds, "B1")
    assert result.expired_snapshots == 2, "B1's landing and B2's landing both read B1's file"
    assert b1 in result.deleted_paths and not lake.exists(b1) and lake.exists(b2)
    assert sorted(r["id"] for r in rows_of(lake, ds)) == ["b0", "b1"]
    assert _every_snapshot_readable(lake, ds.table) == 1
    again = purge(lake.catalog, ds, "B1")
    assert (again.expired_snapshots, again.deleted_files) == (0, 0), "a second purge finds nothing"
