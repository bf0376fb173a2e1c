"""Scans that leave out hidden batches, filters pushed into them, and where a table's metadata is."""

from __future__ import annotations

import datetime as dt

import pytest
from pyiceberg.expressions import EqualTo, GreaterThanOrEqual

from batchgate.core.errors import InvalidRequest
from batchgate.core.row_filter import parse_filters
from batchgate.lake.promote import promote
from batchgate.lake.read import read_rows
from batchgate.lake.revert import revert
from batchgate.lake.scan import plan_visible
from batchgate.lake.tables import metadata_location
from tests.integration.lake.helpers import Lake, people


def test_metadata_location_is_the_catalogs_pointer_without_loading(anylake: Lake) -> None:
    ds = anylake.dataset()
    created = anylake.catalog.load_table(ds.table).metadata_location
    assert metadata_location(anylake.catalog, ds) == created
    promote(anylake.catalog, ds, "B1", [anylake.stage(ds, "B1", people("a", 2))])
    landed = anylake.catalog.load_table(ds.table).metadata_location
    assert landed != created and metadata_location(anylake.catalog, ds) == landed
    missing = ds.model_copy(update={"table": ds.table + "_missing"})
    assert metadata_location(anylake.catalog, missing) is None


def test_a_visible_scan_prunes_by_bounds_leaves_out_reverted_batches_and_streams(s3lake: Lake) -> None:
    ds = s3lake.dataset()
    for batch, prefix in (("B1", "a"), ("B2", "b"), ("B3", "c")):
        promote(s3lake.catalog, ds, batch, [s3lake.stage(ds, batch, people(prefix, 50))])
    revert(s3lake.catalog, ds, "B2")
    table = s3lake.catalog.load_table(ds.table)

    point = plan_visible(table, dataset_id=ds.id, upsert=False, row_filter=EqualTo("id", "c7"))
    assert len(point.tasks) == 1, "the other files' id bounds rule them out"
    assert point.arrow_reader().read_all().column("id").to_pylist() == ["c7"]

    wide = plan_visible(
        table,
        dataset_id=ds.id,
        upsert=False,
        row_filter=GreaterThanOrEqual("age", 60),
        selected_fields=("age",),
    )
    assert "B2" in wide.hidden and len(wide.tasks) == 2
    for ahead in (1, 2, 5):
        got = wide.arrow_reader(files_ahead=ahead).read_all()
        assert got.column_names == ["age"] and sorted(got.column("age").to_pylist()) == sorted(
            [60 + i for i in range(10)] * 2
        )
    reverted_only = plan_visible(table, dataset_id=ds.id, upsert=False, row_filter=EqualTo("id", "b3"))
    assert reverted_only.tasks == [] and reverted_only.arrow_reader().read_all().num_rows == 0


def test_read_rows_with_conditions_pages_across_files(lake: Lake) -> None:
    ds = lake.dataset()
    seen = dt.datetime(2026, 5, 6, tzinfo=dt.UTC)
    for i, prefix in enumerate("abcd"):
        rows = people(prefix, 5, seen=seen + dt.timedelta(days=i))
        promote(lake.catalog, ds, f"B{i}", [lake.stage(ds, f"B{i}", rows)])
    conditions = parse_filters(["age>=22", "seen >= 2026-05-07"], ds.schema_)
    pages, token = [], 0
    while token is not None:
        rows, token = read_rows(lake.catalog, ds, limit=2, start=token, conditions=conditions)
        pages.append(rows)
        assert len(pages) < 20
    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    got = sorted(r["id"] for p in pages for r in p)
    assert got == sorted(f"{p}{i}" for p in "bcd" for i in (2, 3, 4))

    _, token = read_rows(lake.catalog, ds, limit=2, conditions=conditions)
    assert token is not None
    other = parse_filters(["age>=23"], ds.schema_)
    with pytest.raises(InvalidRequest) as info:
        read_rows(lake.catalog, ds, limit=2, start=token, conditions=other)
    assert info.value.code == "BG-400-PAGE-TOKEN"
    with pytest.raises(InvalidRequest):
        read_rows(lake.catalog, ds, limit=2, start=token)
    with pytest.raises(InvalidRequest):  # the file cursor past the end of the files
        read_rows(
            lake.catalog,
            ds,
            limit=2,
            start=":".join([*token.split(":")[:4], "99", "0"]),
            conditions=conditions,
        )


def test_conditions_reach_fields_inside_objects(lake: Lake) -> None:
    ds = lake.dataset()
    promote(lake.catalog, ds, "B1", [lake.stage(ds, "B1", people("a", 2, address={"city": "Rome"}))])
    promote(lake.catalog, ds, "B2", [lake.stage(ds, "B2", people("b", 2, address={"city": "Oslo"}))])
    oslo, _ = read_rows(
        lake.catalog, ds, limit=10, conditions=parse_filters(["address.city=Oslo"], ds.schema_)
    )
    assert sorted(r["id"] for r in oslo) == ["b0", "b1"]
