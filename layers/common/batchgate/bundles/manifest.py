"""``bundle.json``: the manifest of a ``.bgbundle`` (docs/bundles.md).

It names where the bundle comes from, and for each dataset its name, schema (as the API shows
it: ``{"fields": [...]}``), tags, row count and the Parquet parts that hold its rows, each with
its row count, byte count and sha256. It never holds keys, tokens or anything secret: the only
ids in it are the source's (the bundle's, the datasets' and batches' there), which mean nothing
where the bundle is imported.

Versioning: ``formatVersion`` is an integer; any change to the layout or to this manifest, even
an added field, is a new version (the models forbid unknown keys). A reader refuses a version it
does not know, naming it and the versions it reads (:data:`SUPPORTED_VERSIONS`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from batchgate.bundles.errors import MANIFEST, VERSION, BundleError
from batchgate.core.models import DatasetSchema, DatasetTags

FORMAT_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
MANIFEST_NAME = "bundle.json"
# bundle.json is small (a few KB per dataset); anything larger is refused before it is parsed.
MAX_MANIFEST_BYTES = 16 << 20

# An id that is safe as one path segment: no '/', no '..', no spaces.
_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
_ID_RE = re.compile(rf"^{_ID}$")
_PART_RE = re.compile(rf"^data/(?P<source_id>{_ID})/part-(?P<number>\d{{5}})\.parquet$")


def part_path(source_id: str, number: int) -> str:
    """``data/{sourceId}/part-NNNNN.parquet``: where a dataset's ``number``-th part lives."""
    return f"data/{source_id}/part-{number:05d}.parquet"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BundleFile(_Model):
    """One Parquet part of a dataset."""

    path: str
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class BundleSource(_Model):
    """Where and when the bundle was exported."""

    org: str = Field(min_length=1)
    sandbox: str = Field(min_length=1)
    exported_at: AwareDatetime = Field(alias="exportedAt")


class BundleDataset(_Model):
    """One dataset: its definition, and the parts that hold its rows (none for an empty one or an
    export without data)."""

    source_id: str = Field(alias="sourceId", pattern=rf"^{_ID}$")
    name: str = Field(min_length=1)
    schema_: DatasetSchema = Field(alias="schema")
    tags: DatasetTags = Field(default_factory=DatasetTags)
    rows: int = Field(ge=0)
    # The source batch the rows are as of (an export "as of a batch"); None: as of the export.
    as_of_batch: str | None = Field(default=None, alias="asOfBatch")
    # The source batches whose rows the parts hold; an import keeps them in its batch's tags.
    source_batches: list[str] = Field(default_factory=list, alias="sourceBatches")
    files: list[BundleFile] = Field(default_factory=list)

    @model_validator(mode="after")
    def _parts(self) -> BundleDataset:
        for i, f in enumerate(self.files):
            m = _PART_RE.match(f.path)
            if m is None or m["source_id"] != self.source_id:
                raise ValueError(
                    f"file {f.path!r} is not data/{self.source_id}/part-NNNNN.parquet (NNNNN: 5 digits)"
                )
            if int(m["number"]) != i:
                raise ValueError(f"file {f.path!r} is out of order: part {i:05d} expected")
        # The rows the bundle holds: an export without data (or of an empty dataset) says 0.
        total = sum(f.rows for f in self.files)
        if total != self.rows:
            raise ValueError(f"rows is {self.rows} but its files hold {total}")
        return self


class Manifest(_Model):
    format_version: int = Field(alias="formatVersion")
    bundle_id: str = Field(alias="bundleId", pattern=rf"^{_ID}$")
    source: BundleSource
    datasets: list[BundleDataset]

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        if self.format_version not in SUPPORTED_VERSIONS:
            raise ValueError(_version_message(self.format_version))
        for what, values in (
            ("sourceId", [d.source_id for d in self.datasets]),
            ("name", [d.name for d in self.datasets]),
        ):
            seen: set[str] = set()
            for v in values:
                if v in seen:
                    raise ValueError(f"two datasets have the {what} {v!r}")
                seen.add(v)
        return self

    @property
    def files(self) -> dict[str, BundleFile]:
        """Every part the manifest names, by its path in the zip."""
        return {f.path: f for d in self.datasets for f in d.files}

    def dataset(self, source_id: str) -> BundleDataset:
        for d in self.datasets:
            if d.source_id == source_id:
                return d
        raise KeyError(source_id)

    def to_json(self) -> bytes:
        """The bytes of ``bundle.json``: camelCase keys, no nulls, UTF-8, indented for people."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _version_message(version: Any) -> str:
    known = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
    return f"formatVersion {version!r} is not one this reader knows (it reads {known})"


def parse_manifest(raw: bytes) -> Manifest:
    """``bundle.json``'s bytes → the manifest; a :class:`BundleError` naming what is wrong.

    The version is checked first, on the raw JSON: a newer format's manifest is refused for its
    version, not for the fields this reader does not know."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(MANIFEST, MANIFEST_NAME, f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BundleError(MANIFEST, MANIFEST_NAME, "not a JSON object")
    version = data.get("formatVersion")
    if version is None:
        raise BundleError(MANIFEST, MANIFEST_NAME, "no formatVersion")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise BundleError(VERSION, MANIFEST_NAME, _version_message(version))
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise BundleError(MANIFEST, MANIFEST_NAME, f"{where}: {first['msg']}") from None
