"""Reading back what a batch received and rejected: its uploaded files, its failed-records files,
and downloads of either (byte ranges, or a presigned redirect above the inline limit).

A ``dataSetFileId`` names (batch, kind, file name), never an S3 key: a download is resolved
through the caller's own batch and file items, so another tenant's or an arbitrary object is
unreachable.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.core.errors import BatchgateError, Conflict, NotFound
from batchgate.core.models import Batch, BatchFile
from batchgate.core.principal import Principal

FILE_KINDS = ("upload", "failed")
PRESIGNED_DOWNLOAD_SECONDS = 900


def encode_file_id(batch_id: str, kind: str, name: str, part: int = 0) -> str:
    """An opaque download id. ``part`` tells apart the failed-records files of a file that was
    validated in parts (one report per part); it is left out when 0."""
    fields: list[Any] = [batch_id, kind, name] + ([part] if part else [])
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_file_id(file_id: str) -> tuple[str, str, str, int]:
    try:
        raw = base64.urlsafe_b64decode(file_id + "=" * (-len(file_id) % 4))
        fields = json.loads(raw)
        batch_id, kind, name = fields[:3]
        part = fields[3] if len(fields) == 4 else 0
        if len(fields) not in (3, 4) or kind not in FILE_KINDS or not isinstance(part, int) or part < 0:
            raise ValueError(kind)
        if not isinstance(batch_id, str) or not isinstance(name, str):
            raise ValueError(kind)
    except (ValueError, TypeError, IndexError, binascii.Error) as exc:
        raise NotFound(f"file {file_id!r} not found", code="BG-404-FILE") from exc
    return batch_id, kind, name, part


@dataclass(frozen=True)
class ExportFile:
    file_id: str
    batch_id: str
    dataset_id: str
    name: str
    key: str
    size: int | None
    is_valid: bool
    created: int
    updated: int


@dataclass
class Download:
    """A file or byte range to send inline, or a presigned URL to redirect to."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    redirect: str | None = None


class RangeNotSatisfiable(BatchgateError):
    code = "BG-416-RANGE"
    status = 416

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.headers = {"Content-Range": f"bytes */{size}"}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` / ``a-`` / ``-n`` range as inclusive (start, end); None for the whole file.
    Multiple ranges are refused rather than answered with a multipart body."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeNotSatisfiable(f"unsupported Range {header!r}; send one 'bytes=start-end' range", size)
    first, last = m.group(1), m.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            raise RangeNotSatisfiable(f"Range {header!r} ends before it starts", size)
    else:
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable("a suffix range of 0 bytes selects nothing", size)
        start, end = max(size - n, 0), size - 1
    if start >= size:
        raise RangeNotSatisfiable(f"Range {header!r} starts beyond the file's {size} bytes", size)
    return start, end


class Downloads:
    def __init__(self, store: Store, objects: Objects) -> None:
        self.store = store
        self.objects = objects

    def files(self, p: Principal, batch_id: str, *, failed: bool) -> list[ExportFile]:
        b = self.store.get_batch(p.org, p.sandbox, batch_id)
        if failed and not b.enable_error_diagnostics:
            # The failed records are still written (they prove input = output + failed) but,
            # as in AEP, they are only handed out when the batch asked for diagnostics.
            raise Conflict(
                f"batch {b.id} was created with enableErrorDiagnostics: false, so its failed rows "
                "are not available; create the batch with enableErrorDiagnostics: true to download them",
                code="BG-409-DIAGNOSTICS-OFF",
            )
        out = []
        for f in sorted(self.store.list_files(p.org, p.sandbox, b.id), key=lambda f: f.name):
            if not failed:
                out.append(_export_file(b, f, "upload"))
                continue
            for part, _ in enumerate(_failed_keys(f)):
                out.append(_export_file(b, f, "failed", part))
        return out

    def download(self, p: Principal, file_id: str, range_header: str | None, *, inline_max: int) -> Download:
        batch_id, kind, name, part = decode_file_id(file_id)
        b = self.store.get_batch(p.org, p.sandbox, batch_id)
        f = self.store.get_file(p.org, p.sandbox, b.id, name)
        key = None
        if f is not None and kind == "upload":
            key = f.key
        elif f is not None and part < len(_failed_keys(f)):
            key = _failed_keys(f)[part]
        if key is None:
            raise NotFound(f"file {file_id!r} not found", code="BG-404-FILE")
        head = self.objects.head(key)
        if head is None:
            raise NotFound(f"file {file_id!r} has no data (yet)", code="BG-404-FILE")
        size = int(head["ContentLength"])
        rng = parse_range(range_header, size) if size else None
        length = size if rng is None else rng[1] - rng[0] + 1
        if length > inline_max:
            # Lambda answers at most 6 MB (base64 costs a third): send the client to S3 itself.
            # HTTP clients repeat the Range header on the redirected request.
            url = self.objects.presign_get(key, PRESIGNED_DOWNLOAD_SECONDS)
            return Download(status=307, redirect=url, headers={"Location": url})
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'attachment; filename="{_disposition(name)}"',
        }
        if rng is None:
            return Download(status=200, body=self.objects.get_bytes(key), headers=headers)
        headers["Content-Range"] = f"bytes {rng[0]}-{rng[1]}/{size}"
        return Download(
            status=206, body=self.objects.get_bytes(key, first=rng[0], last=rng[1]), headers=headers
        )


def _export_file(b: Batch, f: BatchFile, kind: str, part: int = 0) -> ExportFile:
    valid = f.file_error is None and f.status != "failed" and kind == "upload"
    return ExportFile(
        file_id=encode_file_id(b.id, kind, f.name, part),
        batch_id=b.id,
        dataset_id=b.dataset_id,
        name=f.name,
        key=f.key if kind == "upload" else _failed_keys(f)[part],
        size=f.size if kind == "upload" else None,
        is_valid=valid,
        created=b.created,
        updated=f.validated_at or b.updated,
    )


def _failed_keys(f: BatchFile) -> list[str]:
    """A file's failed-records reports: one per part when it was validated in parts."""
    return f.failed_keys or ([f.failed_key] if f.failed_key else [])


def _disposition(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", base)
