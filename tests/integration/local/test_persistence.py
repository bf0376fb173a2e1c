"""The --data-dir mirror: what a client was acknowledged survives a restart and a kill -9."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from batchgate_tools.local.moto_server import EmbeddedAws
from batchgate_tools.local.persistence import Mirror

REGION = "us-east-1"
TABLE = "batches"
BUCKET = "uploads"
ROOT = Path(__file__).resolve().parents[3]


def clients(endpoint: str, *, retries: int = 3) -> tuple[Any, Any]:
    config = Config(
        retries={"max_attempts": retries, "mode": "standard"},
        s3={"addressing_style": "path"},
        # moto 5.2.5 gives a CopyObject of a multipart object the source's composite CRC32
        # without its "-N" suffix, which boto3 then rejects as a full-object checksum on GET.
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return (
        session.client("dynamodb", endpoint_url=endpoint, config=config),
        session.client("s3", endpoint_url=endpoint, config=config),
    )


def create_table(ddb: Any) -> None:
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def create_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})


def all_items(ddb: Any) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True):
        for item in page["Items"]:
            items[f"{item['pk']['S']}|{item['sk']['S']}"] = item
    return items


def all_objects(s3: Any, bucket: str = BUCKET) -> dict[str, tuple[str, int, str, dict[str, str]]]:
    """key -> (sha256, size, content type, user metadata), from full GETs."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            obj = s3.get_object(Bucket=bucket, Key=entry["Key"])
            body = obj["Body"].read()
            found[entry["Key"]] = (
                hashlib.sha256(body).hexdigest(),
                len(body),
                obj["ContentType"],
                obj["Metadata"],
            )
    return found


def payload(seed: str, size: int) -> bytes:
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB, distinct per seed
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[EmbeddedAws, Mirror]]:
    mirror = Mirror(data_dir, {TABLE: ("pk", "sk")})
    aws = EmbeddedAws(port=0, middleware=mirror.wrap, execute_state_machines=False)
    aws.start()
    try:
        yield aws, mirror
    finally:
        aws.stop()
        mirror.close()


def restart(data_dir: Path, **mirror_kwargs: Any) -> tuple[EmbeddedAws, Mirror]:
    mirror = Mirror(data_dir, **mirror_kwargs)
    aws = EmbeddedAws(port=0, middleware=mirror, execute_state_machines=False)
    aws.start()
    return aws, mirror


def test_everything_acknowledged_comes_back_after_a_restart(
    server: tuple[EmbeddedAws, Mirror], data_dir: Path
) -> None:
    aws, _mirror = server
    ddb, s3 = clients(aws.endpoint)
    create_table(ddb)
    create_bucket(s3)

    # -- items: every mutating call the mirror knows ------------------------------------------
    for i in range(30):
        ddb.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": f"b{i}"},
                "sk": {"S": "batch"},
                "status": {"S": "loading"},
                "n": {"N": str(i)},
                "blob": {"B": bytes([i, 0, 255])},
                "nested": {"M": {"tags": {"SS": ["a", "b"]}, "bins": {"L": [{"B": b"\x01\x02"}]}}},
            },
        )
    ddb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "b1"}, "sk": {"S": "batch"}},
        UpdateExpression="SET #s = :new ADD n :one",
        ConditionExpression="#s = :old",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":new": {"S": "loaded"}, ":old": {"S": "loading"}, ":one": {"N": "1"}},
    )
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):  # a refused write changes nothing
        ddb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "b2"}, "sk": {"S": "batch"}},
            UpdateExpression="SET #s = :new",
            ConditionExpression="#s = :old",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":new": {"S": "success"}, ":old": {"S": "staging"}},
        )
    ddb.batch_write_item(
        RequestItems={
            TABLE: [
                *[
                    {
                        "PutRequest": {
                            "Item": {"pk": {"S": "b3"}, "sk": {"S": f"file#{j}"}, "size": {"N": str(j)}}
                        }
                    }
                    for j in range(20)
                ],
                {"DeleteRequest": {"Key": {"pk": {"S": "b4"}, "sk": {"S": "batch"}}}},
            ]
        }
    )
    ddb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {"pk": {"S": "b5"}, "sk": {"S": "file#x"}, "rows": {"N": "7"}},
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "b5"}, "sk": {"S": "batch"}},
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "staging"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "b6"}, "sk": {"S": "batch"}}}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "b7"}, "sk": {"S": "batch"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "b8"}, "sk": {"S": "batch"}})

    # -- objects ----------------------------------------------------------------------------
    s3.put_object(
        Bucket=BUCKET, Key="inbox/small.json", Body=b'{"a": 1}\n', ContentType="application/json",
        Metadata={"batch-id": "b1", "under_score": "kept"},
    )  # fmt: skip
    big = payload("big", 12 * 1024 * 1024 + 123)
    s3.upload_fileobj(
        io.BytesIO(big),
        BUCKET,
        "batches/b1/big.parquet",
        ExtraArgs={"ContentType": "application/vnd.apache.parquet"},
        Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024),
    )
    s3.copy_object(
        Bucket=BUCKET,
        Key="batches/b1/copy.parquet",
        CopySource={"Bucket": BUCKET, "Key": "batches/b1/big.parquet"},
    )
    odd_keys = ["odd/a b+c%25ü.csv", ".hidden", "x/" + "k" * 400, "trailing/"]
    for key in odd_keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode(), ContentType="text/plain")
    s3.put_object(Bucket=BUCKET, Key="overwritten", Body=b"first")
    s3.put_object(Bucket=BUCKET, Key="overwritten", Body=b"second", ContentType="text/csv")
    for key in ("gone/one", "gone/two", "gone/three", "gone/versioned"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"bye")
    s3.delete_object(Bucket=BUCKET, Key="gone/one")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "gone/two"}, {"Key": "gone/three"}]})
    # Deleting the latest *version* of a versioned key brings nothing back: it had one version.
    version = s3.head_object(Bucket=BUCKET, Key="gone/versioned")["VersionId"]
    s3.delete_object(Bucket=BUCKET, Key="gone/versioned", VersionId=version)
    # A presigned PUT (credentials in the query string) is an S3 write too.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "presigned.bin"})
    urllib.request.urlopen(urllib.request.Request(url, data=b"via presigned url", method="PUT")).read()
    # Virtual-host style (bucket in the Host header) is parsed the way moto parses it.
    host, port = aws.endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
    connection.request(
        "PUT",
        "/vhost/a%20b.txt",
        body=b"virtual host",
        headers={"Host": f"{BUCKET}.s3.amazonaws.com", "Authorization": auth},
    )
    assert connection.getresponse().status == 200
    connection.close()
    # A bucket created and filled at run time (not in any template) comes back too.
    s3.create_bucket(Bucket="scratch")
    s3.put_object(Bucket="scratch", Key="k", Body=b"scratch")
    s3.create_bucket(Bucket="dropped")
    s3.delete_bucket(Bucket="dropped")

    items_before = all_items(ddb)
    objects_before = all_objects(s3)
    assert {"b1|batch", "b3|file#0", "b5|file#x", "b5|batch"} <= set(items_before)
    assert not {"b4|batch", "b6|batch", "b8|batch"} & set(items_before)
    assert items_before["b1|batch"]["status"] == {"S": "loaded"}
    assert items_before["b2|batch"]["status"] == {"S": "loading"}
    assert objects_before["batches/b1/big.parquet"][:3] == (
        hashlib.sha256(big).hexdigest(), len(big), "application/vnd.apache.parquet"
    )  # fmt: skip
    assert not {"gone/one", "gone/two", "gone/three", "gone/versioned"} & set(objects_before)
    assert {"vhost/a b.txt", "presigned.bin", *odd_keys} <= set(objects_before)
    blobs_dir = data_dir / "s3" / BUCKET / "blobs"
    blobs = sorted(p.name for p in blobs_dir.iterdir())
    assert len(blobs) == len(objects_before)
    aws.stop()

    aws2, mirror2 = restart(data_dir, table_keys={TABLE: ("pk", "sk")})
    try:
        ddb2, s32 = clients(aws2.endpoint)
        assert s32.list_buckets()["Buckets"] == []  # really a fresh, empty AWS
        create_table(ddb2)
        create_bucket(s32)
        result = mirror2.restore(aws2.endpoint, region=REGION)
        assert result  # truthy when anything came back: the stack then runs its recovery
        assert result.items == len(items_before)
        assert result.objects == len(objects_before) + 1  # + scratch/k
        assert result.buckets_created == ["scratch"]
        assert result.tables_missing == []
        assert all_items(ddb2) == items_before
        assert all_objects(s32) == objects_before
        assert all_objects(s32, "scratch") == {
            "k": (hashlib.sha256(b"scratch").hexdigest(), 7, "binary/octet-stream", {})
        }
        # The GSI is maintained by the restore writes like any other write.
        loaded = ddb2.query(
            TableName=TABLE, IndexName="by-status", KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "loaded"}},
        )  # fmt: skip
        assert [i["pk"]["S"] for i in loaded["Items"]] == ["b1"]
        # Restoring did not rewrite the mirror (its requests carry x-batchgate-restore) ...
        assert sorted(p.name for p in blobs_dir.iterdir()) == blobs
        # ... and writing after a restore mirrors as usual.
        s32.put_object(Bucket=BUCKET, Key="after-restore", Body=b"new")
        assert len(list(blobs_dir.iterdir())) == len(blobs) + 1
    finally:
        aws2.stop()
        mirror2.close()


def test_a_write_that_cannot_be_persisted_is_not_acknowledged(
    server: tuple[EmbeddedAws, Mirror], monkeypatch: pytest.MonkeyPatch
) -> None:
    aws, mirror = server
    ddb, s3 = clients(aws.endpoint, retries=1)
    create_table(ddb)
    s3.create_bucket(Bucket=BUCKET)

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mirror.objects, "put_object", disk_full)
    monkeypatch.setattr(mirror.items, "apply", disk_full)
    with pytest.raises(ClientError) as s3_error:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert s3_error.value.response["Error"]["Code"] == "InternalError"
    assert "No space left" in s3_error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as ddb_error:
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert ddb_error.value.response["Error"]["Code"] == "InternalServerError"


def test_racing_overwrites_leave_the_final_version_on_disk(
    server: tuple[EmbeddedAws, Mirror], data_dir: Path
) -> None:
    aws, _mirror = server
    ddb, s3 = clients(aws.endpoint)
    create_table(ddb)
    s3.create_bucket(Bucket=BUCKET)
    # Sizes on both sides of moto's 5 MB in-memory spool, so both copy paths race.
    bodies = [payload(f"v{i}", (6 << 20) if i % 2 else (64 << 10)) for i in range(12)]

    errors: list[ClientError] = []

    def put(body: bytes) -> None:
        try:
            s3.put_object(Bucket=BUCKET, Key="contended", Body=body)
        except ClientError as exc:
            # moto 5.2.5 itself is not safe under concurrent overwrites of one key: it can close
            # the old key's buffer while another request still reads it ("read of closed
            # file", a bare 500). Those are moto's; a 500 from the mirror would name itself.
            errors.append(exc)
        ddb.put_item(
            TableName=TABLE,
            Item={"pk": {"S": "c"}, "sk": {"S": "c"}, "h": {"S": hashlib.sha256(body).hexdigest()}},
        )

    threads = [threading.Thread(target=put, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [e for e in errors if "persist" in str(e.response.get("Error", {}))]
    final = s3.get_object(Bucket=BUCKET, Key="contended")["Body"].read()
    final_item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "c"}, "sk": {"S": "c"}}, ConsistentRead=True)[
        "Item"
    ]
    aws.stop()

    aws2, mirror2 = restart(data_dir)
    try:
        ddb2, s32 = clients(aws2.endpoint)
        create_table(ddb2)
        s32.create_bucket(Bucket=BUCKET)
        mirror2.restore(aws2.endpoint, region=REGION)
        assert s32.get_object(Bucket=BUCKET, Key="contended")["Body"].read() == final
        item = ddb2.get_item(TableName=TABLE, Key={"pk": {"S": "c"}, "sk": {"S": "c"}})["Item"]
        assert item == final_item
        assert len(list((data_dir / "s3" / BUCKET / "blobs").iterdir())) == 1  # no leaked blobs
    finally:
        aws2.stop()
        mirror2.close()


def test_a_slow_mirror_cannot_commit_over_a_newer_version(
    server: tuple[EmbeddedAws, Mirror], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer A is held just before committing v1; B writes v2 meanwhile. The disk must end on v2."""
    aws, mirror = server
    _, s3 = clients(aws.endpoint)
    s3.create_bucket(Bucket=BUCKET)
    in_window, b_done = threading.Event(), threading.Event()
    held: list[Path] = []
    original = mirror.objects.write_json

    def slow_commit(directory: Path, target: Path, record: Any) -> None:
        if target.name == "contended.json" and not held:
            held.append(target)
            in_window.set()
            b_done.wait(1.0)  # B cannot finish while A holds the key's lock: this times out
        original(directory, target, record)

    monkeypatch.setattr(mirror.objects, "write_json", slow_commit)

    def put_b() -> None:
        s3.put_object(Bucket=BUCKET, Key="contended", Body=b"v2")
        b_done.set()

    a = threading.Thread(target=s3.put_object, kwargs={"Bucket": BUCKET, "Key": "contended", "Body": b"v1"})
    a.start()
    assert in_window.wait(10)
    b = threading.Thread(target=put_b)
    b.start()
    a.join(10)
    b.join(10)
    assert b_done.is_set()
    assert s3.get_object(Bucket=BUCKET, Key="contended")["Body"].read() == b"v2"
    record = json.loads(held[0].read_bytes())
    assert (data_dir / "s3" / BUCKET / "blobs" / record["blob"]).read_bytes() == b"v2"


def test_nothing_acknowledged_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    data_dir, ready = tmp_path / "data", tmp_path / "ready"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common"), str(ROOT / "tools")]),
    }
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_aws_process.py")), str(data_dir), str(ready)], env=env
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert process.poll() is None, "the AWS process died on start"
            assert time.monotonic() < deadline, "the AWS process did not start"
            time.sleep(0.05)
        endpoint = ready.read_text()
        ddb, s3 = clients(endpoint, retries=1)
        create_table(ddb)
        s3.create_bucket(Bucket=BUCKET)
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": "counter"}, "sk": {"S": "-"}, "n": {"N": "0"}})

        acked_items: set[int] = set()
        acked_objects: dict[str, str] = {}
        increments = {"tried": 0, "acked": 0}
        stop = threading.Event()

        def write_items() -> None:
            for i in range(10**6):
                if stop.is_set():
                    return
                try:
                    ddb.put_item(
                        TableName=TABLE, Item={"pk": {"S": f"i{i}"}, "sk": {"S": "-"}, "v": {"N": str(i)}}
                    )
                except Exception:
                    return
                acked_items.add(i)

        def write_objects() -> None:
            for i in range(10**6):
                if stop.is_set():
                    return
                body = payload(f"o{i}", (i % 4) * (2 << 20) + 1000)  # 1 KB .. 6 MB
                try:
                    s3.put_object(Bucket=BUCKET, Key=f"o/{i}", Body=body)
                except Exception:
                    return
                acked_objects[f"o/{i}"] = hashlib.sha256(body).hexdigest()

        def count() -> None:
            while not stop.is_set():
                increments["tried"] += 1
                try:
                    ddb.update_item(
                        TableName=TABLE, Key={"pk": {"S": "counter"}, "sk": {"S": "-"}},
                        UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}},
                    )  # fmt: skip
                except Exception:
                    return
                increments["acked"] += 1

        writers = [threading.Thread(target=f) for f in (write_items, write_objects, count)]
        for w in writers:
            w.start()
        time.sleep(2.0)
        process.send_signal(signal.SIGKILL)  # mid-flight: every writer has a request open
        process.wait(timeout=10)
        stop.set()
        for w in writers:
            w.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(acked_items) > 20 and len(acked_objects) > 3 and increments["acked"] > 20

    aws, mirror = restart(data_dir)
    try:
        ddb2, s32 = clients(aws.endpoint)
        create_table(ddb2)
        s32.create_bucket(Bucket=BUCKET)
        mirror.restore(aws.endpoint, region=REGION)
        items = all_items(ddb2)
        assert {f"i{i}|-" for i in acked_items} <= set(items)
        # The one write in flight at the kill may or may not have landed; nothing else can.
        assert len(items) - 1 - len(acked_items) in (0, 1)
        assert increments["acked"] <= int(items["counter|-"]["n"]["N"]) <= increments["tried"]
        objects = all_objects(s32)
        for key, digest in acked_objects.items():
            assert objects[key][0] == digest, key
        assert len(objects) - len(acked_objects) in (0, 1)
    finally:
        aws.stop()
        mirror.close()


class _Recorder:
    """Records what the app it wraps returned, per request method."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.returned: list[tuple[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        result = self.app(environ, start_response)
        self.returned.append((environ["REQUEST_METHOD"], result))
        return result


def test_reads_pass_through_unbuffered(data_dir: Path) -> None:
    mirror = Mirror(data_dir)
    wrappers: dict[str, _Recorder] = {}

    def middleware(app: Any) -> Any:
        wrappers["inner"] = _Recorder(app)
        wrappers["outer"] = _Recorder(mirror.wrap(wrappers["inner"]))
        return wrappers["outer"]

    size = 40 * 1024 * 1024
    with EmbeddedAws(port=0, middleware=middleware, execute_state_machines=False) as aws:
        _, s3 = clients(aws.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="big", Body=payload("big", size))
        wrappers["inner"].returned.clear()
        wrappers["outer"].returned.clear()
        url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "big"})
        read = 0
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            while chunk := response.read(1 << 20):
                read += len(chunk)
        assert read == size
    # The GET's response iterable is moto's own object, handed through untouched.
    assert [m for m, _ in wrappers["outer"].returned] == ["GET"]
    assert wrappers["outer"].returned[0][1] is wrappers["inner"].returned[0][1]
    mirror.close()


def test_leftovers_of_a_crash_are_swept_and_the_format_is_checked(data_dir: Path) -> None:
    with EmbeddedAws(port=0, middleware=Mirror(data_dir), execute_state_machines=False) as aws:
        _, s3 = clients(aws.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="kept", Body=b"kept")
    bucket_dir = data_dir / "s3" / BUCKET
    (bucket_dir / "blobs" / "orphan").write_bytes(b"half an object")
    (bucket_dir / "tmp" / "abc.json").write_bytes(b"{")
    Mirror(data_dir).close()
    assert [p.name for p in (bucket_dir / "tmp").iterdir()] == []
    assert len(list((bucket_dir / "blobs").iterdir())) == 1
    assert len(list((bucket_dir / "objects").iterdir())) == 1

    (data_dir / "format.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(RuntimeError, match="data format 99"):
        Mirror(data_dir)


def test_embedded_aws_runs_state_machines_whose_writes_are_mirrored(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mirror = Mirror(data_dir, fsync=True)
    aws = EmbeddedAws(port=0, middleware=mirror)
    aws.start()
    try:
        assert aws.port != 0 and aws.endpoint == f"http://127.0.0.1:{aws.port}"
        assert not mirror.restore(aws.endpoint, region=REGION)  # an empty data dir restores nothing
        assert os.environ["MOTO_PORT"] == str(aws.port)  # moto's ASL interpreter calls back here
        ddb, _ = clients(aws.endpoint)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        sfn = session.client("stepfunctions", endpoint_url=aws.endpoint)
        create_table(ddb)
        definition = {
            "StartAt": "Put",
            "States": {
                "Put": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Parameters": {"TableName": TABLE, "Item": {"pk": {"S.$": "$.id"}, "sk": {"S": "batch"}}},
                    "End": True,
                }
            },
        }
        machine = sfn.create_state_machine(
            name="put", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        execution = sfn.start_execution(
            stateMachineArn=machine, name="e1", input=json.dumps({"id": "from-sfn"})
        )
        deadline = time.monotonic() + 20
        while (
            status := sfn.describe_execution(executionArn=execution["executionArn"])["status"]
        ) == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status == "SUCCEEDED"
        # The execution's write went through the server, hence through the mirror.
        assert [item["pk"] for item in mirror.items.items(TABLE)] == [{"S": "from-sfn"}]

        aws.reset()
        assert ddb.list_tables()["TableNames"] == []
        assert [item["pk"] for item in mirror.items.items(TABLE)] == [{"S": "from-sfn"}]  # disk untouched
    finally:
        aws.stop()
        mirror.close()
    # Requests are logged at DEBUG, not werkzeug's INFO line per request.
    assert not [r for r in caplog.records if r.name == "werkzeug" and r.levelno >= logging.INFO]
    # stop() closed the listening socket (SO_REUSEADDR tolerates TIME_WAIT, not a listener).
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", aws.port))
        probe.listen()


@pytest.mark.parametrize("sink", ["file", "no-descriptor"])
def test_a_rolled_over_key_is_copied_byte_for_byte(
    tmp_path: Path, sink: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large key's bytes go to disk through the kernel (copy_file_range) where the sink is a
    file, and through the pread loop where it is not; either way exactly the key's bytes."""
    import random
    import tempfile

    from batchgate_tools.local.persistence import objects

    kernel_calls: list[int] = []
    real_copy = os.copy_file_range

    def counted(*args: Any) -> int:
        kernel_calls.append(args[2])
        return real_copy(*args)

    monkeypatch.setattr(os, "copy_file_range", counted)
    data = random.Random(3).randbytes(9 << 20) + b"tail"
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as buffer:
        buffer.write(data)
        assert buffer._rolled  # type: ignore[attr-defined]

        class Key:
            _value_buffer = buffer
            size = len(data)
            lock = threading.Lock()

        if sink == "file":
            with open(tmp_path / "blob", "wb") as out:
                assert objects._copy_key_bytes(Key(), out) == len(data)
            assert (tmp_path / "blob").read_bytes() == data
            assert kernel_calls, "copied in the kernel"
        else:
            out_mem = io.BytesIO()
            assert objects._copy_key_bytes(Key(), out_mem) == len(data)
            assert out_mem.getvalue() == data
            assert not kernel_calls
