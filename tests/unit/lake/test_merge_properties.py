"""Property tests for the upsert merge (pure Arrow, no storage)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from batchgate.lake.identity import last_per_key
from batchgate.lake.upsert import FILE_INDEX, merge

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("a", pa.int64()),
        pa.field("b", pa.string()),
        pa.field("s", pa.struct([pa.field("x", pa.int64())])),
        pa.field("_batch_id", pa.string(), nullable=False),
        pa.field("_source_file", pa.string(), nullable=False),
        pa.field("_source_row", pa.int64(), nullable=False),
    ]
)
DATA = ["a", "b", "s"]
ids = st.sampled_from([f"k{i}" for i in range(8)])
values = st.fixed_dictionaries(
    {
        "a": st.none() | st.integers(-5, 5),
        "b": st.none() | st.sampled_from(["x", "y", ""]),
        "s": st.none() | st.builds(lambda x: {"x": x}, st.integers(0, 3)),
    }
)


def _table(rows: list[dict[str, Any]], batch: str) -> pa.Table:
    full = [
        {**r, "_batch_id": batch, "_source_file": f"f{r.get(FILE_INDEX, 0)}", "_source_row": i}
        for i, r in enumerate(rows)
    ]
    return pa.Table.from_pylist([{k: r.get(k) for k in SCHEMA.names} for r in full], schema=SCHEMA)


@settings(max_examples=60, deadline=None)
@given(
    current_ids=st.sets(ids, max_size=6),
    current_values=st.lists(values, min_size=6, max_size=6),
    incoming=st.lists(st.tuples(ids, values, st.integers(0, 2)), max_size=10),
    present=st.lists(st.sets(st.sampled_from(DATA)), min_size=3, max_size=3),
)
def test_merge_follows_patch_semantics(
    current_ids: set[str],
    current_values: list[dict[str, Any]],
    incoming: list[tuple[str, dict[str, Any], int]],
    present: list[set[str]],
) -> None:
    current_rows = [{"id": k, **v} for k, v in zip(sorted(current_ids), current_values, strict=False)]
    current = _table(current_rows, "OLD")
    staged = _table([{"id": k, **v, FILE_INDEX: f} for k, v, f in incoming], "NEW")
    staged = staged.append_column(FILE_INDEX, pa.array([f for _, _, f in incoming], type=pa.int32()))
    latest = last_per_key(staged, ["id"])
    present_by_file = [cols | {"id"} for cols in present]

    out, updated = merge(current, latest, ["id"], present_by_file)

    assert out.schema == SCHEMA
    by_id = {r["id"]: r for r in out.to_pylist()}
    assert len(by_id) == out.num_rows == len({k for k, _, _ in incoming})
    now = {r["id"]: r for r in current.to_pylist()}
    expected_updates = 0
    for row in latest.to_pylist():
        got = by_id[row["id"]]
        assert got["_batch_id"] == "NEW" and got["_source_row"] == row["_source_row"]
        old = now.get(row["id"])
        if old is None:
            assert all(got[c] == row[c] for c in DATA)  # inserted as staged (absent = null)
            continue
        expected_updates += 1
        for c in DATA:
            source = row if c in present_by_file[row[FILE_INDEX]] else old
            assert got[c] == source[c], (c, row, old, got)
    assert updated == expected_updates


@given(st.lists(st.tuples(st.none() | ids, st.integers()), max_size=12))
def test_last_per_key_keeps_last_and_all_unkeyed(rows: list[tuple[str | None, int]]) -> None:
    table = pa.table({"id": [k for k, _ in rows], "v": list(range(len(rows)))})

    kept = last_per_key(table, ["id"]).to_pylist()

    last = {k: i for i, (k, _) in enumerate(rows) if k is not None}
    expected = sorted([*last.values(), *(i for i, (k, _) in enumerate(rows) if k is None)])
    assert [r["v"] for r in kept] == expected
