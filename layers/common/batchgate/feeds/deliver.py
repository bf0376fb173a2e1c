"""Delivering a part: its rows read from the table's data files (or the plan's change files),
shaped to the feed's export schema, and then written as one part file (s3) or POSTed as items of
``batchSize`` records (webhook), each retried on 429 / 5xx / timeouts with exponential backoff and
full jitter, and failed at once on any other 4xx.
"""

from __future__ import annotations

import io
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyiceberg.io import FileIO

from batchgate.feeds.changes import OP_COLUMN
from batchgate.feeds.models import ExportFormat, WebhookDestination
from batchgate.lake.files import align, read_parquet
from batchgate.lake.read import json_safe

EXTENSIONS: dict[ExportFormat, str] = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv"}
CONTENT_TYPES: dict[ExportFormat, str] = {
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
}


def export_schema(table_schema: pa.Schema, columns: list[str]) -> pa.Schema:
    """The feed's columns (with lineage) and ``_op``, all nullable: a delete row carries only
    its identity and lineage."""
    fields = [table_schema.field(c).with_nullable(True) for c in columns]
    return pa.schema([*fields, pa.field(OP_COLUMN, pa.string(), nullable=False)])


def read_part(file_io: FileIO, files: list[str], schema: pa.Schema, op: str) -> pa.Table:
    """The part's rows in ``schema``: files written before a column was added lack it (null)."""
    tables = []
    for path in files:
        df = read_parquet(file_io, path)
        if OP_COLUMN not in df.column_names:
            df = df.append_column(OP_COLUMN, pa.array([op] * df.num_rows, pa.string()))
        tables.append(align(df, schema, where=path))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def encode(df: pa.Table, fmt: ExportFormat) -> bytes:
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(df, sink, compression="zstd")
    elif fmt == "csv":
        pacsv.write_csv(_flat(df), sink)
    else:
        for batch in df.to_batches(max_chunksize=10_000):
            for row in batch.to_pylist():
                sink.write(json.dumps(json_safe(row), separators=(",", ":")).encode() + b"\n")
    return sink.getvalue()


def _flat(df: pa.Table) -> pa.Table:
    """CSV has no nested values: lists and structs become their JSON text."""
    columns = []
    for column in df.columns:
        kind = column.type
        if (
            pa.types.is_struct(kind)
            or pa.types.is_list(kind)
            or pa.types.is_large_list(kind)
            or pa.types.is_map(kind)
        ):
            texts = [None if v is None else json.dumps(json_safe(v)) for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(texts, pa.string())])
        columns.append(column)
    return pa.table(dict(zip(df.column_names, columns, strict=True)))


def records(df: pa.Table, size: int) -> Iterator[list[dict[str, object]]]:
    """``df``'s rows as JSON-safe dicts, ``size`` at a time."""
    for start in range(0, df.num_rows, size):
        yield [json_safe(r) for r in df.slice(start, size).to_pylist()]


# -- webhooks -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    sent: bool
    attempts: int
    error: str | None = None


class Webhook:
    """POSTs items to one destination; ``sleep`` and ``remaining`` are the caller's (the task's
    time left bounds the backoff, so a slow destination fails items instead of the function)."""

    def __init__(
        self,
        destination: WebhookDestination,
        *,
        sleep: Callable[[float], None] = time.sleep,
        remaining: Callable[[], float] = lambda: 1e9,
    ) -> None:
        self.d = destination
        self.sleep = sleep
        self.remaining = remaining

    def post(self, body: bytes, idempotency_key: str) -> Outcome:
        error = "not sent"
        for attempt in range(1, self.d.maxAttempts + 1):
            if self.remaining() < self.d.timeoutSeconds + 5:
                return Outcome(False, attempt - 1, f"{error}; no time left in this sync's task to try again")
            retry, error = self._once(body, idempotency_key)
            if retry is None:
                return Outcome(True, attempt)
            if not retry or attempt == self.d.maxAttempts:
                return Outcome(False, attempt, error)
            # Exponential backoff with full jitter (AWS's advice), 0.5 s doubling, at most 20 s.
            delay = random.uniform(0, min(20.0, 0.5 * 2 ** (attempt - 1)))
            if self.remaining() < delay + self.d.timeoutSeconds + 5:
                return Outcome(False, attempt, f"{error} (no time left in this sync's task to retry)")
            self.sleep(delay)
        return Outcome(False, self.d.maxAttempts, error)

    def _once(self, body: bytes, idempotency_key: str) -> tuple[bool | None, str]:
        """(None, "") when delivered; (True, why) when worth retrying; (False, why) when not."""
        headers = {
            **self.d.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            "User-Agent": "batchgate-feed",
        }
        request = urllib.request.Request(self.d.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.d.timeoutSeconds) as response:
                response.read()
                return None, ""
        except urllib.error.HTTPError as exc:
            reason = f"{self.d.url} answered {exc.code} {exc.reason}"
            return (exc.code == 429 or exc.code >= 500), reason
        except TimeoutError:
            return True, f"{self.d.url} did not answer within {self.d.timeoutSeconds:g} s"
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return True, f"{self.d.url} could not be reached: {why}"
