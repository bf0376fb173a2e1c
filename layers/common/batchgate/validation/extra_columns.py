"""Columns a file carries that the dataset's schema does not, and the dataset's policy for them
(``extraColumns``, after dlt's schema contracts):

* ``discard`` (default) — dropped; the batch carries a ``BG-WARN-EXTRA-COLUMNS`` warning naming
  each column and how many rows gave it a value.
* ``freeze`` — the file fails (``BG-FILE-EXTRA-COLUMNS``) naming them; it is read to the end so
  every record is counted, and lands nothing.
* ``evolve`` — added to the dataset as optional columns when the batch lands, typed from the
  file: the Parquet schema; for JSON what Arrow infers; for CSV the narrowest of integer, number,
  boolean, timestamp, date and string every cell converts to. JSON and CSV files are read once
  more to learn the types first (the price of the policy); a column whose values have types no
  one column holds (numbers in some records, strings in others) fails the file, naming it.

Found while reading, with no extra pass for ``discard`` / ``freeze``: JSON blocks are parsed with
Arrow's inference for unexpected fields (nested ones too), a Parquet file exposes its schema, a
CSV header names its columns (every row of a CSV file carries them; the count is of rows). Fields
inside arrays of objects are not compared. Paths name nested columns ``parent.child``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from batchgate.core.models import DatasetSchema, SchemaField
from batchgate.core.schema import NoFieldType, field_from_arrow
from batchgate.validation import codes
from batchgate.validation.codes import FileError

# A CSV column no cell of which says otherwise is a string; these are tried narrowest first.
_TEXT_TYPES = (pa.int64(), pa.float64(), pa.bool_(), pa.timestamp("us", tz="UTC"), pa.date32())


class ExtraColumns:
    """Extra columns found so far: path → rows that gave a value, and the type seen (``None``
    once two types no one column holds were seen)."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.types: dict[str, pa.DataType | None] = {}

    def __bool__(self) -> bool:
        return bool(self.rows)

    def add(self, path: str, rows: int, t: pa.DataType | None) -> None:
        self.rows[path] = self.rows.get(path, 0) + rows
        if path not in self.types:
            self.types[path] = t
        else:
            before = self.types[path]
            self.types[path] = None if before is None or t is None else unify(before, t)

    def merge(self, other: ExtraColumns) -> None:
        for path, rows in other.rows.items():
            self.add(path, rows, other.types.get(path))

    def describe(self) -> str:
        return ", ".join(
            f"{path} ({rows} row{'s' if rows != 1 else ''})" for path, rows in sorted(self.rows.items())
        )

    def scan_table(self, table: pa.Table, target: pa.Schema) -> None:
        """Record the columns of ``table`` (and children of its struct columns) ``target`` lacks."""
        for name in table.column_names:
            column = table.column(name)
            index = target.get_field_index(name)
            if index < 0:
                self.add(name, len(column) - column.null_count, column.type)
            else:
                self._scan_nested(column, target.field(index).type, name)

    def _scan_nested(self, column: pa.ChunkedArray, target: pa.DataType, path: str) -> None:
        if not (pa.types.is_struct(column.type) and pa.types.is_struct(target)):
            return
        for i, child in enumerate(column.type):
            values = pc.struct_field(column, [i])
            index = target.get_field_index(child.name)
            if index < 0:
                self.add(f"{path}.{child.name}", len(values) - values.null_count, child.type)
            else:
                self._scan_nested(values, target.field(index).type, f"{path}.{child.name}")

    def scan_schema(self, schema: pa.Schema, target: pa.Schema, rows: dict[str, int]) -> None:
        """Record the columns of a file's ``schema`` that ``target`` lacks, without reading them:
        ``rows`` tells how many rows give a top-level one a value (nested ones count 0 here: they
        are read, and counted, with their parent)."""
        for f in schema:
            index = target.get_field_index(f.name)
            if index < 0:
                self.add(f.name, rows.get(f.name, 0), f.type)
            else:
                self._scan_nested_type(f.type, target.field(index).type, f.name)

    def _scan_nested_type(self, t: pa.DataType, target: pa.DataType, path: str) -> None:
        if not (pa.types.is_struct(t) and pa.types.is_struct(target)):
            return
        for child in t:
            index = target.get_field_index(child.name)
            if index < 0:
                self.add(f"{path}.{child.name}", 0, child.type)
            else:
                self._scan_nested_type(child.type, target.field(index).type, f"{path}.{child.name}")

    def scan_values(self, records: Iterable[dict[str, object]], known: set[str]) -> None:
        """Top-level keys of JSON records (parsed in Python) that are not ``known`` columns."""
        values: dict[str, list[object]] = {}
        for record in records:
            for key, value in record.items():
                if key not in known and value is not None:
                    values.setdefault(key, []).append(value)
        for key, seen in values.items():
            try:
                t: pa.DataType | None = pa.array(seen).type
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                t = None
            self.add(key, len(seen), t)

    def scan_text(self, table: pa.Table, names: Iterable[str]) -> None:
        """CSV columns read as text: the narrowest type every non-empty cell converts to."""
        for name in names:
            column = table.column(name)
            rows = len(column) - column.null_count
            self.add(name, rows, text_type(column) if rows else pa.null())


def unify(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """One type holding values of both, or None."""
    if a.equals(b) or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(f(a) for f in numeric) and any(f(b) for f in numeric):
        return pa.int64() if pa.types.is_integer(a) and pa.types.is_integer(b) else pa.float64()
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {f.name: f.type for f in a}
        for f in b:
            if f.name in fields:
                merged = unify(fields[f.name], f.type)
                if merged is None:
                    return None
                fields[f.name] = merged
            else:
                fields[f.name] = f.type
        return pa.struct(list(fields.items()))
    if pa.types.is_list(a) and pa.types.is_list(b):
        item = unify(a.value_type, b.value_type)
        return None if item is None else pa.list_(item)
    return None


def text_type(column: pa.ChunkedArray) -> pa.DataType:
    values = pc.utf8_trim_whitespace(column.combine_chunks().cast(pa.string()))
    values = values.filter(pc.not_equal(values, ""))
    for t in _TEXT_TYPES:
        try:
            pc.cast(values, t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return t
    return pa.string()


def frozen_error(extras: ExtraColumns) -> FileError:
    return FileError(
        codes.FILE_EXTRA_COLUMNS,
        f"columns not in the dataset schema: {extras.describe()}; the dataset's extraColumns is 'freeze': "
        "add them with PATCH, or set extraColumns to 'discard' or 'evolve'",
    )


def added_fields(extras: ExtraColumns) -> dict[str, SchemaField]:
    """The optional fields evolving the dataset adds, by path; a :class:`FileError` naming a
    column whose values no one field holds."""
    out: dict[str, SchemaField] = {}
    for path in sorted(extras.rows):
        t = extras.types.get(path)
        name = path.rsplit(".", 1)[-1]
        if t is None:
            raise FileError(
                codes.FILE_EXTRA_COLUMNS,
                f"column {path} holds values of different types (for example numbers in some records and "
                "strings in others), so it cannot be added as one column: declare it with PATCH",
            )
        try:
            out[path] = field_from_arrow(name, t)
        except NoFieldType as exc:
            raise FileError(codes.FILE_EXTRA_COLUMNS, f"{exc}: declare it with PATCH, or drop it") from exc
    return out


def with_added(schema: DatasetSchema, added: dict[str, SchemaField]) -> DatasetSchema:
    """``schema`` with the fields added at their paths (a child of an object by ``parent.child``);
    a path already in the schema is left as it is."""
    fields = [f.model_copy(deep=True) for f in schema.fields]
    for path, f in sorted(added.items()):
        *parents, name = path.split(".")
        siblings = fields
        for parent in parents:
            owner = next((s for s in siblings if s.name == parent and s.type == "object"), None)
            if owner is None:
                break
            siblings = owner.fields if owner.fields is not None else []
        else:
            if all(s.name != name for s in siblings):
                siblings.append(f.model_copy(update={"name": name, "required": False}))
    return schema.model_copy(update={"fields": fields})
