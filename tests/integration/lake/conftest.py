"""Fixtures for the lake tests: one moto S3 server per session, a fresh sqlite catalog per test.

``lake`` runs a test twice: against moto's S3 (warehouse ``s3://bucket/warehouse``) and against a
local ``file://`` warehouse, both with a SQL catalog on sqlite. ``anylake`` adds a third run with
pyiceberg's GlueCatalog against moto's Glue (the AWS code path). ``s3lake`` is the S3 variant
alone, for tests whose subject is not the storage.
"""

from __future__ import annotations

import logging
import socket
import sys
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs
from pyiceberg.catalog import Catalog

from batchgate.core.models import Dataset, DatasetSchema, SchemaField

BUCKET = "bg-lake-test"
REGION = "us-east-1"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _install_schema_shim() -> None:
    """Until ``batchgate.core.schema`` (another engineer's module) exists, tests provide the agreed
    mapping under that name so the lake code imports it exactly as it will in production."""
    try:
        import batchgate.core.schema  # noqa: F401
    except ImportError:
        module = types.ModuleType("batchgate.core.schema")
        module.arrow_schema = arrow_schema_for_tests  # type: ignore[attr-defined]
        sys.modules["batchgate.core.schema"] = module


def _arrow_type(kind: str, fields: Any, items: Any) -> pa.DataType:
    scalar = {
        "string": pa.string(),
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
    }
    if kind in scalar:
        return scalar[kind]
    if kind == "object":
        return pa.struct([pa.field(f.name, _arrow_type(f.type, f.fields, f.items)) for f in fields])
    return pa.list_(_arrow_type(items.type, items.fields, items.items))


def arrow_schema_for_tests(schema: DatasetSchema, *, lineage: bool = True) -> pa.Schema:
    fields = [
        pa.field(f.name, _arrow_type(f.type, f.fields, f.items), nullable=not f.required)
        for f in schema.fields
    ]
    if lineage:
        fields += [
            pa.field("_batch_id", pa.string(), nullable=False),
            pa.field("_source_file", pa.string(), nullable=False),
            pa.field("_source_row", pa.int64(), nullable=False),
        ]
    return pa.schema(fields)


_install_schema_shim()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEYS["aws_access_key_id"],
        aws_secret_access_key=KEYS["aws_secret_access_key"],
    )
    s3.create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


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
        schema = schema or arrow_schema_for_tests(dataset.schema_)
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


def _make_lake(kind: str, tmp_path: Path, endpoint: str | None) -> Lake:
    from batchgate.lake import LakeSettings, load_catalog

    if kind in ("s3", "glue"):
        assert endpoint is not None
        prefix = f"t{uuid.uuid4().hex[:8]}"
        settings = LakeSettings(
            catalog_type="sql" if kind == "s3" else "glue",
            warehouse=f"s3://{BUCKET}/{prefix}/warehouse",
            sql_uri=str(tmp_path / "catalog.db"),
            s3_endpoint=endpoint,
            region=REGION,
            access_key=KEYS["aws_access_key_id"],
            secret_key=KEYS["aws_secret_access_key"],
        )
        fs = pafs.S3FileSystem(
            access_key=KEYS["aws_access_key_id"],
            secret_key=KEYS["aws_secret_access_key"],
            region=REGION,
            endpoint_override=endpoint,
            scheme="http",
        )
        return Lake("s3", load_catalog(settings), f"s3://{BUCKET}/{prefix}", fs, f"{BUCKET}/{prefix}")
    root = tmp_path / "lake"
    root.mkdir()
    settings = LakeSettings(
        catalog_type="sql", warehouse=f"file://{root}/warehouse", sql_uri=str(tmp_path / "catalog.db")
    )
    return Lake(kind, load_catalog(settings), f"file://{root}", pafs.LocalFileSystem(), str(root))


@pytest.fixture(params=["s3", "file"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    endpoint = request.getfixturevalue("moto_endpoint") if request.param == "s3" else None
    return _make_lake(request.param, tmp_path, endpoint)


@pytest.fixture(params=["s3", "file", "glue"])
def anylake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """Also the AWS path: pyiceberg's GlueCatalog against moto's Glue."""
    endpoint = request.getfixturevalue("moto_endpoint") if request.param != "file" else None
    return _make_lake(request.param, tmp_path, endpoint)


@pytest.fixture
def s3lake(tmp_path: Path, moto_endpoint: str) -> Lake:
    return _make_lake("s3", tmp_path, moto_endpoint)


def rows_of(lake: Lake, dataset: Dataset, snapshot_id: int | None = None) -> list[dict[str, Any]]:
    """All rows of the table (optionally at a snapshot), sorted by id then batch."""
    table = lake.catalog.load_table(dataset.table)
    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    rows = scan.to_arrow().to_pylist()
    return sorted(rows, key=lambda r: (r["id"], r["_batch_id"]))


def people(prefix: str, n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "email": f"{prefix}{i}@x.io", "age": 20 + i, **extra} for i in range(n)]
