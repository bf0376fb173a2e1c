"""The workflows a job can run, each with typed attributes (``GET /schedules/workflows``).

Attribute values are checked when a job is created or edited, by type here and against the
world by the service (the dataset exists in the tenant, the bucket exists): a job that could
never run is refused up front, naming the attribute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from batchgate.core.errors import InvalidRequest
from batchgate.core.models import InputFormat

AttributeType = Literal["string", "integer", "number", "boolean", "object"]
_PYTHON: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Attribute:
    name: str
    type: AttributeType
    description: str
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] | None = None

    def to_api(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "description": self.description,
        }
        if self.enum:
            out["enum"] = list(self.enum)
        return out


@dataclass(frozen=True)
class Workflow:
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    steps: tuple[str, ...]
    extra_checks: tuple[str, ...] = field(default=())

    def to_api(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_api() for a in self.attributes],
            "steps": list(self.steps),
        }
        return out

    def check(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with defaults filled in; a 400 naming the first attribute that is unknown,
        missing or of the wrong type."""
        known = {a.name: a for a in self.attributes}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise _bad(f"unknown attribute(s) {unknown} for workflow {self.name!r}; it takes {sorted(known)}")
        out: dict[str, Any] = {}
        for a in self.attributes:
            if a.name not in values or values[a.name] is None:
                if a.required:
                    raise _bad(f"attribute {a.name!r} is required by workflow {self.name!r}: {a.description}")
                if a.default is not None:
                    out[a.name] = a.default
                continue
            value = values[a.name]
            if isinstance(value, bool) and a.type in ("integer", "number"):
                raise _bad(f"attribute {a.name!r} must be a {a.type}, not a boolean")
            if not isinstance(value, _PYTHON[a.type]):
                raise _bad(f"attribute {a.name!r} must be a {a.type}, not {type(value).__name__} {value!r}")
            if a.enum and value not in a.enum:
                raise _bad(f"attribute {a.name!r} must be one of {list(a.enum)}, not {value!r}")
            out[a.name] = value
        for check in self.extra_checks:
            _CHECKS[check](out)
        return out


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="BG-400-JOB-ATTRIBUTES")


def _check_bucket(values: dict[str, Any]) -> None:
    if not _BUCKET.match(values["bucket"]):
        raise _bad(f"attribute 'bucket' is not an S3 bucket name: {values['bucket']!r}")
    prefix = values.get("prefix", "")
    if prefix.startswith("/"):
        raise _bad("attribute 'prefix' is a key prefix (no leading '/'): 'partner/exports/'")


def _check_url(values: dict[str, Any]) -> None:
    if not re.match(r"^https?://[^/\s]+", values["url"]):
        raise _bad(f"attribute 'url' must be an http:// or https:// URL, not {values['url']!r}")


def _check_input_format(values: dict[str, Any]) -> None:
    """``inputFormat`` holds the batch's format options (CSV delimiter, charset...); its format,
    if given, must agree with ``format``."""
    options = dict(values.get("inputFormat") or {})
    if options.get("format", values["format"]) != values["format"]:
        raise _bad(
            f"inputFormat.format {options['format']!r} disagrees with attribute format {values['format']!r}"
        )
    try:
        InputFormat.model_validate({**options, "format": values["format"]})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _bad(f"attribute inputFormat.{where}: {first['msg']}") from exc


_CHECKS = {"bucket": _check_bucket, "url": _check_url, "inputFormat": _check_input_format}

_DATASET = Attribute(
    "datasetId", "string", "the dataset the files land in (one batch per run)", required=True
)
_FORMAT = Attribute("format", "string", "the files' format", required=True, enum=("json", "csv", "parquet"))
_INPUT_FORMAT = Attribute(
    "inputFormat",
    "object",
    "the batch's inputFormat options beyond format (CSV delimiter, header, charset, ...)",
    default=None,
)
_PARTIAL = Attribute(
    "partialIngestionPercentage",
    "number",
    "the share of failed records a run's batch tolerates and still lands (as on a batch)",
    default=0,
)

INGEST_S3 = Workflow(
    name="ingest-s3",
    description="Ingest, as one batch per run, the objects under bucket/prefix matching pattern that this "
    "job has not ingested yet (key + ETag), copied server-side into the batch. A run with nothing new "
    "succeeds with 0 files and no batch.",
    attributes=(
        _DATASET,
        Attribute("bucket", "string", "the S3 bucket to read", required=True),
        Attribute("prefix", "string", "the key prefix to list (empty: the whole bucket)", default=""),
        Attribute(
            "pattern",
            "string",
            "a glob on the key after the prefix (* matches '/' too; *.json, 2026/**/day-*.csv.gz)",
            default="*",
        ),
        _FORMAT,
        _INPUT_FORMAT,
        _PARTIAL,
    ),
    steps=("start", "list", "create-batch", "copy", "complete", "wait", "finish"),
    extra_checks=("bucket", "inputFormat"),
)
INGEST_HTTP = Workflow(
    name="ingest-http",
    description="Fetch url with a conditional GET (ETag / Last-Modified) and ingest it as one batch; an "
    "unchanged file is not ingested again. Streamed to S3, never held whole in memory.",
    attributes=(
        _DATASET,
        Attribute("url", "string", "the file's http(s) URL", required=True),
        _FORMAT,
        Attribute(
            "fileName",
            "string",
            "the name the file gets in the batch (default: the URL path's last segment)",
            default=None,
        ),
        _INPUT_FORMAT,
        _PARTIAL,
    ),
    steps=("start", "fetch", "create-batch", "copy", "complete", "wait", "finish"),
    extra_checks=("url", "inputFormat"),
)
EXPORT_FEED = Workflow(
    name="export-feed",
    description="Run a sync of an export feed (incremental: the changes since its watermark, or full) and "
    "wait for it; the run's status is the sync's (partial counts as failed).",
    attributes=(
        Attribute("feedId", "string", "the export feed to sync", required=True),
        Attribute(
            "mode", "string", "incremental or full", default="incremental", enum=("incremental", "full")
        ),
    ),
    steps=("start", "sync", "finish"),
)

WORKFLOWS: dict[str, Workflow] = {w.name: w for w in (INGEST_S3, INGEST_HTTP, EXPORT_FEED)}


def workflow(name: str) -> Workflow:
    if name not in WORKFLOWS:
        raise InvalidRequest(
            f"unknown workflow {name!r}; GET /data/foundation/schedules/workflows lists {sorted(WORKFLOWS)}",
            code="BG-400-WORKFLOW",
        )
    return WORKFLOWS[name]
