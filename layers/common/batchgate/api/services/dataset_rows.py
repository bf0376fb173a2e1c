"""A dataset's rows, read from its Iceberg table: current, as of a batch's snapshot, or one
batch's, paged. No read shows a reverted or aborted batch's rows (see ``batchgate.lake.history``).

An ABORT that wins while its batch is being committed is compensated by a revert commit a moment
later; in between, the table's newest snapshot holds the aborted rows. Reads close that window:
landings of the last few minutes whose batch is ``aborted`` are left out, and when the newest
snapshot is such a landing the read starts from the snapshot before it."""

from __future__ import annotations

from typing import Any

from batchgate.api.auth import Principal
from batchgate.aws.store import Store
from batchgate.core.errors import InvalidRequest, NotFound
from batchgate.core.ids import now_ms

# How long after a landing an ABORT may still be compensating it: a completion task's timeout.
COMPENSATION_WINDOW_MS = 15 * 60 * 1000


class DatasetRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    def read(
        self,
        p: Principal,
        dataset_id: str,
        *,
        limit: int,
        start: str | None,
        as_of_batch: str | None,
        batch_id: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        # imported here, not at the top: the other routes' cold start stays free of pyarrow
        from batchgate.lake.catalog import shared_catalog
        from batchgate.lake.history import batch_of
        from batchgate.lake.read import read_rows, snapshot_for
        from batchgate.lake.tables import load_table

        ds = self.store.get_dataset(p.org, p.sandbox, dataset_id)
        for ref in (as_of_batch, batch_id):
            if ref is not None and self.store.get_batch(p.org, p.sandbox, ref).dataset_id != ds.id:
                raise InvalidRequest(f"batch {ref!r} belongs to another dataset", code="BG-400-BATCH-DATASET")
        catalog = shared_catalog()
        try:
            table = load_table(catalog, ds)
        except NotFound:
            return [], None  # no batch has landed yet: the table does not exist so far
        aborted = self._aborted_recently(p, table)
        snapshot = None
        if as_of_batch is not None:
            snapshot = None if as_of_batch in aborted else snapshot_for(catalog, ds, as_of_batch)
            if snapshot is None:
                raise InvalidRequest(
                    f"batch {as_of_batch!r} has no snapshot in the table's current history "
                    "(not landed yet, reverted or aborted, or its snapshot expired)",
                    code="BG-400-AS-OF-BATCH",
                )
        elif not start:
            # Read the snapshot the aborted check saw: a landing committed since could be one.
            current = table.current_snapshot()
            if current is None:
                return [], None
            snapshot = current.snapshot_id
            if batch_of(table, snapshot) in aborted:
                snapshot = current.parent_snapshot_id
                if snapshot is None:
                    return [], None  # the aborted batch was the first to land
        return read_rows(
            catalog,
            ds,
            limit=limit,
            start=start or 0,
            snapshot_id=snapshot,
            batch_id=batch_id,
            hidden=aborted,
        )

    def _aborted_recently(self, p: Principal, table: Any) -> frozenset[str]:
        """Batches that landed in the last ``COMPENSATION_WINDOW_MS`` and are ``aborted``."""
        from batchgate.lake.history import recent_landings

        since = now_ms() - COMPENSATION_WINDOW_MS
        return frozenset(
            batch for batch, _ in recent_landings(table, since) if self._status(p, batch) == "aborted"
        )

    def _status(self, p: Principal, batch_id: str) -> str | None:
        try:
            return self.store.get_batch(p.org, p.sandbox, batch_id).status
        except NotFound:
            return None
