from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from batchgate.validation import codes
from batchgate.validation.parquet_reader import dictionary_read_columns
from tests.unit.validation.helpers import good_table, make_dataset, parquet_bytes, run

PARQUET = {"format": "parquet"}


def test_happy_path_parquet_row_numbers_across_row_groups(tmp_path: Path) -> None:
    out = run(tmp_path, parquet_bytes(good_table(1000), row_group_size=300), PARQUET)
    assert out.result.output_record_count == 1000
    assert out.staged_rows == list(range(1000))  # 0-based row index in the file
    assert out.staged[5]["address"] == {"city": "Paris", "zip": "75001"}


def test_not_parquet_and_zero_bytes(tmp_path: Path) -> None:
    out = run(tmp_path, b"PAR1 this is not parquet at all", PARQUET)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_UNREADABLE
    out = run(tmp_path, b"", PARQUET)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_EMPTY
    truncated = parquet_bytes(good_table(10))[:-20]
    out = run(tmp_path, truncated, PARQUET)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_UNREADABLE


def test_missing_required_column_and_wrong_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array(["a", "b", "c"]),
            "age": pa.array(["12", "old", None]),  # strings for an integer field
            "score": pa.array([1, 2, 3], pa.int32()),
            "seen": pa.array([0, 1, 2], pa.timestamp("ns")),
            "active": pa.array([{"x": 1}, None, {"x": 2}]),  # a struct for a boolean
            "other": pa.array([1, 2, 3]),
        }
    )
    out = run(tmp_path, parquet_bytes(table), PARQUET)
    assert out.result.output_record_count == 0 and out.result.failed_record_count == 3
    by_row = {f["_row"]: {(e["field"], e["code"]) for e in f["_errors"]} for f in out.failed}
    assert by_row[0] == {("email", codes.ROW_REQUIRED), ("active", codes.ROW_TYPE)}
    assert by_row[1] == {("email", codes.ROW_REQUIRED), ("age", codes.ROW_TYPE)}
    ds = make_dataset(
        [
            {"name": "id", "type": "string"},
            {"name": "age", "type": "integer"},
            {"name": "score", "type": "number"},
            {"name": "seen", "type": "timestamp"},
        ]
    )
    out = run(tmp_path, parquet_bytes(table), PARQUET, dataset=ds)
    assert out.staged_rows == [0, 2] and out.staged[0]["score"] == 1.0
    assert out.staged[0]["seen"].tzinfo is not None


def test_nested_struct_and_list_conversion(tmp_path: Path) -> None:
    ds = make_dataset(
        [
            {
                "name": "address",
                "type": "object",
                "fields": [
                    {"name": "city", "type": "string", "required": True},
                    {"name": "zip", "type": "integer"},
                ],
            },
            {"name": "tags", "type": "array", "items": {"type": "integer"}},
        ]
    )
    table = pa.table(
        {
            "address": pa.array(
                [{"city": "P", "zip": "75"}, {"city": None, "zip": "1"}, None, {"city": "L", "zip": "x"}]
            ),
            "tags": pa.array([["1", "2"], [], None, ["z"]]),
        }
    )
    out = run(tmp_path, parquet_bytes(table), PARQUET, dataset=ds)
    assert out.staged_rows == [0, 2]
    assert out.staged[0]["address"] == {"city": "P", "zip": 75} and out.staged[0]["tags"] == [1, 2]
    by_row = {f["_row"]: {(e["field"], e["code"]) for e in f["_errors"]} for f in out.failed}
    assert by_row == {
        1: {("address.city", codes.ROW_REQUIRED)},
        3: {("address.zip", codes.ROW_TYPE), ("tags[]", codes.ROW_TYPE)},
    }


def test_outer_gzip_on_parquet_is_a_file_error(tmp_path: Path) -> None:
    out = run(tmp_path, parquet_bytes(good_table(3)), PARQUET, compression="gzip")
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_COMPRESSION


def test_small_dictionary_columns_are_read_and_staged_as_dictionaries(tmp_path: Path) -> None:
    """An enum the file dictionary-encodes is read as a dictionary and staged as one: the staged
    file still says strings, holds the same values, and its statistics cover the kept rows only
    (the dictionary still holds the rejected value)."""
    n = 3000
    ds = make_dataset(
        [
            {"name": "id", "type": "string", "required": True},
            {"name": "tier", "type": "string", "enum": ["bronze", "gold", "silver"]},
        ]
    )
    tiers = ["gold", "silver", "bronze"]
    table = pa.table(
        {
            "id": [f"u{i:06d}" for i in range(n)],
            # "zinc" (rows 7, 1007, 2007) fails the enum and sorts last: the staged maximum must
            # not be it.
            "tier": ["zinc" if i % 1000 == 7 else tiers[i % 3] for i in range(n)],
        }
    )
    data = parquet_bytes(table, row_group_size=1000)
    src = tmp_path / "probe.parquet"
    src.write_bytes(data)
    # The ids are distinct: pyarrow's dictionary for them is as large as the column, not small.
    assert dictionary_read_columns(pq.ParquetFile(src), ds.schema_) == ["tier"]

    out = run(tmp_path, data, PARQUET, dataset=ds, block_size=8 * 1024)
    assert out.result.output_record_count == n - 3 and out.failed_rows == [7, 1007, 2007]
    assert [r["tier"] for r in out.staged] == [t for t in table.column("tier").to_pylist() if t != "zinc"]
    (path,) = out.result.staged_paths
    staged = pq.ParquetFile(path)
    assert staged.schema_arrow.field("tier").type == pa.string()
    meta = staged.metadata
    tier = meta.schema.names.index("tier")
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(tier).statistics
        assert (stats.min, stats.max) == ("bronze", "silver")


def test_dictionaries_that_differ_between_row_groups_stage_the_same_values(tmp_path: Path) -> None:
    """Each row group has a dictionary of its own (other values, another order); small chunks of
    several of them go into one staged row group: the rows read back are the rows written."""
    ds = make_dataset([{"name": "id", "type": "string"}, {"name": "tier", "type": "string"}])
    orders = [["a", "b"], ["c", "d", "a"], ["d"], ["b", "c"]]
    values = [order[i % len(order)] for order in orders for i in range(1000)]
    table = pa.table({"id": [f"x{i}" for i in range(len(values))], "tier": values})
    data = parquet_bytes(table, row_group_size=1000)
    probe = tmp_path / "probe.parquet"
    probe.write_bytes(data)
    assert dictionary_read_columns(pq.ParquetFile(probe), ds.schema_) == ["tier"]
    out = run(tmp_path, data, PARQUET, dataset=ds, block_size=8 * 1024)
    assert [r["tier"] for r in out.staged] == values
    assert out.staged_rows == list(range(len(values)))
