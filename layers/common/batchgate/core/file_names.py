"""What a file may be called, and what its name says about its format.

A file name becomes part of an S3 key (``uploads/…/{batchId}/{name}``), so it must not be able
to escape its prefix or confuse a reader.
"""

from __future__ import annotations

import re
import unicodedata

from batchgate.core.errors import InvalidRequest
from batchgate.core.models import Format

MAX_FILE_NAME = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SUFFIX_FORMATS: dict[str, Format] = {
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}


def check_file_name(name: str) -> str:
    """Refuse names that could escape their prefix or confuse a reader: the name is a key part."""
    if not name or len(name) > MAX_FILE_NAME:
        raise InvalidRequest(f"file name must be 1..{MAX_FILE_NAME} characters", code="BG-400-FILE-NAME")
    if _CONTROL.search(name):
        raise InvalidRequest("file name contains control characters", code="BG-400-FILE-NAME")
    if name.startswith("/") or "\\" in name:
        raise InvalidRequest("file name must be relative and use '/' only", code="BG-400-FILE-NAME")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidRequest(
            "file name must not contain '.', '..' or empty path segments", code="BG-400-FILE-NAME"
        )
    if unicodedata.normalize("NFC", name) != name:
        raise InvalidRequest("file name must be NFC-normalised Unicode", code="BG-400-FILE-NAME")
    return name


def format_for_name(name: str) -> tuple[Format | None, str | None]:
    """(format, compression) from a file name's suffix: ``x.csv.gz`` → (csv, gzip)."""
    lower = name.lower()
    compression = None
    if lower.endswith(".gz"):
        compression = "gzip"
        lower = lower[:-3]
    for suffix, fmt in SUFFIX_FORMATS.items():
        if lower.endswith(suffix):
            return fmt, compression
    return None, compression
