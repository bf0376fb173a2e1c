"""batchgate.lake — the Iceberg side: one table per dataset, one commit per batch operation.

Modules, by concern (each operation is a function of the same name in its module; the package
does not re-export them, so ``from batchgate.lake import promote`` gives the module):

- ``catalog``  — ``LakeSettings`` / ``load_catalog``: Glue in AWS, SQL (sqlite) locally, S3 FileIO;
  ``shared_catalog``: the one catalog of this process.
- ``tables``   — ``ensure_table`` / ``load_table``: create or open a dataset's table (its identifier
  is ``batchgate.core.keys.table_identifier``).
- ``promote``  — ``promote`` / ``replay``; ``revert`` — ``revert``; ``upsert`` — ``upsert``: each ONE
  snapshot in ONE commit, retried on conflict from fresh metadata, idempotent (``noop`` on re-run).
- ``commit``   — ``CommitResult`` / ``CommitPolicy`` and the retry loop they share.
- ``read``     — ``read_rows`` / ``snapshot_for``: paged JSON-safe rows, time travel.
- ``scan``     — ``plan_visible``: the scan every reader uses (hidden batches out), streamed file by file.
- ``filters``  — row conditions as Iceberg expressions.
- ``history``  — which batches landed, were reverted, or must be skipped by a reader now.
- ``gc``       — ``gc``: expire snapshots, delete files no remaining snapshot needs.
"""

from batchgate.core.keys import table_identifier
from batchgate.lake.catalog import LakeSettings, load_catalog
from batchgate.lake.commit import CommitPolicy, CommitResult
from batchgate.lake.tables import ensure_table

__all__ = ["CommitPolicy", "CommitResult", "LakeSettings", "ensure_table", "load_catalog", "table_identifier"]
