"""The errors a bundle can be refused with: each an ``InvalidRequest`` (400) with its own code and
a message that names the entry at fault (``bundle.json``, ``data/{sourceId}/part-NNNNN.parquet``)."""

from __future__ import annotations

from batchgate.core.errors import InvalidRequest

CORRUPT = "BG-400-BUNDLE-CORRUPT"  # not a zip, truncated, a bad CRC, an unreadable Parquet part
MANIFEST = "BG-400-BUNDLE-MANIFEST"  # bundle.json missing, not JSON, or not the manifest's shape
VERSION = "BG-400-BUNDLE-VERSION"  # a formatVersion this reader does not know
ENTRY = "BG-400-BUNDLE-ENTRY"  # a file the manifest names is missing, or an entry it does not name
CHECKSUM = "BG-400-BUNDLE-CHECKSUM"  # a part's sha256 or byte count differs from the manifest's
SCHEMA = "BG-400-BUNDLE-SCHEMA"  # a part's columns differ from its dataset's schema
ROWS = "BG-400-BUNDLE-ROWS"  # row counts differ between a part, its manifest entry, its dataset


class BundleError(InvalidRequest):
    """A bundle that cannot be used. ``entry`` is the zip entry at fault ("" for the whole file)."""

    code = CORRUPT

    def __init__(self, code: str, entry: str, message: str) -> None:
        super().__init__(f"{entry}: {message}" if entry else message, code=code)
        self.entry = entry
