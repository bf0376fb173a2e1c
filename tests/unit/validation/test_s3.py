"""S3 streaming against moto's server through pyarrow's S3FileSystem (what the Lambda uses)."""

import json
from collections.abc import Iterator

import boto3
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from batchgate.core.models import InputFormat
from batchgate.validation import validate_file
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
