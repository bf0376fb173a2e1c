"""batchgate.lake — the Iceberg side: one table per dataset, one commit per batch operation.

Public API (all functions take an open pyiceberg ``Catalog`` and the ``Dataset``):

- ``LakeSettings`` / ``load_catalog`` — Glue in AWS, SQL (sqlite) locally, S3 FileIO.
- ``table_identifier`` / ``ensure_table`` — where a dataset's table lives; create it.
- ``promote`` / ``replay`` / ``revert`` / ``upsert`` — each ONE snapshot in ONE commit, retried on
  conflict from fresh metadata, idempotent (``CommitResult.noop`` on a re-run).
- ``read_rows`` / ``snapshot_for`` — paged, JSON-safe reads, time travel by snapshot or batch.
- ``gc`` — expire snapshots and delete files no remaining snapshot needs.
- ``query`` — DuckDB SQL over Arrow scans of the tables.
"""

from batchgate.lake.catalog import LakeSettings, load_catalog
from batchgate.lake.commit import CommitConflict, CommitPolicy, CommitResult
from batchgate.lake.files import StagedFileError
from batchgate.lake.promote import promote, replay
from batchgate.lake.revert import SnapshotExpired, revert
from batchgate.lake.tables import ensure_table, load_table, table_identifier

__all__ = [
    "CommitConflict",
    "CommitPolicy",
    "CommitResult",
    "LakeSettings",
    "SnapshotExpired",
    "StagedFileError",
    "ensure_table",
    "load_catalog",
    "load_table",
    "promote",
    "replay",
    "revert",
    "table_identifier",
]
