"""Datasets, the schema registry and API keys, as the API answers them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from batchgate.api.responses.common import STRICT
from batchgate.core.models import (
    DatasetSchema,
    DatasetTags,
    SchemaField,
)


class SchemaRef(BaseModel):
    model_config = STRICT

    id: str
    content_type: str = Field(alias="contentType")


class Dataset(BaseModel):
    """A dataset as AEP's catalog shows it."""

    model_config = STRICT

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

    model_config = STRICT

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

    model_config = STRICT

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
    model_config = STRICT

    limit: int
    start: int
    count: int


class RegistrySchemas(BaseModel):
    model_config = STRICT

    results: list[RegistrySchema]
    page: RegistryPage = Field(alias="_page")


class Key(BaseModel):
    """An API key as the API shows it: never its token or the token's hash."""

    model_config = STRICT

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
    model_config = STRICT

    keys: list[Key]
