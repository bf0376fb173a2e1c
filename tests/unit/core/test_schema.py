import pyarrow as pa

from batchgate.core.models import DatasetSchema
from batchgate.core.schema import LINEAGE_COLUMNS, arrow_schema


def _schema() -> DatasetSchema:
    return DatasetSchema.model_validate(
        {
            "fields": [
                {"name": "s", "type": "string", "required": True},
                {"name": "i", "type": "integer"},
                {"name": "n", "type": "number"},
                {"name": "b", "type": "boolean"},
                {"name": "t", "type": "timestamp"},
                {"name": "d", "type": "date"},
                {
                    "name": "o",
                    "type": "object",
                    "fields": [{"name": "c", "type": "string", "required": True}],
                },
                {"name": "a", "type": "array", "items": {"type": "string"}},
                {
                    "name": "ao",
                    "type": "array",
                    "items": {"type": "object", "fields": [{"name": "k", "type": "integer"}]},
                },
            ]
        }
    )


def test_type_mapping_and_nullability() -> None:
    s = arrow_schema(_schema(), lineage=False)
    assert s.types == [
        pa.string(),
        pa.int64(),
        pa.float64(),
        pa.bool_(),
        pa.timestamp("us", tz="UTC"),
        pa.date32(),
        pa.struct([pa.field("c", pa.string())]),
        pa.list_(pa.string()),
        pa.list_(pa.struct([pa.field("k", pa.int64())])),
    ]
    assert all(f.nullable for f in s)  # required is a row constraint, not storage
    assert s.field("o").type.field("c").nullable


def test_lineage_columns_appended_not_null() -> None:
    s = arrow_schema(_schema())
    assert tuple(s.names[-3:]) == LINEAGE_COLUMNS == ("_batch_id", "_source_file", "_source_row")
    assert [s.field(n).type for n in LINEAGE_COLUMNS] == [pa.string(), pa.string(), pa.int64()]
    assert not any(s.field(n).nullable for n in LINEAGE_COLUMNS)
