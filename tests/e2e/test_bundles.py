"""Portable bundles against `batchgate up`, over HTTP and S3 only (the SDK and the CLI): a dataset
moved from sandbox prod to dev with equal schema and rows, the second import of the same bundle
changing nothing, damaged bundles refused whole with no dataset created, a schema conflict and a
dataset failing validation importing nothing, an empty dataset, and a bundle dropped in the bucket."""

from __future__ import annotations

import datetime as dt
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from batchgate.bundles import BundleReader, BundleSource, BundleWriter, verify
from batchgate.core.models import DatasetSchema
from batchgate_tools.client import Client
from tests.e2e.stack import RunningStack
from tests.e2e.test_guide_flows import Flow, jsonl

BUNDLES = "/data/foundation/bundles"
SCHEMA = {
    "fields": [
        {"name": "id", "type": "string", "required": True, "pattern": "^p[0-9]+$"},
        {"name": "n", "type": "integer", "minimum": 0},
        {"name": "tier", "type": "string", "enum": ["gold", "silver"]},
    ]
}


def people(n: int, start: int = 0) -> bytes:
    return jsonl(
        [{"id": f"p{i}", "n": i, "tier": "gold" if i % 2 else "silver"} for i in range(start, start + n)]
    )


def client(stack: RunningStack, sandbox: str) -> Client:
    i = stack.info
    return Client(stack.api, i["keyId"], i["token"], i["org"], sandbox)


def flow_in(stack: RunningStack, sandbox: str) -> Flow:
    """A Flow whose calls go to ``sandbox`` (the stack's admin key holds prod and dev)."""
    moved = RunningStack(stack.proc, {**stack.info, "sandbox": sandbox}, stack.data_dir, stack.log)
    return Flow(moved)


def dataset_named(c: Client, name: str) -> dict[str, Any] | None:
    found = [d for d in c.all_datasets() if d["name"] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def sorted_rows(flow: Flow, ds: str) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in r.items() if not k.startswith("_")} for r in flow.rows(ds)), key=lambda r: r["id"]
    )


def export_file(c: Client, ids: list[str], path: Path, **kw: Any) -> dict[str, Any]:
    done = c.wait_bundle(c.export_bundle(ids, **kw), timeout=120, interval=0.3)
    assert done["status"] == "ready", done
    assert c.download_bundle(done["id"], path) == done["bytes"] == path.stat().st_size
    return done


def import_file(c: Client, path: Path) -> dict[str, Any]:
    return c.wait_bundle(c.import_bundle(path), timeout=180, interval=0.3)


def test_a_dataset_moves_from_prod_to_dev_and_a_second_import_changes_nothing(
    stack: RunningStack, tmp_path: Path
) -> None:
    prod, dev = client(stack, "prod"), client(stack, "dev")
    pf, df = flow_in(stack, "prod"), flow_in(stack, "dev")
    ds = pf.dataset("people-move", SCHEMA)
    first = pf.ingest(ds, people(300))
    second = pf.ingest(ds, people(200, start=300))
    assert first["status"] == second["status"] == "success"

    path = tmp_path / "people.bgbundle"
    exported = export_file(prod, [ds], path)
    assert exported["datasets"] == [{"sourceId": ds, "id": ds, "name": "people-move", "rows": 500}], exported[
        "datasets"
    ]
    manifest = verify(path)  # what `batchgate bundles show` checks, read locally
    (entry,) = manifest.datasets
    assert entry.rows == 500 and sorted(entry.source_batches) == sorted([first["id"], second["id"]])

    done = import_file(dev, path)
    assert done["status"] == "imported", done
    assert done["bundleId"] == exported["id"] and done.get("duplicateOf") is None
    (moved,) = done["datasets"]
    assert moved["sourceId"] == ds and moved["created"] is True and moved["rows"] == 500
    target = dataset_named(dev, "people-move")
    assert target is not None and target["id"] == moved["id"] != ds
    assert target["schema"] == prod.get_dataset(ds)["schema"]
    assert sorted_rows(df, target["id"]) == sorted_rows(pf, ds)
    batch = df.s.wait_batch(moved["batchId"], {"success"})
    assert batch["metrics"]["inputRecordCount"] == batch["metrics"]["outputRecordCount"] == 500
    assert sorted(batch["tags"]["batchgate:sourceBatches"]) == sorted([first["id"], second["id"]])
    assert batch["tags"]["batchgate:bundleId"] == [exported["id"]]
    assert dataset_named(prod, "people-move")["id"] == ds, "the source sandbox is untouched"

    again = import_file(dev, path)
    assert again["status"] == "imported" and again["duplicateOf"] == done["id"], again
    assert again["datasets"] == done["datasets"]
    batches = df.s.get("/data/foundation/catalog/batches", params={"dataSet": target["id"]}).json()
    assert list(batches) == [moved["batchId"]], "the second import landed no batch"
    assert len(df.rows(target["id"])) == 500


def test_damaged_bundles_are_refused_whole_and_create_no_dataset(stack: RunningStack, tmp_path: Path) -> None:
    prod, dev = client(stack, "prod"), client(stack, "dev")
    pf = flow_in(stack, "prod")
    ds = pf.dataset("people-damaged", SCHEMA)
    pf.ingest(ds, people(50))
    good = tmp_path / "good.bgbundle"
    export_file(prod, [ds], good)
    data = good.read_bytes()
    with BundleReader(good) as r:
        (part,) = r.manifest.datasets[0].files
        start, size = r.span(part.path)
    flipped = bytearray(data)
    flipped[start + size // 2] ^= 0xFF
    unknown = _rewritten_manifest(data, lambda m: m.replace(b'"formatVersion": 1', b'"formatVersion": 9'))
    cases = {
        "truncated": (data[: len(data) // 2], "BG-400-BUNDLE-CORRUPT"),
        "flipped": (bytes(flipped), "BG-400-BUNDLE-CHECKSUM"),
        "version": (unknown, "BG-400-BUNDLE-VERSION"),
        "not-a-zip": (b"id,n\np1,1\n", "BG-400-BUNDLE-CORRUPT"),
    }
    for name, (body, code) in cases.items():
        path = tmp_path / f"{name}.bgbundle"
        path.write_bytes(body)
        done = import_file(dev, path)
        assert done["status"] == "failed", (name, done)
        assert done["errors"][-1]["code"] == code, (name, done["errors"])
        assert done["datasets"] == [] and "nothing had been imported" in done["message"], (name, done)
    assert dataset_named(dev, "people-damaged") is None


def _rewritten_manifest(data: bytes, change: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, change(body) if info.filename == "bundle.json" else body)
    return out.getvalue()


def test_a_schema_conflict_and_a_failing_second_dataset_import_nothing(
    stack: RunningStack, tmp_path: Path
) -> None:
    prod, dev = client(stack, "prod"), client(stack, "dev")
    pf, df = flow_in(stack, "prod"), flow_in(stack, "dev")
    ds = pf.dataset("people-conflict", SCHEMA)
    pf.ingest(ds, people(20))
    path = tmp_path / "conflict.bgbundle"
    export_file(prod, [ds], path)
    narrow = {"fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "string"}]}
    existing = df.dataset("people-conflict", narrow)
    done = import_file(dev, path)
    assert done["status"] == "failed" and done["errors"][-1]["code"] == "BG-409-BUNDLE-SCHEMA", done
    assert "people-conflict" in done["errors"][-1]["message"]
    assert df.s.get("/data/foundation/catalog/batches", params={"dataSet": existing}).json() == {}

    # Two datasets: the first valid, the second's rows break its own schema's pattern rule. The
    # first one's batch never completes: nothing lands, and the dataset the import made is gone.
    two = tmp_path / "two.bgbundle"
    fields = DatasetSchema.model_validate(SCHEMA)
    source = BundleSource(org="elsewhere", sandbox="prod", exported_at=dt.datetime.now(dt.UTC))
    with two.open("wb") as f, BundleWriter(f, "two-datasets-1", source) as w:
        for sid, name, ids in (("s1", "bundle-first", ["p1", "p2"]), ("s2", "bundle-second", ["p3", "bad!"])):
            w.add_dataset(sid, name, fields)
            w.add_part(sid, pa.table({"id": ids, "n": [1, 2], "tier": ["gold", "gold"]}))
    done = import_file(dev, two)
    assert done["status"] == "failed", done
    codes = {e["code"] for e in done["errors"]}
    assert "BG-BATCH-ROW-ERRORS" in codes and all(e["dataset"] == "bundle-second" for e in done["errors"]), (
        done
    )
    assert dataset_named(dev, "bundle-first") is None and dataset_named(dev, "bundle-second") is None
    first_batch = next(d["batchId"] for d in done["datasets"] if d["name"] == "bundle-first")
    assert df.s.wait_batch(first_batch, {"aborted"})["status"] == "aborted"


def test_an_empty_dataset_and_a_bundle_without_rows(stack: RunningStack, tmp_path: Path) -> None:
    prod, dev = client(stack, "prod"), client(stack, "dev")
    pf = flow_in(stack, "prod")
    empty = pf.dataset("people-empty", SCHEMA)
    full = pf.dataset("people-nodata", SCHEMA)
    pf.ingest(full, people(10))
    path = tmp_path / "empty.bgbundle"
    exported = export_file(prod, [empty, full], path, include_data=False)
    assert [d["rows"] for d in exported["datasets"]] == [0, 0]
    done = import_file(dev, path)
    assert done["status"] == "imported", done
    assert all(d.get("batchId") is None and d["created"] for d in done["datasets"])
    for name in ("people-empty", "people-nodata"):
        made = dataset_named(dev, name)
        assert made is not None and made["schema"] == prod.get_dataset(empty)["schema"]


def test_a_bundle_dropped_in_the_bucket_is_imported(stack: RunningStack, tmp_path: Path) -> None:
    prod, dev = client(stack, "prod"), client(stack, "dev")
    pf, df = flow_in(stack, "prod"), flow_in(stack, "dev")
    ds = pf.dataset("people-dropped", SCHEMA)
    pf.ingest(ds, people(40))
    path = tmp_path / "dropped.bgbundle"
    export_file(prod, [ds], path)
    key = f"inbox/{stack.info['org']}/dev/_bundles/people.bgbundle"
    stack.s3().put_object(Bucket=stack.bucket, Key=key, Body=path.read_bytes())
    found: dict[str, Any] = {}
    for _ in range(300):
        imports = [b for b in dev.bundles("import") if b.get("origin") == "inbox"]
        if imports and imports[0]["status"] != "running":
            found = imports[0]
            break
        time.sleep(0.3)
    assert found.get("status") == "imported", (found, stack.tail())
    made = dataset_named(dev, "people-dropped")
    assert made is not None and len(df.rows(made["id"])) == 40


@pytest.fixture(autouse=True)
def _no_leftover_running(stack: RunningStack) -> Any:
    yield
    for sandbox in ("prod", "dev"):
        running = [b["id"] for b in client(stack, sandbox).bundles() if b["status"] == "running"]
        assert not running, f"exports or imports left running in {sandbox}: {running}"


def test_the_cli_exports_as_of_a_batch_and_imports_into_another_sandbox(
    stack: RunningStack, tmp_path: Path
) -> None:
    from tests.e2e.test_cli_ingest import cli

    pf, df = flow_in(stack, "prod"), flow_in(stack, "dev")
    ds = pf.dataset("people-asof", SCHEMA)
    first = pf.ingest(ds, people(30))
    pf.ingest(ds, people(20, start=30))
    path = tmp_path / "asof.bgbundle"
    exported = cli("bundles", "export", ds, "-o", str(path), "--as-of-batch", first["id"], "--url", stack.api)
    assert exported.returncode == 0, exported.stderr
    assert "people-asof" in exported.stdout and f"bytes written to {path}" in exported.stdout
    shown = cli("bundles", "show", str(path))
    assert shown.returncode == 0 and shown.stdout.rstrip().endswith("verified"), shown.stdout
    assert first["id"] in shown.stdout, "the as-of batch is in the manifest"

    imported = cli("bundles", "import", str(path), "--sandbox", "dev", "--url", stack.api)
    assert imported.returncode == 0, imported.stderr
    assert "imported" in imported.stdout.splitlines()[-1]
    made = dataset_named(client(stack, "dev"), "people-asof")
    assert made is not None
    as_of = [{"id": f"p{i}", "n": i, "tier": "gold" if i % 2 else "silver"} for i in range(30)]
    assert sorted_rows(df, made["id"]) == sorted(as_of, key=lambda r: r["id"])
    assert len(pf.rows(ds)) == 50, "the source has the later batch too"
    # The same file through a presigned upload (as a large bundle goes): the import points at the first.
    dev = client(stack, "dev")
    again = dev.wait_bundle(dev.import_bundle(path, body_max=0), timeout=120, interval=0.3)
    assert again["status"] == "imported" and again["duplicateOf"], again
    damaged = tmp_path / "damaged.bgbundle"
    damaged.write_bytes(path.read_bytes()[:-100])
    refused = cli("bundles", "import", str(damaged), "--sandbox", "dev", "--url", stack.api)
    assert refused.returncode == 2 and refused.stderr.startswith("error BG-400-BUNDLE-"), refused.stderr


def test_an_existing_dataset_whose_schema_the_bundle_extends_is_evolved_then_filled(
    stack: RunningStack, tmp_path: Path
) -> None:
    prod, dev = client(stack, "prod"), client(stack, "dev")
    pf, df = flow_in(stack, "prod"), flow_in(stack, "dev")
    narrower = {"fields": SCHEMA["fields"][:2]}  # id and n: the bundle's adds the optional tier
    kept = df.dataset("people-extend", narrower)
    df.ingest(kept, jsonl([{"id": "p900", "n": 900}]))
    ds = pf.dataset("people-extend", SCHEMA)
    pf.ingest(ds, people(10))
    path = tmp_path / "extend.bgbundle"
    export_file(prod, [ds], path)
    done = import_file(dev, path)
    assert done["status"] == "imported", done
    (entry,) = done["datasets"]
    assert entry["id"] == kept and entry["evolved"] is True and "created" not in entry
    assert dev.get_dataset(kept)["schema"] == prod.get_dataset(ds)["schema"]
    rows = sorted_rows(df, kept)
    assert len(rows) == 11 and {"id": "p900", "n": 900, "tier": None} in rows

    # A bundle dropped into a dataset's folder rather than _bundles/ is a failed drop saying where it goes.
    key = f"inbox/{stack.info['org']}/dev/{kept}/misplaced.bgbundle"
    stack.s3().put_object(Bucket=stack.bucket, Key=key, Body=path.read_bytes())
    deadline = time.monotonic() + 60
    while True:
        found = df.s.get(
            "/data/foundation/catalog/batches", params={"dataSet": kept, "status": "failed"}
        ).json()
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    (failed,) = found.values()
    assert (
        failed["errors"][0]["code"] == "BG-INBOX-SUFFIX" and "_bundles/" in failed["errors"][0]["description"]
    )
