"""The on-disk S3 object store: one commit record per key pointing at a blob, and its sweep.

Layout under ``data_dir/s3``: ``{bucket}/bucket.json``, ``{bucket}/objects/{enc}.json`` (the
commit record of one key), ``{bucket}/blobs/{uuid}`` (the bytes a record points at) and
``{bucket}/tmp/`` (files being written). An object is committed by atomically replacing its
record; see the package docstring.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

_COPY_CHUNK = 4 * 1024 * 1024
_KERNEL_CHUNK = 64 * 1024 * 1024
_LOCK_STRIPES = 64
# Object headers moto keeps in FakeKey.metadata, as put_object arguments.
_S3_HEADER_ARGS = {
    "content-type": "ContentType",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
    "content-disposition": "ContentDisposition",
    "cache-control": "CacheControl",
    "expires": "Expires",
}


def _encode_name(key: str) -> str:
    """A file name for an S3 key: percent-encoded, never hidden, never longer than 200 bytes.

    quote() never emits "%%", so the hashed form of long keys cannot collide with a short one;
    the record holds the real key either way.
    """
    name = quote(key, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if not name or len(name) > 200:
        name = "%%" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return name


class KeyChanged(Exception):
    """The key was replaced or disposed while its bytes were copied: copy the new current one."""


def _copy_key_bytes(key: Any, out: IO[bytes]) -> int:
    """Copy a moto FakeKey's bytes to ``out`` with memory bounded by max(5 MB, one chunk).

    Never uses ``key.value`` (a full copy) and never moves the shared buffer's file position
    without ``key.lock`` (moto's own readers seek it): a rolled-over buffer is read with
    ``os.pread`` at explicit offsets, an in-memory one (at most moto's 5 MB spool size) with
    ``getvalue()``.
    """
    buffer = key._value_buffer
    inner = getattr(buffer, "_file", None)
    size = int(key.size)
    if getattr(buffer, "_rolled", False) and inner is not None and hasattr(os, "pread"):
        try:
            fd = inner.fileno()
            offset = _copy_in_kernel(fd, out, size)
            while offset < size:
                chunk = os.pread(fd, min(_COPY_CHUNK, size - offset), offset)
                if not chunk:
                    break
                out.write(chunk)
                offset += len(chunk)
        except (OSError, ValueError) as exc:  # closed by a concurrent overwrite
            raise KeyChanged from exc
        if offset != size:
            raise KeyChanged
        return size
    if isinstance(inner, io.BytesIO):
        try:
            data = inner.getvalue()
        except ValueError as exc:
            raise KeyChanged from exc
        out.write(data)
        return len(data)
    # Unknown buffer shape (another moto version): the slow, locked path.
    copied = 0
    with key.lock:
        buffer.seek(0)
        while chunk := buffer.read(_COPY_CHUNK):
            out.write(chunk)
            copied += len(chunk)
    return copied


def _copy_in_kernel(fd: int, out: IO[bytes], size: int) -> int:
    """Copy ``fd``'s first ``size`` bytes to ``out`` without passing them through Python
    (``copy_file_range``: a dropped GiB is not read into and written out of this process);
    how many were copied, 0 where the kernel or ``out`` cannot (the caller copies the rest)."""
    if not hasattr(os, "copy_file_range"):
        return 0
    try:
        out.flush()
        out_fd = out.fileno()
        start = out.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return 0
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(fd, out_fd, min(_KERNEL_CHUNK, size - copied), copied, start + copied)
            if n == 0:
                break
            copied += n
    except OSError as exc:
        if exc.errno == errno.EBADF:  # the key's buffer was closed by a concurrent overwrite
            raise
        # EXDEV, EINVAL, ENOSYS: not between these files; the caller copies what is left
    out.seek(start + copied)
    return copied


class ObjectStore:
    """The mirrored S3 objects under ``root`` (``data_dir/s3``), one directory per bucket."""

    def __init__(self, root: Path, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def lock_for(self, bucket: str, key: str) -> threading.Lock:
        digest = hashlib.blake2b(f"{bucket}\0{key}".encode("utf-8", "surrogatepass"), digest_size=4).digest()
        return self._locks[int.from_bytes(digest, "big") % _LOCK_STRIPES]

    def bucket_dir(self, bucket: str) -> Path:
        return self.root / quote(bucket, safe="")

    def _ensure_dirs(self, bucket: str) -> Path:
        directory = self.bucket_dir(bucket)
        for sub in ("objects", "blobs", "tmp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        return directory

    def _sync_file(self, handle: IO[bytes]) -> None:
        handle.flush()
        if self.fsync:
            os.fsync(handle.fileno())

    def _sync_dir(self, directory: Path) -> None:
        if self.fsync and hasattr(os, "O_DIRECTORY"):
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def write_json(self, directory: Path, target: Path, payload: Mapping[str, Any]) -> None:
        """Atomically replace ``target`` with ``payload`` (written in ``directory``/tmp first)."""
        tmp = directory / "tmp" / f"{uuid.uuid4().hex}.json"
        with open(tmp, "wb") as handle:
            handle.write(json.dumps(payload, sort_keys=True).encode())
            self._sync_file(handle)
        os.replace(tmp, target)
        self._sync_dir(target.parent)

    def put_bucket(self, bucket: str, region: str) -> None:
        directory = self._ensure_dirs(bucket)
        target = directory / "bucket.json"
        if not target.exists():
            self.write_json(directory, target, {"name": bucket, "region": region})

    def drop_bucket(self, bucket: str) -> None:
        directory = self.bucket_dir(bucket)
        if directory.exists():
            # Rename first so a crash mid-rmtree cannot leave a half-deleted bucket that restores.
            doomed = self.root / f".deleted-{uuid.uuid4().hex}"
            os.replace(directory, doomed)
            self._sync_dir(self.root)
            shutil.rmtree(doomed, ignore_errors=True)

    def _record_path(self, bucket: str, key: str) -> Path:
        return self.bucket_dir(bucket) / "objects" / f"{_encode_name(key)}.json"

    def _read_record(self, path: Path) -> dict[str, Any] | None:
        try:
            with open(path, "rb") as handle:
                record: dict[str, Any] = json.load(handle)
                return record
        except FileNotFoundError:
            return None

    def put_object(self, bucket: str, region: str, fake_key: Any, still_current: Callable[[], bool]) -> None:
        """Commit ``fake_key``'s bytes and headers as the current object (caller holds the key lock).

        ``still_current`` is asked after the bytes are written and before the commit: if the key
        was replaced or disposed meanwhile, its buffer may have been closed (or its descriptor
        reused) mid-copy, so nothing is committed and ``KeyChanged`` is raised.
        """
        directory = self._ensure_dirs(bucket)
        if not (directory / "bucket.json").exists():
            self.write_json(directory, directory / "bucket.json", {"name": bucket, "region": region})
        blob_name = uuid.uuid4().hex
        blob = directory / "blobs" / blob_name
        try:
            with open(blob, "wb") as handle:
                try:
                    size = _copy_key_bytes(fake_key, handle)
                    record = {
                        "key": fake_key.name,
                        "blob": blob_name,
                        "size": size,
                        "etag": fake_key.etag.strip('"'),  # may read the buffer if moto has not yet
                        "last_modified": fake_key.last_modified.isoformat(),
                        "headers": {str(k): str(v) for k, v in fake_key.metadata.items()},
                    }
                except ValueError as exc:  # "I/O operation on closed file": disposed under us
                    raise KeyChanged from exc
                self._sync_file(handle)
            if not still_current():
                raise KeyChanged
            target = self._record_path(bucket, fake_key.name)
            previous = self._read_record(target)
            self.write_json(directory, target, record)
        except BaseException:
            blob.unlink(missing_ok=True)
            raise
        if previous is not None and previous.get("blob") != blob_name:
            (directory / "blobs" / str(previous["blob"])).unlink(missing_ok=True)

    def delete_object(self, bucket: str, key: str) -> None:
        target = self._record_path(bucket, key)
        previous = self._read_record(target)
        if previous is None:
            return
        target.unlink(missing_ok=True)  # the commit point of a delete
        self._sync_dir(target.parent)
        (self.bucket_dir(bucket) / "blobs" / str(previous["blob"])).unlink(missing_ok=True)

    def buckets(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        if not self.root.exists():
            return
        for directory in sorted(self.root.iterdir()):
            meta = directory / "bucket.json"
            if directory.is_dir() and meta.exists():
                yield directory, json.loads(meta.read_bytes())

    def records(self, directory: Path) -> Iterator[dict[str, Any]]:
        objects = directory / "objects"
        if not objects.exists():
            return
        for path in sorted(objects.iterdir()):
            record = self._read_record(path)
            if record is not None:
                yield record

    def sweep(self) -> int:
        """Delete temp files and blobs no record points at (left by a crash). Run with no writers."""
        removed = 0
        if not self.root.exists():
            return 0
        for doomed in self.root.glob(".deleted-*"):
            shutil.rmtree(doomed, ignore_errors=True)
        for directory, _ in self.buckets():
            for tmp in (directory / "tmp").glob("*"):
                tmp.unlink(missing_ok=True)
                removed += 1
            live = {str(r["blob"]) for r in self.records(directory)}
            blobs = directory / "blobs"
            for blob in blobs.iterdir() if blobs.exists() else ():
                if blob.name not in live:
                    blob.unlink(missing_ok=True)
                    removed += 1
        return removed


def put_args(record: Mapping[str, Any]) -> dict[str, Any]:
    """upload_file ExtraArgs reproducing the stored object's headers and user metadata."""
    args: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for name, value in record.get("headers", {}).items():
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            metadata[name[len("x-amz-meta-") :]] = value
        elif lower == "expires":
            with contextlib.suppress(TypeError, ValueError):
                args["Expires"] = parsedate_to_datetime(value)
        elif lower in _S3_HEADER_ARGS:
            args[_S3_HEADER_ARGS[lower]] = value
    if metadata:
        args["Metadata"] = metadata
    return args
