"""Export feeds, their syncs, items and estimates, as the API answers them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from batchgate.api.responses.common import STRICT, Page


class FeedOut(BaseModel):
    """An export feed with its state at a glance."""

    model_config = STRICT

    id: str
    name: str
    dataset_id: str = Field(alias="datasetId")
    columns: list[str] | None
    destination: dict[str, Any]
    created: int
    created_user: str = Field(alias="createdUser")
    state: dict[str, Any] = Field(
        description="lastSync, watermark {snapshot, batch, time}, pending {rows, batches, mode}, failedItems, "
        "owedSyncs, syncing, rowsPerSecond"
    )


class FeedList(BaseModel):
    model_config = STRICT

    feeds: list[FeedOut]
    page: Page = Field(alias="_page")


class SyncStarted(BaseModel):
    model_config = STRICT

    sync_id: str = Field(alias="syncId")


class SyncRows(BaseModel):
    model_config = STRICT

    upserted: int
    deleted: int


class SyncItemsCount(BaseModel):
    model_config = STRICT

    total: int
    sent: int
    failed: int
    retried: int


class SyncOut(BaseModel):
    """One sync of a feed."""

    model_config = STRICT

    id: str
    feed_id: str = Field(alias="feedId")
    mode: Literal["full", "incremental", "retry"]
    status: Literal["running", "success", "partial", "failed"]
    trigger: str
    started: int
    ended: int | None
    from_snapshot: int | None = Field(alias="fromSnapshot")
    to_snapshot: int | None = Field(alias="toSnapshot")
    rows: SyncRows
    items: SyncItemsCount
    bytes: int
    files: list[str]
    errors: list[dict[str, Any]]
    message: str


class SyncList(BaseModel):
    model_config = STRICT

    syncs: list[SyncOut]
    page: Page = Field(alias="_page")


class SyncItemOut(BaseModel):
    model_config = STRICT

    id: int
    sync_id: str = Field(alias="syncId")
    idempotency_key: str = Field(alias="idempotencyKey")
    rows: int
    op: Literal["upsert", "delete", "mixed"]
    status: Literal["pending", "sent", "failed"]
    attempts: int
    last_error: str | None = Field(alias="lastError")
    bytes: int
    target: str | None
    payload: str | None = Field(
        description="a presigned URL of the payload kept for troubleshooting (15 min)"
    )


class SyncItems(BaseModel):
    model_config = STRICT

    items: list[SyncItemOut]


class FeedEstimate(BaseModel):
    model_config = STRICT

    mode: Literal["full", "incremental"]
    rows: int
    bytes: int
    seconds: float
    batches: dict[str, int]
    rows_per_second: float = Field(alias="rowsPerSecond")
    measured: bool
