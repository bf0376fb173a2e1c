"""A dataset's rows, read from its Iceberg table: current, as of a batch's snapshot, or one
batch's, filtered, paged. No read shows a reverted or aborted batch's rows (see
``batchgate.lake.history``): an aborted landing not yet compensated is left out by
``history.reading_point``, which asks this service for the batches' statuses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batchgate.api.auth import Principal
from batchgate.aws.store import Store
from batchgate.core.errors import InvalidRequest, NotFound
from batchgate.core.ids import now_ms
from batchgate.core.row_filter import parse_filters


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
        filters: Sequence[str] = (),
    ) -> tuple[list[dict[str, Any]], str | None]:
        # imported here, not at the top: the other routes' cold start stays free of pyarrow
        from batchgate.lake.catalog import shared_catalog
        from batchgate.lake.history import reading_point
        from batchgate.lake.read import read_rows, snapshot_for
        from batchgate.lake.tables import load_table

        ds = self.store.get_dataset(p.org, p.sandbox, dataset_id)
        conditions = parse_filters(filters, ds.schema_)
        for ref in (as_of_batch, batch_id):
            if ref is not None and self.store.get_batch(p.org, p.sandbox, ref).dataset_id != ds.id:
                raise InvalidRequest(f"batch {ref!r} belongs to another dataset", code="BG-400-BATCH-DATASET")
        catalog = shared_catalog()
        try:
            table = load_table(catalog, ds)
        except NotFound:
            return [], None  # no batch has landed yet: the table does not exist so far
        point = reading_point(table, lambda batch: self._status(p, batch) == "aborted", now_ms=now_ms())
        snapshot = None
        if as_of_batch is not None:
            snapshot = None if as_of_batch in point.aborted else snapshot_for(catalog, ds, as_of_batch)
            if snapshot is None:
                raise InvalidRequest(
                    f"batch {as_of_batch!r} has no snapshot in the table's current history "
                    "(not landed yet, reverted or aborted, or its snapshot expired)",
                    code="BG-400-AS-OF-BATCH",
                )
        elif not start:
            if point.snapshot_id is None:
                return [], None
            snapshot = point.snapshot_id
        return read_rows(
            catalog,
            ds,
            limit=limit,
            start=start or 0,
            snapshot_id=snapshot,
            batch_id=batch_id,
            conditions=conditions,
            hidden=point.aborted,
        )

    def _status(self, p: Principal, batch_id: str) -> str | None:
        try:
            return self.store.get_batch(p.org, p.sandbox, batch_id).status
        except NotFound:
            return None
