"""`batchgate invoke`'s preparation of a sample event, and what it prints when a handler raises.

Placeholders are words in capitals joined by underscores (``BATCH_ID``, ``DATASET_ID``,
``API_TOKEN``): ``--param NAME=VALUE`` replaces each whole word, and the running stack fills its
own (its key, its bucket). ``--put-objects`` puts the files an S3 sample names (from the samples'
``data/`` folder) and writes into the event what S3 would: the new object's version, ETag and size.
"""

from __future__ import annotations

import hashlib
import json
import re
import traceback
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
# A value lands inside JSON strings, some of them JSON inside a string (an SQS body): characters
# that would need escaping at either level are refused rather than half-escaped.
SAFE_VALUE = re.compile(r"[^\"\\\x00-\x1f]*")


class SampleError(ValueError):
    pass


def stack_placeholders(info: dict[str, Any]) -> dict[str, str]:
    """What the running stack fills by itself."""
    return {
        "API_KEY": str(info["keyId"]),
        "API_TOKEN": str(info["token"]),
        "BUCKET_NAME": str(info["bucket"]),
    }


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not PLACEHOLDER.fullmatch(name):
            raise SampleError(
                f"--param {pair!r}: give NAME=VALUE, NAME in capitals with underscores (BATCH_ID=...)"
            )
        if not SAFE_VALUE.fullmatch(value):
            raise SampleError(f"--param {name}: quotes, backslashes and control characters are not accepted")
        params[name] = value
    return params


def fill(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """The text with each placeholder replaced; the placeholders left unfilled, in order."""
    filled = PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), text)
    left = sorted(set(PLACEHOLDER.findall(filled)))
    return filled, left


def s3_records(event: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(SQS record, its S3 event) of every S3 notification an SQS event carries."""
    found = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record.get("body") or "")
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("Records"), list):
            found.append((record, body))
    return found


def put_objects(event: dict[str, Any], data_dir: Path, bucket: str, s3: Any) -> list[str]:
    """Put each object the event names, from ``data_dir`` by file name, and write what S3 would
    send into the event. Returns the keys put."""
    put = []
    for record, body in s3_records(event):
        for r in body["Records"]:
            key = r["s3"]["object"]["key"]
            source = data_dir / key.rsplit("/", 1)[-1]
            if not source.is_file():
                raise SampleError(f"the sample names {key}, but {source} does not exist to put there")
            data = source.read_bytes()
            answer = s3.put_object(Bucket=bucket, Key=key, Body=data)
            r["s3"]["bucket"] = {"name": bucket, "arn": f"arn:aws:s3:::{bucket}", **{
                k: v for k, v in r["s3"]["bucket"].items() if k not in ("name", "arn")
            }}  # fmt: skip
            r["s3"]["object"].update(size=len(data), eTag=answer["ETag"].strip('"'))
            if answer.get("VersionId"):
                r["s3"]["object"]["versionId"] = answer["VersionId"]
            put.append(key)
        record["body"] = json.dumps(body)
        record["md5OfBody"] = hashlib.md5(record["body"].encode()).hexdigest()
    return put


def gateway_answer_for(function_type: str, exc: BaseException) -> dict[str, Any] | None:
    """What API Gateway answers when an authorizer raises ``Exception("Unauthorized")``: its 401."""
    if function_type == "authorizer" and str(exc) == "Unauthorized":
        return {
            "statusCode": 401,
            "headers": {"Content-Type": "application/json", "x-amzn-ErrorType": "UnauthorizedException"},
            "body": json.dumps({"message": "Unauthorized"}),
        }
    return None


def lambda_error(exc: BaseException) -> dict[str, Any]:
    """The error payload Lambda returns for an unhandled exception (what `sam local invoke` prints)."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }
