"""Every size, depth and count batchgate refuses to go beyond, in one place.

Each limit has a name that error messages quote (``… exceeds maxSchemaDepth = 32``), so a user
who hits one knows which. ``docs/api.md`` lists them; ``tests/unit/core/test_limits.py`` checks
that the table there and this module agree. Limits protect the service, not the data: each is
far above what a real dataset needs, and each is answered with a 400 or 413 naming it, never with
a timeout or a 500.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchgate.core.errors import InvalidRequest, PayloadTooLarge


@dataclass(frozen=True)
class Limit:
    name: str
    value: int
    unit: str
    why: str

    def check(self, actual: int, what: str, *, status: int = 400) -> None:
        """Raise a 400 (or 413) naming this limit when ``actual`` exceeds it."""
        if actual > self.value:
            message = f"{what} is {actual:,} {self.unit}, above {self.name} = {self.value:,} {self.unit}"
            if status == 413:
                raise PayloadTooLarge(message, code="BG-413-LIMIT")
            raise InvalidRequest(message, code="BG-400-LIMIT")


# A dataset's whole schema is stored in one DynamoDB item (400 KB at most, with the dataset's
# other fields) and read on every validation.
SCHEMA_BYTES = Limit("maxSchemaBytes", 256 * 1024, "bytes", "the dataset item must fit in DynamoDB")
SCHEMA_DEPTH = Limit("maxSchemaDepth", 32, "levels", "nested objects and arrays; Arrow and Iceberg nest")
SCHEMA_FIELDS = Limit("maxSchemaFields", 2_000, "fields", "columns in all, nested ones included")
ENUM_VALUES = Limit("maxEnumValues", 10_000, "values", "an enum is a set kept in memory per check")
PATTERN_LENGTH = Limit("maxPatternLength", 1_000, "characters", "RE2 compiles each pattern into memory")
# Request bodies that are JSON documents (not file bytes): a dataset, a batch, a file action.
# (A schema nested maxSchemaDepth deep is about twice as deep in JSON: {"fields": [{...}]}.)
JSON_BODY_DEPTH = Limit("maxJsonDepth", 128, "levels", "deeper documents are refused before parsing")
# One record of a file: a line of JSON Lines or CSV, or one object of a multi-line JSON document,
# must fit in one validation block (8 MiB); a longer one is a BG-ROW-TOO-LARGE row error.
RECORD_BYTES = Limit("maxRecordBytes", 8 * 1024 * 1024, "bytes", "memory is bounded by the block size")
BATCH_FILES = Limit("maxFilesPerBatch", 10_000, "files", "one DynamoDB item per file, listed at COMPLETE")
# The rows API's filter= conditions: each becomes part of one Iceberg expression evaluated per file
# and per row; a URL holds a few, not thousands.
FILTERS = Limit("maxFilters", 20, "filters", "filter= conditions of one rows request")
FILTER_VALUES = Limit("maxFilterValues", 1_000, "values", "values of one filter's in (...) list")

ALL: tuple[Limit, ...] = (
    SCHEMA_BYTES,
    SCHEMA_DEPTH,
    SCHEMA_FIELDS,
    ENUM_VALUES,
    PATTERN_LENGTH,
    JSON_BODY_DEPTH,
    RECORD_BYTES,
    BATCH_FILES,
    FILTERS,
    FILTER_VALUES,
)
