"""Verifying a ``.bgbundle`` whole, streamed, before anything of it is used.

:func:`verify` checks, in this order, and raises the first failure as a :class:`BundleError`
(an ``InvalidRequest``, 400) whose code says what kind and whose message names the entry:

1. the zip: its central directory reads, no entry name twice            ``BG-400-BUNDLE-CORRUPT``
2. ``bundle.json``: present, its CRC-32, JSON, the manifest's shape     ``BG-400-BUNDLE-MANIFEST``
   and a ``formatVersion`` this reader knows                             ``BG-400-BUNDLE-VERSION``
3. the entries: every file the manifest names is in the zip, and the
   zip holds nothing else                                                ``BG-400-BUNDLE-ENTRY``
4. each part, read through once in blocks: stored, its byte count and
   sha256 equal to the manifest's                                        ``BG-400-BUNDLE-CHECKSUM``
   and its CRC-32 equal to the zip's                                     ``BG-400-BUNDLE-CORRUPT``
5. each part as Parquet: its Arrow schema equal to the one the dataset's
   schema maps to (``core.schema.arrow_schema(schema, lineage=False)``: a
   part holds the dataset's columns, no lineage columns)                 ``BG-400-BUNDLE-SCHEMA``
   its footer's row count equal to the manifest's, and every row group
   decoded with the rows its footer counts                               ``BG-400-BUNDLE-ROWS``
   (a part pyarrow cannot read                                           ``BG-400-BUNDLE-CORRUPT``)

Memory: one block (1 MiB) while hashing, one row group while decoding; the bundle is never held.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from typing import IO, Any

import pyarrow as pa

from batchgate.bundles.errors import CHECKSUM, CORRUPT, ENTRY, ROWS, SCHEMA, BundleError
from batchgate.bundles.manifest import MANIFEST_NAME, BundleFile, Manifest
from batchgate.bundles.reader import BundleReader
from batchgate.core.schema import arrow_schema

BLOCK = 8 << 20


def verify(source: str | os.PathLike[str] | IO[bytes] | Any) -> Manifest:
    """Verify the bundle in ``source`` (a path or a seekable binary file-like) and return its
    manifest; raise a :class:`BundleError` for the first thing wrong with it."""
    with BundleReader(source) as reader:
        return verify_open(reader)


def verify_open(reader: BundleReader) -> Manifest:
    """:func:`verify` over a bundle already open (its manifest parsed: steps 1 and 2 are done)."""
    manifest = reader.manifest
    entries = {}
    for info in reader.entries():
        if info.filename in entries:
            raise BundleError(CORRUPT, info.filename, "the zip holds two entries of this name")
        entries[info.filename] = info
    named = manifest.files
    for path in named:
        if path not in entries:
            raise BundleError(ENTRY, path, "named by bundle.json but missing from the bundle")
    for name in entries:
        if name != MANIFEST_NAME and name not in named:
            raise BundleError(ENTRY, name, "in the bundle but not named by bundle.json")
    for ds in manifest.datasets:
        want = arrow_schema(ds.schema_, lineage=False)
        for part in ds.files:
            _check_bytes(reader, part, entries[part.path])
            _check_parquet(reader, part, want)
    return manifest


def _check_bytes(reader: BundleReader, part: BundleFile, info: Any) -> None:
    if info.file_size != part.bytes:
        raise BundleError(CHECKSUM, part.path, f"holds {info.file_size} bytes, bundle.json says {part.bytes}")
    window = reader.window(info)
    sha, crc, count = hashlib.sha256(), 0, 0
    while block := window.read(BLOCK):
        sha.update(block)
        crc = zlib.crc32(block, crc)
        count += len(block)
    if sha.hexdigest() != part.sha256:
        raise BundleError(CHECKSUM, part.path, f"sha256 is {sha.hexdigest()}, bundle.json says {part.sha256}")
    if crc != info.CRC:
        raise BundleError(CORRUPT, part.path, "its CRC-32 differs from the zip's central directory")


def _check_parquet(reader: BundleReader, part: BundleFile, want: pa.Schema) -> None:
    try:
        pf = reader.parquet(part.path)
        got = pf.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise BundleError(CORRUPT, part.path, f"not a readable Parquet file ({exc})") from None
    if not got.equals(want, check_metadata=False):
        raise BundleError(SCHEMA, part.path, schema_difference(got, want))
    if pf.metadata.num_rows != part.rows:
        raise BundleError(ROWS, part.path, f"holds {pf.metadata.num_rows} rows, bundle.json says {part.rows}")
    for i in range(pf.num_row_groups):
        try:
            decoded = pf.read_row_group(i, use_threads=False).num_rows
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise BundleError(CORRUPT, part.path, f"row group {i} is unreadable ({exc})") from None
        counted = pf.metadata.row_group(i).num_rows
        if decoded != counted:
            raise BundleError(ROWS, part.path, f"row group {i} decodes {decoded} rows of {counted}")


def schema_difference(got: pa.Schema, want: pa.Schema) -> str:
    """The first difference between a part's columns and its dataset's, in words."""
    for i, field in enumerate(want):
        if i >= len(got):
            return f"has no column {field.name} (the dataset's schema has it)"
        other = got.field(i)
        if other.name != field.name:
            return f"column {i + 1} is {other.name}, the dataset's schema says {field.name}"
        if not other.type.equals(field.type):
            return f"column {field.name} is {other.type}, the dataset's schema says {field.type}"
        if other.nullable != field.nullable:
            return f"column {field.name} nullability differs from the dataset's schema"
    if len(got) > len(want):
        return f"has column {got.field(len(want)).name}, which the dataset's schema does not"
    return "its schema differs from the dataset's"
