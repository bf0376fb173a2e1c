"""The hostile probe's findings, replayed against `batchgate up` over HTTP and S3 (the kill -9
findings are in test_faults.py)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.stack import RunningStack, start_stack

SCHEMA = {
    "fields": [
        {"name": "id", "type": "string", "required": True},
        {"name": "n", "type": "integer"},
        {"name": "score", "type": "number"},
    ]
}
FINAL = {"success", "failed", "aborted", "inactive", "deleted"}


def lines(n: int, prefix: str = "r") -> bytes:
    return b"".join(json.dumps({"id": f"{prefix}{i}", "n": i}).encode() + b"\n" for i in range(n))


def create_dataset(stack: RunningStack, schema: dict[str, Any] = SCHEMA) -> Any:
    return stack.post("/data/foundation/catalog/dataSets", json={"name": "probe", "schema": schema})


def dataset(stack: RunningStack) -> str:
    r = create_dataset(stack)
    assert r.status_code == 201, r.text
    return str(r.json()[0].removeprefix("@/dataSets/"))


def batch(stack: RunningStack, ds: str, **extra: Any) -> str:
    body = {"datasetId": ds, "inputFormat": {"format": "json"}, **extra}
    r = stack.post("/data/foundation/import/batches", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def path(b: str, ds: str, name: str) -> str:
    return f"/data/foundation/import/batches/{b}/datasets/{ds}/files/{name}"


def complete(stack: RunningStack, b: str) -> dict[str, Any]:
    assert stack.post(f"/data/foundation/import/batches/{b}?action=COMPLETE").status_code == 200
    return stack.wait_batch(b, FINAL)


def ingest(
    stack: RunningStack, ds: str, data: bytes, name: str = "f.json", **extra: Any
) -> tuple[str, dict[str, Any]]:
    b = batch(stack, ds, **extra)
    r = stack.put(path(b, ds, name), data)
    assert r.status_code == 200, r.text
    return b, complete(stack, b)


def rows(stack: RunningStack, ds: str, **query: str) -> requests.Response:
    return stack.get(f"/data/foundation/export/datasets/{ds}/rows", params=query)


def inbox_batch(stack: RunningStack, ds: str, timeout: float = 60) -> dict[str, Any]:
    """The one bucket-drop batch of dataset ``ds``, once final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(stack.get(f"/data/foundation/catalog/batches?dataSet={ds}").json().values())
        if found and found[0]["status"] in FINAL:
            return dict(found[0])
        time.sleep(0.5)
    raise AssertionError(f"no final drop batch in {ds}:\n{stack.tail()}")


def test_a_backtracking_pattern_is_refused_and_cannot_freeze_the_stack(stack: RunningStack) -> None:
    r = create_dataset(stack, {"fields": [{"name": "s", "type": "string", "pattern": "^(?=a)(a+)+$"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BG-400-SCHEMA"
    assert "(?=" in r.json()["error"]["message"] and "linear time" in r.json()["error"]["message"]
    # An ordinary pattern on the evil input runs in RE2's linear time: the batch is quick and the
    # stack answers meanwhile (the probe saw /health take 59.4 s).
    ds_r = create_dataset(stack, {"fields": [{"name": "s", "type": "string", "pattern": "^(a+)+$"}]})
    ds = str(ds_r.json()[0].removeprefix("@/dataSets/"))
    evil = json.dumps({"s": "a" * 5000 + "b"}).encode() + b"\n"
    started = time.monotonic()
    _, final = ingest(stack, ds, evil, partialIngestionPercentage=100)
    assert final["metrics"]["failedRecordCount"] == 1 and final["errors"][-1]["code"] == "BG-ROW-PATTERN"
    assert time.monotonic() - started < 60
    assert requests.get(stack.api + "/health", timeout=5).status_code == 200


def test_a_drop_put_again_is_a_new_batch(stack: RunningStack) -> None:
    """The same bytes put to the same key again (a new version) are a new batch: the probe saw
    nothing happen, the batch id being derived from key and ETag. (Puts this close that the
    first event comes after the second put are covered with S3's versionId in test_ingest.py;
    moto's events do not carry it.)"""
    ds = dataset(stack)
    s3 = stack.s3()
    key = f"inbox/local/prod/{ds}/again.json"
    found: list[dict[str, Any]] = []
    for round_ in (1, 2):
        s3.put_object(Bucket=stack.bucket, Key=key, Body=lines(5))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batches = stack.get(f"/data/foundation/catalog/batches?dataSet={ds}").json().values()
            found = [b for b in batches if b["status"] in FINAL]
            if len(found) == round_:
                break
            time.sleep(0.5)
    assert len(found) == 2 and all(b["status"] == "success" for b in found), found
    assert len(rows(stack, ds, limit="100").json()["data"]) == 10


def test_one_lone_surrogate_fails_one_record_not_the_file(stack: RunningStack) -> None:
    ds = dataset(stack)
    data = lines(10_000) + b'{"id": "\\udc00x"}\n'
    _, final = ingest(stack, ds, data, partialIngestionPercentage=100)
    m = final["metrics"]
    assert final["status"] == "success", final
    assert (m["inputRecordCount"], m["outputRecordCount"], m["failedRecordCount"]) == (10_001, 10_000, 1)
    assert any(e["code"] == "BG-ROW-ENCODING" for e in final["errors"])


@pytest.mark.parametrize("name", ["../x.json", "sub/./x.json"])
def test_dot_segments_in_a_drop_fail_its_batch_with_a_clear_code(stack: RunningStack, name: str) -> None:
    ds = dataset(stack)
    stack.s3().put_object(Bucket=stack.bucket, Key=f"inbox/local/prod/{ds}/{name}", Body=lines(3))
    b = inbox_batch(stack, ds)
    assert b["status"] == "failed" and b["errors"][0]["code"] == "BG-INBOX-FILE-NAME", b


def test_numbers_that_are_not_finite_are_refused(stack: RunningStack) -> None:
    ds = dataset(stack)
    data = b'{"id": "a", "score": 1.5}\n{"id": "b", "score": NaN}\n{"id": "c", "score": Infinity}\n{"id": "d", "score": 1e999}\n'
    _, final = ingest(stack, ds, data, partialIngestionPercentage=100)
    assert final["metrics"]["failedRecordCount"] == 3 and final["metrics"]["outputRecordCount"] == 1
    assert [r["id"] for r in rows(stack, ds).json()["data"]] == ["a"]


def test_a_truncated_gzip_lands_nothing_and_counts_no_output(stack: RunningStack) -> None:
    ds = dataset(stack)
    whole = gzip.compress(lines(20_000))
    _, final = ingest(stack, ds, whole[: len(whole) // 2], name="cut.json.gz")
    m = final["metrics"]
    assert final["status"] == "failed" and m["outputRecordCount"] == 0
    assert m["inputRecordCount"] == m["failedRecordCount"] > 0
    assert rows(stack, ds).json()["data"] == []


def raw_request(stack: RunningStack, request_line: bytes, headers: dict[str, str], body: bytes = b"") -> int:
    """An HTTP request written byte for byte (curl sends raw UTF-8 in a path; requests would not)."""
    host, port = stack.api.removeprefix("http://").split(":")
    head = [request_line] + [
        f"{k}: {v}".encode()
        for k, v in {**headers, "Content-Length": str(len(body)), "Connection": "close"}.items()
    ]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def test_file_names_are_decoded_once(stack: RunningStack) -> None:
    ds = dataset(stack)
    b = batch(stack, ds)
    assert stack.put(path(b, ds, "my%20file.json"), lines(1)).status_code == 200
    raw = raw_request(
        stack,
        f"PUT {path(b, ds, 'café.json')} HTTP/1.1".encode(),
        {**stack.headers(), "Content-Type": "application/octet-stream", "Host": "x"},
        lines(1),
    )
    assert raw == 200
    names = sorted(f["name"] for f in stack.get(f"/data/foundation/export/batches/{b}/files").json()["data"])
    assert names == ["café.json", "my file.json"]


def test_bodies_past_a_limit_are_400s_through_the_local_gateway(stack: RunningStack) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"name": "\xff"}'):
        r = requests.post(
            stack.api + "/data/foundation/catalog/dataSets",
            headers=stack.headers(**{"Content-Type": "application/json"}),
            data=body,
            timeout=60,
        )
        assert r.status_code == 400 and r.json()["error"]["code"].startswith("BG-400"), r.text


@pytest.fixture(scope="module")
def slow_commits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose landings sleep 4 s just before their commit: room for an ABORT to win."""
    s = start_stack(Path(tmp_path_factory.mktemp("slow")), env={"BATCHGATE_FAULT": "commit:delay=4"})
    yield s
    s.stop()


def test_abort_during_the_commit_never_shows_its_rows_nor_a_500(slow_commits: RunningStack) -> None:
    stack = slow_commits
    ds = dataset(stack)
    b = batch(stack, ds)
    assert stack.put(path(b, ds, "f.json"), lines(50)).status_code == 200
    assert stack.post(f"/data/foundation/import/batches/{b}?action=COMPLETE").status_code == 200
    stack.wait_batch(b, {"staging"})
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            r = rows(stack, ds)
            seen.append((r.status_code, len(r.json().get("data", [])) if r.status_code == 200 else -1))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert stack.post(f"/data/foundation/import/batches/{b}?action=ABORT").status_code == 200
        time.sleep(8)  # the delayed commit lands, is compensated; readers keep reading meanwhile
    finally:
        stop.set()
        reader.join()
    assert stack.wait_batch(b, FINAL)["status"] == "aborted"
    assert seen and all(status == 200 and count == 0 for status, count in seen), [
        s for s in seen if s != (200, 0)
    ][:20]


def test_a_reverted_batch_is_gone_from_every_read_and_purge_removes_its_files(stack: RunningStack) -> None:
    ds = dataset(stack)
    pii, _ = ingest(stack, ds, lines(30, "pii"))
    keep, _ = ingest(stack, ds, lines(30, "ok"))
    token = rows(stack, ds, limit="10").json()["page"]["next"]
    r = stack.post(f"/data/foundation/import/batches/{pii}?action=REVERT", json={"purge": True})
    assert r.status_code == 200, r.text
    stack.wait_batch(pii, {"inactive"})
    current = rows(stack, ds, limit="1000").json()["data"]
    assert {row["_batch_id"] for row in current} == {keep}
    assert rows(stack, ds, asOfBatch=pii).status_code == 400
    assert rows(stack, ds, limit="10", start=token).status_code == 409
    # keep's snapshot read pii's files too: the purge expires it, so time travel there is refused.
    # The batch is inactive once the revert commits; the purge's expiry follows, and under load a
    # read can fall between the two (its files already deleted: 404), so wait for the purge's end.
    deadline = time.monotonic() + 30
    as_of_keep = rows(stack, ds, asOfBatch=keep)
    while as_of_keep.status_code != 400 and time.monotonic() < deadline:
        time.sleep(0.5)
        as_of_keep = rows(stack, ds, asOfBatch=keep)
    assert as_of_keep.status_code == 400 and as_of_keep.json()["error"]["code"] == "BG-400-AS-OF-BATCH"
    deadline = time.monotonic() + 30
    prefix = f"staged/local/prod/{ds}/{pii}/"
    while [
        o
        for o in stack.s3().list_objects_v2(Bucket=stack.bucket, Prefix=prefix).get("Contents", [])
        if not o["Key"].endswith("/")
    ]:
        assert time.monotonic() < deadline, "the purged batch's staged files are still there"
        time.sleep(0.5)
