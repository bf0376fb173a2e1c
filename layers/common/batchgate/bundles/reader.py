"""Reading a ``.bgbundle`` without holding it: the zip's central directory, ``bundle.json``, and
each Parquet part as a window onto the source (parts are stored, not deflated, so a part's bytes
are a contiguous range of the file and pyarrow reads them in place, footer first).

The source is any seekable binary file-like object: a local file, ``io.BytesIO``, or a pyarrow
random-access file (``S3FileSystem.open_input_file``), whose reads become ranged GETs.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from batchgate.bundles.errors import CORRUPT, MANIFEST, BundleError
from batchgate.bundles.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, parse_manifest

_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30


class EntryWindow(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes of ``fp`` from ``start``: one stored entry.
    Every read seeks first, so it can share ``fp`` with the zip reader."""

    def __init__(self, fp: Any, start: int, size: int, name: str) -> None:
        super().__init__()
        self._fp, self._start, self._size, self._pos, self.name = fp, start, size, 0, name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    @property
    def start(self) -> int:
        return self._start

    def size(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._size - self._pos
        n = left if size is None or size < 0 else min(size, left)
        if n <= 0:
            return b""
        self._fp.seek(self._start + self._pos)
        data = bytes(self._fp.read(n))
        if len(data) != n:
            raise BundleError(CORRUPT, self.name, "the file ends inside this entry (truncated)")
        self._pos += n
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class BundleReader:
    """An open bundle: its entries and its manifest (parsed and version-checked, not yet verified:
    :func:`batchgate.bundles.verify.verify` does that). Use as a context manager."""

    def __init__(self, source: str | os.PathLike[str] | IO[bytes] | Any) -> None:
        self._owned: IO[bytes] | None = None
        if isinstance(source, str | os.PathLike):
            source = self._owned = open(source, "rb")  # noqa: SIM115 (closed by close())
        self.fp = source
        try:
            self.zip = zipfile.ZipFile(source, mode="r")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
            self.close()
            raise BundleError(
                CORRUPT, "", f"not a readable zip: its central directory is missing or damaged ({exc})"
            ) from None
        try:
            self.manifest: Manifest = self._read_manifest()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "zip", None) is not None:
            self.zip.close()
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def entries(self) -> list[zipfile.ZipInfo]:
        return self.zip.infolist()

    def _read_manifest(self) -> Manifest:
        try:
            info = self.zip.getinfo(MANIFEST_NAME)
        except KeyError:
            raise BundleError(MANIFEST, MANIFEST_NAME, "missing: the bundle holds no manifest") from None
        if info.file_size > MAX_MANIFEST_BYTES:
            raise BundleError(
                MANIFEST, MANIFEST_NAME, f"{info.file_size} bytes, more than {MAX_MANIFEST_BYTES} allowed"
            )
        try:
            with self.zip.open(info) as f:  # zipfile checks the CRC-32 at the end
                raw = f.read(MAX_MANIFEST_BYTES + 1)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise BundleError(CORRUPT, MANIFEST_NAME, f"unreadable ({exc})") from None
        return parse_manifest(raw)

    def window(self, info: zipfile.ZipInfo) -> EntryWindow:
        """The bytes of a stored entry, in place (its local header is read to find where they start)."""
        name = info.filename
        if info.compress_type != zipfile.ZIP_STORED:
            raise BundleError(CORRUPT, name, f"compressed (method {info.compress_type}); parts are stored")
        self.fp.seek(info.header_offset)
        header = bytes(self.fp.read(_LOCAL_HEADER_SIZE))
        if len(header) != _LOCAL_HEADER_SIZE or header[:4] != _LOCAL_HEADER:
            raise BundleError(CORRUPT, name, "its local header is missing or damaged")
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        local_name = bytes(self.fp.read(name_len))
        if local_name not in (name.encode("utf-8"), name.encode("cp437", "replace")):
            raise BundleError(CORRUPT, name, "its local header names another entry")
        start = info.header_offset + _LOCAL_HEADER_SIZE + name_len + extra_len
        return EntryWindow(self.fp, start, info.compress_size, name)

    def span(self, path: str) -> tuple[int, int]:
        """Where a stored entry's bytes are in the file: (offset of the first byte, byte count).
        An import copies a part server-side as this byte range of the bundle."""
        try:
            info = self.zip.getinfo(path)
        except KeyError:
            raise BundleError(CORRUPT, path, "not in the bundle") from None
        window = self.window(info)
        return window.start, window.size()

    def parquet(self, path: str) -> pq.ParquetFile:
        """A part as a ParquetFile read in place (no copy of the part)."""
        try:
            info = self.zip.getinfo(path)
        except KeyError:
            raise BundleError(CORRUPT, path, "not in the bundle") from None
        return pq.ParquetFile(self.window(info))

    def iter_batches(self, source_id: str, *, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """A dataset's rows, part after part, ``batch_size`` rows at a time."""
        for f in self.manifest.dataset(source_id).files:
            yield from self.parquet(f.path).iter_batches(batch_size=batch_size, use_threads=False)
