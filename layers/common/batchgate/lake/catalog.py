"""Where the Iceberg catalog lives: Glue in AWS, SQL (sqlite) locally, S3 FileIO either way.

``LakeSettings`` is the only configuration the lake needs; ``LakeSettings.from_env()`` reads it
from the environment the Lambda functions and the local stack already set.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from pyiceberg.catalog import Catalog

from batchgate.core.errors import InvalidRequest

CatalogType = Literal["sql", "glue"]
CATALOG_NAME = "batchgate"


@dataclass(frozen=True)
class LakeSettings:
    """How to reach the catalog and the warehouse.

    ``warehouse`` is a URI (``s3://bucket/warehouse`` or ``file:///abs/path``). ``sql_uri`` is a
    SQLAlchemy URL or a plain sqlite file path (only for ``catalog_type="sql"``). ``s3_endpoint``
    overrides the S3 endpoint (moto's server locally); keys are only needed where there is no
    ambient AWS identity (moto takes any).
    """

    catalog_type: CatalogType
    warehouse: str
    sql_uri: str | None = None
    s3_endpoint: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    catalog_name: str = CATALOG_NAME

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LakeSettings:
        """Read ``BATCHGATE_CATALOG_TYPE`` (default ``glue``), ``BATCHGATE_WAREHOUSE`` (required),
        ``BATCHGATE_CATALOG_URI``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
        ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``, which a Lambda
        role's keys are useless without). Fails fast on a missing or bad value."""
        env = os.environ if env is None else env
        catalog_type = env.get("BATCHGATE_CATALOG_TYPE", "glue").strip().lower()
        if catalog_type not in ("sql", "glue"):
            raise InvalidRequest(f"BATCHGATE_CATALOG_TYPE must be 'sql' or 'glue', not {catalog_type!r}")
        warehouse = env.get("BATCHGATE_WAREHOUSE", "").strip()
        if not warehouse:
            raise InvalidRequest("BATCHGATE_WAREHOUSE is not set (e.g. s3://<upload-bucket>/warehouse)")
        sql_uri = env.get("BATCHGATE_CATALOG_URI") or None
        if catalog_type == "sql" and not sql_uri:
            raise InvalidRequest("BATCHGATE_CATALOG_URI is required when BATCHGATE_CATALOG_TYPE=sql")
        return cls(
            catalog_type=cast(CatalogType, catalog_type),
            warehouse=warehouse,
            sql_uri=sql_uri,
            s3_endpoint=env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
        )

    def io_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties for the warehouse and for staged files in the same bucket."""
        props = {"s3.region": self.region}
        if self.s3_endpoint:
            props["s3.endpoint"] = self.s3_endpoint
            # moto and other stand-ins serve path-style URLs only.
            props["s3.force-virtual-addressing"] = "false"
        if self.access_key and self.secret_key:
            props["s3.access-key-id"] = self.access_key
            props["s3.secret-access-key"] = self.secret_key
            if self.session_token:
                props["s3.session-token"] = self.session_token
        return props


def sql_url(uri: str) -> str:
    """A SQLAlchemy URL from either a URL or a plain sqlite file path (made absolute)."""
    if "://" in uri:
        return uri
    path = Path(uri).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def load_catalog(settings: LakeSettings) -> Catalog:
    """Open the catalog ``settings`` describes. Not cached: callers keep one per process (a warm
    Lambda holds it at module level) because opening a SQL catalog creates an engine."""
    props = {"warehouse": settings.warehouse, **settings.io_properties()}
    if settings.catalog_type == "sql":
        from pyiceberg.catalog.sql import SqlCatalog

        if not settings.sql_uri:
            raise InvalidRequest("a sql catalog needs sql_uri (BATCHGATE_CATALOG_URI)")
        return SqlCatalog(settings.catalog_name, uri=sql_url(settings.sql_uri), **props)
    from pyiceberg.catalog.glue import GlueCatalog

    props["glue.region"] = settings.region
    if settings.s3_endpoint:
        props["glue.endpoint"] = settings.s3_endpoint
    if settings.access_key and settings.secret_key:
        props["glue.access-key-id"] = settings.access_key
        props["glue.secret-access-key"] = settings.secret_key
        if settings.session_token:
            props["glue.session-token"] = settings.session_token
    return GlueCatalog(settings.catalog_name, **props)


_shared_lock = threading.Lock()
_shared: Catalog | None = None


def shared_catalog() -> Catalog:
    """The catalog of this process, opened on first use from the environment. One per process:
    the workflow and the API's reads share it, so two first uses cannot race to create a SQL
    catalog's own tables."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = load_catalog(LakeSettings.from_env())
        return _shared


def reset_shared_catalog() -> None:
    """Forget the shared catalog (tests and the local stack change the environment)."""
    global _shared
    with _shared_lock:
        _shared = None
