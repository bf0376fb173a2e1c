"""Blocks of one file worked on side by side: same outputs, same order, errors where they belong."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchgate.validation.pipeline import IN_FLIGHT, depths, ordered_map, prefetch
from tests.unit.validation.helpers import mixed_csv, mixed_jsonl, run


def _slow_square(x: int) -> int:
    # Later items finish first: the order must come from the items, not from completion.
    time.sleep(0.002 * (10 - x % 10))
    return x * x


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_ordered_map_keeps_the_items_order(workers: int) -> None:
    assert list(ordered_map(_slow_square, iter(range(40)), workers=workers)) == [x * x for x in range(40)]


def test_ordered_map_runs_calls_side_by_side() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def meet(x: int) -> int:
        barrier.wait()  # only returns when two calls run at the same time
        return x

    assert list(ordered_map(meet, iter(range(4)), workers=2)) == [0, 1, 2, 3]


def test_a_source_error_comes_after_the_results_before_it() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ValueError("broken file")

    got: list[int] = []
    with pytest.raises(ValueError, match="broken file"):
        for r in ordered_map(_slow_square, items(), workers=3):
            got.append(r)
    assert got == [0, 1, 4, 9, 16]


def test_a_call_error_stops_at_its_place() -> None:
    def fn(x: int) -> int:
        if x == 3:
            raise RuntimeError("bad block")
        return x

    got: list[int] = []
    with pytest.raises(RuntimeError, match="bad block"):
        for r in ordered_map(fn, iter(range(10)), workers=2):
            got.append(r)
    assert got == [0, 1, 2]


def test_ordered_map_keeps_few_items_in_flight() -> None:
    started: list[int] = []

    def items() -> Iterator[int]:
        for i in range(100):
            started.append(i)
            yield i

    gen = ordered_map(lambda x: x, items(), workers=2, depth=3)
    assert next(gen) == 0
    assert len(started) <= 4, "the source is not drained ahead of the consumer"
    gen.close()


def test_prefetch_raises_after_the_items_before_the_error() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    got: list[int] = []
    with pytest.raises(OSError, match="disk gone"):
        for x in prefetch(items()):
            got.append(x)
    assert got == [1, 2]


@pytest.mark.parametrize(
    ("fmt", "data"),
    [({"format": "json"}, mixed_jsonl(3000)), ({"format": "csv"}, mixed_csv(3000))],
    ids=["json", "csv"],
)
def test_any_number_of_workers_writes_the_same_outputs(
    tmp_path: Path, fmt: dict[str, str], data: bytes
) -> None:
    # Small blocks so that the file is many blocks, bad rows spread over them.
    outcomes = [
        run(tmp_path / f"w{w}", data, fmt, block_size=16 << 10, workers=w, max_errors_kept=50)
        for w in (1, 2, 4)
    ]
    first = outcomes[0]
    assert first.result.failed_record_count > 50 and first.result.output_record_count > 2500
    assert first.staged_rows == sorted(first.staged_rows)
    for other in outcomes[1:]:
        assert other.staged == first.staged
        assert other.failed == first.failed
        assert other.result.errors == first.result.errors
        assert (other.result.input_record_count, other.result.line_count) == (
            first.result.input_record_count,
            first.result.line_count,
        )


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_blocks_in_flight_do_not_grow_with_the_workers(workers: int) -> None:
    held, ahead = depths(workers)
    assert held >= workers and ahead >= 1  # every worker has a block; the reader can cut one
    assert held + ahead == max(IN_FLIGHT, workers + 1)


@pytest.mark.parametrize("last", ["done", "error"])
def test_prefetch_closed_early_does_not_wait_for_ever(last: str) -> None:
    """The consumer stops (an error in a block) while the producer, its items all made, puts
    the end marker or its own error into a full queue: closing must still return (it hung in
    the fuzz test, about one run in ten)."""
    made = threading.Event()

    def items() -> Iterator[int]:
        yield from range(2)  # the consumer takes the first; the second fills the queue (depth 1)
        made.set()
        if last == "error":
            raise ValueError("the reader failed after the consumer had gone")

    closed = threading.Event()

    def consume() -> None:
        units = prefetch(items(), depth=1)
        next(units)
        assert made.wait(5)  # the producer is at its final put, the queue full
        time.sleep(0.2)
        units.close()
        closed.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(10)
    assert closed.is_set()
