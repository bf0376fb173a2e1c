"""Request bodies of the API as pydantic models; the OpenAPI document is generated from them."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from batchgate.core.models import DatasetSchema, DatasetTags, ExtraColumnsPolicy, InputFormat, Replay
from batchgate.core.roles import Role
from batchgate.feeds.models import Destination

MAX_PRESIGN_EXPIRY = 7 * 24 * 3600  # SigV4's ceiling for presigned URLs

JSON_SCHEMA_DOCUMENT: dict[str, Any] = {
    "title": "JSON Schema document",
    "description": "A draft 2020-12 subset: type object, properties, required, enum, pattern, minimum, "
    "maximum, maxLength, items, format date-time / date, nested objects, [T, null]; keywords with no "
    "column equivalent (oneOf, $ref, ...) are a 400 naming them.",
    "type": "object",
    "properties": {"type": {"const": "object"}, "properties": {"type": "object"}},
    "required": ["type"],
}


def _fields_or_json_schema(schema: dict[str, Any]) -> None:
    # DatasetSchema converts a JSON Schema document before it validates, which pydantic's generated
    # JSON Schema cannot see: without this the document would say only {"fields": [...]} is taken.
    schema["anyOf"].insert(1, copy.deepcopy(JSON_SCHEMA_DOCUMENT))


class DatasetCreate(BaseModel):
    """``POST /data/foundation/catalog/dataSets``: the schema inline (our ``fields`` or a JSON Schema
    document), or AEP's ``schemaRef`` naming a schema of the tenant's registry. Other AEP fields
    (``fileDescription``, ``description``, …) are ignored, so AEP bodies work."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(min_length=1, max_length=256)
    schema_: DatasetSchema | None = Field(
        default=None, alias="schema", json_schema_extra=_fields_or_json_schema
    )
    schema_ref: dict[str, Any] | None = Field(default=None, alias="schemaRef")
    tags: DatasetTags = Field(default_factory=DatasetTags)
    extra_columns: ExtraColumnsPolicy = Field(default="discard", alias="extraColumns")


class DatasetPatch(BaseModel):
    """``PATCH /data/foundation/catalog/dataSets/{id}``: the whole new schema (the server works out
    what changed), and optionally new tags (the upsert settings cannot change)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: DatasetSchema | None = Field(
        default=None, alias="schema", json_schema_extra=_fields_or_json_schema
    )
    tags: DatasetTags | None = None
    extra_columns: ExtraColumnsPolicy | None = Field(default=None, alias="extraColumns")


class SchemaCreate(BaseModel):
    """``POST /data/foundation/schemaregistry/tenant/schemas``: a title, and the schema either as
    our ``fields`` or as a JSON Schema document (``type: object``, ``properties``, ``required``…)
    in the same body."""

    model_config = ConfigDict(extra="allow")

    title: str = Field(min_length=1, max_length=256)
    description: str = Field(default="", max_length=10_000)

    def document(self) -> dict[str, Any]:
        """The schema part of the body: everything but the title and description."""
        return dict(self.model_extra or {})


class BatchCreate(BaseModel):
    """``POST /data/foundation/import/batches`` with AEP's field names."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dataset_id: str = Field(alias="datasetId", min_length=1, max_length=128)
    input_format: InputFormat = Field(alias="inputFormat")
    enable_error_diagnostics: bool = Field(default=True, alias="enableErrorDiagnostics")
    partial_ingestion_percentage: float = Field(default=0, ge=0, le=100, alias="partialIngestionPercentage")
    replay: Replay | None = None
    tags: dict[str, Any] | None = None  # accepted for AEP compatibility, not interpreted


class BatchActionBody(BaseModel):
    """Optional body of ``POST …/batches/{id}?action=…``: ``purge`` (REVERT only) also removes the
    reverted rows from storage now, expiring every snapshot that still reads them."""

    model_config = ConfigDict(extra="forbid")

    purge: bool = False


FileAction = Literal["INITIALIZE", "COMPLETE", "PRESIGN"]


class PartETag(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    part_number: int = Field(alias="partNumber", ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=256)


class FileActionBody(BaseModel):
    """Body of ``POST …/files/{name}?action=…`` (all fields optional; which apply depends on the
    action): PRESIGN takes ``size`` (and ``partSize``, ``expiresIn``); COMPLETE of a presigned
    multipart upload takes ``uploadId`` and ``parts``; INITIALIZE and chunked COMPLETE take none."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    size: int | None = Field(default=None, ge=1, le=5 * 1024**4)
    part_size: int | None = Field(default=None, alias="partSize", ge=5 * 1024**2, le=5 * 1024**3)
    expires_in: int = Field(default=3600, alias="expiresIn", ge=60, le=MAX_PRESIGN_EXPIRY)
    upload_id: str | None = Field(default=None, alias="uploadId", min_length=1, max_length=1024)
    parts: list[PartETag] | None = Field(default=None, max_length=10_000)


class KeyCreate(BaseModel):
    """``POST /data/foundation/keys``: a role and the org's sandboxes the key may use."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    sandboxes: list[str] = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    user: str | None = Field(default=None, max_length=256)


class JobScheduleBody(BaseModel):
    """EventBridge Scheduler's schedule: ``rate(15 minutes)``, ``cron(0 3 * * ? *)`` or
    ``at(2026-12-01T03:00:00)``, optional ISO-8601 ``start`` / ``end``, and a time zone."""

    model_config = ConfigDict(extra="forbid")

    expression: str = Field(min_length=1, max_length=256)
    start: str | None = None
    end: str | None = None
    timezone: str = "UTC"


class JobCreate(BaseModel):
    """``POST /data/foundation/schedules/jobs``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = Field(default="", max_length=1024)
    workflow: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    schedule: JobScheduleBody


class JobPatch(BaseModel):
    """``PATCH /data/foundation/schedules/jobs/{id}``: description, attributes and schedule; the
    name and the workflow are fixed (sent equal they are accepted, so a GET-modify-PATCH works)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    workflow: str | None = None
    description: str | None = Field(default=None, max_length=1024)
    attributes: dict[str, Any] | None = None
    schedule: JobScheduleBody | None = None


class FeedCreate(BaseModel):
    """``POST /data/foundation/export/feeds``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    dataset_id: str = Field(alias="datasetId", min_length=1)
    columns: list[str] | None = Field(default=None, min_length=1)
    destination: Destination


class BundleExportBody(BaseModel):
    """``POST /data/foundation/bundles?action=EXPORT``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dataset_ids: list[str] = Field(alias="datasetIds", min_length=1, max_length=100)
    include_data: bool = Field(default=True, alias="includeData")
    as_of_batch: str | None = Field(default=None, alias="asOfBatch", min_length=1, max_length=128)


class BundleImportBody(BaseModel):
    """``POST /data/foundation/bundles?action=IMPORT`` with JSON: a bundle put through the URL
    ``?action=PRESIGN`` gave (a small bundle may be the body itself, as application/octet-stream)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    upload_id: str = Field(alias="uploadId", pattern=r"^[A-Za-z0-9_-]{1,128}$")


class BundleActionBody(RootModel[BundleExportBody | BundleImportBody]):
    """The JSON a ``POST /data/foundation/bundles`` takes: EXPORT's, or IMPORT's ``{"uploadId"}``."""
