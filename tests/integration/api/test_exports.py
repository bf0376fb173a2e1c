"""A batch's files, its failed-records files, and downloads with Range."""

from __future__ import annotations

import requests

from tests.integration.api.harness import BUCKET, SINGLE_PUT_MAX, Api, Aws

EXPORT = "/data/foundation/export"
BINARY = bytes(range(256)) * 4  # not UTF-8: catches any text decoding on the way out


def _batch_with_files(api: Api) -> tuple[str, str]:
    ds = api.create_dataset()
    b = api.create_batch(ds)["id"]
    assert api.put_file(b, ds, "a.json", b"0123456789").status == 200
    assert api.put_file(b, ds, "c.bin.gz", BINARY).status == 200
    assert api.put_file(b, ds, "b.json", b"{}").status == 200
    return ds, b


def test_list_files_aep_shape_and_download(api: Api) -> None:
    ds, b = _batch_with_files(api)
    r = api.call("GET", f"{EXPORT}/batches/{b}/files")
    assert r.status == 200
    body = r.json()
    assert [d["name"] for d in body["data"]] == ["a.json", "b.json", "c.bin.gz"]
    first = body["data"][0]
    assert first["dataSetViewId"] == ds and first["isValid"] is True and first["version"] == "1.0.0"
    assert first["_links"]["self"]["href"] == f"{EXPORT}/files/{first['dataSetFileId']}"
    assert body["_page"]["count"] == 3
    binary = api.call("GET", body["data"][2]["_links"]["self"]["href"])
    assert binary.status == 200 and binary.body == BINARY
    href = first["_links"]["self"]["href"]
    full = api.call("GET", href)
    assert full.status == 200 and full.body == b"0123456789"
    part = api.call("GET", href, headers={"Range": "bytes=2-4"})
    assert part.status == 206 and part.body == b"234" and part.headers["content-range"] == "bytes 2-4/10"
    tail = api.call("GET", href, headers={"Range": "bytes=-3"})
    assert tail.body == b"789" and tail.headers["content-range"] == "bytes 7-9/10"
    bad = api.call("GET", href, headers={"Range": "bytes=20-"})
    assert bad.status == 416 and bad.headers["content-range"] == "bytes */10"
    assert api.call("GET", f"{EXPORT}/files/not-an-id").status == 404


def test_failed_lists_failed_records_files(api: Api, aws: Aws) -> None:
    ds, b = _batch_with_files(api)
    assert api.call("GET", f"{EXPORT}/batches/{b}/failed").json()["data"] == []
    # what a validator writes: a failed-records report and its key on the file item
    f = aws.store.get_file("acme", "prod", b, "a.json")
    assert f is not None
    report = f"failed/acme/prod/{ds}/{b}/a.json.errors.jsonl"
    aws.s3.put_object(Bucket=BUCKET, Key=report, Body=b'{"row": 2, "code": "BG-ROW"}\n')
    aws.store.put_file("acme", "prod", f.model_copy(update={"failed_key": report, "status": "validated"}))
    data = api.call("GET", f"{EXPORT}/batches/{b}/failed").json()["data"]
    assert [d["name"] for d in data] == ["a.json"] and data[0]["isValid"] is False
    got = api.call("GET", data[0]["_links"]["self"]["href"])
    assert got.status == 200 and got.body.startswith(b'{"row": 2')


def test_large_download_redirects_to_presigned_get(api: Api, aws: Aws) -> None:
    _ds, b = _batch_with_files(api)
    big = b"y" * (SINGLE_PUT_MAX + 10)
    f = aws.store.get_file("acme", "prod", b, "b.json")
    assert f is not None
    aws.s3.put_object(Bucket=BUCKET, Key=f.key, Body=big)  # as if uploaded through a presigned URL
    href = api.call("GET", f"{EXPORT}/batches/{b}/files").json()["data"][1]["_links"]["self"]["href"]
    r = api.call("GET", href)
    assert r.status == 307
    got = requests.get(r.headers["location"], headers={"Range": "bytes=0-3"}, timeout=30)
    assert got.status_code == 206 and got.content == b"yyyy"
    small_range = api.call("GET", href, headers={"Range": "bytes=0-3"})
    assert small_range.status == 206 and small_range.body == b"yyyy"


def test_openapi_and_swagger_served_offline(api: Api) -> None:
    doc = api.call("GET", "/openapi.json").json()
    assert "/data/foundation/import/batches" in doc["paths"]
    assert "BatchCreate" in doc["components"]["schemas"]
    ui = api.call("GET", "/swagger")
    assert ui.status == 200 and b"SwaggerUIBundle" in ui.body and b"cdn" not in ui.body.lower()


def test_failed_rows_need_error_diagnostics(api: Api) -> None:
    ds = api.create_dataset()
    b = api.create_batch(ds, enableErrorDiagnostics=False)["id"]
    r = api.call("GET", f"{EXPORT}/batches/{b}/failed")
    assert r.status == 409 and r.error_code == "BG-409-DIAGNOSTICS-OFF"
    assert "enableErrorDiagnostics: true" in r.json()["error"]["message"]
