"""What must hold of a stack's data whatever happened to it (crashes, races, faults): checked
from the outside, through the API, the bucket and the Iceberg catalog. ``batchgate check`` runs
it against the local stack; the fault-injection tests run it after every drill.

1. Every object dropped in the inbox has a batch, and that batch is final.
2. No batch stays in-flight (``loaded``, ``staging``, ``retrying``) once the stack is idle.
3. Every final batch's counts add up: input = output + failed (AEP's metrics).
4. No row of an aborted or reverted batch is visible through the rows API.
5. No snapshot of a dataset's table references a file that is missing from storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyiceberg.catalog import Catalog

from batchgate.aws.objects import Objects
from batchgate.core import keys
from batchgate_tools.client import Client

IN_FLIGHT = frozenset({"loaded", "staging", "retrying"})
FINAL = frozenset({"success", "failed", "aborted", "abandoned", "inactive", "deleted"})


@dataclass(frozen=True)
class Finding:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.subject}: {self.detail}"


def all_batches(client: Client) -> Iterator[dict[str, Any]]:
    start = 0
    while True:
        page = client.list_batches(limit=100, start=start, order_by="asc:created")
        yield from page.values()
        if len(page) < 100:
            return
        start += 100


def all_datasets(client: Client) -> Iterator[dict[str, Any]]:
    start = 0
    while True:
        page = client.list_datasets(limit=100, start=start)
        yield from page.values()
        if len(page) < 100:
            return
        start += 100


def hidden(batch: dict[str, Any]) -> bool:
    """A batch whose rows must not be read: aborted, or reverted (inactive with no successor)."""
    return batch["status"] == "aborted" or (
        batch["status"] in ("inactive", "deleted") and not batch.get("successor")
    )


def check(client: Client, objects: Objects, catalog: Catalog, org: str, sandbox: str) -> list[Finding]:
    batches = {b["id"]: b for b in all_batches(client)}
    findings = list(_drops(batches, objects, org, sandbox))
    for b in batches.values():
        if b["status"] in IN_FLIGHT:
            findings.append(Finding("no-batch-in-flight", b["id"], f"still '{b['status']}'"))
        m = b["metrics"]
        if b["status"] in FINAL and m["inputRecordCount"] != m["outputRecordCount"] + m["failedRecordCount"]:
            findings.append(Finding("records-conserved", b["id"], f"metrics {m}"))
    for ds in all_datasets(client):
        findings.extend(_rows(client, ds["id"], batches))
        findings.extend(_snapshots(catalog, ds["table"]))
    return findings


def _drops(batches: dict[str, Any], objects: Objects, org: str, sandbox: str) -> Iterator[Finding]:
    for obj in objects.current_versions_under(f"{keys.INBOX}{org}/{sandbox}/"):
        batch_id = keys.inbox_batch_id(obj.key, obj.version_id or obj.etag)
        batch = batches.get(batch_id)
        if batch is None:
            yield Finding("every-drop-has-a-final-batch", obj.key, "no batch")
        elif batch["status"] not in FINAL:
            yield Finding("every-drop-has-a-final-batch", obj.key, f"batch {batch_id} is '{batch['status']}'")


def _rows(client: Client, dataset_id: str, batches: dict[str, Any]) -> Iterator[Finding]:
    start: str | None = None
    while True:
        page = client.dataset_rows(dataset_id, limit=10_000, start=start)
        for row in page["data"]:
            batch = batches.get(row["_batch_id"])
            if batch is not None and hidden(batch):
                yield Finding(
                    "no-hidden-row-visible", dataset_id, f"a row of {batch['status']} batch {batch['id']}"
                )
                return
        start = page["page"]["next"]
        if start is None:
            return


def _snapshots(catalog: Catalog, identifier: str) -> Iterator[Finding]:
    from pyiceberg.exceptions import NoSuchTableError

    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        return  # nothing landed in this dataset yet
    checked: set[str] = set()
    for snapshot in table.metadata.snapshots:
        for manifest in snapshot.manifests(table.io):
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                path = entry.data_file.file_path
                if path in checked:
                    continue
                checked.add(path)
                if not table.io.new_input(path).exists():
                    yield Finding(
                        "no-snapshot-references-a-missing-file",
                        identifier,
                        f"snapshot {snapshot.snapshot_id} reads {path}",
                    )
