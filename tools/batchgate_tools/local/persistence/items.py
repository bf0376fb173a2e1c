"""The on-disk DynamoDB item store: ``data_dir/dynamodb.sqlite``, table ``items(tbl, pk, item)``.

``item`` is the DynamoDB JSON GetItem returns (binary as base64 text); ``pk`` is the item's key
as canonical JSON, so equal keys (``1`` and ``1.0``) are one row.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


def _canonical_value(value: Mapping[str, Any]) -> Any:
    """A key attribute value in a form where equal DynamoDB keys compare equal ("1.0" == "1")."""
    (kind, raw), *_ = value.items()
    if kind == "N":
        try:
            return {"N": str(Decimal(raw).normalize())}
        except InvalidOperation:
            return {"N": raw}
    return {kind: raw}


def canonical_key(key: Mapping[str, Any]) -> str:
    """The ``pk`` column of an item key: canonical JSON, equal for equal DynamoDB keys."""
    return json.dumps({k: _canonical_value(v) for k, v in key.items()}, sort_keys=True, separators=(",", ":"))


def table_name(name_or_arn: str) -> str:
    """The table's name, given its name or its ARN (which DynamoDB requests may use instead)."""
    if name_or_arn.startswith("arn:") and ":table/" in name_or_arn:
        return name_or_arn.split(":table/", 1)[1].split("/", 1)[0]
    return name_or_arn


class ItemStore:
    """The mirrored DynamoDB items in one SQLite file; callers hold ``lock`` around ``apply`` and ``drop_table``."""

    def __init__(self, path: Path, fsync: bool) -> None:
        self.lock = threading.Lock()
        # One connection shared by the server's threads, serialised by self.lock.
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction is in the WAL file (the OS has it), which
        # survives the process being killed; FULL also fsyncs it, which survives a power cut.
        self.db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS items (tbl TEXT NOT NULL, pk TEXT NOT NULL, item TEXT NOT NULL,"
            " PRIMARY KEY (tbl, pk)) WITHOUT ROWID"
        )

    def apply(self, upserts: list[tuple[str, str, str]], deletes: list[tuple[str, str]]) -> None:
        with contextlib.closing(self.db.cursor()) as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                cursor.executemany("INSERT OR REPLACE INTO items (tbl, pk, item) VALUES (?, ?, ?)", upserts)
                cursor.executemany("DELETE FROM items WHERE tbl = ? AND pk = ?", deletes)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise

    def drop_table(self, table: str) -> None:
        self.db.execute("DELETE FROM items WHERE tbl = ?", (table,))

    def tables(self) -> list[str]:
        with self.lock:
            return [row[0] for row in self.db.execute("SELECT DISTINCT tbl FROM items ORDER BY tbl")]

    def items(self, table: str) -> Iterator[dict[str, Any]]:
        """Items of ``table`` in key order, read in pages so the lock is never held for long."""
        last = ""
        while True:
            with self.lock:
                rows = self.db.execute(
                    "SELECT pk, item FROM items WHERE tbl = ? AND pk > ? ORDER BY pk LIMIT 500", (table, last)
                ).fetchall()
            if not rows:
                return
            for _, item in rows:
                yield json.loads(item)
            last = rows[-1][0]

    def close(self) -> None:
        with self.lock:
            self.db.close()


def wire_to_boto(value: Any) -> Any:
    """DynamoDB wire JSON (binary as base64 text) to what boto3's low-level client takes (bytes)."""
    (kind, raw), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64decode(raw)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in raw]}
    if kind == "M":
        return {"M": {k: wire_to_boto(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [wire_to_boto(v) for v in raw]}
    return {kind: raw}
