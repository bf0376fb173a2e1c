"""Bundle exports and imports, as the API answers them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from batchgate.api.responses.common import STRICT, Page


class BundleStarted(BaseModel):
    model_config = STRICT

    id: str


class BundleUpload(BaseModel):
    """Where to PUT a large bundle, then ``?action=IMPORT {"uploadId"}``."""

    model_config = STRICT

    upload_id: str = Field(alias="uploadId")
    url: str
    method: Literal["PUT"]
    expires_at: int = Field(alias="expiresAt")


class BundleDatasetOut(BaseModel):
    model_config = STRICT

    source_id: str = Field(alias="sourceId")
    id: str | None = None
    name: str
    rows: int
    batch_id: str | None = Field(default=None, alias="batchId")
    created: bool | None = None
    evolved: bool | None = None


class BundleRequestOut(BaseModel):
    model_config = STRICT

    dataset_ids: list[str] = Field(alias="datasetIds")
    include_data: bool = Field(alias="includeData")
    as_of_batch: str | None = Field(default=None, alias="asOfBatch")


class BundleOut(BaseModel):
    """An export or an import of a bundle."""

    model_config = STRICT

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
    model_config = STRICT

    bundles: list[BundleOut]
    page: Page = Field(alias="_page")
