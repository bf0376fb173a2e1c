"""The Python SDK and the CLI against the API function (through an in-process transport)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from batchgate_tools.cli import main
from batchgate_tools.client import Client, ClientError
from batchgate_tools.files import Progress
from tests.integration.api.harness import API_URL, BUCKET, TABLE, Api, Aws, Creds, sdk_session

MIB = 1024 * 1024


SCHEMA = {"fields": [{"name": "id", "type": "string", "required": True}]}


def finish_like_the_state_machine(aws: Aws, batch_id: str, status: str = "success") -> None:
    b = aws.store.get_batch("acme", "prod", batch_id)
    aws.store.save_batch(
        b.model_copy(update={"status": status}), expected_status=b.status, expected_version=b.version
    )


def test_sdk_typed_calls_and_errors(client: Client, aws: Aws) -> None:
    ds = client.create_dataset("people", SCHEMA, {"isUpsert": True, "identity": ["id"]})
    assert client.get_dataset(ds)["tags"]["isUpsert"] is True
    assert ds in client.list_datasets()
    b = client.create_batch(ds, "json")["id"]
    client.put_file(b, ds, "a.json", b'{"id": "1"}\n')
    client.initialize_file(b, ds, "c.json")
    client.patch_chunk(b, ds, "c.json", b'{"id": "2"}\n', 0, 12)
    client.complete_file(b, ds, "c.json")
    assert [f["name"] for f in client.list_files(b)] == ["a.json", "c.json"]
    assert client.download(client.list_files(b)[1]["dataSetFileId"]) == b'{"id": "2"}\n'
    assert client.download(client.list_files(b)[0]["_links"]["self"]["href"], "bytes=0-3") == b'{"id'
    assert client.list_failed(b) == []
    assert client.complete(b)["status"] == "loaded"
    assert b in client.list_batches(dataset_id=ds, status="loaded")
    with pytest.raises(ClientError) as info:
        client.put_file(b, ds, "late.json", b"{}")
    assert info.value.status == 409 and info.value.code == "BG-409-BATCH-NOT-LOADING"
    assert info.value.request_id and info.value.request_id.startswith("req-")
    with pytest.raises(ClientError) as info:
        client.revert(b)
    assert info.value.code == "BG-409-REVERT-NOT-ALLOWED"
    finish_like_the_state_machine(aws, b)
    assert client.revert(b)["status"] == "success"
    assert client.abort(client.create_batch(ds)["id"])["status"] == "aborted"


def test_sdk_wrong_credentials_raise_client_error(api: Api, keys: dict[str, Creds]) -> None:
    k = keys["acme"]
    bad = Client(API_URL, k.key_id, "bgt_nope", k.org, k.sandbox, session=sdk_session(api))
    with pytest.raises(ClientError) as info:
        bad.list_batches()
    assert info.value.status == 401


def test_ingest_presigned_single_and_multipart_then_waits(client: Client, aws: Aws, tmp_path: Path) -> None:
    ds = client.create_dataset("people", SCHEMA)
    small = tmp_path / "small.json"
    small.write_bytes(b'{"id": "1"}\n' * 100)
    big = tmp_path / "big.json"
    big.write_bytes(os.urandom(11 * MIB + 7))  # three 5 MiB parts, sent in parallel
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.phase == "wait" and p.status == "loaded":  # play the complete state machine
            batch_id = next(iter(client.list_batches(dataset_id=ds)))
            finish_like_the_state_machine(aws, batch_id)

    batch = client.ingest([small, big], ds, progress=progress, poll_interval=0.01, timeout=30)
    assert batch["status"] == "success"
    prefix = f"uploads/json/acme/prod/{ds}/{batch['id']}/"
    got = aws.s3.get_object(Bucket=BUCKET, Key=prefix + "big.json")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(big.read_bytes()).digest()
    assert aws.s3.get_object(Bucket=BUCKET, Key=prefix + "small.json")["Body"].read() == small.read_bytes()
    uploads = [p.done_bytes for p in seen if p.phase == "upload"]
    assert uploads == sorted(uploads) and uploads[-1] == small.stat().st_size + big.stat().st_size
    assert seen[-1].phase == "done" and seen[-1].status == "success"


def test_ingest_aborts_the_batch_when_an_upload_fails(client: Client, aws: Aws, tmp_path: Path) -> None:
    ds = client.create_dataset("people", SCHEMA)
    ok, empty = tmp_path / "ok.json", tmp_path / "empty.json"
    ok.write_bytes(b"{}\n")
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        client.ingest([ok, empty], ds, wait=False)
    (batch,) = client.list_batches(dataset_id=ds).values()
    assert batch["status"] == "aborted"
    with pytest.raises(ValueError, match="mix formats"):
        client.ingest([ok, tmp_path / "x.csv"], ds)


# -- CLI (the `cli` fixture: conftest.py) ------------------------------------------------
def test_cli_keys_create_prints_a_working_key(aws: Aws, api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--org", "acme", "--sandbox", "prod", "--table", TABLE]) == 0
    out = capsys.readouterr().out.splitlines()
    key_id, token = out[0].split(": ")[1], out[1].split(": ")[1]
    record = aws.store.get_api_key(key_id)
    assert record is not None and token not in json.dumps(record)
    assert (
        api.call("GET", "/data/foundation/catalog/batches", creds=Creds(key_id, token, "acme", "prod")).status
        == 200
    )


def test_cli_datasets_batches_and_ingest(
    cli: Any, aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    assert cli(["datasets", "create", "--file", str(schema), "--name", "people"]) == 0
    ds = capsys.readouterr().out.strip()
    assert (
        cli(["datasets", "show", ds, "--json"]) == 0
        and json.loads(capsys.readouterr().out)["name"] == "people"
    )
    assert cli(["datasets", "list", "--json"]) == 0 and ds in json.loads(capsys.readouterr().out)
    assert cli(["datasets", "show", ds]) == 0 and "name           people" in capsys.readouterr().out
    data = tmp_path / "rows.json"
    data.write_bytes(b'{"id": "1"}\n' * 50)
    assert cli(["ingest", str(data), "--dataset", ds, "--no-wait"]) == 0
    captured = capsys.readouterr()
    assert "upload [" in captured.err and "100.0%" in captured.err
    batch_id = captured.out.split()[1].rstrip(":")
    assert f"batch {batch_id}: loaded" in captured.out and "files 0" in captured.out
    assert cli(["batches", "list", "--dataset", ds]) == 0 and batch_id in capsys.readouterr().out
    assert (
        cli(["batches", "show", batch_id, "--json"]) == 0
        and json.loads(capsys.readouterr().out)["status"] == "loaded"
    )
    assert cli(["batches", "complete", batch_id]) == 0
    capsys.readouterr()
    assert cli(["batches", "revert", batch_id]) == 2
    assert "BG-409-REVERT-NOT-ALLOWED" in capsys.readouterr().err
    assert cli(["batches", "abort", batch_id]) == 0
    assert "status       aborted" in capsys.readouterr().out


def test_cli_ingest_waits_and_reports_errors(
    cli: Any, aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchgate.core.models import ErrorEntry, Metrics
    from batchgate_tools.client import Client as SdkClient

    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"name": "people", "schema": SCHEMA}))
    assert cli(["datasets", "create", "--file", str(schema)]) == 0
    ds = capsys.readouterr().out.strip()
    data = tmp_path / "rows.json"
    data.write_bytes(b'{"id": 1}\n')
    real_get = SdkClient.get_batch

    def get_batch(self: SdkClient, batch_id: str) -> dict[str, Any]:
        b = aws.store.get_batch("acme", "prod", batch_id)
        if b.status == "loaded":  # the complete state machine fails the batch
            failed = b.model_copy(
                update={
                    "status": "failed",
                    "metrics": Metrics(inputFileCount=1, inputRecordCount=1, failedRecordCount=1),
                    "errors": [
                        ErrorEntry(
                            code="BG-ROW-TYPE",
                            description="id: expected string",
                            file="rows.json",
                            row=1,
                            field="id",
                        )
                    ],
                }
            )
            aws.store.save_batch(failed, expected_status="loaded", expected_version=b.version)
        return real_get(self, batch_id)

    monkeypatch.setattr(SdkClient, "get_batch", get_batch)
    assert cli(["ingest", str(data), "--dataset", ds, "--timeout", "10"]) == 1
    out = capsys.readouterr().out
    assert (
        ": failed" in out
        and "failed 1" in out
        and "BG-ROW-TYPE: file=rows.json row=1 field=id id: expected string" in out
    )


def test_cli_without_credentials_says_how(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("BATCHGATE_API_KEY", "BATCHGATE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no running local stack to lend its key
    assert main(["batches", "list", "--api-key", ""]) == 2
    assert "keys create" in capsys.readouterr().err


def test_sdk_download_follows_the_redirect_without_credentials(client: Client, aws: Aws) -> None:
    from tests.integration.api.harness import SINGLE_PUT_MAX

    ds = client.create_dataset("people", SCHEMA)
    b = client.create_batch(ds)["id"]
    client.put_file(b, ds, "big.json", b"{}")
    (f,) = client.list_files(b)
    big = os.urandom(SINGLE_PUT_MAX + 100)
    key = f"uploads/json/acme/prod/{ds}/{b}/big.json"
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=big)  # grown past the inline limit
    assert client.download(f["dataSetFileId"]) == big
    assert client.download(f["dataSetFileId"], "bytes=10-19") == big[10:20]
    assert "Authorization" not in client.s3_session.headers
