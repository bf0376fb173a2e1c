"""Batches (with their metrics and timeline), their statistics, upload plans, exported files and
rows, as the API answers them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from batchgate.api.responses.common import STRICT
from batchgate.core.models import (
    BatchStatus,
    ErrorEntry,
    InputFormat,
    Replay,
)


class StatsBin(BaseModel):
    model_config = STRICT

    start: int = Field(description="the bin's first instant (epoch ms): a local hour or midnight")
    batches: int
    rows_ingested: int = Field(
        alias="rowsIngested", description="output records of success and inactive batches"
    )
    rows_failed: int = Field(alias="rowsFailed", description="failed records of every batch")


class StatsTotals(BaseModel):
    model_config = STRICT

    batches: int
    rows_ingested: int = Field(alias="rowsIngested")
    rows_failed: int = Field(alias="rowsFailed")


class BatchStatsOut(BaseModel):
    model_config = STRICT

    window: Literal["24h", "30d"]
    unit: Literal["hour", "day"]
    from_: int = Field(alias="from", description="the first bin's start (epoch ms)")
    to: int = Field(description="the last bin's end (epoch ms, exclusive)")
    data_set: str | None = Field(alias="dataSet", description="the dataset counted, or null for the sandbox")
    bins: list[StatsBin] = Field(
        description="24 hourly or 30 daily bins, oldest first; a batch counts at its creation"
    )
    by_status: dict[str, int] = Field(
        alias="byStatus", description="batches created in the window, by status"
    )
    totals: StatsTotals


class RelatedObject(BaseModel):
    model_config = STRICT

    type: Literal["dataSet"]
    id: str


class BatchMetrics(BaseModel):
    model_config = STRICT

    input_byte_size: int = Field(alias="inputByteSize")
    input_file_count: int = Field(alias="inputFileCount")
    input_record_count: int = Field(alias="inputRecordCount")
    output_record_count: int = Field(alias="outputRecordCount")
    failed_record_count: int = Field(alias="failedRecordCount")


class FileTimeline(BaseModel):
    model_config = STRICT

    name: str
    received: int | None = Field(description="epoch ms: S3 created the object (the upload ended)")
    validated: int | None = Field(description="epoch ms: the file's validation result was recorded")
    staged: int | None = Field(
        description="epoch ms: its valid rows were staged as Parquet (as validation ends); null if none"
    )


class BatchTimeline(BaseModel):
    """When each step happened (``batchgate.core.timeline``); null until it has."""

    model_config = STRICT

    created: int = Field(description="epoch ms")
    files: list[FileTimeline]
    commit_started: int | None = Field(alias="commitStarted", description="epoch ms: the last landing began")
    commit_ended: int | None = Field(alias="commitEnded", description="epoch ms: that landing ended")


class Batch(BaseModel):
    """A batch as AEP's import and catalog APIs show it (``Batch.to_aep()``); a single batch's GET
    adds its ``timeline``."""

    model_config = STRICT

    id: str
    ims_org: str = Field(alias="imsOrg")
    sandbox_name: str = Field(alias="sandboxName")
    status: BatchStatus
    created: int = Field(description="epoch milliseconds")
    updated: int = Field(description="epoch milliseconds")
    created_user: str = Field(alias="createdUser")
    updated_user: str = Field(alias="updatedUser")
    related_objects: list[RelatedObject] = Field(alias="relatedObjects")
    input_format: InputFormat = Field(alias="inputFormat")
    enable_error_diagnostics: bool = Field(alias="enableErrorDiagnostics")
    partial_ingestion_percentage: float = Field(alias="partialIngestionPercentage")
    metrics: BatchMetrics
    errors: list[ErrorEntry]
    version: str
    tags: dict[str, Any]
    replay: Replay | SkipJsonSchema[None] = None
    snapshot_id: str | SkipJsonSchema[None] = Field(
        default=None, alias="snapshotId", description="the Iceberg snapshot the batch's landing made"
    )
    successor: str | SkipJsonSchema[None] = Field(default=None, description="the replay that replaced it")
    timeline: BatchTimeline | SkipJsonSchema[None] = Field(
        default=None, description="in a single batch's GET: when each file and the landing got where"
    )


class BatchesById(RootModel[dict[str, Batch]]):
    """AEP's catalog answer: ``{id: batch, ...}``."""


class PresignedPut(BaseModel):
    """``size ≤ partSize``: PUT the bytes to ``url``; no COMPLETE needed."""

    model_config = STRICT

    method: Literal["PUT"]
    url: str
    size: int
    expires_in: int = Field(alias="expiresIn")


class PresignedPart(BaseModel):
    model_config = STRICT

    part_number: int = Field(alias="partNumber")
    url: str
    first: int = Field(description="first byte of the part, inclusive")
    last: int = Field(description="last byte of the part, inclusive")


class PresignedMultipart(BaseModel):
    """S3 multipart: PUT each part to its ``url``, then COMPLETE with the parts' ETags."""

    model_config = STRICT

    method: Literal["PUT"]
    upload_id: str = Field(alias="uploadId")
    size: int
    part_size: int = Field(alias="partSize")
    expires_in: int = Field(alias="expiresIn")
    parts: list[PresignedPart]
    complete_with: str = Field(alias="completeWith")


class UploadPlan(RootModel[PresignedPut | PresignedMultipart]):
    """The answer to ``?action=PRESIGN`` (a batchgate extension)."""


class Href(BaseModel):
    model_config = STRICT

    href: str


class FileLinks(BaseModel):
    model_config = STRICT

    self_: Href = Field(alias="self")


class ExportedFile(BaseModel):
    model_config = STRICT

    data_set_file_id: str = Field(alias="dataSetFileId", description="opaque: download it at _links.self")
    data_set_view_id: str = Field(alias="dataSetViewId")
    version: str
    created: int
    updated: int
    is_valid: bool = Field(alias="isValid")
    name: str
    size: int | None = Field(description="bytes; null for a failed-records file (its size is not kept)")
    links: FileLinks = Field(alias="_links")


class FilePage(BaseModel):
    model_config = STRICT

    limit: int
    start: int
    count: int
    total: int


class FileList(BaseModel):
    model_config = STRICT

    data: list[ExportedFile]
    page: FilePage = Field(alias="_page")


class Row(BaseModel):
    """One row of the dataset: its schema's columns, and the batch that landed it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    batch_id: str = Field(alias="_batch_id")


class RowsPageInfo(BaseModel):
    model_config = STRICT

    limit: int
    count: int
    next: str | None = Field(description="the start of the next page; null on the last one")


class RowsPage(BaseModel):
    model_config = STRICT

    data: list[Row]
    page: RowsPageInfo
