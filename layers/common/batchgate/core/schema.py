"""Dataset schema → Apache Arrow schema: the one mapping every part (validators, lake, API) uses.

Contract:
  * ``string`` → ``pa.string()``, ``integer`` → ``pa.int64()``, ``number`` → ``pa.float64()``,
    ``boolean`` → ``pa.bool_()``, ``timestamp`` → ``pa.timestamp("us", tz="UTC")``,
    ``date`` → ``pa.date32()``, ``object`` → ``pa.struct(children)``, ``array`` → ``pa.list_(item)``.
  * Every data field (and every struct child / list item) is nullable in Arrow: ``required`` is a
    constraint the validation engine checks per row, not a storage property, so a file written
    with this schema never fails to write because of a null.
  * With ``lineage=True`` the three lineage columns of :data:`LINEAGE_COLUMNS` are appended, in
    that order and not nullable: ``_batch_id`` (string), ``_source_file`` (string),
    ``_source_row`` (int64).
"""

from __future__ import annotations

import pyarrow as pa

from batchgate.core.models import DatasetSchema, FieldType, ItemSchema, SchemaField

LINEAGE_COLUMNS = ("_batch_id", "_source_file", "_source_row")

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}

LINEAGE_FIELDS = (
    pa.field("_batch_id", pa.string(), nullable=False),
    pa.field("_source_file", pa.string(), nullable=False),
    pa.field("_source_row", pa.int64(), nullable=False),
)


def arrow_type(node: SchemaField | ItemSchema) -> pa.DataType:
    """Arrow type of one schema field or array item (recursive for objects and arrays)."""
    if node.type in _SCALARS:
        return _SCALARS[node.type]
    if node.type == "object":
        return pa.struct([arrow_field(child) for child in node.fields or []])
    if node.type == "array":
        if node.items is None:  # the models refuse this; keep mypy and readers honest
            raise ValueError("an array field needs 'items'")
        return pa.list_(arrow_type(node.items))
    raise ValueError(f"unknown field type {node.type!r}")


def arrow_field(field: SchemaField) -> pa.Field:
    """Arrow field for a schema field; always nullable (``required`` is checked by the engine)."""
    return pa.field(field.name, arrow_type(field), nullable=True)


def arrow_schema(schema: DatasetSchema, *, lineage: bool = True) -> pa.Schema:
    """The Arrow schema of a dataset's rows, optionally followed by the lineage columns."""
    fields = [arrow_field(f) for f in schema.fields]
    if lineage:
        fields.extend(LINEAGE_FIELDS)
    return pa.schema(fields)


class NoFieldType(ValueError):
    """An Arrow type no dataset field type holds (a map, binary, a union...)."""


def field_from_arrow(name: str, t: pa.DataType) -> SchemaField:
    """The optional dataset field a column of Arrow type ``t`` becomes (an evolved column).
    A column that only ever held nulls becomes a string."""
    if pa.types.is_struct(t):
        return SchemaField(name=name, type="object", fields=[field_from_arrow(c.name, c.type) for c in t])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return SchemaField(name=name, type="array", items=_item_from_arrow(name, t.value_type))
    return SchemaField(name=name, type=_scalar_from_arrow(name, t))


def _item_from_arrow(name: str, t: pa.DataType) -> ItemSchema:
    if pa.types.is_struct(t):
        return ItemSchema(type="object", fields=[field_from_arrow(c.name, c.type) for c in t])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return ItemSchema(type="array", items=_item_from_arrow(name, t.value_type))
    return ItemSchema(type=_scalar_from_arrow(name, t))


def _scalar_from_arrow(name: str, t: pa.DataType) -> FieldType:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return "string"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    raise NoFieldType(f"column {name} holds {t}, which no dataset field type holds")
