"""Chunked (AEP INITIALIZE / PATCH / COMPLETE) and presigned uploads."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from tests.integration.api.harness import BUCKET, Api, Aws

MIB = 1024 * 1024


def _setup(api: Api, fmt: str = "parquet") -> tuple[str, str]:
    ds_id = api.create_dataset()
    return ds_id, api.create_batch(ds_id, fmt)["id"]


def _patch(api: Api, b: str, ds: str, name: str, data: bytes, first: int, total: int | str) -> int:
    last = first + len(data) - 1
    r = api.call(
        "PATCH",
        api.file_path(b, ds, name),
        data=data[:],
        headers={"Content-Range": f"bytes {first}-{last}/{total}"},
    )
    return r.status


def _file_action(api: Api, b: str, ds: str, name: str, action: str, body: object = None):  # type: ignore[no-untyped-def]
    return api.call("POST", api.file_path(b, ds, name), query={"action": action}, json_body=body)


def test_chunked_upload_assembles_exact_bytes_and_removes_chunks(api: Api, aws: Aws) -> None:
    ds, b = _setup(api)
    # A chunk above S3's 5 MiB part minimum (copied server-side) followed by small ones
    # (streamed into one last part), sent out of order.
    data = os.urandom(5 * MIB + 123) + os.urandom(700_000) + os.urandom(333)
    pieces = [
        (0, 5 * MIB + 123),
        (5 * MIB + 123, 5 * MIB + 123 + 700_000),
        (5 * MIB + 123 + 700_000, len(data)),
    ]
    assert _file_action(api, b, ds, "big.parquet", "INITIALIZE").status == 201
    for first, end in reversed(pieces):
        total: int | str = len(data) if first else "*"
        assert _patch(api, b, ds, "big.parquet", data[first:end], first, total) == 200
    chunks = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="chunks/")["Contents"]
    assert len(chunks) == 3 and not any(c["Key"].startswith("uploads/") for c in chunks)
    assert _file_action(api, b, ds, "big.parquet", "COMPLETE").status == 201
    key = f"uploads/parquet/acme/prod/{ds}/{b}/big.parquet"
    got = aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="chunks/")
    f = aws.store.get_file("acme", "prod", b, "big.parquet")
    assert f is not None and f.size == len(data)
    # repeated COMPLETE is harmless; more chunks are refused
    assert _file_action(api, b, ds, "big.parquet", "COMPLETE").status == 201
    assert _patch(api, b, ds, "big.parquet", b"x", 0, 1) == 409


def test_many_small_chunks_are_concatenated(api: Api, aws: Aws) -> None:
    ds, b = _setup(api)
    data = os.urandom(3 * MIB + 17)
    assert _file_action(api, b, ds, "f.parquet", "INITIALIZE").status == 201
    step = 256 * 1024
    for first in range(0, len(data), step):
        assert _patch(api, b, ds, "f.parquet", data[first : first + step], first, len(data)) == 200
    assert _file_action(api, b, ds, "f.parquet", "COMPLETE").status == 201
    got = aws.s3.get_object(Bucket=BUCKET, Key=f"uploads/parquet/acme/prod/{ds}/{b}/f.parquet")["Body"].read()
    assert got == data


@pytest.mark.parametrize(
    ("ranges", "total", "fragment"),
    [
        ([(0, 9), (20, 29)], 30, "gap: bytes 10-19 are missing"),
        ([(0, 14), (10, 29)], 30, "overlap: bytes 10-14"),
        ([(0, 9), (10, 19)], 30, "gap: bytes 20-29 are missing"),
        ([(5, 9)], "*", "gap: bytes 0-4 are missing"),
    ],
)
def test_chunk_problems_are_400_naming_ranges(
    api: Api, ranges: list[tuple[int, int]], total: int | str, fragment: str
) -> None:
    ds, b = _setup(api)
    _file_action(api, b, ds, "c.parquet", "INITIALIZE")
    for first, last in ranges:
        assert _patch(api, b, ds, "c.parquet", b"z" * (last - first + 1), first, total) == 200
    r = _file_action(api, b, ds, "c.parquet", "COMPLETE")
    assert r.status == 400 and r.error_code == "BG-400-CHUNKS" and fragment in r.json()["error"]["message"]


def test_chunk_totals_that_disagree_are_400(api: Api) -> None:
    ds, b = _setup(api)
    _file_action(api, b, ds, "c.parquet", "INITIALIZE")
    assert _patch(api, b, ds, "c.parquet", b"a" * 10, 0, 20) == 200
    assert _patch(api, b, ds, "c.parquet", b"b" * 10, 10, 25) == 200
    r = _file_action(api, b, ds, "c.parquet", "COMPLETE")
    assert r.status == 400 and "wrong total" in r.json()["error"]["message"]


def test_patch_header_and_state_errors(api: Api) -> None:
    ds, b = _setup(api)
    path = api.file_path(b, ds, "p.parquet")
    r = api.call("PATCH", path, data=b"abc", headers={"Content-Range": "bytes 0-2/3"})
    assert r.status == 404  # not initialized
    _file_action(api, b, ds, "p.parquet", "INITIALIZE")
    for bad in ("bytes 0-1/3", "bytes 2-0/3", "items 0-2/3", "bytes 0-2/2"):
        r = api.call("PATCH", path, data=b"abc", headers={"Content-Range": bad})
        assert r.status == 400 and r.error_code == "BG-400-CONTENT-RANGE", bad
    api.put_file(b, ds, "single.parquet", b"abc")
    r = api.call(
        "PATCH", api.file_path(b, ds, "single.parquet"), data=b"abc", headers={"Content-Range": "bytes 0-2/3"}
    )
    assert r.status == 409 and r.error_code == "BG-409-NOT-CHUNKED"
    assert _file_action(api, b, ds, "p.parquet", "INITIALIZE").status == 201  # repeat
    assert _file_action(api, b, ds, "single.parquet", "INITIALIZE").status == 409


def test_presigned_single_put(api: Api, aws: Aws) -> None:
    ds, b = _setup(api, "json")
    data = b'{"id": "1"}\n' * 1000
    r = _file_action(api, b, ds, "s.json", "PRESIGN", {"size": len(data)})
    assert r.status == 201
    body = r.json()
    assert body["method"] == "PUT" and "uploadId" not in body
    assert aws.store.get_file("acme", "prod", b, "s.json") is not None  # item created at PRESIGN
    assert api.action(b, "COMPLETE").status == 409  # the bytes have not landed yet
    put = requests.put(body["url"], data=data, timeout=30)
    assert put.status_code == 200, put.text
    got = aws.s3.get_object(Bucket=BUCKET, Key=f"uploads/json/acme/prod/{ds}/{b}/s.json")["Body"].read()
    assert got == data
    assert api.action(b, "COMPLETE").status == 200


def test_presigned_multipart(api: Api, aws: Aws) -> None:
    ds, b = _setup(api)
    data = os.urandom(11 * MIB + 5)
    r = _file_action(api, b, ds, "m.parquet", "PRESIGN", {"size": len(data), "partSize": 5 * MIB})
    assert r.status == 201
    plan = r.json()
    assert len(plan["parts"]) == 3 and plan["completeWith"].startswith("POST ")
    again = _file_action(api, b, ds, "m.parquet", "PRESIGN", {"size": len(data), "partSize": 5 * MIB}).json()
    assert again["uploadId"] == plan["uploadId"]  # URLs re-issued for the same upload
    etags = []
    for part in plan["parts"]:
        resp = requests.put(part["url"], data=data[part["first"] : part["last"] + 1], timeout=30)
        assert resp.status_code == 200, resp.text
        etags.append({"partNumber": part["partNumber"], "etag": resp.headers["ETag"]})
    short = _file_action(
        api, b, ds, "m.parquet", "COMPLETE", {"uploadId": plan["uploadId"], "parts": etags[:2]}
    )
    assert short.status == 400 and "announced" in short.json()["error"]["message"]
    wrong = _file_action(api, b, ds, "m.parquet", "COMPLETE", {"uploadId": "nope", "parts": etags})
    assert wrong.status == 400
    done = _file_action(api, b, ds, "m.parquet", "COMPLETE", {"uploadId": plan["uploadId"], "parts": etags})
    assert done.status == 201
    got = aws.s3.get_object(Bucket=BUCKET, Key=f"uploads/parquet/acme/prod/{ds}/{b}/m.parquet")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert _file_action(api, b, ds, "m.parquet", "PRESIGN", {"size": len(data)}).status == 409


def test_presign_needs_size_and_sane_part_size(api: Api) -> None:
    ds, b = _setup(api)
    assert _file_action(api, b, ds, "x.parquet", "PRESIGN").status == 400
    r = _file_action(api, b, ds, "x.parquet", "PRESIGN", {"size": 10, "partSize": 1024})
    assert r.status == 400 and "partSize" in r.json()["error"]["message"]


def test_file_actions_accept_any_content_type_and_check_json(api: Api) -> None:
    ds, b = _setup(api)
    path = api.file_path(b, ds, "x.parquet")
    octet = {"Content-Type": "application/octet-stream"}  # what some AEP clients send on every call
    assert api.call("POST", path, query={"action": "INITIALIZE"}, headers=octet).status == 201
    assert api.call("PATCH", path, data=b"abc", headers={"Content-Range": "bytes 0-2/3"}).status == 200
    assert api.call("POST", path, query={"action": "COMPLETE"}, headers=octet).status == 201
    ev = api.event("POST", api.file_path(b, ds, "y.parquet"), query={"action": "PRESIGN"}, json_body={})
    ev["body"] = "{size: 1"
    r = api.invoke(ev)
    assert r.status == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = _file_action(api, b, ds, "y.parquet", "PRESIGN", {"size": "big"})
    assert r.status == 400 and "size" in r.json()["error"]["message"]


def test_json_routes_refuse_other_content_types_with_415(api: Api) -> None:
    r = api.call(
        "POST",
        "/data/foundation/catalog/dataSets",
        json_body={"name": "x"},
        headers={"Content-Type": "text/plain"},
    )
    assert r.status == 415 and r.error_code == "BG-415-CONTENT-TYPE"
