"""Run SQL over datasets: parse, bind names, plan the scans, let DuckDB stream them.

1. DuckDB's parser reads the SQL (:mod:`.parse`); SHOW TABLES is answered from the datasets.
2. Each table name the SQL reads is bound to a dataset (:mod:`.datasets`), ambiguity refused.
3. The planner works out each dataset's columns and row filter (:mod:`.pushdown`).
4. Each dataset is registered as a stream source over a pyiceberg scan with that filter and
   those columns, leaving out reverted and aborted batches as the rows API does (:mod:`.sources`).
5. DuckDB runs the SQL as written, filters included: what the scans return is a superset.

The connection has external access disabled, so the SQL sees these tables and nothing of the
local file system or the network, and its time zone is UTC, the time zone batchgate stores.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.table import Table

from batchgate.core.schema import arrow_schema
from batchgate_tools.query.datasets import DatasetEntry, Directory, Names
from batchgate_tools.query.errors import QueryError
from batchgate_tools.query.parse import Statement, base_table_names, parse, show_tables
from batchgate_tools.query.predicates import Column
from batchgate_tools.query.pushdown import ScanPlan, TableColumns, plan_scans
from batchgate_tools.query.sources import ScanSource, table_source


def run_query(sql: str, directory: Directory, **source_options: Any) -> pa.Table:
    """The result of ``sql`` over the datasets of ``directory``; ``QueryError`` with one line
    saying why when it cannot run."""
    statements = parse(sql)
    shown = show_tables(statements)
    if shown is not None:
        return Names(directory.entries()).listing(expanded=shown == "all")
    # A query that reads no table (SELECT 1) need not list the datasets.
    bound = _bind(statements, Names(directory.entries()), directory) if base_table_names(statements) else {}
    plans = plan_scans(statements, {name: TableColumns(_columns(e, t)) for name, (e, t) in bound.items()})
    try:
        return _execute(sql, bound, plans, directory, source_options)
    except duckdb.BinderException as exc:
        if all(plan.columns is None for plan in plans.values()):
            raise QueryError(_first_line(exc)) from exc
    # A column the planner did not see named (it reads more when unsure, so this is a gap in
    # it, or the SQL names a column no table has): run again with every column, keeping the
    # filters, which do not depend on the columns read.
    every = {name: ScanPlan(None, plan.row_filter) for name, plan in plans.items()}
    try:
        return _execute(sql, bound, every, directory, source_options)
    except duckdb.BinderException as exc:
        raise QueryError(_first_line(exc)) from exc


def _bind(
    statements: list[Statement], names: Names, directory: Directory
) -> dict[str, tuple[DatasetEntry, Table | None]]:
    ctes = _cte_names(statements)
    bound: dict[str, tuple[DatasetEntry, Table | None]] = {}
    for name in sorted(base_table_names(statements)):
        if name in ctes and names.is_ambiguous(name):
            continue  # the query's own CTE; DuckDB says so if a dataset was meant
        entry = names.resolve(name)
        if entry is not None:
            bound[name] = (entry, directory.open(entry))
    return bound


def _cte_names(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for entry in (item.get("cte_map") or {}).get("map") or []:
                found.add(str(entry.get("key", "")).lower())
            if item.get("type") == "RECURSIVE_CTE_NODE":
                found.add(str(item.get("cte_name", "")).lower())
            stack.extend(item.values())
    return found


def _columns(entry: DatasetEntry, table: Table | None) -> list[Column]:
    if table is None:
        return [Column(name, None) for name in arrow_schema(entry.schema, lineage=True).names]
    return [Column(f.name, f.field_type) for f in table.schema().fields]


def _execute(
    sql: str,
    bound: dict[str, tuple[DatasetEntry, Table | None]],
    plans: dict[str, ScanPlan],
    directory: Directory,
    source_options: dict[str, Any],
) -> pa.Table:
    connection = duckdb.connect(config={"enable_external_access": False})
    try:
        connection.execute("SET TimeZone = 'UTC'")
        for name, (entry, table) in bound.items():
            if table is None:
                source = ScanSource(arrow_schema(entry.schema, lineage=True), **source_options)
            else:
                source = table_source(table, entry, plans[name], directory.is_aborted, **source_options)
            connection.register(name, source)
        relation = connection.sql(sql)
        if relation is None:  # a statement without a result
            return pa.table({})
        return relation.to_arrow_table()
    except duckdb.BinderException:
        raise
    except duckdb.CatalogException as exc:
        raise QueryError(
            f"{_first_line(exc)} (SHOW TABLES lists the datasets)", kind="unknown-table"
        ) from exc
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from exc
    finally:
        connection.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
