import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from batchgate.core.models import InputFormat
from batchgate.core.schema import LINEAGE_FIELDS, arrow_schema
from batchgate.validation import merge_results, plan_parts, validate_file
from batchgate.validation.file_chunks import HEADER_PROBE
from batchgate.validation.outputs import StagedWriter, constant_column, dictionary_columns
from tests.unit.validation.helpers import (
    csv_bytes,
    good_record,
    good_table,
    make_dataset,
    parquet_bytes,
    read_outputs,
    row,
    run,
)


def test_staged_file_has_exact_schema_and_retry_overwrites(tmp_path: Path) -> None:
    data = b"".join(
        json.dumps(good_record(i) | ({"age": -5} if i == 3 else {})).encode() + b"\n" for i in range(10)
    )
    first = run(tmp_path, data, {"format": "json"})
    assert pq.read_schema(first.result.staged_paths[0]) == arrow_schema(make_dataset().schema_)
    second = run(tmp_path, data, {"format": "json"})
    assert second.result.staged_paths == first.result.staged_paths
    assert second.result.failed_path == first.result.failed_path
    assert len(list((tmp_path / "staged").glob("*.parquet"))) == 1
    assert [p.name for p in (tmp_path / "staged").iterdir()] == [Path(first.result.staged_paths[0]).name]
    # A later run of the same name with no failures removes the stale failed file.
    fixed = data.replace(b'"age": -5', b'"age": 5')
    third = run(tmp_path, fixed, {"format": "json"})
    assert third.result.failed_path is None and not list((tmp_path / "failed").glob("*.jsonl"))


def test_failed_record_shape(tmp_path: Path) -> None:
    out = run(tmp_path, b'{"id": "1", "email": "x"}\nnope\n', {"format": "json"}, name="dir/f.json")
    assert out.failed[0] == {
        "_corrupt_record": None,
        "_values": {"id": "1", "email": "x"},
        "_errors": [
            {
                "code": "BG-ROW-PATTERN",
                "message": "value does not match pattern '^[^@]+@[^@]+$' (got \"x\")",
                "field": "email",
            }
        ],
        "_filename": "dir/f.json",
        "_row": 1,
    }
    assert out.failed[1]["_corrupt_record"] == "nope" and out.failed[1]["_values"] is None
    assert [(e.row, e.code, e.file) for e in out.result.errors] == [
        (1, "BG-ROW-PATTERN", "dir/f.json"),
        (2, "BG-ROW-CORRUPT", "dir/f.json"),
    ]


def test_max_errors_kept(tmp_path: Path) -> None:
    data = b"".join(b'{"id": "%d"}\n' % i for i in range(50))
    out = run(tmp_path, data, {"format": "json"}, max_errors_kept=5)
    assert out.result.failed_record_count == 50 and len(out.result.errors) == 5


def _split_and_merge(tmp_path: Path, data: bytes, fmt: InputFormat, part_bytes: int) -> None:
    src = tmp_path / "big.dat"
    src.write_bytes(data)
    fs = pafs.LocalFileSystem()
    common = dict(
        fs=fs,
        source_path=str(src),
        dataset=make_dataset(),
        input_format=fmt,
        batch_id="b",
        file_name="big.dat",
        block_size=8 << 10,
    )
    whole = validate_file(staged_dir=str(tmp_path / "one_s"), failed_dir=str(tmp_path / "one_f"), **common)
    parts = plan_parts(fs, str(src), fmt, len(data), part_bytes)
    assert len(parts) > 2
    # Without first_line a part counts the newlines before its range itself: same numbering.
    results = [
        validate_file(
            staged_dir=str(tmp_path / "p_s"),
            failed_dir=str(tmp_path / "p_f"),
            **common,
            **({k: v for k, v in p.items() if k != "first_line"} if i % 2 else p),
        )
        for i, p in enumerate(parts)
    ]
    merged = merge_results(results)
    assert (merged.input_record_count, merged.output_record_count, merged.failed_record_count) == (
        whole.input_record_count,
        whole.output_record_count,
        whole.failed_record_count,
    )
    s1, f1 = read_outputs(whole)
    s2, f2 = read_outputs(merged)
    assert sorted(r["_source_row"] for r in s1) == sorted(r["_source_row"] for r in s2)
    assert [r["_row"] for r in f1] == sorted(r["_row"] for r in f2)
    assert [(e.row, e.field) for e in merged.errors] == [(e.row, e.field) for e in whole.errors]


def test_split_and_merge_csv(tmp_path: Path) -> None:
    rows = []
    for i in range(2000):
        rows.append(row(i, age="x") if i % 37 == 0 else row(i, id=f'"q{i}\nz"') if i % 91 == 0 else row(i))
        if i % 400 == 0:
            rows.append("")
    _split_and_merge(tmp_path, csv_bytes(rows), InputFormat(format="csv"), 40_000)


def test_the_plan_reads_no_further_than_the_last_parts_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchgate.validation import parts as parts_module

    data = csv_bytes([row(i) for i in range(5000)])
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    read: list[int] = []
    original = parts_module.read_ahead

    def counting(*args: object, **kwargs: object) -> Iterator[bytes]:
        for chunk in original(*args, **kwargs):  # type: ignore[arg-type]
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(
        parts_module, "read_ahead", functools.partial(counting, chunk=16 << 10)
    )  # small reads, so stopping early shows
    planned = plan_parts(pafs.LocalFileSystem(), str(path), InputFormat(format="csv"), len(data), 60_000)
    last_start = planned[-1]["byte_range"][0]
    assert len(planned) >= 3 and planned[-1]["byte_range"][1] == len(data)
    assert last_start <= sum(read) < last_start + (16 << 10), "read up to the last cut, not the last part"
    # the same cuts as with the default read size
    monkeypatch.setattr(parts_module, "read_ahead", original)
    assert planned == plan_parts(
        pafs.LocalFileSystem(), str(path), InputFormat(format="csv"), len(data), 60_000
    )


class _ReadSizes:
    """A filesystem that records the size of every read (read_header only opens and reads)."""

    def __init__(self) -> None:
        self.fs = pafs.LocalFileSystem()
        self.reads: list[int] = []
        self.opened = 0

    def open_input_file(self, path: str) -> "_ReadSizes":
        self.file = self.fs.open_input_file(path)
        self.opened += 1
        return self

    def __enter__(self) -> "_ReadSizes":
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def read(self, size: int) -> bytes:
        self.reads.append(size)
        return self.file.read(size)


@pytest.mark.parametrize(
    ("header", "reads"),
    [
        (b"id,name", [HEADER_PROBE]),
        # a header longer than the probe, and one whose quoted name holds a newline at the probe's end
        (b",".join(b"column_%06d" % i for i in range(8000)), [HEADER_PROBE, (1 << 20) - HEADER_PROBE]),
        (b"id," + b'"' + b"x" * (HEADER_PROBE - 8) + b'\n",name', [HEADER_PROBE, (1 << 20) - HEADER_PROBE]),
    ],
    ids=["short", "wide", "quoted-newline-across-the-probe"],
)
def test_a_parts_header_is_read_from_the_first_bytes_only(
    tmp_path: Path, header: bytes, reads: list[int]
) -> None:
    from batchgate.validation.file_chunks import read_header

    path = tmp_path / "f.csv"
    path.write_bytes(header + b"\r\n" + b"1,a\n" * 200_000)  # 800 kB of rows after the header
    fs = _ReadSizes()
    got = read_header(cast(pafs.FileSystem, fs), str(path), InputFormat(format="csv"), 1 << 20)
    assert got == header and fs.reads == reads and fs.opened == 1, "one open, no byte read twice"


def test_a_header_longer_than_a_block_is_the_whole_block_as_before(tmp_path: Path) -> None:
    from batchgate.validation.file_chunks import read_header

    path = tmp_path / "f.csv"
    path.write_bytes(b"h" * (300 << 10) + b"\n1\n")
    assert read_header(pafs.LocalFileSystem(), str(path), InputFormat(format="csv"), 200 << 10) == b"h" * (
        200 << 10
    )


def test_split_and_merge_jsonl(tmp_path: Path) -> None:
    lines = [json.dumps(good_record(i) | ({"age": "x"} if i % 29 == 0 else {})) for i in range(2000)]
    lines[100] = "garbage"
    _split_and_merge(tmp_path, "\n".join(lines).encode() + b"\n", InputFormat(format="json"), 50_000)


def test_split_and_merge_parquet(tmp_path: Path) -> None:
    table = good_table(3000)
    _split_and_merge(tmp_path, parquet_bytes(table, row_group_size=250), InputFormat(format="parquet"), 1)


def test_unsplittable_inputs_are_one_part(tmp_path: Path) -> None:
    src = tmp_path / "x.json"
    src.write_bytes(b"[" + b"{}," * 1000 + b"{}]")
    fs = pafs.LocalFileSystem()
    assert plan_parts(
        fs, str(src), InputFormat.model_validate({"format": "json", "isMultiLineJson": True}), 4000, 100
    ) == [{"part": 0}]
    assert plan_parts(fs, str(src), InputFormat(format="csv"), 4000, 100, compression="gzip") == [{"part": 0}]


def test_dictionary_only_for_repetitive_columns() -> None:
    n = 1000
    table = pa.table(
        {
            "id": [f"u{i}" for i in range(n)],
            "tier": ["gold", "silver"] * (n // 2),
            "empty": pa.nulls(n, pa.string()),
            "address": pa.StructArray.from_arrays(
                [pa.array(["Paris"] * n), pa.array([f"{i:05d}" for i in range(n)])], names=["city", "zip"]
            ),
            "tags": pa.array([["vip"]] * n, pa.list_(pa.string())),
            "_source_row": pa.array(range(n), pa.int64()),
        }
    )
    assert dictionary_columns(table) == ["tier", "empty", "address.city", "tags.list.element"]


def test_a_file_error_in_one_part_lands_nothing_of_the_others(tmp_path: Path) -> None:
    """Validated in parts, a file whose one part failed as a file must count output 0, with every
    row the other parts staged moved to the failed records (land_nothing, run at merge)."""
    from batchgate.core.models import ErrorEntry
    from batchgate.validation import land_nothing

    lines = [json.dumps(good_record(i)) for i in range(2000)]
    src = tmp_path / "big.dat"
    src.write_bytes("\n".join(lines).encode() + b"\n")
    fs = pafs.LocalFileSystem()
    fmt = InputFormat(format="json")
    common = dict(
        fs=fs,
        source_path=str(src),
        dataset=make_dataset(),
        input_format=fmt,
        batch_id="b",
        file_name="big.dat",
    )
    parts = plan_parts(fs, str(src), fmt, src.stat().st_size, 50_000)
    results = [
        validate_file(staged_dir=str(tmp_path / "s"), failed_dir=str(tmp_path / "f"), **common, **p)
        for p in parts
    ]
    results[-1].file_error = ErrorEntry(code="BG-FILE-UNREADABLE", description="a part could not be read")
    merged = land_nothing(fs, merge_results(results), str(tmp_path / "f"), "big.dat", part=len(parts))
    assert merged.input_record_count == 2000 and merged.output_record_count == 0
    assert merged.failed_record_count == 2000 and merged.staged_paths == []
    staged, failed = read_outputs(merged)
    assert staged == [] and sorted(r["_row"] for r in failed) == list(range(1, 2001))
    assert not list((tmp_path / "s").glob("*.parquet")), "the staged files are gone"


@pytest.mark.parametrize("encoders", [1, 2])
def test_staged_file_is_byte_for_byte_what_pyarrow_writes_for_the_rows_as_strings(
    tmp_path: Path, encoders: int
) -> None:
    """The constant lineage columns reach the encoder as dictionaries (cheaper to encode); the
    file must not show it: same pages, statistics and footer (its Arrow schema says string).
    Row groups encoded side by side and joined (decision 64) make the same file as one writer."""
    schema = pa.schema([pa.field("id", pa.string()), pa.field("n", pa.int64()), *LINEAGE_FIELDS])
    n = 3000
    ids = pa.array([f"u{i}" for i in range(n)])
    nums = pa.array(range(n), pa.int64())
    rows = pa.array(range(1, n + 1), pa.int64())
    fs = pafs.LocalFileSystem()
    writer = StagedWriter(
        fs, str(tmp_path / "staged"), "people.csv", 0, schema, row_group_rows=1000, encoders=encoders
    )
    for start in range(0, n, 700):
        k = min(700, n - start)
        writer.write(
            pa.Table.from_arrays(
                [ids.slice(start, k), nums.slice(start, k), constant_column("b-1", k),
                 constant_column("people.csv", k), rows.slice(start, k)],
                schema=writer.write_schema,
            )
        )  # fmt: skip
    (staged,) = writer.commit()

    plain = pa.Table.from_arrays(
        [ids, nums, pa.array(["b-1"] * n), pa.array(["people.csv"] * n), rows], schema=schema
    )
    reference = tmp_path / "reference.parquet"
    with pq.ParquetWriter(
        str(reference),
        schema,
        compression="snappy",
        use_dictionary=dictionary_columns(plain.slice(0, 1400)),
        column_encoding={"_source_row": "DELTA_BINARY_PACKED"},
    ) as ref:
        # The staged writer's row groups: 1,000 rows or more, as the writes added up (700 + 700).
        for start, k in ((0, 1400), (1400, 1400), (2800, 200)):
            ref.write_table(plain.slice(start, k), row_group_size=k)
    assert Path(staged).read_bytes() == reference.read_bytes()
    assert pq.read_schema(staged) == schema
    # _source_row rises through the file: delta-encoded, a few bytes a row group instead of 8 a row
    meta = pq.ParquetFile(staged).metadata
    source_row = meta.row_group(0).column(meta.num_columns - 1)
    assert source_row.path_in_schema == "_source_row"
    assert "DELTA_BINARY_PACKED" in source_row.encodings and source_row.total_compressed_size < 1400
    assert pq.read_table(staged).column("_source_row").to_pylist() == list(range(1, n + 1))


def test_staged_writer_takes_a_string_column_as_strings_or_dictionaries(tmp_path: Path) -> None:
    """A column may come as a dictionary in some chunks and as strings in others (a chunk whose
    enum column needed converting): the writer casts each to the first chunk's types, in both
    directions, and the file holds the same strings whichever came first."""
    schema = pa.schema([pa.field("tier", pa.string()), *LINEAGE_FIELDS])
    values = ["gold", "silver", None, "bronze"] * 250
    fs = pafs.LocalFileSystem()
    for first in ("dictionary", "string"):
        writer = StagedWriter(fs, str(tmp_path / first), "t.parquet", 0, schema, row_group_rows=300)
        for i, start in enumerate(range(0, len(values), 250)):
            part = pa.array(values[start : start + 250], pa.string())
            as_dictionary = (i % 2 == 0) == (first == "dictionary")
            tier = part.dictionary_encode() if as_dictionary else part
            k = len(part)
            types = pa.schema([pa.field("tier", tier.type), *list(writer.write_schema)[1:]])
            writer.write(
                pa.Table.from_arrays(
                    [
                        tier,
                        constant_column("b", k),
                        constant_column("t", k),
                        pa.array(range(start, start + k)),
                    ],
                    schema=types,
                )
            )
        (staged,) = writer.commit()
        back = pq.read_table(staged)
        assert back.schema == schema
        assert back.column("tier").to_pylist() == values


@pytest.mark.parametrize(("cpus", "encoders"), [(1, 1), (2, 1), (3, 2), (6, 2)])
def test_a_second_encoder_runs_only_where_there_are_cpus_for_it(
    monkeypatch: pytest.MonkeyPatch, cpus: int, encoders: int
) -> None:
    """On two cores the second encoder only took CPU from the workers (decision 64)."""
    from batchgate.validation import outputs

    monkeypatch.setattr(outputs, "usable_cpus", lambda: cpus)
    assert outputs.default_encoders() == encoders
