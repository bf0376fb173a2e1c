"""Helpers shared by the integration tests: batches and datasets written straight to the table."""

from __future__ import annotations

import time
from typing import Any

from batchgate.aws.store import Store
from batchgate.core.keys import table_identifier
from batchgate.core.models import Batch, BatchStatus, Dataset, InputFormat


def new_batch(
    store: Store, batch_id: str, schema: dict[str, Any], *, status: BatchStatus = "loading", age_ms: int = 0
) -> tuple[Batch, Dataset]:
    """A JSON batch of tenant o/s in a dataset of its own, ``age_ms`` old."""
    now = int(time.time() * 1000)
    ds = Dataset.model_validate(
        {"id": f"ds-{batch_id}", "name": "t", "org": "o", "sandbox": "s", "schema": schema,
         "created": now, "updated": now, "table": table_identifier("o", "s", f"ds-{batch_id}")}
    )  # fmt: skip
    store.put_dataset(ds)
    b = Batch(
        id=batch_id, org="o", sandbox="s", dataset_id=ds.id, input_format=InputFormat(format="json"),
        created=now - age_ms, updated=now - age_ms, status=status,
    )  # fmt: skip
    store.create_batch(b)
    return b, ds
