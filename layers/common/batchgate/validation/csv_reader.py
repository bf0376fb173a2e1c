"""CSV → loosely typed chunks (every cell as bytes), honouring the batch's ``inputFormat``.

Contract:
* ``delimiter``/``quote``/``escape`` as given (a quote inside a quoted value is doubled, RFC 4180;
  with ``escape`` it may also be escaped), quoted values may hold newlines.
* ``header: true`` — the first record names the columns; names match dataset fields exactly;
  ``parent.child`` names fill object children; unknown columns are not read, only named for the
  dataset's ``extraColumns`` policy. A header that is empty, has duplicate names, or names no dataset
  field is a file error (``BG-FILE-HEADER``). ``header: false`` — columns are the dataset's
  top-level fields in schema order.
* Array fields (and object fields given as one column) hold JSON text: ``["a","b"]``.
* ``nullMarker`` marks null (default: the empty cell). For non-string fields an empty or
  blank cell is null too.
* Blank lines are skipped (they are not records). Row numbers are the physical line (1-based,
  the header is line 1) where the record starts, also for records holding quoted newlines.
* A ragged row (too few or too many cells) is ``BG-ROW-CORRUPT`` with its raw text; parsing goes
  on. Lines may end with ``\\n`` or ``\\r\\n`` (a lone ``\\r`` is not a line end).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from batchgate.core.models import DatasetSchema, InputFormat, SchemaField
from batchgate.core.schema import arrow_schema
from batchgate.validation import codes
from batchgate.validation.chunk import Chunk, Corrupt, Unit, truncate
from batchgate.validation.codes import FileError
from batchgate.validation.convert import BOOL_FALSE, BOOL_TRUE, arange, one_array
from batchgate.validation.extra_columns import ExtraColumns
from batchgate.validation.source import Block, ByteSource, Oversize, first_record_end, iter_blocks


@dataclass
class _Invalid:
    number: int  # 1-based record index within the parsed block
    text: str
    message: str


class CsvLayout:
    """How the CSV's columns map onto the dataset's fields."""

    def __init__(self, schema: DatasetSchema, names: list[str]) -> None:
        if not names or all(not n.strip() for n in names):
            raise FileError(codes.FILE_HEADER, "the CSV header is empty")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise FileError(codes.FILE_HEADER, f"the CSV header repeats column(s) {dupes}")
        self.names = names
        self.known: list[str] = []
        available = set(names)
        for f in schema.fields:
            self.known.extend(_columns_for(f, f.name, available))
        self.typed = _typed_columns(schema, self.known)
        # Header columns no dataset field takes: every record of the file carries them.
        self.extra = [n for n in names if n not in set(self.known) and n.strip()]
        if not self.known:
            raise FileError(
                codes.FILE_HEADER,
                f"no CSV column matches a dataset field (header: {names[:20]!r})",
            )
        self.schema = schema

    def extras(self, rows: int) -> ExtraColumns | None:
        """The extra columns of ``rows`` records (their type is not known from a header)."""
        if not self.extra or not rows:
            return None
        found = ExtraColumns()
        for name in self.extra:
            found.add(name, rows, pa.null())
        return found

    def build(self, table: pa.Table) -> pa.Table:
        """The parsed (bytes) columns shaped as the dataset's top-level fields."""
        cols = {name: one_array(table.column(name)) for name in table.column_names}
        n = table.num_rows
        out: dict[str, pa.Array] = {}
        for f in self.schema.fields:
            arr = _assemble(f, f.name, cols, n)
            if arr is not None:
                out[f.name] = arr
        return pa.table(out)  # may have no columns: the row count travels in Chunk.rows


# The boolean spellings the conversion step accepts (convert.py), so that the typed parse accepts
# them too and a file writing "yes"/"no" does not fall back to the slow path.
_TRUE = [v for w in BOOL_TRUE for v in (w, w.upper(), w.capitalize())]
_FALSE = [v for w in BOOL_FALSE for v in (w, w.upper(), w.capitalize())]


def _typed_columns(schema: DatasetSchema, known: list[str]) -> dict[str, pa.DataType]:
    """Arrow types for the CSV's known columns: scalars as their type, JSON-text cells as strings."""
    types: dict[str, pa.DataType] = {}
    targets = {f.name: f.type for f in arrow_schema(schema, lineage=False)}
    for name in known:
        head, *rest = name.split(".")
        t = targets[head]
        for part in rest:
            t = t.field(part).type
        # Timestamps stay text: Arrow's CSV parser refuses a zone-less one for a zoned column, and
        # such files are common; the conversion step reads those as UTC (see convert.py).
        types[name] = pa.string() if pa.types.is_nested(t) or pa.types.is_timestamp(t) else t
    return types


def _columns_for(f: SchemaField, path: str, available: set[str]) -> list[str]:
    if path in available:
        return [path]
    if f.type == "object":
        found: list[str] = []
        for child in f.fields or []:
            found.extend(_columns_for(child, f"{path}.{child.name}", available))
        return found
    return []


def _assemble(f: SchemaField, path: str, cols: dict[str, pa.Array], n: int) -> pa.Array | None:
    if path in cols:
        return cols[path]
    if f.type != "object":
        return None
    children: dict[str, pa.Array] = {}
    for child in f.fields or []:
        arr = _assemble(child, f"{path}.{child.name}", cols, n)
        if arr is not None:
            children[child.name] = arr
    if not children:
        return None
    arrays = list(children.values())
    # The object is absent when every one of its cells is empty.
    absent = arrays[0].is_null()
    for arr in arrays[1:]:
        absent = pc.and_(absent, arr.is_null())
    return pa.StructArray.from_arrays(
        arrays, names=list(children), mask=absent if pc.any(absent).as_py() else None
    )


def header_names(fmt: InputFormat, schema: DatasetSchema, header: bytes) -> list[str]:
    """Column names from a header record (``header: true``) or from the schema (``false``)."""
    if not fmt.header:
        names: list[str] = []
        for f in schema.fields:
            if f.type == "object" and f.fields:
                names.extend(f"{f.name}.{c.name}" for c in f.fields)
            else:
                names.append(f.name)
        return names
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(codes.FILE_HEADER, "the CSV header is not valid text in the file's charset") from exc
    if not text.strip():
        raise FileError(codes.FILE_HEADER, "the CSV header is empty")
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode() + b"\n"),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=_parse_options(fmt, None),
        )
    except (pa.ArrowInvalid, ValueError) as exc:
        raise FileError(codes.FILE_HEADER, f"the CSV header cannot be parsed: {exc}") from exc
    return [name.strip() for name in table.column_names]


def _parse_options(fmt: InputFormat, handler: object) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=fmt.delimiter,
        quote_char=fmt.quote,
        double_quote=True,
        escape_char=fmt.escape if fmt.escape else False,
        newlines_in_values=True,
        ignore_empty_lines=True,
        invalid_row_handler=handler,
    )


def read_csv(
    src: ByteSource,
    fmt: InputFormat,
    schema: DatasetSchema,
    *,
    block_size: int,
    first_line: int = 1,
    header: bytes | None = None,
) -> Iterator[Unit]:
    """Chunks of a CSV stream. ``header`` is the header record when ``src`` starts after it
    (a later part of a split file); otherwise the header is read from the stream itself."""
    quote = fmt.quote.encode()
    escape = fmt.escape.encode() if fmt.escape else None
    blocks = iter_blocks(src, block_size, first_line=first_line, quote=quote, escape=escape)
    layout: CsvLayout | None = None
    if header is not None or not fmt.header:
        layout = CsvLayout(schema, header_names(fmt, schema, header or b""))
    seen_data = False
    for block in blocks:
        if isinstance(block, Oversize):
            seen_data = True
            yield Chunk.only_corrupt([_oversize(block)])
            continue
        data, line = block.data, block.first_line
        if layout is None:
            if not data or data.isspace():
                continue  # blank lines before the header
            end = first_record_end(data, quote, escape)
            head = data if end < 0 else data[:end]
            layout = CsvLayout(schema, header_names(fmt, schema, head.rstrip(b"\r\n")))
            seen_data = True
            line += head.count(b"\n")
            data = b"" if end < 0 else data[end:]
        if not data or data.isspace():
            continue
        seen_data = True
        # The block as cut (its newlines already counted) unless the header was taken off it.
        whole = block if data is block.data else Block(data, line)
        # Parsed later, on a worker thread (blocks are cut here, in order).
        yield partial(_parse_block, whole, fmt, layout, quote, escape)
    if not seen_data and header is None and first_line == 1:  # a later part may hold no record
        raise FileError(codes.FILE_EMPTY, "the file holds no data")


def _oversize(block: Oversize) -> Corrupt:
    return Corrupt(
        block.first_line, truncate(block.head), codes.ROW_TOO_LARGE, "record is larger than the block size"
    )


def _parse_block(
    block: Block, fmt: InputFormat, layout: CsvLayout, quote: bytes, escape: bytes | None
) -> Iterator[Chunk]:
    # Fast path: Arrow converts cells straight to the dataset types (and checks UTF-8) as it
    # parses. A block with any cell it cannot convert is parsed again with cells as bytes, so
    # that the engine finds the bad cells and reports them one by one.
    # Serial parsing on purpose: the reader already runs in its own thread next to the checks,
    # Arrow's parallel chunking of quoted-newline CSV costs more than it gains, and only a serial
    # parse numbers invalid rows reliably.
    typed = True
    parsed = _read_block(block.data, fmt, layout, threads=False, typed=True)
    if parsed is None:
        typed = False
        parsed = _read_block(block.data, fmt, layout, threads=False, typed=False)
    if parsed is None:
        # Something Arrow refuses in this block as a whole (an unterminated quote at the end of
        # the file...): isolate record by record so the good ones still count.
        yield from _parse_records(block, fmt, layout, quote, escape)
        return
    table, invalid = parsed
    n_lines = block.line_count
    if not invalid and n_lines == table.num_rows:
        # One line per record (no blank lines, no quoted newlines): the common case.
        chunk = Chunk(layout.build(table), arange(block.first_line, n_lines), strings_valid=typed)
        chunk.extras = layout.extras(n_lines)
        yield chunk
        return
    starts = _record_starts(block, n_lines, table, invalid, quote, escape)
    n_records = table.num_rows + len(invalid)
    if len(starts) != n_records or any(inv.number < 1 or inv.number > n_records for inv in invalid):
        yield from _parse_records(block, fmt, layout, quote, escape)
        return
    corrupt = [
        Corrupt(starts[inv.number - 1], truncate(inv.text), codes.ROW_CORRUPT, inv.message) for inv in invalid
    ]
    if invalid:
        bad = {inv.number - 1 for inv in invalid}
        rows = pa.array([s for i, s in enumerate(starts) if i not in bad], pa.int64())
    else:
        rows = pa.array(starts, pa.int64())
    yield Chunk(layout.build(table), rows, corrupt, strings_valid=typed, extras=layout.extras(len(rows)))


def _read_block(
    data: bytes, fmt: InputFormat, layout: CsvLayout, *, threads: bool, typed: bool
) -> tuple[pa.Table, list[_Invalid]] | None:
    """Arrow's parse of one block and its invalid rows; None if refused. ``typed``: cells as
    the dataset's types (UTF-8 checked), else as bytes."""
    invalid: list[_Invalid] = []

    def handler(row: pacsv.InvalidRow) -> str:
        message = f"expected {row.expected_columns} columns, found {row.actual_columns}"
        invalid.append(_Invalid(row.number, row.text, message))
        return "skip"

    inner = max(1 << 20, len(data) // 4 + 1) if threads else len(data) + 1
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=layout.names, use_threads=threads, block_size=inner),
            parse_options=_parse_options(fmt, handler),
            convert_options=_convert_options(fmt, layout, typed),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    return table, invalid


def _convert_options(fmt: InputFormat, layout: CsvLayout, typed: bool = False) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types=layout.typed if typed else {name: pa.binary() for name in layout.known},
        true_values=_TRUE,
        false_values=_FALSE,
        include_columns=layout.known,
        null_values=[fmt.null_marker],
        strings_can_be_null=True,
        quoted_strings_can_be_null=fmt.null_marker == "",
    )


def _record_starts(
    block: Block, n_lines: int, table: pa.Table, invalid: list[_Invalid], quote: bytes, escape: bytes | None
) -> list[int]:
    """First physical line of every non-blank record of the block, in order."""
    n_records = table.num_rows + len(invalid)
    # Every record spans at least one line, so as many lines as records means one line each
    # (no blank lines, no quoted newlines): the common case, no Python loop.
    if n_lines == n_records:
        return list(range(block.first_line, block.first_line + n_lines))
    return _walk_records(block.data, block.first_line, quote, escape)


def _walk_records(data: bytes, first_line: int, quote: bytes, escape: bytes | None) -> list[int]:
    """Record start lines by walking lines and tracking quote balance (blank lines skipped)."""
    starts: list[int] = []
    inside = False
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, text in enumerate(lines):
        if not inside:
            if text in (b"", b"\r"):
                continue
            starts.append(first_line + i)
        n = text.count(quote)
        if n and escape is not None and escape != quote:
            n -= text.count(escape + quote)
        if n % 2:
            inside = not inside
    return starts


def _split_records(
    data: bytes, first_line: int, quote: bytes, escape: bytes | None
) -> list[tuple[int, bytes]]:
    """Records (start line, bytes) of a block; an unbalanced quote makes the rest one record."""
    starts = _walk_records(data, first_line, quote, escape)
    lines = data.split(b"\n")
    out: list[tuple[int, bytes]] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else first_line + len(lines)
        text = b"\n".join(lines[start - first_line : end - first_line])
        out.append((start, text.rstrip(b"\r\n") + b"\n"))
    return out


def _parse_records(
    block: Block, fmt: InputFormat, layout: CsvLayout, quote: bytes, escape: bytes | None
) -> Iterator[Chunk]:
    """Slow path: parse each record alone; one that Arrow refuses is a corrupt row."""
    tables: list[pa.Table] = []
    rows: list[int] = []
    corrupt: list[Corrupt] = []
    for start, text in _split_records(block.data, block.first_line, quote, escape):
        invalid: list[_Invalid] = []

        def handler(row: pacsv.InvalidRow, sink: list[_Invalid] = invalid) -> str:
            sink.append(
                _Invalid(
                    row.number,
                    row.text,
                    f"expected {row.expected_columns} columns, found {row.actual_columns}",
                )
            )
            return "skip"

        try:
            table = pacsv.read_csv(
                pa.py_buffer(text),
                read_options=pacsv.ReadOptions(column_names=layout.names, use_threads=False),
                parse_options=_parse_options(fmt, handler),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.binary() for name in layout.known},
                    include_columns=layout.known,
                    null_values=[fmt.null_marker],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=fmt.null_marker == "",
                ),
            )
        except (pa.ArrowInvalid, ValueError) as exc:
            corrupt.append(
                Corrupt(start, truncate(text), codes.ROW_CORRUPT, f"unparseable CSV record: {exc}")
            )
            continue
        if invalid:
            corrupt.append(Corrupt(start, truncate(text), codes.ROW_CORRUPT, invalid[0].message))
        elif table.num_rows == 1:
            tables.append(table)
            rows.append(start)
        else:
            corrupt.append(
                Corrupt(start, truncate(text), codes.ROW_CORRUPT, "record does not hold exactly one row")
            )
    if tables:
        merged = pa.concat_tables(tables)
        yield Chunk(
            layout.build(merged), pa.array(rows, pa.int64()), corrupt, extras=layout.extras(len(rows))
        )
    elif corrupt:
        yield Chunk.only_corrupt(corrupt)
