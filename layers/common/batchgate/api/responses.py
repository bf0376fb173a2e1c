"""What the API answers, as pydantic models for the OpenAPI document, and the ``responses=``
declarations the routes hand to powertools.

The routes still build their answers as dicts (``Batch.to_aep()``, ``dataset_to_aep``, …): these
models describe those dicts, they do not produce them, so declaring them changed no answer.
``tests/integration/api/test_openapi_contract.py`` validates real answers against them, which is
what keeps the two from drifting. Models are strict (``additionalProperties: false``) wherever
the shape is ours, so a field added to an answer fails that test until it is documented here;
user data (rows, tags, JSON Schema documents) stays open.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from batchgate.core.models import (
    BatchStatus,
    DatasetSchema,
    DatasetTags,
    ErrorEntry,
    InputFormat,
    Replay,
    SchemaField,
)

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
_STRICT = ConfigDict(extra="forbid", populate_by_name=True)


# -- errors ------------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    model_config = _STRICT

    code: str = Field(
        pattern=r"^BG-[0-9]{3}-[A-Z0-9-]+$",
        description="Stable code, BG-<status>-<WHAT> (e.g. BG-409-BATCH-NOT-LOADING): branch on it.",
    )
    message: str = Field(description="What went wrong and what to do, for a person to read.")
    request_id: str = Field(alias="requestId", description="Quote it when reporting a problem.")


class Error(BaseModel):
    """Every error batchgate itself answers (``batchgate.api.error_map``)."""

    model_config = _STRICT

    error: ErrorDetail


class GatewayMessage(BaseModel):
    """API Gateway's own answer when the authorizer refuses a request (401 / 403)."""

    message: str


class AuthError(RootModel[Error | GatewayMessage]):
    """401 / 403: API Gateway answers ``{"message"}`` when its authorizer refuses; the API
    function (an event without the authorizer's context) and the local stack answer ``Error``."""


# -- datasets and the schema registry ----------------------------------------------------------
class SchemaRef(BaseModel):
    model_config = _STRICT

    id: str
    content_type: str = Field(alias="contentType")


class Dataset(BaseModel):
    """A dataset as AEP's catalog shows it."""

    model_config = _STRICT

    id: str
    name: str
    ims_org: str = Field(alias="imsOrg")
    sandbox_name: str = Field(alias="sandboxName")
    schema_: DatasetSchema = Field(alias="schema")
    tags: DatasetTags
    created: int = Field(description="epoch milliseconds")
    updated: int = Field(description="epoch milliseconds")
    table: str = Field(description="the Iceberg table: namespace.table")
    version: str
    extra_columns: Literal["discard", "freeze", "evolve"] = Field(
        alias="extraColumns", description="what becomes of a file's columns the schema lacks"
    )
    schema_ref: SchemaRef | SkipJsonSchema[None] = Field(default=None, alias="schemaRef")
    iceberg: IcebergTable | SkipJsonSchema[None] = Field(
        default=None, description="where the dataset's table is (a single dataset's GET only)"
    )


class IcebergTable(BaseModel):
    """How other engines (pyiceberg, DuckDB, Athena) find a dataset's table."""

    model_config = _STRICT

    catalog: Literal["glue", "sql"]
    identifier: str
    database: str
    table: str
    metadata_location: str | None = Field(
        alias="metadataLocation", description="the current metadata file; null until the first batch lands"
    )


class DatasetsById(RootModel[dict[str, Dataset]]):
    """AEP's catalog answer: ``{id: dataset, ...}``."""


_DatasetLink = Annotated[str, StringConstraints(pattern=r"^@/dataSets/[^/]+$")]


class DatasetCreated(RootModel[Annotated[list[_DatasetLink], Field(min_length=1, max_length=1)]]):
    """AEP's catalog answer to a creation: ``["@/dataSets/{id}"]``."""


class RegistrySchema(BaseModel):
    """A schema of the tenant's registry."""

    model_config = _STRICT

    id: str = Field(alias="$id", description="the id a dataset's schemaRef names (URL-encode it in paths)")
    alt_id: str = Field(alias="meta:altId")
    version: str
    title: str
    description: str
    type: Literal["object"]
    fields: list[SchemaField]
    created: int
    updated: int
    json_schema: dict[str, Any] | SkipJsonSchema[None] = Field(
        default=None, alias="jsonSchema", description="the JSON Schema document, when given as one"
    )


class RegistryPage(BaseModel):
    model_config = _STRICT

    limit: int
    start: int
    count: int


class RegistrySchemas(BaseModel):
    model_config = _STRICT

    results: list[RegistrySchema]
    page: RegistryPage = Field(alias="_page")


# -- keys --------------------------------------------------------------------------------------
class Key(BaseModel):
    """An API key as the API shows it: never its token or the token's hash."""

    model_config = _STRICT

    id: str
    org: str
    role: Literal["admin", "writer", "reader"]
    sandboxes: list[str]
    user: str | None
    description: str
    created: int | None
    disabled: bool


class KeyCreated(Key):
    token: str = Field(description="shown in this answer only: only its hash is stored")


class KeyList(BaseModel):
    model_config = _STRICT

    keys: list[Key]


# -- scheduled jobs -----------------------------------------------------------------------------
class WorkflowAttribute(BaseModel):
    model_config = _STRICT

    name: str
    type: Literal["string", "integer", "number", "boolean", "object"]
    required: bool
    default: Any = None
    description: str
    enum: list[str] | SkipJsonSchema[None] = None


class WorkflowKind(BaseModel):
    model_config = _STRICT

    name: str
    description: str
    attributes: list[WorkflowAttribute]
    steps: list[str]


class Workflows(BaseModel):
    model_config = _STRICT

    workflows: list[WorkflowKind]


class JobScheduleOut(BaseModel):
    model_config = _STRICT

    expression: str
    start: str | SkipJsonSchema[None] = None
    end: str | SkipJsonSchema[None] = None
    timezone: str


class JobOut(BaseModel):
    """A scheduled job."""

    model_config = _STRICT

    id: str
    name: str
    description: str
    workflow: str
    attributes: dict[str, Any]
    schedule: JobScheduleOut
    status: Literal["active", "inactive"]
    created: int
    updated: int
    created_user: str = Field(alias="createdUser")
    updated_user: str = Field(alias="updatedUser")
    last_run: str | None = Field(alias="lastRun")
    running_run: str | None = Field(alias="runningRun", description="the run going now, if any")
    next_fire: int | None = Field(
        alias="nextFire",
        description="when an active job's schedule fires next (epoch ms); null when inactive or over",
    )


class StatsBin(BaseModel):
    model_config = _STRICT

    start: int = Field(description="the bin's first instant (epoch ms): a local hour or midnight")
    batches: int
    rows_ingested: int = Field(
        alias="rowsIngested", description="output records of success and inactive batches"
    )
    rows_failed: int = Field(alias="rowsFailed", description="failed records of every batch")


class StatsTotals(BaseModel):
    model_config = _STRICT

    batches: int
    rows_ingested: int = Field(alias="rowsIngested")
    rows_failed: int = Field(alias="rowsFailed")


class BatchStatsOut(BaseModel):
    model_config = _STRICT

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


class Page(BaseModel):
    model_config = _STRICT

    limit: int
    start: int
    count: int


class JobList(BaseModel):
    model_config = _STRICT

    jobs: list[JobOut]
    page: Page = Field(alias="_page")


class RunStarted(BaseModel):
    model_config = _STRICT

    run_id: str = Field(alias="runId")


class RunStepOut(BaseModel):
    model_config = _STRICT

    name: str
    status: Literal["running", "success", "failed", "skipped"]
    started: int
    ended: int | None
    message: str
    metrics: dict[str, int]


class RunOut(BaseModel):
    """One run of a job, with its steps."""

    model_config = _STRICT

    id: str
    job_id: str = Field(alias="jobId")
    job_name: str = Field(alias="jobName")
    workflow: str
    trigger: Literal["schedule", "manual"]
    status: Literal["running", "success", "failed", "skipped"]
    started: int
    ended: int | None
    scheduled_time: str | None = Field(alias="scheduledTime")
    message: str
    steps: list[RunStepOut]
    batches: list[str]
    errors: list[dict[str, Any]]


class RunList(BaseModel):
    model_config = _STRICT

    runs: list[RunOut]
    page: Page = Field(alias="_page")


# -- export feeds -------------------------------------------------------------------------------
class FeedOut(BaseModel):
    """An export feed with its state at a glance."""

    model_config = _STRICT

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
    model_config = _STRICT

    feeds: list[FeedOut]
    page: Page = Field(alias="_page")


class SyncStarted(BaseModel):
    model_config = _STRICT

    sync_id: str = Field(alias="syncId")


class BundleStarted(BaseModel):
    model_config = _STRICT

    id: str


class BundleUpload(BaseModel):
    """Where to PUT a large bundle, then ``?action=IMPORT {"uploadId"}``."""

    model_config = _STRICT

    upload_id: str = Field(alias="uploadId")
    url: str
    method: Literal["PUT"]
    expires_at: int = Field(alias="expiresAt")


class BundleDatasetOut(BaseModel):
    model_config = _STRICT

    source_id: str = Field(alias="sourceId")
    id: str | None = None
    name: str
    rows: int
    batch_id: str | None = Field(default=None, alias="batchId")
    created: bool | None = None
    evolved: bool | None = None


class BundleRequestOut(BaseModel):
    model_config = _STRICT

    dataset_ids: list[str] = Field(alias="datasetIds")
    include_data: bool = Field(alias="includeData")
    as_of_batch: str | None = Field(default=None, alias="asOfBatch")


class BundleOut(BaseModel):
    """An export or an import of a bundle."""

    model_config = _STRICT

    id: str
    kind: Literal["export", "import"]
    status: Literal["running", "ready", "imported", "failed"]
    created: int
    ended: int | None
    created_user: str = Field(alias="createdUser")
    bytes: int
    datasets: list[BundleDatasetOut]
    errors: list[dict[str, Any]]
    message: str
    bundle_id: str | None = Field(default=None, alias="bundleId")
    duplicate_of: str | None = Field(default=None, alias="duplicateOf")
    origin: Literal["api", "inbox"] | None = None
    request: BundleRequestOut | None = None
    download: str | None = None


class BundleList(BaseModel):
    model_config = _STRICT

    bundles: list[BundleOut]
    page: Page = Field(alias="_page")


class SyncRows(BaseModel):
    model_config = _STRICT

    upserted: int
    deleted: int


class SyncItemsCount(BaseModel):
    model_config = _STRICT

    total: int
    sent: int
    failed: int
    retried: int


class SyncOut(BaseModel):
    """One sync of a feed."""

    model_config = _STRICT

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
    model_config = _STRICT

    syncs: list[SyncOut]
    page: Page = Field(alias="_page")


class SyncItemOut(BaseModel):
    model_config = _STRICT

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
    model_config = _STRICT

    items: list[SyncItemOut]


class FeedEstimate(BaseModel):
    model_config = _STRICT

    mode: Literal["full", "incremental"]
    rows: int
    bytes: int
    seconds: float
    batches: dict[str, int]
    rows_per_second: float = Field(alias="rowsPerSecond")
    measured: bool


# -- batches -----------------------------------------------------------------------------------
class RelatedObject(BaseModel):
    model_config = _STRICT

    type: Literal["dataSet"]
    id: str


class BatchMetrics(BaseModel):
    model_config = _STRICT

    input_byte_size: int = Field(alias="inputByteSize")
    input_file_count: int = Field(alias="inputFileCount")
    input_record_count: int = Field(alias="inputRecordCount")
    output_record_count: int = Field(alias="outputRecordCount")
    failed_record_count: int = Field(alias="failedRecordCount")


class FileTimeline(BaseModel):
    model_config = _STRICT

    name: str
    received: int | None = Field(description="epoch ms: S3 created the object (the upload ended)")
    validated: int | None = Field(description="epoch ms: the file's validation result was recorded")
    staged: int | None = Field(
        description="epoch ms: its valid rows were staged as Parquet (as validation ends); null if none"
    )


class BatchTimeline(BaseModel):
    """When each step happened (``batchgate.core.timeline``); null until it has."""

    model_config = _STRICT

    created: int = Field(description="epoch ms")
    files: list[FileTimeline]
    commit_started: int | None = Field(alias="commitStarted", description="epoch ms: the last landing began")
    commit_ended: int | None = Field(alias="commitEnded", description="epoch ms: that landing ended")


class Batch(BaseModel):
    """A batch as AEP's import and catalog APIs show it (``Batch.to_aep()``); a single batch's GET
    adds its ``timeline``."""

    model_config = _STRICT

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


# -- uploads -----------------------------------------------------------------------------------
class PresignedPut(BaseModel):
    """``size ≤ partSize``: PUT the bytes to ``url``; no COMPLETE needed."""

    model_config = _STRICT

    method: Literal["PUT"]
    url: str
    size: int
    expires_in: int = Field(alias="expiresIn")


class PresignedPart(BaseModel):
    model_config = _STRICT

    part_number: int = Field(alias="partNumber")
    url: str
    first: int = Field(description="first byte of the part, inclusive")
    last: int = Field(description="last byte of the part, inclusive")


class PresignedMultipart(BaseModel):
    """S3 multipart: PUT each part to its ``url``, then COMPLETE with the parts' ETags."""

    model_config = _STRICT

    method: Literal["PUT"]
    upload_id: str = Field(alias="uploadId")
    size: int
    part_size: int = Field(alias="partSize")
    expires_in: int = Field(alias="expiresIn")
    parts: list[PresignedPart]
    complete_with: str = Field(alias="completeWith")


class UploadPlan(RootModel[PresignedPut | PresignedMultipart]):
    """The answer to ``?action=PRESIGN`` (a batchgate extension)."""


# -- exports -----------------------------------------------------------------------------------
class Href(BaseModel):
    model_config = _STRICT

    href: str


class FileLinks(BaseModel):
    model_config = _STRICT

    self_: Href = Field(alias="self")


class ExportedFile(BaseModel):
    model_config = _STRICT

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
    model_config = _STRICT

    limit: int
    start: int
    count: int
    total: int


class FileList(BaseModel):
    model_config = _STRICT

    data: list[ExportedFile]
    page: FilePage = Field(alias="_page")


class Row(BaseModel):
    """One row of the dataset: its schema's columns, and the batch that landed it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    batch_id: str = Field(alias="_batch_id")


class RowsPageInfo(BaseModel):
    model_config = _STRICT

    limit: int
    count: int
    next: str | None = Field(description="the start of the next page; null on the last one")


class RowsPage(BaseModel):
    model_config = _STRICT

    data: list[Row]
    page: RowsPageInfo


# -- the ``responses=`` declarations -----------------------------------------------------------
BINARY_SCHEMA: dict[str, Any] = {"type": "string", "format": "binary"}
Responses = dict[int, OpenAPIResponse]


def response_header(description: str) -> OpenAPIResponseHeader:
    """A response header the answer always carries."""
    # OpenAPI's header objects have 'required'; powertools' TypedDict leaves it out.
    return cast(
        OpenAPIResponseHeader, {"description": description, "required": True, "schema": {"type": "string"}}
    )


def ok(
    status: int,
    description: str,
    model: type[BaseModel] | None = None,
    *,
    content: dict[str, Any] | None = None,
    headers: dict[str, OpenAPIResponseHeader] | None = None,
) -> Responses:
    """A success answer: a JSON ``model``, other ``content``, or no body at all. An empty
    ``content`` is how "no body" is said: without one, powertools documents the route's return
    annotation."""
    if model is not None:
        content = {JSON: {"model": model}}
    response: OpenAPIResponse = {"description": description, "content": content or {}}
    if headers:
        response["headers"] = headers
    return {status: response}


def fails(
    status: int,
    description: str,
    model: type[BaseModel] = Error,
    *,
    headers: dict[str, OpenAPIResponseHeader] | None = None,
) -> Responses:
    """An error answer: the ``Error`` body (or ``model``) and what causes it, with its codes."""
    response: OpenAPIResponse = {"description": description, "content": {JSON: {"model": model}}}
    if headers:
        response["headers"] = headers
    return {status: response}


UNSUPPORTED = "the body is not sent as application/json (BG-415-CONTENT-TYPE)"

# What any route may answer, whatever it does.
COMMON: Responses = {
    **fails(
        401,
        "no or bad credentials: a missing Authorization bearer, x-api-key, x-gw-ims-org-id or x-sandbox-name "
        "header, an unknown or disabled key, a wrong token (BG-401-UNAUTHORIZED)",
        AuthError,
    ),
    **fails(
        403,
        "the key is valid but not for this org and sandbox (BG-403-WRONG-TENANT), or its role may not make "
        "this call (BG-403-ROLE)",
        AuthError,
    ),
    **fails(500, "an unexpected failure (BG-500-INTERNAL; no detail: the log has it under the requestId)"),
}


def answers(*declared: Responses, **errors: str) -> Responses:
    """A route's documented answers: ``declared`` ones (``ok``, ``fails``), its own errors given
    as ``e404="what causes it (codes)"``, and the ones every route shares (``COMMON``)."""
    out: Responses = {}
    for d in declared:
        out.update(d)
    for key, description in errors.items():
        out.update(fails(int(key.removeprefix("e")), description))
    for status, response in COMMON.items():
        out.setdefault(status, response)
    return dict(sorted(out.items()))
