"""Feeds, their syncs and the items a sync delivers, as stored and as the API shows them
(DESIGN, "Export feeds")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SyncMode = Literal["full", "incremental", "retry"]
SyncStatus = Literal["running", "success", "partial", "failed"]
ItemStatus = Literal["pending", "sent", "failed"]
ExportFormat = Literal["parquet", "jsonl", "csv"]


class S3Destination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["s3"]
    uri: str = Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
    format: ExportFormat = "parquet"
    # A part file closes at whichever comes first.
    partRows: int = Field(default=500_000, ge=1, le=50_000_000)
    partBytes: int = Field(default=128 * 1024 * 1024, ge=1024 * 1024, le=2 * 1024**3)

    @property
    def bucket(self) -> str:
        return self.uri[len("s3://") :].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        rest = self.uri[len("s3://") :].split("/", 1)
        prefix = rest[1] if len(rest) > 1 else ""
        return prefix if not prefix or prefix.endswith("/") else prefix + "/"


class WebhookDestination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://[^/\s]+")
    batchSize: int = Field(default=500, ge=1, le=10_000)
    headers: dict[str, str] = Field(default_factory=dict)
    # Items sent at once to this destination by one sync (one sync per feed runs at a time).
    concurrency: int = Field(default=4, ge=1, le=16)
    timeoutSeconds: float = Field(default=10, gt=0, le=60)
    maxAttempts: int = Field(default=5, ge=1, le=10)


Destination = Annotated[S3Destination | WebhookDestination, Field(discriminator="type")]


class Watermark(BaseModel):
    """Every change up to this snapshot of the dataset's table was delivered, or is held as a
    failed item that the feed sends before anything newer."""

    snapshot: int | None = None
    batch: str | None = None  # the newest batch landed at that snapshot
    time: int | None = None  # when that snapshot was committed (ms)


class LastSync(BaseModel):
    id: str
    mode: SyncMode
    status: SyncStatus
    started: int
    ended: int | None = None


class Feed(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    org: str
    sandbox: str
    name: str
    dataset_id: str = Field(alias="datasetId")
    columns: list[str] | None = None
    destination: Destination
    created: int
    updated: int
    created_user: str = Field(alias="createdUser")
    watermark: Watermark = Field(default_factory=Watermark)
    last_sync: LastSync | None = Field(default=None, alias="lastSync")
    # The sync holding the feed's lock: syncs of one feed never overlap.
    syncing: str | None = None
    # Syncs whose failed items the feed still owes, oldest first.
    owed: list[str] = Field(default_factory=list)
    failed_items: int = Field(default=0, alias="failedItems")
    # Measured by past syncs, for estimates: rows per second and bytes per row delivered.
    rows_per_second: float | None = Field(default=None, alias="rowsPerSecond")
    version: int = 0


class SyncCounts(BaseModel):
    upserted: int = 0
    deleted: int = 0


class ItemCounts(BaseModel):
    total: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0


class Sync(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    org: str
    sandbox: str
    feed_id: str = Field(alias="feedId")
    mode: SyncMode
    status: SyncStatus = "running"
    trigger: str = "api"
    started: int
    ended: int | None = None
    from_snapshot: int | None = Field(default=None, alias="fromSnapshot")
    to_snapshot: int | None = Field(default=None, alias="toSnapshot")
    rows: SyncCounts = Field(default_factory=SyncCounts)
    items: ItemCounts = Field(default_factory=ItemCounts)
    bytes: int = 0
    files: list[str] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    message: str = ""

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "feedId": self.feed_id,
            "mode": self.mode,
            "status": self.status,
            "trigger": self.trigger,
            "started": self.started,
            "ended": self.ended,
            "fromSnapshot": self.from_snapshot,
            "toSnapshot": self.to_snapshot,
            "rows": self.rows.model_dump(),
            "items": self.items.model_dump(),
            "bytes": self.bytes,
            "files": self.files,
            "errors": self.errors,
            "message": self.message,
        }


class SyncItem(BaseModel):
    """One unit of delivery: a part file (s3) or one POST (webhook). ``payload`` is the key, in
    the stack's bucket, of what is sent (webhook: the exact body; s3: the rows, as Parquet)."""

    model_config = ConfigDict(populate_by_name=True)

    sync_id: str = Field(alias="syncId")
    number: int
    rows: int
    op: Literal["upsert", "delete", "mixed"] = "upsert"
    status: ItemStatus = "pending"
    attempts: int = 0
    last_error: str | None = Field(default=None, alias="lastError")
    payload: str
    bytes: int = 0
    # A retried item keeps the sync and number it was first planned in (its idempotency key).
    origin: str | None = None
    target: str | None = None  # s3: the part file written

    @property
    def key(self) -> str:
        return self.origin or f"{self.sync_id}:{self.number}"

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.number,
            "syncId": self.sync_id,
            "idempotencyKey": self.key,
            "rows": self.rows,
            "op": self.op,
            "status": self.status,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "bytes": self.bytes,
            "target": self.target,
        }
