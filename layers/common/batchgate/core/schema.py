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

from batchgate.core.models import DatasetSchema, ItemSchema, SchemaField

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
