"""S3 streaming against moto's server through pyarrow's S3FileSystem (what the Lambda uses)."""

import json
from collections.abc import Iterator

import boto3
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from batchgate.aws.s3_ranges import ranged_reader
from batchgate.core.models import InputFormat
from batchgate.validation import merge_results, plan_parts, validate_file
from batchgate.validation.source import read_ahead
from tests.unit.validation.helpers import good_record, make_dataset


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[pafs.S3FileSystem, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ).create_bucket(Bucket="bg-test")
    fs = pafs.S3FileSystem(
        access_key="k", secret_key="s", region="us-east-1", endpoint_override=f"{host}:{port}", scheme="http"
    )
    yield fs, endpoint
    server.stop()


def test_validate_jsonl_on_s3(s3: tuple[pafs.S3FileSystem, str]) -> None:
    fs, _ = s3
    lines = [json.dumps(good_record(i) | ({"age": 999} if i == 7 else {})) for i in range(5000)]
    with fs.open_output_stream("bg-test/uploads/o/s/ds1/b1/p.json") as f:
        f.write(("\n".join(lines) + "\n").encode())
    result = validate_file(
        fs=fs,
        source_path="bg-test/uploads/o/s/ds1/b1/p.json",
        dataset=make_dataset(),
        input_format=InputFormat(format="json"),
        batch_id="b1",
        file_name="p.json",
        staged_dir="bg-test/staged/o/s/ds1/b1",
        failed_dir="bg-test/failed/o/s/ds1/b1",
        block_size=64 << 10,
    )
    assert (result.output_record_count, result.failed_record_count) == (4999, 1)
    assert result.staged_paths == [
        "bg-test/staged/o/s/ds1/b1/p.json-" + result.staged_paths[0].split("p.json-")[1]
    ]
    with fs.open_input_file(result.staged_paths[0]) as f:
        assert pq.read_table(f).num_rows == 4999
    with fs.open_input_stream(result.failed_path) as f:
        assert json.loads(f.read())["_row"] == 8
    # Nothing else under the prefixes: no temporary file left (pyarrow's "dir/" markers aside).
    raw = boto3.client(
        "s3", endpoint_url=s3[1], region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ).list_objects_v2(Bucket="bg-test", Prefix="")
    keys = sorted(o["Key"] for o in raw["Contents"] if not o["Key"].endswith("/"))
    assert keys == sorted(
        [
            "uploads/o/s/ds1/b1/p.json",
            result.staged_paths[0].removeprefix("bg-test/"),
            result.failed_path.removeprefix("bg-test/"),
        ]
    )


def test_s3_reads_go_through_boto3_ranges_and_keep_the_filesystem_errors(
    s3: tuple[pafs.S3FileSystem, str],
) -> None:
    fs, _ = s3
    body = bytes(range(256)) * 4096  # 1 MiB, every offset distinguishable
    with fs.open_output_stream("bg-test/ranges/blob.bin") as f:
        f.write(body)
    reader = ranged_reader(fs, "bg-test/ranges/blob.bin")
    assert reader is not None
    assert reader.read_at(10, 1000) == body[1000:1010]
    assert reader.read_at(100, len(body) - 10) == body[-10:]  # a short last range
    assert reader.read_at(5, len(body) + 100) == b""  # past the end: the object got shorter
    # read_ahead from a start to an end in chunks, reassembled, is exactly those bytes
    got = b"".join(read_ahead(fs, "bg-test/ranges/blob.bin", 700_001, start=123, chunk=65_536))
    assert got == body[123:700_001]
    with pytest.raises(FileNotFoundError):
        ranged_reader(fs, "bg-test/ranges/missing.bin").read_at(10, 0)  # type: ignore[union-attr]
    # Other filesystems, and settings a plain client would not mirror, keep pyarrow's reads.
    assert ranged_reader(pafs.LocalFileSystem(), "/tmp/x") is None
    assert ranged_reader(pafs.S3FileSystem(anonymous=True, region="us-east-1"), "b/k") is None
    assert ranged_reader(fs, "bucket-only") is None


def test_a_csv_validated_in_parts_on_s3_matches_one_pass(s3: tuple[pafs.S3FileSystem, str]) -> None:
    fs, _ = s3
    rows = ["id,email,age"] + [
        f"u{i},user{i}@example.com,{999 if i % 97 == 0 else i % 90}" for i in range(30_000)
    ]
    with fs.open_output_stream("bg-test/uploads/o/s/ds1/b2/big.csv") as f:
        f.write(("\n".join(rows) + "\n").encode())
    path = "bg-test/uploads/o/s/ds1/b2/big.csv"
    size = fs.get_file_info(path).size
    common = {
        "fs": fs,
        "source_path": path,
        "dataset": make_dataset(),
        "input_format": InputFormat(format="csv"),
        "batch_id": "b2",
        "file_name": "big.csv",
        "failed_dir": "bg-test/failed/o/s/ds1/b2",
        "block_size": 64 << 10,
    }
    whole = validate_file(staged_dir="bg-test/staged/o/s/ds1/b2/whole", **common)
    parts = plan_parts(fs, path, InputFormat(format="csv"), size, 200_000)
    assert len(parts) > 3
    results = [
        validate_file(staged_dir=f"bg-test/staged/o/s/ds1/b2/p{p['part']}", **common, **p) for p in parts
    ]
    merged = merge_results(results)
    assert (merged.output_record_count, merged.failed_record_count) == (
        whole.output_record_count,
        whole.failed_record_count,
    )
    assert whole.failed_record_count == len(range(0, 30_000, 97))
    assert whole.output_record_count + whole.failed_record_count == 30_000


def test_staged_files_on_s3_are_the_same_bytes_with_one_encoder_or_two(
    s3: tuple[pafs.S3FileSystem, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision 64 on S3: row groups encoded side by side and appended to the in-place upload as
    they finish make the file one encoder makes (15 row groups: one per 64 KiB block)."""
    from batchgate.validation import outputs

    fs, _ = s3
    rows = ["id,email,age"] + [
        f"u{i},user{i}@example.com,{999 if i % 97 == 0 else i % 90}" for i in range(30_000)
    ]
    path = "bg-test/uploads/o/s/ds1/b3/rows.csv"
    with fs.open_output_stream(path) as f:
        f.write(("\n".join(rows) + "\n").encode())
    staged: dict[int, bytes] = {}
    for encoders in (1, 2):
        monkeypatch.setattr(
            outputs.StagedWriter.__init__,
            "__kwdefaults__",
            {"row_group_rows": 1000, "row_group_bytes": 16 << 20, "encoders": encoders},
        )
        result = validate_file(
            fs=fs,
            source_path=path,
            dataset=make_dataset(),
            input_format=InputFormat(format="csv"),
            batch_id="b3",
            file_name="rows.csv",
            staged_dir=f"bg-test/staged/o/s/ds1/b3/e{encoders}",
            failed_dir=f"bg-test/failed/o/s/ds1/b3/e{encoders}",
            block_size=64 << 10,
        )
        (staged_path,) = result.staged_paths
        with fs.open_input_file(staged_path) as f:
            staged[encoders] = f.read()
    assert staged[1] == staged[2]
    with fs.open_input_file(staged_path) as f:
        parquet = pq.ParquetFile(f)
        assert parquet.metadata.num_row_groups >= 10
        assert parquet.read().column("id").to_pylist() == [f"u{i}" for i in range(30_000) if i % 97]
