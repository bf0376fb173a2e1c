"""Failure drills for bundles (see test_faults.py for the drill): `batchgate up` killed mid-export
and mid-import, restarted on the same data directory; a module of its own so the test workers can
run it beside the batch drills."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.stack import RunningStack
from tests.e2e.test_faults import create_dataset, drill, landed_batch


def _bundles(stack: RunningStack, sandbox: str) -> Any:
    from batchgate_tools.client import Client

    i = stack.info
    return Client(stack.api, i["keyId"], i["token"], i["org"], sandbox)


def test_killed_while_exporting_a_bundle(tmp_path: Path) -> None:
    """The export is written again from the start under its own id: one ready bundle, whole."""

    def before(stack: RunningStack) -> str:
        ds = create_dataset(stack)
        landed_batch(stack, ds)
        return ds

    def hit(stack: RunningStack, ds: str) -> None:
        _bundles(stack, "prod").export_bundle([ds])

    def after(stack: RunningStack, ds: str) -> None:
        from batchgate.bundles import verify

        client = _bundles(stack, "prod")
        (export,) = client.bundles("export")
        done = client.wait_bundle(export["id"], timeout=120, interval=0.3)
        assert done["status"] == "ready" and done["datasets"][0]["rows"] == 300, done
        path = tmp_path / "after.bgbundle"
        client.download_bundle(done["id"], path)
        assert verify(path).datasets[0].rows == 300

    drill(tmp_path, "bundle-export", before, hit, after)


def test_killed_while_importing_a_bundle(tmp_path: Path) -> None:
    """Restarted, the import finds the dataset, the batch and the part it made before: the rows
    land once, in one batch."""
    bundle = tmp_path / "drill.bgbundle"

    def before(stack: RunningStack) -> str:
        ds = create_dataset(stack)
        landed_batch(stack, ds)
        client = _bundles(stack, "prod")
        done = client.wait_bundle(client.export_bundle([ds]), timeout=120, interval=0.3)
        client.download_bundle(done["id"], bundle)
        return ds

    def hit(stack: RunningStack, ds: str) -> None:
        _bundles(stack, "dev").import_bundle(bundle)

    def after(stack: RunningStack, ds: str) -> None:
        client = _bundles(stack, "dev")
        (imported,) = client.bundles("import")
        done = client.wait_bundle(imported["id"], timeout=180, interval=0.3)
        assert done["status"] == "imported", done
        (entry,) = done["datasets"]
        dev = RunningStack(stack.proc, {**stack.info, "sandbox": "dev"}, stack.data_dir, stack.log)
        batches = dev.get("/data/foundation/catalog/batches", params={"dataSet": entry["id"]}).json()
        assert list(batches) == [entry["batchId"]], "one batch carried the rows in"
        rows = dev.get(f"/data/foundation/export/datasets/{entry['id']}/rows?limit=1000").json()["data"]
        assert len(rows) == 300 and {r["_batch_id"] for r in rows} == {entry["batchId"]}

    drill(tmp_path, "bundle-import", before, hit, after)
