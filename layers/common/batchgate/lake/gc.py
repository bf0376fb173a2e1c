"""Garbage collection: expire old snapshots, then delete files that no remaining snapshot needs;
and ``purge``: the same, now, for every snapshot that still reads one reverted batch.

Safety rule: a file is deleted only if it is referenced by an expired snapshot (or passed in as a
candidate) AND no snapshot left after the expiry commit references it as live — the reachable
set is computed from metadata re-read *after* the commit, so commits that landed meanwhile are
included. Staged files are registered in place by ``promote``, so a batch's staged Parquet files
are data files: they are deleted here once the last snapshot that shows them is expired, and
callers must not delete a promoted batch's staged prefix themselves — pass its paths as
``candidates`` and let this function decide.

Kept, whatever their age: the current snapshot and its ``keep_last - 1`` nearest ancestors, the
heads of branches and tags, snapshots newer than ``older_than_ms``, and, for each
``protected_batches`` entry, the snapshot the batch produced and its parent (reverting an upsert
needs the parent).

Not handled: a reader still planning against an expired snapshot can fail — the usual Iceberg
rule; choose ``older_than_ms`` well past the longest read. Old ``metadata.json`` files are pruned
by the table properties ``write.metadata.delete-after-commit.enabled``/``previous-versions-max``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io import FileIO
from pyiceberg.manifest import ManifestEntryStatus, ManifestFile
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot, ancestors_of
from pyiceberg.table.update.snapshot import ExpireSnapshots

from batchgate.core.errors import CommitConflict, Conflict
from batchgate.core.models import Dataset
from batchgate.lake.commit import BATCH_KEY, DEFAULT_POLICY, CommitPolicy
from batchgate.lake.tables import identifier_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GcResult:
    """Counts (what a workflow reports) plus the ids and paths (what a test or operator checks)."""

    expired_snapshots: int
    deleted_files: int
    expired_snapshot_ids: list[int] = field(default_factory=list)
    deleted_paths: list[str] = field(default_factory=list)
    failed_paths: list[str] = field(default_factory=list)


def _keep(metadata: TableMetadata, older_than_ms: int, keep_last: int, protected: set[str]) -> set[int]:
    keep: set[int] = {ref.snapshot_id for ref in metadata.refs.values()}
    for i, snapshot in enumerate(ancestors_of(metadata.current_snapshot(), metadata)):
        if i >= max(keep_last, 1):
            break
        keep.add(snapshot.snapshot_id)
    for snapshot in metadata.snapshots:
        if snapshot.timestamp_ms >= older_than_ms:
            keep.add(snapshot.snapshot_id)
        summary = snapshot.summary
        if summary is not None and summary.get(BATCH_KEY) in protected:
            keep.add(snapshot.snapshot_id)
            if snapshot.parent_snapshot_id is not None:
                keep.add(snapshot.parent_snapshot_id)
    return keep


def _files(io: FileIO, snapshots: Iterable[Snapshot], *, live_only: bool) -> set[str]:
    """Manifest lists, manifests and data/delete files the snapshots reference. With
    ``live_only`` a data file counts only where it is live (added or existing) — a snapshot does
    not need the files it deleted."""
    paths: set[str] = set()
    seen: dict[str, ManifestFile] = {}
    for snapshot in snapshots:
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            seen.setdefault(manifest.manifest_path, manifest)
    for path, manifest in seen.items():
        paths.add(path)
        for entry in manifest.fetch_manifest_entry(io, discard_deleted=live_only):
            if not live_only or entry.status != ManifestEntryStatus.DELETED:
                paths.add(entry.data_file.file_path)
    return paths


def _expire(table: Table, ids: set[int]) -> Table:
    tx = table.transaction()
    ExpireSnapshots(tx).by_ids(sorted(ids)).commit()
    return tx.commit_transaction()


def gc(
    catalog: Catalog,
    dataset: Dataset,
    *,
    older_than_ms: int,
    keep_last: int = 1,
    protected_batches: Iterable[str] = (),
    candidates: Iterable[str] = (),
    policy: CommitPolicy = DEFAULT_POLICY,
) -> GcResult:
    """Expire snapshots older than ``older_than_ms`` (epoch ms) beyond the kept ones, in one
    commit, then delete unreferenced files; see the module docstring. Safe to re-run."""
    protected = set(protected_batches)

    def going(table: Table) -> list[Snapshot]:
        keep = _keep(table.metadata, older_than_ms, keep_last, protected)
        return [s for s in table.metadata.snapshots if s.snapshot_id not in keep]

    return expire_and_delete(catalog, identifier_of(dataset), going, candidates, policy)


def purge(
    catalog: Catalog, dataset: Dataset, batch_id: str, *, policy: CommitPolicy = DEFAULT_POLICY
) -> GcResult:
    """Remove a reverted batch's data from storage now: expire every snapshot that still reads a
    file of the batch's partition, then delete those files. Time travel to the expired snapshots
    ends with them (that is the point: the data must be gone). The current snapshot must not read
    the batch (revert it first): refused with ``Conflict`` otherwise."""
    identifier = identifier_of(dataset)

    def going(table: Table) -> list[Snapshot]:
        current = table.current_snapshot()
        if current is not None and _partition_files(table.io, [current], batch_id):
            raise Conflict(
                f"batch {batch_id} is still in the current snapshot of {identifier}: revert it before purging",
                code="BG-409-PURGE-NOT-REVERTED",
            )
        return [s for s in table.metadata.snapshots if _partition_files(table.io, [s], batch_id)]

    table = catalog.load_table(identifier)
    files = _partition_files(table.io, table.metadata.snapshots, batch_id)
    return expire_and_delete(catalog, identifier, going, files, policy)


def _partition_files(io: FileIO, snapshots: Iterable[Snapshot], batch_id: str) -> set[str]:
    """Data files of ``batch_id``'s partition that the snapshots read (live entries only)."""
    found: set[str] = set()
    for snapshot in snapshots:
        for manifest in snapshot.manifests(io):
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                partition = entry.data_file.partition
                if partition is not None and len(partition) > 0 and partition[0] == batch_id:
                    found.add(entry.data_file.file_path)
    return found


def expire_and_delete(
    catalog: Catalog,
    identifier: str,
    going: Callable[[Table], list[Snapshot]],
    candidates: Iterable[str],
    policy: CommitPolicy,
) -> GcResult:
    """Expire the snapshots ``going`` picks from fresh metadata (one commit, retried on a lost
    race), then delete the files they referenced, and the ``candidates``, that no remaining
    snapshot reads."""
    expired: list[int] = []
    doomed: set[str] = set(candidates)
    for attempt in range(1, policy.attempts + 1):
        table = catalog.load_table(identifier)
        leaving = going(table)
        if not leaving:
            break
        referenced = _files(table.io, leaving, live_only=False)
        try:
            table = _expire(table, {s.snapshot_id for s in leaving})
        except CommitFailedException:
            if attempt == policy.attempts:
                raise CommitConflict(f"gc of {identifier} lost {policy.attempts} commit races") from None
            continue
        expired = [s.snapshot_id for s in leaving]
        doomed |= referenced
        break
    if not doomed:
        return GcResult(expired_snapshots=len(expired), deleted_files=0, expired_snapshot_ids=expired)
    fresh = catalog.load_table(identifier)
    reachable = _files(fresh.io, fresh.metadata.snapshots, live_only=True)
    deleted: list[str] = []
    failed: list[str] = []
    for path in sorted(doomed - reachable):
        try:
            fresh.io.delete(path)
            deleted.append(path)
        except FileNotFoundError:
            continue  # already gone (an earlier, interrupted gc)
        except Exception:
            logger.warning("could not delete %s", path, exc_info=True)
            failed.append(path)
    return GcResult(
        expired_snapshots=len(expired),
        deleted_files=len(deleted),
        expired_snapshot_ids=expired,
        deleted_paths=deleted,
        failed_paths=failed,
    )
