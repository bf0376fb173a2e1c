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
