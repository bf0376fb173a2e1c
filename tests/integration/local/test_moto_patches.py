"""Ranged reads in the local stack's moto: the bytes of the range, read at the cost of the range."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from batchgate_tools.local import moto_patches
from batchgate_tools.local.moto_server import EmbeddedAws

pytestmark = pytest.mark.xdist_group("embedded-aws")

# 6 MiB (a copied part must have 5); seeded, so xdist workers collect the same tests
DATA = random.Random(7).randbytes(1 << 20) + bytes(range(256)) * 4096 * 5


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    moto_patches.apply()
    with EmbeddedAws(port=0) as aws:
        client = boto3.client(
            "s3",
            endpoint_url=aws.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket="ranges")
        client.put_object(Bucket="ranges", Key="big", Body=DATA)
        yield client


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", DATA[:1]),
        ("bytes=5-99", DATA[5:100]),
        ("bytes=1048570-1048600", DATA[1048570:1048601]),
        ("bytes=2000000-", DATA[2000000:]),
        ("bytes=-17", DATA[-17:]),
        ("bytes=100-99999999", DATA[100:]),
        ("bytes=0-", DATA),
    ],
    ids=lambda value: value if isinstance(value, str) else f"{len(value)} bytes",
)
def test_a_range_answers_exactly_its_bytes(s3: Any, header: str, expected: bytes) -> None:
    got = s3.get_object(Bucket="ranges", Key="big", Range=header)
    assert got["Body"].read() == expected
    assert got["ContentLength"] == len(expected)
    first = len(DATA) - len(expected) if header.startswith("bytes=-") else int(header[6:].split("-")[0])
    assert got["ContentRange"] == f"bytes {first}-{first + len(expected) - 1}/{len(DATA)}"


def test_what_moto_does_not_slice_is_answered_as_moto_answers_it(s3: Any) -> None:
    assert s3.get_object(Bucket="ranges", Key="big")["Body"].read() == DATA
    # a range past the end is refused; an inverted or multiple range is the whole object
    with pytest.raises(ClientError, match="InvalidRange"):
        s3.get_object(Bucket="ranges", Key="big", Range=f"bytes={len(DATA)}-")
    assert s3.get_object(Bucket="ranges", Key="big", Range="bytes=9-3")["Body"].read() == DATA
    assert s3.get_object(Bucket="ranges", Key="big", Range="bytes=0-1,5-6")["Body"].read() == DATA


def test_upload_part_copy_with_a_range_copies_exactly_it(s3: Any) -> None:
    upload = s3.create_multipart_upload(Bucket="ranges", Key="copied")["UploadId"]
    first = s3.upload_part_copy(
        Bucket="ranges",
        Key="copied",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": "ranges", "Key": "big"},
        CopySourceRange=f"bytes=0-{(5 << 20) - 1}",
    )
    second = s3.upload_part_copy(
        Bucket="ranges",
        Key="copied",
        UploadId=upload,
        PartNumber=2,
        CopySource={"Bucket": "ranges", "Key": "big"},
        CopySourceRange=f"bytes={5 << 20}-{len(DATA) - 1}",
    )
    s3.complete_multipart_upload(
        Bucket="ranges",
        Key="copied",
        UploadId=upload,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
            ]
        },
    )
    assert s3.get_object(Bucket="ranges", Key="copied")["Body"].read() == DATA


def test_a_range_view_slices_only_with_step_one() -> None:
    class Key:
        contentsize = 3

    with pytest.raises(TypeError):
        moto_patches.RangeView(Key())[::2]


def test_conditional_item_writes_are_atomic_across_server_threads(s3: Any) -> None:
    """Eight writers race to move one item from version n to n+1, twenty times: exactly one
    wins each version, as in DynamoDB (moto alone let several pass the same condition)."""
    from concurrent.futures import ThreadPoolExecutor

    endpoint = s3.meta.endpoint_url
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ddb.create_table(
        TableName="race",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="race", Item={"pk": {"S": "k"}, "v": {"N": "0"}})

    def bump(args: tuple[int, int]) -> bool:
        version, writer = args
        try:
            ddb.put_item(
                TableName="race",
                Item={"pk": {"S": "k"}, "v": {"N": str(version + 1)}, "w": {"N": str(writer)}},
                ConditionExpression="v = :v",
                ExpressionAttributeValues={":v": {"N": str(version)}},
            )
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        for version in range(20):
            assert sum(pool.map(bump, [(version, w) for w in range(8)])) == 1


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_a_running_checksum_equals_motos_checksum_of_the_whole(algorithm: str) -> None:
    from moto.s3.utils import compute_checksum

    running = moto_patches.RunningChecksum(algorithm)
    for start in range(0, len(DATA), 1 << 20):
        running.update(DATA[start : start + (1 << 20)])
    assert running.digest() == compute_checksum(DATA, algorithm, encode_base64=False)


def test_a_full_object_checksum_of_a_multipart_upload_is_the_whole_objects(s3: Any) -> None:
    """Folded in part by part, the stored checksum is what moto computes over the whole object,
    and a GET with ChecksumMode returns it (boto3 validates it on read too)."""
    from moto.s3.utils import compute_checksum

    algorithm = "CRC32"  # the one full-object CRC botocore computes without awscrt
    key = f"full-{algorithm}"
    upload = s3.create_multipart_upload(
        Bucket="ranges", Key=key, ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT"
    )["UploadId"]
    cut = 5 << 20
    parts = []
    for number, body in ((1, DATA[:cut]), (2, DATA[cut:])):
        etag = s3.upload_part(
            Bucket="ranges",
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=algorithm,
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket="ranges", Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket="ranges", Key=key, ChecksumMode="ENABLED")
    assert got["Body"].read() == DATA
    expected = compute_checksum(DATA, algorithm).decode()
    assert got[f"Checksum{algorithm}"] == expected


def test_a_completed_multipart_upload_is_its_parts_in_order_with_motos_etag_and_errors(s3: Any) -> None:
    import hashlib

    bodies = {1: DATA, 2: DATA[::-1], 3: b"tail"}  # parts but the last must hold 5 MiB
    upload = s3.create_multipart_upload(Bucket="ranges", Key="joined")["UploadId"]
    etags = {
        n: s3.upload_part(Bucket="ranges", Key="joined", UploadId=upload, PartNumber=n, Body=b)["ETag"]
        for n, b in bodies.items()
    }
    with pytest.raises(ClientError, match="InvalidPart"):
        s3.complete_multipart_upload(
            Bucket="ranges",
            Key="joined",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etags[2]}]},
        )
    with pytest.raises(ClientError, match="EntityTooSmall"):  # a part under 5 MiB that is not the last
        s3.complete_multipart_upload(
            Bucket="ranges",
            Key="joined",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 3, 2)]},
        )
    done = s3.complete_multipart_upload(
        Bucket="ranges",
        Key="joined",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]},
    )
    md5s = b"".join(hashlib.md5(b).digest() for b in bodies.values())
    assert done["ETag"].strip('"') == f"{hashlib.md5(md5s).hexdigest()}-3"
    assert s3.get_object(Bucket="ranges", Key="joined")["Body"].read() == b"".join(bodies.values())


def test_step_functions_reuse_one_client_per_region_and_service() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sqs,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    moto_patches.apply()
    first = boto_client.boto_client_for("us-east-1", "sqs")
    assert boto_client.boto_client_for("us-east-1", "sqs", object()) is first
    assert boto_client.boto_client_for("eu-west-1", "sqs") is not first
    assert boto_client.boto_client_for("us-east-1", "stepfunctions") is not first
    # the SQS integration (the task queue's sendMessage.waitForTaskToken) uses the shared one
    assert state_task_service_sqs.boto_client_for("us-east-1", "sqs") is first


def test_moto_lists_its_services_as_before() -> None:
    import os

    import moto
    from moto import backends

    moto_patches.apply()
    root = os.path.dirname(moto.__file__)
    on_disk = sorted(
        n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)) and not n.startswith("__")
    )
    assert list(backends.list_of_moto_modules()) == on_disk
    assert list(backends.list_of_moto_modules()) == on_disk  # an iterator each time, not one spent


def test_warmed_clients_are_the_ones_task_states_get() -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    moto_patches.apply()
    moto_patches.warm_clients("ap-south-1")
    warmed = boto_client.boto_client_for("ap-south-1", "sqs")
    assert warmed.meta.region_name == "ap-south-1"
    assert boto_client.boto_client_for("ap-south-1", "sqs") is warmed


def test_an_aws_chunked_body_decodes_as_moto_decodes_it() -> None:
    from moto.s3.responses import S3Response

    moto_patches.apply()
    sizes = [1, 4096, 65536, 0]
    body = (
        b"".join(f"{n:x}\r\n".encode() + DATA[:n] + b"\r\n" for n in sizes)
        + b"x-amz-checksum-crc32:AAAA\r\n\r\n"
    )
    expected = DATA[:1] + DATA[:4096] + DATA[:65536]
    assert S3Response._handle_encoded_body(None, body) == expected
    assert S3Response._handle_encoded_body(None, __import__("io").BytesIO(body)) == expected
    assert S3Response._handle_encoded_body(None, b"") == b""


def test_a_streamed_upload_with_a_trailing_checksum_stores_its_bytes(s3: Any) -> None:
    """boto3 sends a file-like body as aws-chunked with a trailing CRC32: the stored object is
    the body, whatever the chunking."""
    import io

    s3.put_object(Bucket="ranges", Key="chunked", Body=io.BytesIO(DATA), ChecksumAlgorithm="CRC32")
    assert s3.get_object(Bucket="ranges", Key="chunked")["Body"].read() == DATA


def test_a_first_etag_and_ranged_reads_of_one_key_do_not_interleave(s3: Any) -> None:
    """moto computes a key's MD5 by seeking its shared buffer; the ranged reads seek it too. With
    both under the key's lock, every range read while ETags are computed is exact."""
    import hashlib
    import threading

    from moto.s3.models import s3_backends

    key = s3_backends["123456789012"]["aws"].buckets["ranges"].keys["big"]
    expected_etag = f'"{hashlib.md5(DATA).hexdigest()}"'
    stop = threading.Event()
    etags: list[str] = []

    def recompute() -> None:
        while not stop.is_set():
            key._etag = None
            etags.append(key.etag)

    thread = threading.Thread(target=recompute)
    thread.start()
    try:
        view = moto_patches.RangeView(key)
        rng = random.Random(11)
        for _ in range(300):
            start = rng.randrange(len(DATA) - 4096)
            assert view[start : start + 4096] == DATA[start : start + 4096]
    finally:
        stop.set()
        thread.join()
    assert etags and set(etags) == {expected_etag}
