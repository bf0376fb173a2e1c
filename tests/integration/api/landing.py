"""Rows in a dataset's Iceberg table for the API tests: the lake's catalog on moto's S3 (pyiceberg
SqlCatalog) and batches landed by the lake's own promote, as the complete state machine does."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.conftest import refresh_process_state
from tests.integration.api.harness import BUCKET, Aws


def lake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> object:
    """Point the lake at a SQLite catalog in ``tmp_path`` and a warehouse in the upload bucket."""
    monkeypatch.setenv("BATCHGATE_CATALOG_TYPE", "sql")
    monkeypatch.setenv("BATCHGATE_WAREHOUSE", f"s3://{BUCKET}/warehouse")
    monkeypatch.setenv("BATCHGATE_CATALOG_URI", str(tmp_path / "catalog.db"))
    refresh_process_state()
    from batchgate.lake.catalog import shared_catalog

    return shared_catalog()


def land(aws: Aws, catalog: object, ds_id: str, batch_id: str, ids: list[str]) -> None:
    """What the complete state machine does: stage Parquet, promote it, mark the batch success.
    The dataset has the harness's schema (``id`` string, ``n`` integer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from batchgate.lake.promote import promote
    from batchgate.lake.tables import ensure_table, table_arrow_schema

    dataset = aws.store.get_dataset("acme", "prod", ds_id)
    ensure_table(catalog, dataset)  # type: ignore[arg-type]
    schema = table_arrow_schema(dataset)
    columns = {
        "id": ids,
        "n": list(range(len(ids))),
        "_batch_id": [batch_id] * len(ids),
        "_source_file": ["f.json"] * len(ids),
        "_source_row": list(range(1, len(ids) + 1)),
    }
    table = pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    key = f"staged/acme/prod/{ds_id}/{batch_id}/part-0.parquet"
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
    promote(catalog, dataset, batch_id, [f"s3://{BUCKET}/{key}"])  # type: ignore[arg-type]
    set_status(aws, batch_id, "success")


def set_status(aws: Aws, batch_id: str, status: str) -> None:
    b = aws.store.get_batch("acme", "prod", batch_id)
    aws.store.save_batch(
        b.model_copy(update={"status": status}), expected_status=b.status, expected_version=b.version
    )
