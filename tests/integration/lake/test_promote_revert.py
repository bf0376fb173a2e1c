"""Promote and revert: one commit each, zero bytes rewritten, idempotent, exact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from batchgate.lake.commit import BATCH_KEY, OPERATION_KEY
from batchgate.lake.files import StagedFileError
from batchgate.lake.promote import promote
from batchgate.lake.revert import revert
from tests.integration.lake.helpers import Lake, make_lake, people, rows_of


def test_promote_registers_staged_files_in_place(lake: Lake) -> None:
    ds = lake.dataset()
    seen = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    rows = people("a", 3, seen=seen, address={"city": "Oslo"}, tags=["x", "y"])
    paths = [lake.stage(ds, "B1", rows[:2], name="f1"), lake.stage(ds, "B1", rows[2:], name="f2")]

    result = promote(lake.catalog, ds, "B1", paths)

    assert (result.rows_added, result.files_added, result.bytes_rewritten) == (3, 2, 0)
    assert result.noop is False and result.previous_snapshot_id is None
    table = lake.catalog.load_table(ds.table)
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.snapshot_id == result.snapshot_id
    assert snapshot.summary is not None
    assert snapshot.summary[OPERATION_KEY] == "promote" and snapshot.summary[BATCH_KEY] == "B1"
    assert snapshot.summary.operation.value == "append"
    # Registered, not copied: the table's data files are the staged files themselves.
    assert sorted(t.file.file_path for t in table.scan().plan_files()) == sorted(paths)
    got = rows_of(lake, ds)
    assert [r["id"] for r in got] == ["a0", "a1", "a2"]
    assert {r["_batch_id"] for r in got} == {"B1"}
    assert got[0]["seen"] == seen and got[0]["address"] == {"city": "Oslo"} and got[0]["tags"] == ["x", "y"]
    assert [(r["_source_file"], r["_source_row"]) for r in got] == [("f1", 0), ("f1", 1), ("f2", 0)]


def test_promote_twice_is_a_noop(lake: Lake) -> None:
    ds = lake.dataset()
    paths = [lake.stage(ds, "B1", people("a", 2))]
    first = promote(lake.catalog, ds, "B1", paths)

    again = promote(lake.catalog, ds, "B1", paths)

    assert again.noop is True
    assert again.snapshot_id == first.snapshot_id and again.rows_added == 2
    table = lake.catalog.load_table(ds.table)
    assert len(table.metadata.snapshots) == 1
    assert len(rows_of(lake, ds)) == 2


def test_revert_removes_exactly_that_batch_metadata_only(anylake: Lake) -> None:
    lake = anylake
    ds = lake.dataset()
    promote(lake.catalog, ds, "B1", [lake.stage(ds, "B1", people("a", 3))])
    b2 = promote(lake.catalog, ds, "B2", [lake.stage(ds, "B2", people("b", 2))])
    promote(lake.catalog, ds, "B3", [lake.stage(ds, "B3", people("c", 1))])
    before_b2 = [r for r in rows_of(lake, ds) if r["_batch_id"] == "B2"]

    result = revert(lake.catalog, ds, "B2")

    assert (result.rows_deleted, result.files_deleted, result.bytes_rewritten) == (2, 1, 0)
    assert result.rows_added == 0
    table = lake.catalog.load_table(ds.table)
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert snapshot.summary.operation.value == "delete"  # whole files dropped: metadata only
    assert snapshot.summary.get("added-data-files") in (None, "0")
    after = rows_of(lake, ds)
    assert sorted({r["_batch_id"] for r in after}) == ["B1", "B3"]
    assert [r["id"] for r in after] == ["a0", "a1", "a2", "c0"]
    # Time travel still sees the reverted rows.
    assert [r for r in rows_of(lake, ds, b2.snapshot_id) if r["_batch_id"] == "B2"] == before_b2


def test_revert_twice_and_revert_unknown_are_noops(lake: Lake) -> None:
    ds = lake.dataset()
    promote(lake.catalog, ds, "B1", [lake.stage(ds, "B1", people("a", 2))])
    first = revert(lake.catalog, ds, "B1")

    again = revert(lake.catalog, ds, "B1")
    unknown = revert(lake.catalog, ds, "NOPE")

    assert again.noop and again.snapshot_id == first.snapshot_id and again.rows_deleted == 2
    assert unknown.noop and unknown.snapshot_id == first.snapshot_id and unknown.rows_deleted == 0
    assert len(lake.catalog.load_table(ds.table).metadata.snapshots) == 2
    assert rows_of(lake, ds) == []


def test_promote_refuses_a_file_of_another_batch(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    path = s3lake.stage(ds, "OTHER", people("a", 1))

    with pytest.raises(StagedFileError, match="OTHER"):
        promote(s3lake.catalog, ds, "B1", [path])

    assert s3lake.catalog.load_table(ds.table).current_snapshot() is None


def _lineage() -> list[pa.Field]:
    return [
        pa.field("_batch_id", pa.string(), nullable=False),
        pa.field("_source_file", pa.string(), nullable=False),
        pa.field("_source_row", pa.int64(), nullable=False),
    ]


def test_file_with_promotable_types_and_missing_optional_columns_is_registered(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    narrow = pa.schema(
        [pa.field("id", pa.string(), nullable=False), pa.field("age", pa.int32()), *_lineage()]
    )
    path = s3lake.stage(ds, "B1", people("b", 2), name="narrow", schema=narrow)

    result = promote(s3lake.catalog, ds, "B1", [path])

    assert (result.rows_added, result.bytes_rewritten) == (2, 0)
    got = rows_of(s3lake, ds)
    assert [(r["id"], r["age"], r["email"], r["tags"]) for r in got] == [
        ("b0", 20, None, None),
        ("b1", 21, None, None),
    ]


def test_incompatible_staged_file_is_rewritten_and_counted(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    # A file with age as text: no Iceberg promotion string -> long, so pyiceberg refuses to
    # register it and promote rewrites it (casting the values).
    loose = pa.schema([pa.field("id", pa.string()), pa.field("age", pa.string()), *_lineage()])
    good = s3lake.stage(ds, "B1", people("a", 2), name="good")
    odd = s3lake.stage(
        ds, "B1", [{"id": "b0", "age": "7"}, {"id": "b1", "age": None}], name="odd", schema=loose
    )

    result = promote(s3lake.catalog, ds, "B1", [good, odd])

    assert result.rows_added == 4 and result.files_added == 2
    assert result.bytes_rewritten > 0
    table = s3lake.catalog.load_table(ds.table)
    data_files = {t.file.file_path for t in table.scan().plan_files()}
    assert good in data_files and odd not in data_files
    got = rows_of(s3lake, ds)
    assert [(r["id"], r["age"], r["email"]) for r in got][2:] == [("b0", 7, None), ("b1", None, None)]
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert summary is not None and summary["batchgate.bytes-rewritten"] == str(result.bytes_rewritten)


def test_staged_file_with_a_null_lineage_value_is_refused(s3lake: Lake) -> None:
    import pyarrow.parquet as pq

    ds = s3lake.dataset()
    loose = pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("_batch_id", pa.string()),
            pa.field("_source_file", pa.string()),
        ]
    )
    rows = pa.Table.from_pylist([{"id": "a", "_batch_id": "B1", "_source_file": None}], schema=loose)
    path = s3lake.stage(ds, "B1", [{"id": "x"}])  # a valid file to learn the location from
    pq.write_table(rows, path.removeprefix("s3://"), filesystem=s3lake.fs)

    with pytest.raises(StagedFileError, match="required column"):
        promote(s3lake.catalog, ds, "B1", [path])
    assert s3lake.catalog.load_table(ds.table).current_snapshot() is None


def test_manifests_are_merged_instead_of_piling_up(tmp_path: Path) -> None:
    lake = make_lake("file", tmp_path, None)  # a catalog property is the subject, not storage
    ds = lake.dataset()
    table = lake.catalog.load_table(ds.table)
    with table.transaction() as tx:
        tx.set_properties({"commit.manifest.min-count-to-merge": "4"})
    for i in range(6):
        promote(lake.catalog, ds, f"B{i}", [lake.stage(ds, f"B{i}", people(f"r{i}", 1))])
    revert(lake.catalog, ds, "B2")

    table = lake.catalog.load_table(ds.table)
    snapshot = table.current_snapshot()
    assert snapshot is not None and len(snapshot.manifests(table.io)) < 6  # one per batch without merging
    assert sorted({r["_batch_id"] for r in rows_of(lake, ds)}) == ["B0", "B1", "B3", "B4", "B5"]


def test_empty_batch_gets_a_snapshot_and_reverts_cleanly(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    promote(s3lake.catalog, ds, "B1", [s3lake.stage(ds, "B1", people("a", 1))])

    empty = promote(s3lake.catalog, ds, "B0", [])
    reverted = revert(s3lake.catalog, ds, "B0")

    assert empty.snapshot_id is not None and not empty.noop and empty.rows_added == 0
    assert reverted.rows_deleted == 0 and not reverted.noop  # on record, nothing removed
    assert [r["_batch_id"] for r in rows_of(s3lake, ds)] == ["B1"]
