"""Exports and imports of bundles as stored and as the API shows them (DESIGN, "Portable
bundles"): ``{"id", "kind", "status", "download"?, "bytes", "datasets": [...], "errors": [...]}``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["export", "import"]
Status = Literal["running", "ready", "imported", "failed"]
FINAL_STATUSES = frozenset({"ready", "imported", "failed"})


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class DatasetEntry(_Model):
    """One dataset of the bundle: its id where it was exported (``sourceId``) and here (``id``)."""

    source_id: str = Field(alias="sourceId")
    id: str | None = None
    name: str
    rows: int = 0
    # Export: the batch the rows are as of; import: the batch that carries the rows in.
    batch_id: str | None = Field(default=None, alias="batchId")
    # Import: the dataset was created by this import (so a failed import deletes it again).
    created: bool = False
    # Import: the bundle's schema extends the existing dataset's (added optional columns …).
    evolved: bool = False


class ObjectRef(_Model):
    """A bundle in the bucket: the key and, for a bucket drop, the version that was dropped."""

    bucket: str
    key: str
    version_id: str | None = Field(default=None, alias="versionId")


class ExportRequest(_Model):
    dataset_ids: list[str] = Field(alias="datasetIds")
    include_data: bool = Field(default=True, alias="includeData")
    as_of_batch: str | None = Field(default=None, alias="asOfBatch")


class BundleRecord(_Model):
    id: str
    org: str
    sandbox: str
    kind: Kind
    status: Status = "running"
    created: int
    ended: int | None = None
    created_user: str = Field(default="unknown", alias="createdUser")
    # How an import arrived: "api" (bytes or a presigned upload) or "inbox" (a bucket drop).
    origin: Literal["api", "inbox"] = "api"
    bundle: ObjectRef | None = None  # export: what it wrote; import: what it reads
    bundle_id: str | None = Field(default=None, alias="bundleId")  # the manifest's
    bytes: int = 0
    export: ExportRequest | None = None
    datasets: list[DatasetEntry] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    message: str = ""
    # Import: an earlier import of the same bundle in this sandbox; this one changed nothing.
    duplicate_of: str | None = Field(default=None, alias="duplicateOf")
    # Import: where the landing stands ("validating" until every file is validated, then "landing").
    phase: Literal["verifying", "validating", "landing", "done"] = "verifying"

    def show(self, download: str | None = None) -> dict[str, Any]:
        """The answer of ``GET /data/foundation/bundles/{id}``."""
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "created": self.created,
            "ended": self.ended,
            "createdUser": self.created_user,
            "bytes": self.bytes,
            "datasets": [
                d.model_dump(by_alias=True, exclude_none=True, exclude={"created", "evolved"})
                | ({"created": True} if d.created else {})
                | ({"evolved": True} if d.evolved else {})
                for d in self.datasets
            ],
            "errors": self.errors,
            "message": self.message,
        }
        if self.bundle_id is not None:
            body["bundleId"] = self.bundle_id
        if self.duplicate_of is not None:
            body["duplicateOf"] = self.duplicate_of
        if self.kind == "import":
            body["origin"] = self.origin
        if self.export is not None:
            body["request"] = self.export.model_dump(by_alias=True, exclude_none=True)
        if download is not None:
            body["download"] = download
        return body
