"""What ``batchgate query`` reports instead of a traceback: one line a person can act on."""

from __future__ import annotations

from typing import Literal

Kind = Literal["sql", "unsupported", "ambiguous", "unknown-table", "read"]


class QueryError(Exception):
    """A query that cannot run, with the reason on one line."""

    def __init__(self, message: str, *, kind: Kind = "sql") -> None:
        first_line = message.strip().splitlines()[0] if message.strip() else "the query failed"
        super().__init__(first_line)
        self.message = first_line
        self.kind = kind


class AmbiguousName(QueryError):
    """A table name that two or more datasets share."""

    def __init__(self, name: str, dataset_ids: list[str]) -> None:
        ids = ", ".join(dataset_ids)
        super().__init__(
            f"table name {name!r} matches {len(dataset_ids)} datasets ({ids}); pick one by its id: "
            f"FROM ds_{dataset_ids[0]} (SHOW TABLES lists every dataset with its id)",
            kind="ambiguous",
        )
        self.name = name
        self.dataset_ids = dataset_ids
