"""What routes need from outside the request: services built once per process, the caller."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from pydantic import BaseModel

from batchgate.api.auth import Principal, principal_from_request_context
from batchgate.api.body_limits import check_json_body
from batchgate.api.services.batch_stats import BatchStats
from batchgate.api.services.bundles import BundleAdmin
from batchgate.api.services.dataset_catalog import DatasetCatalog
from batchgate.api.services.dataset_rows import DatasetRows
from batchgate.api.services.downloads import Downloads
from batchgate.api.services.feeds import FeedAdmin
from batchgate.api.services.file_upload.uploads import FileUploads
from batchgate.api.services.jobs import JobAdmin
from batchgate.api.services.key_admin import KeyAdmin
from batchgate.api.services.schema_registry import SchemaRegistry
from batchgate.aws.bundle_store import BundleStore
from batchgate.aws.feed_store import FeedStore
from batchgate.aws.job_store import JobStore
from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.core.errors import InvalidRequest
from batchgate.ingest.batch_actions import BatchActions
from batchgate.settings import Settings, settings

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Services:
    cfg: Settings
    store: Store
    datasets: DatasetCatalog
    keys: KeyAdmin
    jobs: JobAdmin
    feeds: FeedAdmin
    bundles: BundleAdmin
    batches: BatchActions
    uploads: FileUploads
    downloads: Downloads
    rows: DatasetRows
    schemas: SchemaRegistry
    stats: BatchStats


@lru_cache(maxsize=1)
def services() -> Services:
    cfg = settings()
    store = Store(cfg.table_name)
    return Services(
        cfg=cfg,
        store=store,
        datasets=DatasetCatalog(
            store,
            SchemaRegistry(store),
            commit_window_seconds=cfg.commit_window_seconds,
            database_prefix=cfg.glue_database_prefix,
        ),
        batches=BatchActions(store, cfg),
        uploads=FileUploads(store, cfg),
        downloads=Downloads(store, Objects(cfg.bucket)),
        rows=DatasetRows(store),
        schemas=SchemaRegistry(store),
        keys=KeyAdmin(store),
        jobs=JobAdmin(JobStore(cfg.table_name), cfg),
        feeds=FeedAdmin(FeedStore(cfg.table_name), cfg),
        bundles=BundleAdmin(BundleStore(cfg.table_name), cfg),
        stats=BatchStats(store),
    )


def reset() -> None:
    """Forget built services (tests and the local stack change the environment)."""
    services.cache_clear()


def principal(router: BaseRouter) -> Principal:
    return principal_from_request_context(router.current_event.get("requestContext"))


def raw_body(router: BaseRouter) -> bytes:
    """The request body as bytes (API Gateway base64-encodes binary media types)."""
    event = router.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        return base64.b64decode(body)
    return body.encode("utf-8")


def json_model(router: BaseRouter, model: type[M]) -> M | None:
    """An optional JSON body, whatever the Content-Type: AEP clients send INITIALIZE / COMPLETE
    with no body and sometimes with an octet-stream type, which the resolver's body parsing would
    refuse before the route runs."""
    raw = raw_body(router)
    if not raw.strip():
        return None
    check_json_body(raw)  # octet-stream bodies skip the check in app.resolve; these are JSON too
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc
    return model.model_validate(data)  # pydantic's ValidationError maps to 400 naming the field


def header(router: BaseRouter, name: str) -> str | None:
    value = router.current_event.headers.get(name)
    return None if value is None else str(value)
