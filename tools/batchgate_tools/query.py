"""SQL over datasets: DuckDB reading Arrow scans of the Iceberg tables (``batchgate query "SQL"``).

Each name in ``tables`` is bound to an Arrow table read from that Iceberg table (DuckDB scans it
without copying). The scan is materialised, not streamed, because a streamed Arrow reader can be
scanned only once and SQL may read a table twice (self-joins, subqueries). Filters in the SQL are
not pushed into the Iceberg scan; pass ``filters`` (a pyiceberg row-filter string per name) to
prune files and rows when a table is large. The connection has external access disabled: the SQL sees only these tables,
never the local file system or the network.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog

from batchgate.core.errors import InvalidRequest

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def query(
    catalog: Catalog,
    sql: str,
    tables: dict[str, str],
    *,
    snapshots: dict[str, int] | None = None,
    filters: dict[str, str] | None = None,
) -> pa.Table:
    """Run ``sql`` with each ``tables`` key bound to the Iceberg table its value names.

    ``snapshots`` optionally pins a name to a snapshot id (time travel). A bad name, an unknown
    table or SQL DuckDB rejects raises ``InvalidRequest`` with DuckDB's message.
    """
    connection = duckdb.connect(config={"enable_external_access": False})
    try:
        for name, identifier in tables.items():
            if not _NAME.match(name):
                raise InvalidRequest(f"table name {name!r} must be a plain SQL identifier")
            try:
                table = catalog.load_table(identifier)
            except Exception as exc:
                raise InvalidRequest(f"table {identifier!r} for {name!r} cannot be loaded: {exc}") from exc
            scan = table.scan(
                row_filter=(filters or {}).get(name) or "True",
                snapshot_id=(snapshots or {}).get(name),
            )
            connection.register(name, scan.to_arrow())
        try:
            relation = connection.sql(sql)
        except duckdb.Error as exc:
            raise InvalidRequest(f"query failed: {exc}") from exc
        if relation is None:  # a statement without a result (SET, CREATE VIEW ...)
            return pa.table({})
        try:
            return relation.to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidRequest(f"query failed: {exc}") from exc
    finally:
        connection.close()
