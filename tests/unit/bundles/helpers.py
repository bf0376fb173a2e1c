"""Bundles for the tests: two datasets written by the real writer, and surgery on their zips."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from batchgate.bundles import BundleSource, BundleWriter, Manifest
from batchgate.core.models import DatasetSchema, DatasetTags

SOURCE = BundleSource(org="local", sandbox="prod", exported_at=datetime(2026, 5, 1, 12, 0, tzinfo=UTC))

PEOPLE = DatasetSchema.model_validate(
    {
        "fields": [
            {"name": "id", "type": "string", "required": True, "identity": True},
            {"name": "age", "type": "integer", "minimum": 0},
            {"name": "joined", "type": "timestamp"},
            {"name": "address", "type": "object", "fields": [{"name": "city", "type": "string"}]},
            {"name": "scores", "type": "array", "items": {"type": "number"}},
        ]
    }
)
ORDERS = DatasetSchema.model_validate(
    {
        "fields": [
            {"name": "order", "type": "string"},
            {"name": "day", "type": "date"},
            {"name": "paid", "type": "boolean"},
        ]
    }
)


def people(start: int, count: int) -> pa.Table:
    return pa.table(
        {
            "id": [f"p{i}" for i in range(start, start + count)],
            "age": [i % 90 for i in range(start, start + count)],
            "joined": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * count, pa.timestamp("us", tz="UTC")),
            "address": [{"city": f"c{i % 7}"} for i in range(start, start + count)],
            "scores": [[i * 0.5, 1.0] for i in range(start, start + count)],
            # what a scan of the lake returns too: the writer drops them
            "_batch_id": ["b1"] * count,
        }
    )


def orders(count: int) -> pa.Table:
    from datetime import date

    return pa.table(
        {
            "order": [f"o{i}" for i in range(count)],
            "day": pa.array([date(2026, 3, 1 + i % 28) for i in range(count)], pa.date32()),
            "paid": [i % 2 == 0 for i in range(count)],
        }
    )


def write_bundle(sink: Any = None, *, row_group_rows: int = 1000) -> tuple[bytes, Manifest]:
    """Two datasets: people in three parts (1,500 + 2,000 + 10 rows), orders in two; and an
    empty one with no part."""
    out = io.BytesIO() if sink is None else sink
    with BundleWriter(out, "bundle-1", SOURCE, row_group_rows=row_group_rows) as w:
        w.add_dataset("ds-people", "people", PEOPLE, DatasetTags(isUpsert=True, identity=["id"]),
                      source_batches=["b1"])  # fmt: skip
        w.add_part("ds-people", people(0, 1500))
        w.add_part("ds-people", people(1500, 2000).to_batches(max_chunksize=300))
        w.add_part("ds-people", people(3500, 10))
        w.add_dataset("ds-orders", "orders", ORDERS, as_of_batch="b7")
        w.add_part("ds-orders", orders(700))
        w.add_part("ds-orders", orders(5).to_batches()[0])
        w.add_dataset("ds-empty", "nothing-yet", ORDERS)
    manifest = w.manifest()
    return (out.getvalue() if sink is None else b""), manifest


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def rebuild(
    raw: bytes,
    *,
    replace: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
    add: dict[str, bytes] | None = None,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    compress: tuple[str, ...] = (),
) -> bytes:
    """A copy of the bundle with entries replaced, dropped or added, and bundle.json edited."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            data = (replace or {}).get(info.filename, src.read(info))
            if info.filename == "bundle.json" and manifest is not None:
                doc = json.loads(data)
                manifest(doc)
                data = json.dumps(doc).encode()
            method = zipfile.ZIP_DEFLATED if info.filename in compress else zipfile.ZIP_STORED
            dst.writestr(info.filename, data, compress_type=method)
        for name, data in (add or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


def file_entry(doc: dict[str, Any], path: str) -> dict[str, Any]:
    for ds in doc["datasets"]:
        for f in ds["files"]:
            if f["path"] == path:
                return f  # type: ignore[no-any-return]
    raise KeyError(path)
