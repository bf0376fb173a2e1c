"""Row groups encoded as Parquet files of their own, joined into the one file a single writer
would have written: the same bytes, footer included.

Why: pyarrow's ``ParquetWriter`` encodes on the calling thread, one column after another, and
does not expose Arrow's ``ArrowWriterProperties::use_threads`` from Python. A staged part is
written as row groups anyway, and a row group's pages hold no file offsets (only the footer
does), so the row groups can be encoded side by side, each as a small file in memory, then
appended in order, with one footer whose offsets say where each row group landed.

The footer is Thrift's compact protocol (``parquet.thrift``'s ``FileMetaData``). It is decoded
generically here (every field kept as read, so nothing the writer put in is lost or reordered);
only the fields that hold byte offsets, the row count and the row groups' ordinals change.
Offsets into a page index or a bloom filter, which a writer puts after the row groups, are
refused: the staged writer writes neither.
"""

from __future__ import annotations

import struct
from typing import Any

import pyarrow as pa

MAGIC = b"PAR1"

# Thrift compact protocol's type ids.
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)
_INTS = {_I16: 16, _I32: 32, _I64: 64}

# Field ids in parquet.thrift.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 5, 7
_CHUNK_FILE_OFFSET, _CHUNK_META, _CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX = 2, 3, 4, 6
_META_OFFSETS = (9, 10, 11)  # data_page_offset, index_page_offset, dictionary_page_offset
_META_BLOOM_OFFSET = 14

# A struct is a list of [field id, type, value]; booleans are their type, value None.
Struct = list[list[Any]]


class StitchError(ValueError):
    """The bytes are not a Parquet file this module can join (a programming error upstream)."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = out = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return out

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int) -> Any:
        if kind in (_TRUE, _FALSE, _BYTE):  # a boolean inside a container is one byte
            return self.byte()
        if kind in _INTS:
            return self.zigzag()
        if kind == _DOUBLE:
            self.pos += 8
            return self.data[self.pos - 8 : self.pos]
        if kind == _BINARY:
            n = self.varint()
            self.pos += n
            return self.data[self.pos - n : self.pos]
        if kind in (_LIST, _SET):
            head = self.byte()
            n, item = head >> 4, head & 0x0F
            if n == 15:
                n = self.varint()
            return (item, [self.value(item) for _ in range(n)])
        if kind == _MAP:
            n = self.varint()
            if n == 0:
                return (0, 0, [])
            head = self.byte()
            k, v = head >> 4, head & 0x0F
            return (k, v, [(self.value(k), self.value(v)) for _ in range(n)])
        if kind == _STRUCT:
            return self.struct()
        raise StitchError(f"unknown Thrift compact type {kind}")

    def struct(self) -> Struct:
        fields: Struct = []
        last = 0
        while True:
            head = self.byte()
            if head == _STOP:
                return fields
            kind, delta = head & 0x0F, head >> 4
            fid = last + delta if delta else self.zigzag()
            last = fid
            fields.append([fid, kind, None if kind in (_TRUE, _FALSE) else self.value(kind)])


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, n: int) -> None:
        while n >= 0x80:
            self.out.append((n & 0x7F) | 0x80)
            n >>= 7
        self.out.append(n)

    def value(self, kind: int, value: Any) -> None:
        if kind in (_TRUE, _FALSE, _BYTE):
            self.out.append(value)
        elif kind in _INTS:
            self.varint((value << 1) ^ (value >> (_INTS[kind] - 1)))
        elif kind == _DOUBLE:
            self.out += value
        elif kind == _BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (_LIST, _SET):
            item, items = value
            if len(items) < 15:
                self.out.append(len(items) << 4 | item)
            else:
                self.out.append(0xF0 | item)
                self.varint(len(items))
            for v in items:
                self.value(item, v)
        elif kind == _MAP:
            k, v, pairs = value
            self.varint(len(pairs))
            if pairs:
                self.out.append(k << 4 | v)
                for key, val in pairs:
                    self.value(k, key)
                    self.value(v, val)
        elif kind == _STRUCT:
            self.struct(value)
        else:
            raise StitchError(f"unknown Thrift compact type {kind}")

    def struct(self, fields: Struct) -> None:
        last = 0
        for fid, kind, value in fields:
            delta = fid - last
            if 0 < delta <= 15:
                self.out.append(delta << 4 | kind)
            else:
                self.out.append(kind)
                self.value(_I16, fid)
            last = fid
            if kind not in (_TRUE, _FALSE):
                self.value(kind, value)
        self.out.append(_STOP)


def decode_struct(data: bytes) -> Struct:
    return _Reader(data).struct()


def encode_struct(fields: Struct) -> bytes:
    writer = _Writer()
    writer.struct(fields)
    return bytes(writer.out)


def _field(fields: Struct, fid: int) -> list[Any] | None:
    for f in fields:
        if f[0] == fid:
            return f
    return None


def _required(fields: Struct, fid: int) -> list[Any]:
    f = _field(fields, fid)
    if f is None:
        raise StitchError(f"the Parquet footer has no field {fid} where one is required")
    return f


def split(encoded: pa.Buffer) -> tuple[int, Struct]:
    """(where the footer starts, the footer decoded) of one whole Parquet file in memory."""
    size = encoded.size
    if size < 12 or encoded.slice(0, 4).to_pybytes() + encoded.slice(size - 4, 4).to_pybytes() != MAGIC * 2:
        raise StitchError("not a whole Parquet file")
    (length,) = struct.unpack("<I", encoded.slice(size - 8, 4).to_pybytes())
    start = size - 8 - length
    if start < 4:
        raise StitchError("the Parquet footer's length is out of the file")
    return start, decode_struct(encoded.slice(start, length).to_pybytes())


def _move_group(group: Struct, delta: int, ordinal: int) -> None:
    """Shift every byte offset of one row group by ``delta`` and give it its place in the file."""
    for f in group:
        if f[0] == _GROUP_FILE_OFFSET and f[2]:
            f[2] += delta
        elif f[0] == _GROUP_ORDINAL:
            f[2] = ordinal
    for chunk in _required(group, _GROUP_COLUMNS)[2][1]:
        for f in chunk:
            # A writer may leave the deprecated ColumnChunk.file_offset at 0: keep a 0 a 0.
            if f[0] == _CHUNK_FILE_OFFSET and f[2]:
                f[2] += delta
            elif f[0] in (_CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX):
                raise StitchError("row groups with a page index cannot be joined")
        for f in _required(chunk, _CHUNK_META)[2]:
            if f[0] in _META_OFFSETS:
                f[2] += delta
            elif f[0] == _META_BLOOM_OFFSET:
                raise StitchError("row groups with a bloom filter cannot be joined")


class Stitcher:
    """Joins whole Parquet files (same schema, same writer settings), each holding row groups,
    into one: :meth:`add` returns the bytes to write next, :meth:`footer` the bytes that end the
    file. Row groups keep their order and their bytes."""

    def __init__(self) -> None:
        self._meta: Struct | None = None
        self._groups: list[Struct] = []
        self._rows = 0
        self._written = 0

    @property
    def empty(self) -> bool:
        return self._meta is None

    def add(self, encoded: pa.Buffer) -> pa.Buffer:
        start, meta = split(encoded)
        if self._meta is None:
            self._meta, body = meta, encoded.slice(0, start)  # the magic, then the row groups
        else:
            body = encoded.slice(4, start - 4)
        # This file's row groups start at 4 in their own file, at ``written`` in the joined one.
        delta = (self._written or 4) - 4
        for group in _required(meta, _FILE_ROW_GROUPS)[2][1]:
            _move_group(group, delta, len(self._groups))
            self._groups.append(group)
        self._rows += _required(meta, _FILE_NUM_ROWS)[2]
        self._written += body.size
        return body

    def footer(self) -> bytes:
        if self._meta is None:
            raise StitchError("no row groups to end a file with")
        _required(self._meta, _FILE_ROW_GROUPS)[2] = (_STRUCT, self._groups)
        _required(self._meta, _FILE_NUM_ROWS)[2] = self._rows
        data = encode_struct(self._meta)
        return data + struct.pack("<I", len(data)) + MAGIC
