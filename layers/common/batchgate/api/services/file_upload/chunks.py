"""AEP's chunked upload: ``?action=INITIALIZE``, ``PATCH`` with ``Content-Range``, ``?action=COMPLETE``.

Chunks are stored as objects of their own (outside ``uploads/``, so no validator sees them) and
joined at COMPLETE with S3 multipart: big slices are copied server-side, small ones are streamed
through a buffer of at most one part. Gaps and overlaps are found at COMPLETE, where every chunk
is known.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from batchgate import faults
from batchgate.api.services.file_upload.common import CHUNKED, MIB, UploadRules, content_type_for
from batchgate.core import keys
from batchgate.core.errors import Conflict, InvalidRequest
from batchgate.core.file_names import check_file_name
from batchgate.core.models import Batch, BatchFile
from batchgate.core.principal import Principal

S3_MIN_PART = 5 * MIB  # every multipart part but the last must be at least this big
S3_MAX_PARTS = 10_000
ASSEMBLY_PART = 8 * MIB  # parts built from small chunks: bounded memory, few requests
# bytes {first}-{last}[/{total}|/*]: AEP's guide sends it without the total.
_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)(?:/(\d+|\*))?\s*$")


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int  # inclusive, as in Content-Range
    total: int | None
    key: str

    @property
    def size(self) -> int:
        return self.end - self.start + 1


def parse_content_range(header: str | None, body_len: int) -> tuple[int, int, int | None]:
    m = _RANGE.match(header or "")
    if not m:
        raise InvalidRequest(
            "PATCH needs 'Content-Range: bytes <first>-<last>' (inclusive offsets), optionally followed by "
            "'/<total>' or '/*'",
            code="BG-400-CONTENT-RANGE",
        )
    start, end = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) in (None, "*") else int(m.group(3))
    if end < start:
        raise InvalidRequest(f"Content-Range {header!r} ends before it starts", code="BG-400-CONTENT-RANGE")
    if end - start + 1 != body_len:
        raise InvalidRequest(
            f"Content-Range {header!r} announces {end - start + 1} bytes but the body has {body_len}",
            code="BG-400-CONTENT-RANGE",
        )
    if total is not None and end >= total:
        raise InvalidRequest(f"Content-Range {header!r} goes past the total", code="BG-400-CONTENT-RANGE")
    return start, end, total


def check_coverage(chunks: list[Chunk]) -> int:
    """The file's size if the chunks cover 0..total-1 exactly once; else InvalidRequest naming
    every gap, overlap and total disagreement."""
    if not chunks:
        raise InvalidRequest("no chunks were uploaded for this file; PATCH them first", code="BG-400-CHUNKS")
    chunks = sorted(chunks, key=lambda c: (c.start, c.end))
    problems: list[str] = []
    expected = 0
    prev: Chunk | None = None
    for c in chunks:
        if c.start > expected:
            problems.append(f"gap: bytes {expected}-{c.start - 1} are missing")
        elif c.start < expected and prev is not None:
            problems.append(
                f"overlap: bytes {c.start}-{min(c.end, expected - 1)} were sent twice "
                f"(chunks {prev.start}-{prev.end} and {c.start}-{c.end})"
            )
        if prev is None or c.end > prev.end:
            prev = c
        expected = max(expected, c.end + 1)
    size = expected
    totals = {c.total for c in chunks if c.total is not None}
    if len(totals) > 1:
        problems.append(f"wrong total: chunks announce different totals {sorted(totals)}")
    elif totals and (total := totals.pop()) != size:
        if total > size:
            problems.append(f"gap: bytes {size}-{total - 1} are missing (total is {total})")
        else:
            problems.append(f"wrong total: chunks cover 0-{size - 1} but announce a total of {total}")
    if problems:
        raise InvalidRequest("chunks do not form the file: " + "; ".join(problems), code="BG-400-CHUNKS")
    return size


def group_into_parts(
    chunks: list[Chunk], min_part: int = S3_MIN_PART, target: int = ASSEMBLY_PART
) -> list[list[tuple[Chunk, int, int]]]:
    """Group (chunk, first, last) byte slices into multipart parts: every part but the last is at
    least ``min_part``. A slice ≥ ``min_part`` that starts a part becomes an UploadPartCopy on its
    own; small slices are concatenated (streamed) into parts of about ``target`` bytes."""
    parts: list[list[tuple[Chunk, int, int]]] = []
    current: list[tuple[Chunk, int, int]] = []
    filled = 0
    for c in sorted(chunks, key=lambda c: c.start):
        offset = 0
        if current and filled < min_part:
            take = min(c.size, target - filled)
            current.append((c, 0, take - 1))
            filled += take
            offset = take
        if current and filled >= min_part:
            parts.append(current)
            current, filled = [], 0
        rest = c.size - offset
        if rest <= 0:
            continue
        if not current and rest >= min_part:
            parts.append([(c, offset, c.size - 1)])
        else:
            current.append((c, offset, c.size - 1))
            filled += rest
            if filled >= target:
                parts.append(current)
                current, filled = [], 0
    if current:
        parts.append(current)
    return parts


def initialize(rules: UploadRules, p: Principal, batch_id: str, dataset_id: str, name: str) -> BatchFile:
    b = rules.open(p, batch_id, dataset_id, name)
    f = BatchFile(batch_id=b.id, name=name, key=rules.key(b, name), status="uploading", upload_id=CHUNKED)
    try:
        rules.store.put_file(p.org, p.sandbox, f, only_if_new=True)
    except Conflict:
        existing = rules.file(p, b, name)
        if (
            existing.upload_id == CHUNKED
            and existing.status == "uploading"
            and not rules.objects.exists(existing.key)
        ):
            return existing  # INITIALIZE repeated: same state, same answer
        raise Conflict(
            f"a file named {name!r} is already in batch {b.id}", code="BG-409-FILE-EXISTS"
        ) from None
    return f


def _chunked_file(
    rules: UploadRules, p: Principal, batch_id: str, dataset_id: str, name: str
) -> tuple[Batch, BatchFile]:
    b = rules.open(p, batch_id, dataset_id, name)
    f = rules.file(p, b, name)
    if f.upload_id != CHUNKED:
        raise Conflict(
            f"file {name!r} was not started with ?action=INITIALIZE; chunks apply to it only then",
            code="BG-409-NOT-CHUNKED",
        )
    return b, f


def patch(
    rules: UploadRules,
    p: Principal,
    batch_id: str,
    dataset_id: str,
    name: str,
    content_range: str | None,
    body: bytes,
) -> Chunk:
    check_file_name(name)
    rules.check_size(len(body), "a chunk")
    start, end, total = parse_content_range(content_range, len(body))
    b, f = _chunked_file(rules, p, batch_id, dataset_id, name)
    if f.status != "uploading" or rules.objects.exists(f.key):
        raise Conflict(f"file {name!r} is already complete", code="BG-409-FILE-COMPLETE")
    key = keys.chunk_key(keys.chunk_prefix(b.org, b.sandbox, b.id, name), start, end, total)
    # The same range sent again overwrites its chunk (a retry); a different range that
    # overlaps is caught at COMPLETE, where all chunks are known.
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    rules.objects.put_bytes(key, body, content_md5=md5)
    return Chunk(start, end, total, key)


def _chunks(rules: UploadRules, b: Batch, name: str) -> Iterator[Chunk]:
    prefix = keys.chunk_prefix(b.org, b.sandbox, b.id, name)
    for key in rules.objects.keys_under(prefix):
        parsed = keys.parse_chunk_key(prefix, key)
        if parsed is not None:
            yield Chunk(*parsed, key)


def complete(rules: UploadRules, p: Principal, b: Batch, f: BatchFile) -> BatchFile:
    """``?action=COMPLETE`` of a chunked file: check coverage, assemble, remove the chunks."""
    chunks = list(_chunks(rules, b, f.name))
    if f.status != "uploading" or rules.objects.exists(f.key):
        _delete_chunks(rules, chunks)  # a repeated COMPLETE after a crash: finish the cleanup
        return f
    size = check_coverage(chunks)
    # The item learns its size before the object exists; afterwards it is the validators'.
    sized = f.model_copy(update={"size": size})
    if not rules.store.size_unlanded_upload(p.org, p.sandbox, sized):
        raise Conflict(f"file {f.name!r} changed while completing; retry", code="BG-409-FILE-CHANGED")
    rules.recheck(p, b)
    _assemble(rules, f.key, chunks, content_type_for(f.name))
    _delete_chunks(rules, chunks)
    return sized


def _assemble(rules: UploadRules, key: str, chunks: list[Chunk], content_type: str) -> None:
    """Join the chunks into ``key`` with S3 multipart (never the whole file in memory)."""
    objects = rules.objects
    parts = group_into_parts(chunks)
    if len(parts) > S3_MAX_PARTS:
        raise InvalidRequest("too many parts; use larger chunks", code="BG-400-CHUNKS")
    upload_id = objects.start_multipart(key, content_type=content_type)
    try:
        done = []
        for number, slices in enumerate(parts, start=1):
            if len(slices) == 1 and slices[0][2] - slices[0][1] + 1 >= S3_MIN_PART:
                c, first, last = slices[0]
                etag = objects.copy_part(key, upload_id, number, c.key, first, last)
            else:
                buf = bytearray()
                for c, first, last in slices:
                    for block in objects.iter_range(c.key, first, last, 1 * MIB):
                        buf += block
                etag = objects.upload_part(key, upload_id, number, bytes(buf))
            done.append((number, etag))
            faults.inject("assemble")
        objects.complete_multipart(key, upload_id, done)
    except BaseException:
        objects.abort_multipart_quietly(key, upload_id)
        raise


def _delete_chunks(rules: UploadRules, chunks: list[Chunk]) -> None:
    rules.objects.delete_keys([c.key for c in chunks])
