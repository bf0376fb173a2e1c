"""How an export cuts a dataset's stream of rows into parts: every row once, in order, parts of at
most the given size, without gathering the stream."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from batchgate.workflow.bundle_export import _parts


def stream(sizes: list[int]) -> Iterator[pa.RecordBatch]:
    start = 0
    for n in sizes:
        yield pa.record_batch({"i": list(range(start, start + n))})
        start += n


@pytest.mark.parametrize(
    ("sizes", "rows", "parts"),
    [
        ([10], 4, [4, 4, 2]),
        ([3, 3, 3], 3, [3, 3, 3]),
        ([3, 3, 3], 4, [4, 4, 1]),
        ([0, 5, 0, 5], 5, [5, 5]),
        ([1] * 7, 10, [7]),
        ([25], 100, [25]),
        ([], 3, []),
    ],
)
def test_every_row_once_in_order_in_parts_of_at_most_the_size(
    sizes: list[int], rows: int, parts: list[int]
) -> None:
    got = [
        pa.Table.from_batches(list(part), schema=pa.schema([("i", pa.int64())]))
        for part in _parts(stream(sizes), rows)
    ]
    assert [t.num_rows for t in got] == parts
    assert [v for t in got for v in t.column("i").to_pylist()] == list(range(sum(sizes)))


def test_parts_are_cut_as_they_are_consumed() -> None:
    pulled: list[int] = []

    def watched() -> Iterator[pa.RecordBatch]:
        for n, batch in enumerate(stream([2] * 5)):
            pulled.append(n)
            yield batch

    parts = _parts(watched(), 4)
    first = next(parts)
    assert pulled == [0], "nothing is read before a part is asked for"
    assert sum(b.num_rows for b in first) == 4 and pulled == [0, 1]
