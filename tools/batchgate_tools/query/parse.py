"""SQL parsed by DuckDB's own parser (``json_serialize_sql``): the statements as JSON trees.

Using DuckDB's parser means the planner sees exactly the statement DuckDB will run — the same
identifiers, quoting, comments and dialect — with no second SQL grammar to drift from it.
``json_serialize_sql`` serialises queries only (SELECT, WITH, VALUES, FROM-first, SHOW, DESCRIBE);
anything else is refused before a table is read.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from batchgate_tools.query.errors import QueryError

Statement = dict[str, Any]

# What DuckDB turns SHOW TABLES and SHOW ALL TABLES into: a SHOW_REF naming these.
SHOW_TABLES = '"tables"'
SHOW_ALL_TABLES = "__show_tables_expanded"


def parse(sql: str) -> list[Statement]:
    """The statements of ``sql`` (each ``{"node": query node}``), or ``QueryError`` saying why not."""
    with duckdb.connect(config={"enable_external_access": False}) as connection:
        row = connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    parsed: dict[str, Any] = (
        json.loads(row[0]) if row else {"error": True, "error_message": "nothing to parse"}
    )
    if parsed.get("error"):
        message = str(parsed.get("error_message") or "cannot parse the query").splitlines()[0]
        if parsed.get("error_type") == "parser":
            raise QueryError(f"Parser Error: {message}")
        raise QueryError(
            f"only queries run here (SELECT, WITH, VALUES, SHOW TABLES, DESCRIBE): {message}",
            kind="unsupported",
        )
    statements: list[Statement] = list(parsed.get("statements") or [])
    if not statements:
        raise QueryError("the query is empty")
    return statements


def show_tables(statements: list[Statement]) -> str | None:
    """``"tables"`` or ``"all"`` when the query is SHOW TABLES or SHOW ALL TABLES, else ``None``."""
    if len(statements) != 1:
        return None
    node = statements[0]["node"]
    ref = node.get("from_table") or {}
    if node.get("type") != "SELECT_NODE" or ref.get("type") != "SHOW_REF" or node.get("where_clause"):
        return None
    if ref.get("show_type") != "SHOW_SPECIAL" or ref.get("query") is not None:
        return None
    return {SHOW_TABLES: "tables", SHOW_ALL_TABLES: "all"}.get(str(ref.get("table_name")))


def base_table_names(value: Any) -> set[str]:
    """Every table name the statements read (lower case: DuckDB's names are case-insensitive),
    CTE names included: whether a name means a CTE or a dataset is the planner's business."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if reads_table(item):
                found.add(item["table_name"].lower())
            stack.extend(item.values())
    return found


def reads_table(ref: dict[str, Any]) -> bool:
    """A table reference that names a table of this connection: ``FROM t``, or ``SHOW t``."""
    if not isinstance(ref.get("table_name"), str) or not ref["table_name"]:
        return False
    if ref.get("schema_name") not in ("", "main", None) or ref.get("catalog_name") not in ("", None):
        return False
    return ref.get("type") == "BASE_TABLE" or (
        ref.get("type") == "SHOW_REF" and ref.get("show_type") == "SHOW"
    )
