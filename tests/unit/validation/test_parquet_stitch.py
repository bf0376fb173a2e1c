"""Row groups encoded as files of their own and joined: the bytes one writer would write."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batchgate.validation import parquet_stitch
from batchgate.validation.parquet_stitch import Stitcher, StitchError


def _table(n: int, offset: int = 0) -> pa.Table:
    """Every kind of column the staged files hold: strings (repeating and distinct), integers,
    decimals, dates, timestamps, booleans, a struct, a list, nulls, an all-null column, and
    enough columns (20) that the footer's lists need Thrift's long list header."""
    rows = range(offset, offset + n)
    columns: dict[str, pa.Array] = {
        "id": pa.array([f"u{i:09d}" for i in rows]),
        "tier": pa.array([("gold", "silver", None)[i % 3] for i in rows]),
        "age": pa.array([i % 150 if i % 7 else None for i in rows], pa.int64()),
        "price": pa.array([decimal.Decimal(i) / 100 for i in rows], pa.decimal128(12, 2)),
        "day": pa.array([dt.date(2026, 1, 1) + dt.timedelta(days=i % 400) for i in rows]),
        "at": pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i) for i in rows]),
        "ok": pa.array([i % 2 == 0 for i in rows]),
        "address": pa.array([{"city": f"c{i % 5}", "zip": i} for i in rows]),
        "tags": pa.array([[f"t{i % 3}"] * (i % 3) for i in rows]),
        "nothing": pa.nulls(n, pa.string()),
    }
    for k in range(10):
        columns[f"extra{k}"] = pa.array([float(i * k) for i in rows])
    return pa.table(columns)


_OPTIONS: dict[str, Any] = {
    "compression": "snappy",
    "use_dictionary": ["tier", "day", "address.city"],
    "column_encoding": {"age": "DELTA_BINARY_PACKED"},
    "store_schema": False,
}
_METADATA = {"written.by": "the test", "other": "x"}


def _one_writer(groups: list[pa.Table], path: Path, **options: Any) -> bytes:
    with pq.ParquetWriter(str(path), groups[0].schema, **{**_OPTIONS, **options}) as writer:
        writer.add_key_value_metadata(_METADATA)
        for group in groups:
            writer.write_table(group, row_group_size=group.num_rows)
    return path.read_bytes()


def _own_file(group: pa.Table, **options: Any) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, group.schema, **{**_OPTIONS, **options}) as writer:
        writer.add_key_value_metadata(_METADATA)
        writer.write_table(group, row_group_size=group.num_rows)
    return sink.getvalue()


def _stitched(groups: list[pa.Table], path: Path) -> bytes:
    stitcher = Stitcher()
    with path.open("wb") as f:
        for group in groups:
            f.write(stitcher.add(_own_file(group)).to_pybytes())
        f.write(stitcher.footer())
    return path.read_bytes()


@pytest.mark.parametrize("sizes", [[500], [400, 1, 999], [100] * 17], ids=["one", "uneven", "seventeen"])
def test_the_joined_file_is_byte_for_byte_what_one_writer_writes(tmp_path: Path, sizes: list[int]) -> None:
    """17 row groups: the footer's row-group list needs the long list header too; offsets grow
    past the one-byte varints."""
    groups, offset = [], 0
    for n in sizes:
        groups.append(_table(n, offset))
        offset += n
    reference = _one_writer(groups, tmp_path / "one.parquet")
    joined = _stitched(groups, tmp_path / "joined.parquet")
    assert joined == reference

    back = pq.ParquetFile(tmp_path / "joined.parquet")
    assert back.metadata.num_row_groups == len(sizes) and back.metadata.num_rows == sum(sizes)
    assert [back.metadata.row_group(i).num_rows for i in range(len(sizes))] == sizes
    assert back.read().equals(pa.concat_tables(groups))
    last = back.metadata.row_group(len(sizes) - 1).column(0)
    assert last.statistics.min == groups[-1]["id"][0].as_py()
    assert last.statistics.max == groups[-1]["id"][-1].as_py()


def test_other_readers_read_the_joined_file(tmp_path: Path) -> None:
    groups = [_table(300, 0), _table(300, 300)]
    path = tmp_path / "joined.parquet"
    _stitched(groups, path)
    rows = duckdb.sql(f"select count(*), min(id), max(id), sum(age) from '{path}'").fetchall()[0]
    everything = pa.concat_tables(groups)
    assert rows == (600, "u000000000", "u000000599", sum(v for v in everything["age"].to_pylist() if v))
    # DuckDB reads each row group where its offsets say: the second group's rows come back
    assert duckdb.sql(f"select id from '{path}' where id = 'u000000450'").fetchall() == [("u000000450",)]


def test_the_footer_codec_gives_back_the_bytes_it_read(tmp_path: Path) -> None:
    encoded = _own_file(_table(50))
    start, meta = parquet_stitch.split(encoded)
    footer = encoded.slice(start, encoded.size - 8 - start).to_pybytes()
    assert parquet_stitch.encode_struct(meta) == footer
    # a field id more than 15 after the previous one takes the long field header
    far = [[1, 5, -3], [40, 8, b"far"], [41, 1, None], [300, 6, 2**40]]
    assert parquet_stitch.decode_struct(parquet_stitch.encode_struct(far)) == far


def test_what_cannot_be_joined_is_refused() -> None:
    with pytest.raises(StitchError, match="not a whole Parquet file"):
        Stitcher().add(pa.py_buffer(b"PAR1 not parquet at all"))
    with pytest.raises(StitchError, match="no row groups"):
        Stitcher().footer()
    with pytest.raises(StitchError, match="page index"):
        Stitcher().add(_own_file(_table(10), write_page_index=True))


def test_a_row_group_that_says_its_ordinal_gets_its_place_in_the_joined_file() -> None:
    """pyarrow writes no ``ordinal``; a writer that does must not leave every group saying 0."""
    group = [[1, 9, (12, [])], [5, 6, 4], [7, 4, 0]]
    parquet_stitch._move_group(group, 1000, 3)
    assert group == [[1, 9, (12, [])], [5, 6, 1004], [7, 4, 3]]
