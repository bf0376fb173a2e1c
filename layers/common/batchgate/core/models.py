"""Pydantic models shared by every part: dataset schemas, batches, files, and their wire shapes.

Field names on the wire follow AEP's Batch Ingestion / Catalog APIs (camelCase); the persisted
shape is the same model dumped with ``model_dump(mode="json")``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FieldType = Literal["string", "integer", "number", "boolean", "timestamp", "date", "object", "array"]
Format = Literal["json", "csv", "parquet"]
# discard: dropped, the batch warns naming them; freeze: the file fails naming them; evolve: added
# to the dataset as optional columns when the batch lands.
ExtraColumnsPolicy = Literal["discard", "freeze", "evolve"]

BatchStatus = Literal[
    "loading",
    "loaded",
    "staging",
    "retrying",
    "stalled",
    "success",
    "failed",
    "aborted",
    "abandoned",
    "inactive",
    "deleted",
]
FileStatus = Literal["uploading", "validating", "validated", "failed"]

# Names that reach Arrow, Iceberg and SQL engines: keep them plain identifiers.
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
RESERVED_COLUMNS = frozenset({"_batch_id", "_source_file", "_source_row"})


class SchemaError(ValueError):
    """A dataset schema that cannot be used; ``field`` names the offending field path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# One JSON Schema for these recursive models in both modes: pydantic otherwise documents them
# twice (SchemaField-Input / -Output) in an OpenAPI document that has them in requests and answers.
_ONE_JSON_SCHEMA: Literal["validation"] = "validation"


class ItemSchema(BaseModel):
    """Element type of an ``array`` field."""

    model_config = ConfigDict(extra="forbid", json_schema_mode_override=_ONE_JSON_SCHEMA)

    type: FieldType
    fields: list[SchemaField] | None = None
    items: ItemSchema | None = None


class SchemaField(BaseModel):
    """One column of a dataset schema, with the constraints the validators enforce."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_mode_override=_ONE_JSON_SCHEMA
    )

    name: str
    type: FieldType
    required: bool = False
    enum: list[Any] | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, alias="maxLength", ge=0)
    # NaN and ±Infinity are not JSON numbers and no query engine agrees on them: a number field
    # refuses them unless it says so.
    allow_non_finite: bool | None = Field(default=None, alias="allowNonFinite")
    # Marks the upsert identity on the schema, as AEP's XDM schemas do (tags.identity also works).
    identity: bool | None = None
    fields: list[SchemaField] | None = None
    items: ItemSchema | None = None

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _FIELD_NAME.match(value):
            raise ValueError(
                f"field name {value!r} must start with a letter and hold only letters, digits, _"
            )
        return value


class DatasetSchema(BaseModel):
    """Our ``{"fields": [...]}``, or a JSON Schema document given in its place (converted by
    :mod:`batchgate.core.json_schema`)."""

    model_config = ConfigDict(extra="forbid")

    fields: list[SchemaField]

    @model_validator(mode="before")
    @classmethod
    def _from_json_schema(cls, data: Any) -> Any:
        from batchgate.core.json_schema import is_json_schema, to_fields

        return to_fields(data) if is_json_schema(data) else data

    @property
    def identity_fields(self) -> list[str]:
        """The fields the schema marks as the upsert identity."""
        return [f.name for f in self.fields if f.identity]

    @model_validator(mode="after")
    def _check(self) -> DatasetSchema:
        check_fields(self.fields, "")
        return self

    def field(self, name: str) -> SchemaField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def check_fields(fields: list[SchemaField], prefix: str) -> None:
    """Semantic checks pydantic's types cannot express; raises SchemaError naming the field."""
    if not fields:
        raise SchemaError(prefix or "fields", "a schema needs at least one field")
    seen: set[str] = set()
    for f in fields:
        path = f"{prefix}{f.name}"
        if f.name.lower() in seen:
            raise SchemaError(path, "duplicate field name (names are case-insensitive)")
        seen.add(f.name.lower())
        if not prefix and f.name in RESERVED_COLUMNS:
            raise SchemaError(path, "name is reserved for lineage columns")
        if f.type == "object":
            if not f.fields:
                raise SchemaError(path, "an object field needs 'fields'")
            check_fields(f.fields, path + ".")
        elif f.fields is not None:
            raise SchemaError(path, "'fields' is only allowed on type 'object'")
        if f.type == "array":
            if f.items is None:
                raise SchemaError(path, "an array field needs 'items'")
            if f.items.type == "object":
                check_fields(f.items.fields or [], path + "[].")
        elif f.items is not None:
            raise SchemaError(path, "'items' is only allowed on type 'array'")
        if f.pattern is not None:
            if f.type != "string":
                raise SchemaError(path, "'pattern' applies to strings only")
            try:
                re.compile(f.pattern)
            except re.error as exc:
                raise SchemaError(path, f"invalid pattern: {exc}") from exc
        if f.max_length is not None and f.type != "string":
            raise SchemaError(path, "'maxLength' applies to strings only")
        if f.allow_non_finite is not None and f.type != "number":
            raise SchemaError(path, "'allowNonFinite' applies to number fields only")
        if f.identity and (prefix or f.type in ("object", "array")):
            raise SchemaError(path, "'identity' applies to top-level scalar fields only")
        if (f.minimum is not None or f.maximum is not None) and f.type not in ("integer", "number"):
            raise SchemaError(path, "'minimum'/'maximum' apply to integer and number fields only")
        if f.minimum is not None and f.maximum is not None and f.minimum > f.maximum:
            raise SchemaError(path, "'minimum' is greater than 'maximum'")
        if f.enum is not None:
            if f.type in ("object", "array"):
                raise SchemaError(path, "'enum' applies to scalar fields only")
            if not f.enum:
                raise SchemaError(path, "'enum' must list at least one value")


class DatasetTags(BaseModel):
    """Our tag form plus AEP's ``unifiedProfile: ["isUpsert:true", ...]`` form."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    is_upsert: bool = Field(default=False, alias="isUpsert")
    identity: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _aep_form(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for entry in data.get("unifiedProfile") or []:
                key, _, value = str(entry).partition(":")
                if key == "isUpsert":
                    data.setdefault("isUpsert", value.lower() == "true")
            if isinstance(data.get("identity"), str):
                data["identity"] = [data["identity"]]
        return data


class Dataset(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str
    org: str
    sandbox: str
    schema_: DatasetSchema = Field(alias="schema")
    tags: DatasetTags = Field(default_factory=DatasetTags)
    created: int  # epoch milliseconds, as AEP's catalog
    updated: int
    table: str  # Iceberg identifier "namespace.table"
    # AEP's pointer to the schema the dataset was created from (the registry's $id).
    schema_ref: dict[str, str] | None = Field(default=None, alias="schemaRef")
    # What a file's columns the schema does not have become (after dlt's schema contracts).
    extra_columns: ExtraColumnsPolicy = Field(default="discard", alias="extraColumns")

    @model_validator(mode="after")
    def _identity_known(self) -> Dataset:
        if not self.tags.identity and self.schema_.identity_fields:
            # The AEP form: the identity is marked on the schema, the tags only say isUpsert.
            self.tags.identity = self.schema_.identity_fields
        names = {f.name for f in self.schema_.fields}
        for ident in self.tags.identity:
            if ident not in names:
                raise SchemaError(f"tags.identity.{ident}", "identity field is not in the schema")
        if self.tags.is_upsert and not self.tags.identity:
            raise SchemaError(
                "tags.identity",
                'an upsert dataset needs its identity: "identity": ["field", ...] in tags, or '
                '"identity": true on the schema\'s identity fields',
            )
        return self


class RegisteredSchema(BaseModel):
    """A schema in the tenant's registry (``/data/foundation/schemaregistry/tenant/schemas``):
    datasets point at it with AEP's ``schemaRef`` and take its fields when they are created."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    org: str
    sandbox: str
    title: str
    description: str = ""
    schema_: DatasetSchema = Field(alias="schema")
    # The JSON Schema document as given, when the schema was given that way.
    document: dict[str, Any] | None = None
    created: int
    updated: int

    @property
    def ref(self) -> str:
        """The ``$id`` a ``schemaRef`` names it by."""
        return f"https://ns.batchgate.dev/{self.org}/schemas/{self.id}"

    @property
    def alt_id(self) -> str:
        return f"_{self.org}.schemas.{self.id}"


class InputFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    format: Format
    is_multi_line_json: bool = Field(default=False, alias="isMultiLineJson")
    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    header: bool = True
    null_marker: str = Field(default="", alias="nullMarker")
    charset: str = "UTF-8"

    @field_validator("delimiter", "quote")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("must be exactly one character")
        return value

    @field_validator("escape")
    @classmethod
    def _escape_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError("must be exactly one character")
        return value

    @field_validator("charset")
    @classmethod
    def _known_charset(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown charset {value!r}") from exc
        return value


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    predecessors: list[str] = Field(min_length=1)
    reason: Literal["replace"] = "replace"


class Metrics(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    input_byte_size: int = Field(default=0, alias="inputByteSize")
    input_file_count: int = Field(default=0, alias="inputFileCount")
    input_record_count: int = Field(default=0, alias="inputRecordCount")
    output_record_count: int = Field(default=0, alias="outputRecordCount")
    failed_record_count: int = Field(default=0, alias="failedRecordCount")


class ErrorEntry(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    code: str
    description: str
    record_count: int | None = Field(default=None, alias="recordCount")
    file: str | None = None
    row: int | None = None
    field: str | None = None


class Batch(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    org: str
    sandbox: str
    dataset_id: str = Field(alias="datasetId")
    status: BatchStatus = "loading"
    input_format: InputFormat = Field(alias="inputFormat")
    enable_error_diagnostics: bool = Field(default=True, alias="enableErrorDiagnostics")
    partial_ingestion_percentage: float = Field(default=0, ge=0, le=100, alias="partialIngestionPercentage")
    replay: Replay | None = None
    created: int
    updated: int
    created_user: str = Field(default="unknown", alias="createdUser")
    updated_user: str = Field(default="unknown", alias="updatedUser")
    metrics: Metrics = Field(default_factory=Metrics)
    errors: list[ErrorEntry] = Field(default_factory=list)
    snapshot_id: int | None = Field(default=None, alias="snapshotId")
    previous_snapshot_id: int | None = Field(default=None, alias="previousSnapshotId")
    source: Literal["api", "inbox"] = "api"
    version: int = 1  # optimistic-concurrency counter for conditional writes
    execution_arn: str | None = Field(default=None, alias="executionArn")
    successor: str | None = None
    # A bucket drop's object: the key and version its one file comes from (restart recovery
    # re-sends its event when the batch is still loading).
    # When the last attempt to land the batch began (it moved to ``staging``): while a commit may
    # still be running, ABORT's cleanup leaves the staged files alone (workflow.abort).
    commit_started: int | None = Field(default=None, alias="commitStarted")
    # When that landing ended (the batch moved to success or failed from staging).
    commit_ended: int | None = Field(default=None, alias="commitEnded")
    # A REVERT asked to purge (restart recovery re-runs a lost revert with it).
    purge_requested: bool = Field(default=False, alias="purgeRequested")
    source_key: str | None = Field(default=None, alias="sourceKey")
    source_version: str | None = Field(default=None, alias="sourceVersion")
    # AEP's batch tags ({name: [values]}); batchgate sets them on a bundle import's batches
    # (the bundle, the import, the source dataset and the source batches the rows come from).
    tags: dict[str, list[str]] = Field(default_factory=dict)

    def to_aep(self) -> dict[str, Any]:
        """The batch as AEP's catalog/import APIs show it."""
        body: dict[str, Any] = {
            "id": self.id,
            "imsOrg": self.org,
            "sandboxName": self.sandbox,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "createdUser": self.created_user,
            "updatedUser": self.updated_user,
            "relatedObjects": [{"type": "dataSet", "id": self.dataset_id}],
            "inputFormat": self.input_format.model_dump(by_alias=True, exclude_none=True),
            "enableErrorDiagnostics": self.enable_error_diagnostics,
            "partialIngestionPercentage": self.partial_ingestion_percentage,
            "metrics": self.metrics.model_dump(by_alias=True),
            "errors": [e.model_dump(by_alias=True, exclude_none=True) for e in self.errors],
            "version": "1.0.0",
            "tags": self.tags,
        }
        if self.replay is not None:
            body["replay"] = self.replay.model_dump()
        if self.snapshot_id is not None:
            body["snapshotId"] = str(self.snapshot_id)
        if self.successor is not None:
            body["successor"] = self.successor
        return body


class BatchFile(BaseModel):
    """One uploaded file of a batch and what validation made of it."""

    model_config = ConfigDict(populate_by_name=True)

    batch_id: str = Field(alias="batchId")
    name: str
    key: str  # S3 key of the uploaded object
    status: FileStatus = "uploading"
    size: int = 0
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="versionId")
    upload_id: str | None = Field(default=None, alias="uploadId")  # S3 multipart
    # S3's event sequencer of the object version last validated: orders racing/duplicate events.
    sequencer: str | None = None
    present_columns: list[str] | None = Field(default=None, alias="presentColumns")
    # Columns the dataset's schema lacks: path → rows giving a value (dropped, extraColumns
    # "discard"), and the optional fields "evolve" adds when the batch lands (path → field).
    extra_columns: dict[str, int] = Field(default_factory=dict, alias="extraColumns")
    added_columns: dict[str, dict[str, Any]] = Field(default_factory=dict, alias="addedColumns")
    input_record_count: int = Field(default=0, alias="inputRecordCount")
    output_record_count: int = Field(default=0, alias="outputRecordCount")
    failed_record_count: int = Field(default=0, alias="failedRecordCount")
    staged_keys: list[str] = Field(default_factory=list, alias="stagedKeys")
    failed_key: str | None = Field(default=None, alias="failedKey")
    failed_keys: list[str] = Field(default_factory=list, alias="failedKeys")  # one per part
    errors: list[ErrorEntry] = Field(default_factory=list)
    file_error: ErrorEntry | None = Field(default=None, alias="fileError")
    validated_at: int | None = Field(default=None, alias="validatedAt")
    duration_ms: int | None = Field(default=None, alias="durationMs")
    # When S3 created the object this result is for (its event's time, epoch ms).
    received_at: int | None = Field(default=None, alias="receivedAt")


ItemSchema.model_rebuild()
SchemaField.model_rebuild()
