"""Datasets as SQL tables: the names a query may use, SHOW TABLES, and where tables come from.

Every dataset is a table named after it, and also ``ds_<id>``. Names are case-insensitive, as
DuckDB's are. A name two datasets share is refused (:class:`AmbiguousName`) rather than one of
them picked: the query would silently read whichever came first. ``ds_<id>`` always works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from batchgate.core.models import Dataset, DatasetSchema
from batchgate.lake.tables import identifier_of
from batchgate_tools.query.errors import AmbiguousName

ID_PREFIX = "ds_"


@dataclass(frozen=True)
class DatasetEntry:
    id: str
    name: str
    created: int  # epoch ms
    schema: DatasetSchema
    upsert: bool

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetEntry:
        return cls(dataset.id, dataset.name, dataset.created, dataset.schema_, dataset.tags.is_upsert)


class Directory(Protocol):
    """Where a query finds datasets and their tables (the API, or a catalog in tests)."""

    def entries(self) -> Sequence[DatasetEntry]: ...

    def open(self, entry: DatasetEntry) -> Table | None:
        """The dataset's table as it is now; ``None`` while no batch has created it."""
        ...

    def is_aborted(self, batch_id: str) -> bool:
        """The batch's status is ``aborted`` (its landing may not be compensated yet)."""
        ...


class Names:
    """SQL names → datasets."""

    def __init__(self, entries: Sequence[DatasetEntry]) -> None:
        self.entries = sorted(entries, key=lambda e: (e.name.lower(), e.created, e.id))
        self.by_id = {e.id.lower(): e for e in self.entries}
        self.by_name: dict[str, list[DatasetEntry]] = {}
        for entry in self.entries:
            self.by_name.setdefault(entry.name.lower(), []).append(entry)

    def resolve(self, name: str) -> DatasetEntry | None:
        """The dataset ``name`` means, ``None`` if none; ``AmbiguousName`` if several."""
        lower = name.lower()
        if lower.startswith(ID_PREFIX) and lower[len(ID_PREFIX) :] in self.by_id:
            return self.by_id[lower[len(ID_PREFIX) :]]
        found = self.by_name.get(lower, [])
        if len(found) > 1:
            raise AmbiguousName(name, [e.id for e in found])
        return found[0] if found else None

    def is_ambiguous(self, name: str) -> bool:
        return len(self.by_name.get(name.lower(), [])) > 1

    def sql_name(self, entry: DatasetEntry) -> str:
        """How a query names ``entry``: its name when that is unique, else ``ds_<id>``."""
        unique = len(self.by_name[entry.name.lower()]) == 1
        return entry.name if unique else f"{ID_PREFIX}{entry.id}"

    def listing(self, *, expanded: bool = False) -> pa.Table:
        """SHOW TABLES (``expanded``: SHOW ALL TABLES, with creation time, columns and upsert)."""
        rows: dict[str, list[object]] = {"name": [], "id": [], "sql_name": []}
        if expanded:
            rows |= {"created": [], "upsert": [], "column_names": []}
        for entry in self.entries:
            rows["name"].append(entry.name)
            rows["id"].append(entry.id)
            rows["sql_name"].append(self.sql_name(entry))
            if expanded:
                rows["created"].append(dt.datetime.fromtimestamp(entry.created / 1000, dt.UTC))
                rows["upsert"].append(entry.upsert)
                rows["column_names"].append([f.name for f in entry.schema.fields])
        schema = pa.schema(
            [
                ("name", pa.string()),
                ("id", pa.string()),
                ("sql_name", pa.string()),
                *(
                    [
                        ("created", pa.timestamp("ms", tz="UTC")),
                        ("upsert", pa.bool_()),
                        ("column_names", pa.list_(pa.string())),
                    ]
                    if expanded
                    else []
                ),
            ]
        )
        return pa.table(rows, schema=schema)


class CatalogDirectory:
    """Datasets whose tables are read straight from an Iceberg catalog (tests, benchmarks, and
    anything else running next to the catalog)."""

    def __init__(
        self,
        catalog: Catalog,
        datasets: Sequence[Dataset],
        is_aborted: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self.catalog = catalog
        self.datasets = {d.id: d for d in datasets}
        self._is_aborted = is_aborted

    def entries(self) -> Sequence[DatasetEntry]:
        return [DatasetEntry.of(d) for d in self.datasets.values()]

    def open(self, entry: DatasetEntry) -> Table | None:
        try:
            return self.catalog.load_table(identifier_of(self.datasets[entry.id]))
        except NoSuchTableError:
            return None

    def is_aborted(self, batch_id: str) -> bool:
        return self._is_aborted(batch_id)
