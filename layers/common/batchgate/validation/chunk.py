"""What every reader hands the engine: loosely typed rows plus the records it could not parse."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pyarrow as pa

from batchgate.validation.convert import Violation
from batchgate.validation.extra_columns import ExtraColumns


@dataclass
class Corrupt:
    """A record that never became a row: unparseable, undecodable or too large."""

    row: int
    raw: str | None
    code: str
    message: str
    values: Any = None


@dataclass
class Chunk:
    """Rows read from one block of a file.

    ``table`` has a column per top-level dataset field it could find (missing ones are nulls),
    loosely typed: the engine conforms it to the dataset's types. ``rows`` holds each row's number
    in the file. ``violations`` are problems a reader already found on table rows (masks aligned
    with ``table``); ``values`` overrides how a failed row's values are shown (row index → value).
    """

    table: pa.Table
    rows: pa.Array
    corrupt: list[Corrupt] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    values: dict[int, Any] = field(default_factory=dict)
    declared: bool = True
    strings_valid: bool = False  # the reader already checked every string is UTF-8
    # Extra columns the reader found without putting them in ``table`` (a CSV header's, a
    # Parquet file's unread ones, JSON fields of lines parsed in Python); those in ``table``
    # beyond the dataset's are found by the runner.
    extras: ExtraColumns | None = None

    @staticmethod
    def only_corrupt(corrupt: list[Corrupt]) -> Chunk:
        return Chunk(pa.table({}), pa.array([], pa.int64()), corrupt)


def truncate(raw: bytes | str) -> str:
    """Raw text kept for a corrupt record: at most ~1 KiB, undecodable bytes replaced."""
    if isinstance(raw, bytes):
        return raw[:1024].decode("utf-8", errors="replace")
    return raw[:1024]


# A reader hands out a block either parsed (a Chunk) or as the call that parses it: the runner
# runs those calls on worker threads, several blocks at once, and takes the results in order.
Deferred: TypeAlias = Callable[[], Iterable[Chunk]]
Unit: TypeAlias = Chunk | Deferred
