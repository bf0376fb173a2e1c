"""Helpers of the lake tests: a catalog with a warehouse on moto's S3, a local folder or moto's
Glue, and datasets and staged files made the way the validators make them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs
from pyiceberg.catalog import Catalog

from batchgate.core.models import Dataset, DatasetSchema, SchemaField
from batchgate.core.schema import arrow_schema
from tests.conftest import CREDENTIALS, REGION, TemplateAws


def profiles_schema() -> DatasetSchema:
    return DatasetSchema(
        fields=[
            SchemaField(name="id", type="string", required=True),
            SchemaField(name="email", type="string"),
            SchemaField(name="age", type="integer"),
            SchemaField(name="seen", type="timestamp"),
            SchemaField(name="born", type="date"),
            SchemaField(name="address", type="object", fields=[SchemaField(name="city", type="string")]),
            SchemaField.model_validate({"name": "tags", "type": "array", "items": {"type": "string"}}),
        ]
    )


@dataclass
class Lake:
    """A catalog plus helpers to make datasets and staged files the way the validators do."""

    kind: str
    catalog: Catalog
    root: str  # "s3://bucket" or "file:///tmp/..."
    fs: pafs.FileSystem
    fs_root: str  # root as the pyarrow filesystem spells it

    def dataset(self, *, upsert: bool = False, dataset_id: str | None = None) -> Dataset:
        from batchgate.lake import ensure_table, table_identifier

        dataset_id = dataset_id or uuid.uuid4().hex[:12]
        dataset = Dataset.model_validate(
            {
                "id": dataset_id,
                "name": "profiles",
                "org": "ACME@AdobeOrg",
                "sandbox": "prod",
                "schema": profiles_schema(),
                "tags": {"isUpsert": upsert, "identity": ["id"] if upsert else []},
                "created": 0,
                "updated": 0,
                "table": table_identifier("ACME@AdobeOrg", "prod", dataset_id),
            }
        )
        ensure_table(self.catalog, dataset)
        return dataset

    def stage(
        self,
        dataset: Dataset,
        batch_id: str,
        rows: list[dict[str, Any]],
        *,
        name: str = "part-0",
        schema: pa.Schema | None = None,
    ) -> str:
        """Write one staged Parquet file (dataset columns + lineage) and return its URI."""
        schema = schema or arrow_schema(dataset.schema_)
        full = [
            {
                **{f: r.get(f) for f in schema.names},
                "_batch_id": batch_id,
                "_source_file": name,
                "_source_row": i,
            }
            for i, r in enumerate(rows)
        ]
        table = pa.Table.from_pylist(full, schema=schema)
        key = f"staged/{dataset.org}/{dataset.sandbox}/{dataset.id}/{batch_id}/{name}.parquet"
        target = f"{self.fs_root}/{key}"
        if self.kind == "file":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, filesystem=self.fs)
        return f"{self.root}/{key}"

    def exists(self, uri: str) -> bool:
        path = uri.removeprefix("s3://").removeprefix("file://")
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound


def make_lake(kind: str, tmp_path: Path, aws: TemplateAws | None) -> Lake:
    from batchgate.lake import LakeSettings, load_catalog

    if kind in ("s3", "glue"):
        assert aws is not None
        prefix = f"t{uuid.uuid4().hex[:8]}"
        settings = LakeSettings(
            catalog_type="sql" if kind == "s3" else "glue",
            warehouse=f"s3://{aws.bucket}/{prefix}/warehouse",
            sql_uri=str(tmp_path / "catalog.db"),
            s3_endpoint=aws.endpoint,
            region=REGION,
            access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        fs = pafs.S3FileSystem(
            access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region=REGION,
            endpoint_override=aws.endpoint,
            scheme="http",
        )
        return Lake("s3", load_catalog(settings), f"s3://{aws.bucket}/{prefix}", fs, f"{aws.bucket}/{prefix}")
    root = tmp_path / "lake"
    root.mkdir()
    settings = LakeSettings(
        catalog_type="sql", warehouse=f"file://{root}/warehouse", sql_uri=str(tmp_path / "catalog.db")
    )
    return Lake(kind, load_catalog(settings), f"file://{root}", pafs.LocalFileSystem(), str(root))


def rows_of(lake: Lake, dataset: Dataset, snapshot_id: int | None = None) -> list[dict[str, Any]]:
    """All rows of the table (optionally at a snapshot), sorted by id then batch."""
    table = lake.catalog.load_table(dataset.table)
    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    rows = scan.to_arrow().to_pylist()
    return sorted(rows, key=lambda r: (r["id"], r["_batch_id"]))


def people(prefix: str, n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "email": f"{prefix}{i}@x.io", "age": 20 + i, **extra} for i in range(n)]
