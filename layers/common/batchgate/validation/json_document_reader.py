"""One multi-line JSON document (``isMultiLineJson``) → loosely typed chunks, streamed.

Contract:
* The file is one object, a JSON array of objects, or objects one after the other
  (pretty-printed). The row number is the line where the object starts.
* Each object is re-serialised as one JSON line and goes through the JSON Lines block parser
  (:class:`.jsonl_reader.JsonBlockParser`), so types and errors are exactly those of JSON Lines.
* A syntax error makes the rest of the document one corrupt record (there is no reliable way to
  resynchronise inside JSON); a document that is not UTF-8 is ``BG-FILE-ENCODING``.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from functools import partial
from typing import Any

from batchgate.core.models import DatasetSchema
from batchgate.validation import codes
from batchgate.validation.chunk import Chunk, Corrupt, Unit, truncate
from batchgate.validation.codes import FileError
from batchgate.validation.jsonl_reader import JsonBlockParser, kind_of, lone_surrogate, surrogate_message
from batchgate.validation.source import RAW_KEEP, ByteSource


def read_multi_line_json(src: ByteSource, schema: DatasetSchema, *, block_size: int) -> Iterator[Unit]:
    """One JSON document (object, array of objects, or concatenated objects), streamed."""
    parser = JsonBlockParser(schema)
    decoder = json.JSONDecoder()
    reader = _TextReader(src, block_size)
    lines: list[bytes] = []
    numbers: list[int] = []
    pending = 0
    corrupt: list[Corrupt] = []
    in_array = None
    count = 0

    def flush() -> Iterator[Unit]:
        nonlocal lines, numbers, pending, corrupt
        if lines:
            # Parsed on a worker thread; the lists are replaced below, never changed in place.
            yield partial(parser.parse, b"\n".join(lines) + b"\n", 0, numbers)
        if corrupt:
            yield Chunk.only_corrupt(corrupt)
        lines, numbers, pending, corrupt = [], [], 0, []

    while True:
        if not reader.skip_ws():
            break
        if in_array is None:
            in_array = reader.peek() == "["
            if in_array:
                reader.advance(1)
                continue
        if in_array:
            if reader.peek() == "]":
                reader.advance(1)
                if reader.skip_ws():
                    corrupt.append(
                        Corrupt(
                            reader.line,
                            truncate(reader.rest_head()),
                            codes.ROW_CORRUPT,
                            "data after the closing ']'",
                        )
                    )
                break
            if reader.peek() == "," and count:
                reader.advance(1)
                if not reader.skip_ws():
                    break
        line = reader.line
        try:
            value = reader.decode(decoder, block_size)
        except _TooLarge as exc:
            corrupt.append(
                Corrupt(line, truncate(exc.head), codes.ROW_TOO_LARGE, "record is larger than the block size")
            )
            break
        except ValueError as exc:
            corrupt.append(
                Corrupt(line, truncate(reader.rest_head()), codes.ROW_CORRUPT, f"invalid JSON: {exc}")
            )
            break
        count += 1
        if isinstance(value, dict):
            try:
                text = json.dumps(value, ensure_ascii=False).encode()
            except UnicodeEncodeError:  # a lone surrogate: not Unicode, so not UTF-8 either
                lone = lone_surrogate(value) or "\ud800"
                corrupt.append(
                    Corrupt(line, truncate(json.dumps(value)), codes.ROW_ENCODING, surrogate_message(lone))
                )
            else:
                lines.append(text)
                numbers.append(line)
                pending += len(text)
        else:
            corrupt.append(
                Corrupt(
                    line,
                    truncate(json.dumps(value)),
                    codes.ROW_CORRUPT,
                    f"a record must be a JSON object, not {kind_of(value)}",
                )
            )
        if pending >= block_size:
            yield from flush()
    if count == 0 and not corrupt and not in_array:
        raise FileError(codes.FILE_EMPTY, "the file holds no data")
    yield from flush()


class _TooLarge(Exception):
    def __init__(self, head: str) -> None:
        self.head = head


class _TextReader:
    """A sliding text window over a UTF-8 byte stream, tracking the line number of its start."""

    def __init__(self, src: ByteSource, block_size: int) -> None:
        self._src = src
        self._block = block_size
        self._dec = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self._src.read(self._block)
        try:
            text = self._dec.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise FileError(
                codes.FILE_ENCODING, f"the JSON document is not valid UTF-8: {exc.reason}"
            ) from exc
        if not data:
            self.eof = True
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return bool(text) or not self.eof

    def skip_ws(self) -> bool:
        """Skip whitespace; False at the end of the stream."""
        while True:
            n = len(self.buf)
            while self.pos < n and self.buf[self.pos] in " \t\r\n":
                if self.buf[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < n:
                return True
            if not self._fill():
                return False

    def peek(self) -> str:
        return self.buf[self.pos]

    def advance(self, n: int) -> None:
        self.line += self.buf.count("\n", self.pos, self.pos + n)
        self.pos += n

    def rest_head(self) -> str:
        return self.buf[self.pos : self.pos + RAW_KEEP]

    def decode(self, decoder: json.JSONDecoder, limit: int) -> Any:
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Past the end of the window: maybe only incomplete. Read more and retry.
                if self.eof:
                    raise
                if len(self.buf) - self.pos > limit:
                    raise _TooLarge(self.rest_head()) from exc
                if not _incomplete(exc):
                    raise
                self._fill()
                continue
            if end == len(self.buf) and not self.eof and not isinstance(value, (dict, list)):
                # A bare number or literal at the window's end may continue in the next read.
                self._fill()
                continue
            self.advance(end - self.pos)
            return value


def _incomplete(exc: json.JSONDecodeError) -> bool:
    """The error is the window's end (more data may complete the value), not bad JSON."""
    return exc.pos >= len(exc.doc) - 1 or exc.msg.startswith("Unterminated string")
