"""Byte sources: a file (or a byte range of it) as a stream of UTF-8 bytes, cut into blocks.

* Reads go through few large requests: many small ranged GETs are what makes S3 (and moto) slow.
  An S3 object is read in 16 MiB ranges through boto3, two in flight (:func:`read_ahead`); a
  local file with ``open_input_stream(path, buffer_size=16 MiB)`` for a whole file,
  ``open_input_file`` + large ``read`` calls for a byte range.
* ``gzip`` is decompressed in bounded steps (``zlib`` with ``max_length``), so a gzip bomb cannot
  blow memory; concatenated gzip members are read through.
* A charset other than UTF-8 is transcoded to UTF-8 incrementally; bytes the charset cannot decode
  stop the file (``BG-FILE-ENCODING``). Invalid UTF-8 in a UTF-8 file is left to the row level.
* :func:`iter_blocks` cuts the stream into blocks ending on record boundaries (a newline outside
  quotes for CSV), each with the 1-based physical line number of its first line. A record longer
  than ``block_size`` is reported as :class:`Oversize` (its first KiB kept) and skipped up to the
  next newline: memory stays within about twice ``block_size`` whatever the file holds.
"""

from __future__ import annotations

import codecs
import contextlib
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow.fs as pafs

from batchgate.aws.s3_ranges import ranged_reader
from batchgate.validation import codes
from batchgate.validation.codes import FileError

RAW_KEEP = 1024  # bytes of an unparseable record kept in its error report
STREAM_BUFFER = 16 << 20
UTF8_BOM = b"\xef\xbb\xbf"


class ByteSource(Protocol):
    def read(self, n: int) -> bytes: ...


class _Limited:
    """At most ``remaining`` bytes of a seekable file from its current position."""

    def __init__(self, f: ByteSource, remaining: int) -> None:
        self._f = f
        self._remaining = remaining

    def read(self, n: int) -> bytes:
        if self._remaining <= 0:
            return b""
        data = self._f.read(min(n, self._remaining))
        self._remaining -= len(data)
        return bytes(data)


class _Gunzip:
    """Streaming gzip decompression, bounded output per call, multi-member aware."""

    def __init__(self, src: ByteSource, chunk: int) -> None:
        self._src = src
        self._chunk = chunk
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""  # compressed bytes not yet fed
        self._eof = False
        self._started = False

    def read(self, n: int) -> bytes:
        while True:
            if self._d.unconsumed_tail:
                data_in = self._d.unconsumed_tail
            elif self._pending:
                data_in, self._pending = self._pending, b""
            else:
                if self._eof:
                    return b""
                data_in = self._src.read(self._chunk)
                if not data_in:
                    self._eof = True
                    if self._started and not self._d.eof:
                        raise FileError(codes.FILE_COMPRESSION, "gzip stream is truncated")
                    return b""
            self._started = True
            try:
                out = self._d.decompress(data_in, n)
            except zlib.error as exc:
                raise FileError(codes.FILE_COMPRESSION, f"invalid gzip data: {exc}") from exc
            if self._d.eof and self._d.unused_data:
                # Another gzip member follows (``cat a.gz b.gz``); trailing zero padding is not one.
                rest = self._d.unused_data
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._pending = rest if rest.strip(b"\x00") else b""
                self._started = bool(self._pending)
            if out:
                return out


class _Transcode:
    """Incremental ``charset`` → UTF-8."""

    def __init__(self, src: ByteSource, charset: str) -> None:
        self._src = src
        self._charset = charset
        self._dec = codecs.getincrementaldecoder(charset)(errors="strict")
        self._done = False

    def read(self, n: int) -> bytes:
        while not self._done:
            data = self._src.read(n)
            try:
                text = self._dec.decode(data, final=not data)
            except UnicodeError as exc:
                raise FileError(
                    codes.FILE_ENCODING, f"bytes not valid in charset {self._charset}: {exc}"
                ) from exc
            if not data:
                self._done = True
            if text:
                return text.encode("utf-8")
        return b""


def is_utf8(charset: str) -> bool:
    """True when no transcoding is needed (UTF-8, or ASCII which UTF-8 extends)."""
    name = codecs.lookup(charset).name
    return name in ("utf-8", "utf-8-sig", "ascii")


def is_ascii_compatible(charset: str) -> bool:
    """True when a newline byte is a newline whatever surrounds it (so byte ranges can split)."""
    name = codecs.lookup(charset).name
    return not name.startswith(("utf-16", "utf-32", "utf_16", "utf_32"))


def read_ahead(
    fs: pafs.FileSystem,
    path: str,
    end: int,
    *,
    start: int = 0,
    chunk: int = 16 << 20,
    in_flight: int = 2,
) -> Iterator[bytes]:
    """Bytes ``start`` to ``end`` of ``path`` in order, ``chunk`` at a time, with ``in_flight``
    ranged reads under way (they release the GIL, so fetching a range overlaps the caller's work
    on the one before); stops early at the end of a shorter file. S3 objects are read through
    boto3 (:mod:`batchgate.aws.s3_ranges`)."""
    with contextlib.ExitStack() as stack:
        reader: _RangeReader | None = ranged_reader(fs, path)
        if reader is None:
            reader = stack.enter_context(fs.open_input_file(path))
        pool = stack.enter_context(ThreadPoolExecutor(in_flight, "batchgate-read-ahead"))
        offsets = iter(range(start, end, chunk))
        pending: deque[Future[bytes]] = deque()

        def submit() -> None:
            offset = next(offsets, None)
            if offset is not None:
                pending.append(pool.submit(reader.read_at, min(chunk, end - offset), offset))

        for _ in range(in_flight):
            submit()
        while pending:
            data = pending.popleft().result()
            if not data:
                return
            submit()
            yield bytes(data)


class _RangeReader(Protocol):
    def read_at(self, nbytes: int, offset: int) -> Any: ...


class _Chunks:
    """A :class:`ByteSource` over :func:`read_ahead`: ``read(n)`` returns at most ``n`` bytes."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    def read(self, n: int) -> bytes:
        if self._pos >= len(self._buf):
            self._buf, self._pos = next(self._chunks, b""), 0
        if self._pos == 0 and n >= len(self._buf):
            out, self._buf = self._buf, b""
            return out
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def file_size(fs: pafs.FileSystem, path: str) -> int:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(path)
    return int(info.size or 0)


def open_bytes(
    fs: pafs.FileSystem,
    path: str,
    *,
    compression: str | None,
    charset: str,
    byte_range: tuple[int, int] | None,
) -> tuple[ByteSource, list[object]]:
    """The decoded UTF-8 byte stream of a file (or of ``byte_range``) and what to close after."""
    if compression not in (None, "none", "gzip"):
        raise FileError(codes.FILE_COMPRESSION, f"unsupported compression {compression!r} (use gzip or none)")
    closers: list[object] = []
    src: ByteSource
    if ranged_reader(fs, path) is not None:
        if byte_range is not None and compression == "gzip":
            raise ValueError("a gzip file cannot be read by byte range; validate it as one part")
        start, end = byte_range if byte_range is not None else (0, file_size(fs, path))
        chunks = _Chunks(read_ahead(fs, path, end, start=start))
        closers.append(chunks)
        src = chunks
    elif byte_range is not None:
        if compression == "gzip":
            raise ValueError("a gzip file cannot be read by byte range; validate it as one part")
        start, end = byte_range
        f = fs.open_input_file(path)
        closers.append(f)
        f.seek(start)
        src = _Limited(f, end - start)
    else:
        stream = fs.open_input_stream(path, compression=None, buffer_size=STREAM_BUFFER)
        closers.append(stream)
        src = stream
    if compression == "gzip":
        src = _Gunzip(src, 4 << 20)
    if not is_utf8(charset):
        src = _Transcode(src, charset)
    return src, closers


@dataclass
class Block:
    """Whole records: ``data`` ends with a newline unless it is the end of the stream."""

    data: bytes
    first_line: int
    newlines: int = -1  # counted once, when the block is cut

    def __post_init__(self) -> None:
        if self.newlines < 0:
            self.newlines = self.data.count(b"\n")

    @property
    def line_count(self) -> int:
        return self.newlines + (1 if self.data and not self.data.endswith(b"\n") else 0)


@dataclass
class Oversize:
    """A record longer than the block size; only its first bytes are kept."""

    first_line: int
    head: bytes


def _cut(buf: bytes, quote: bytes | None, escape: bytes | None, end: int | None = None) -> int:
    """Index just past the last newline (before ``end``) that ends a record, or -1.

    With a quote character, a newline ends a record only when the quotes before it (in ``buf``,
    which starts on a record boundary) balance. Doubled quotes (RFC 4180) cancel out; an escaped
    quote (``\\"`` with an escape character) is not counted.
    """
    pos = buf.rfind(b"\n", 0, len(buf) if end is None else end)
    if pos < 0 or quote is None:
        return pos + 1 if pos >= 0 else -1
    odd = count_quotes(buf, 0, pos, quote, escape) % 2
    while odd:
        prev = buf.rfind(b"\n", 0, pos)
        if prev < 0:
            return -1
        odd ^= count_quotes(buf, prev, pos, quote, escape) % 2
        pos = prev
    return pos + 1


def _cut_after(carry: bytes, chunk: bytes, quote: bytes | None, escape: bytes | None) -> int:
    """Like :func:`_cut` on ``carry + chunk`` without joining them: an index in ``chunk``, or -1
    (also when the carry is already longer than a record should be, or ends with an escape)."""
    pos = chunk.rfind(b"\n")
    if pos < 0:
        return -1
    if quote is None:
        return pos + 1
    if escape is not None and carry.endswith(escape):
        return -1  # an escaped quote may straddle the two: let the joined path count it
    odd = (count_quotes(carry, 0, len(carry), quote, escape) + count_quotes(chunk, 0, pos, quote, escape)) % 2
    while odd:
        prev = chunk.rfind(b"\n", 0, pos)
        if prev < 0:
            return -1
        odd ^= count_quotes(chunk, prev, pos, quote, escape) % 2
        pos = prev
    return pos + 1


def first_record_end(buf: bytes, quote: bytes | None, escape: bytes | None) -> int:
    """Index just past the first newline that ends a record, or -1."""
    pos = -1
    parity = 0
    while True:
        nxt = buf.find(b"\n", pos + 1)
        if nxt < 0:
            return -1
        if quote is not None:
            parity ^= count_quotes(buf, pos + 1, nxt, quote, escape) % 2
        if not parity:
            return nxt + 1
        pos = nxt


def count_quotes(buf: bytes, start: int, end: int, quote: bytes, escape: bytes | None) -> int:
    """Quote characters in ``buf[start:end]`` that are not escaped (doubled quotes count twice)."""
    # Most blocks hold no quote at all: find (memchr) skips them several times faster than
    # count walks them.
    first = buf.find(quote, start, end)
    if first < 0:
        return 0
    n = buf.count(quote, first, end)
    if n and escape is not None and escape != quote:
        n -= buf.count(escape + quote, start, end)
    return n


def iter_blocks(
    src: ByteSource,
    block_size: int,
    *,
    first_line: int = 1,
    quote: bytes | None = None,
    escape: bytes | None = None,
    strip_bom: bool = True,
) -> Iterator[Block | Oversize]:
    """Blocks of whole records (see module docstring); ``first_line`` numbers the first line."""
    buf = b""
    line = first_line
    first = True
    eof = False
    skipping = False  # inside an oversize record, dropping bytes up to its newline
    while not eof:
        chunk = src.read(block_size)
        if first:
            first = False
            if strip_bom and chunk.startswith(UTF8_BOM):
                chunk = chunk[len(UTF8_BOM) :]
        if not chunk:
            eof = True
        elif skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            skipping = False
            line += 1
            buf = chunk[nl + 1 :]
        else:
            # Common case: the records that started in the carry end in this chunk. Cut in the
            # chunk itself so the block is built with one copy (carry + head of the chunk, joined
            # through a memoryview: ``buf + chunk[:k]`` would copy the head twice).
            k = _cut_after(buf, chunk, quote, escape)
            if k > 0:
                head = chunk if k == len(chunk) else memoryview(chunk)[:k]
                block = Block(b"".join((buf, head)) if buf else bytes(head), line)
                buf = chunk[k:]
                line += block.newlines
                yield block
                continue
            buf = buf + chunk if buf else chunk
        while buf:
            cut = _cut(buf, quote, escape) if not eof else len(buf)
            if cut > 0:
                if cut > 2 * block_size and not eof:
                    # Many records in one read: keep blocks near block_size so memory stays bounded.
                    inner = _cut(buf, quote, escape, end=block_size)
                    cut = inner if inner > 0 else cut
                if eof and len(buf) > block_size:
                    inner = _cut(buf, quote, escape)
                    if inner > 0:
                        cut = inner
                    elif len(buf) > block_size:
                        yield Oversize(line, buf[:RAW_KEEP])
                        return
                block = Block(buf[:cut], line)
                buf = buf[cut:]
                line += block.newlines
                yield block
                if not eof:
                    break
                continue
            if len(buf) <= block_size:
                break  # an incomplete record: read more
            yield Oversize(line, buf[:RAW_KEEP])
            nl = buf.find(b"\n")
            if nl < 0:
                buf = b""
                skipping = True
            else:
                buf = buf[nl + 1 :]
                line += 1
