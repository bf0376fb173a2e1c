"""Which columns and rows of each dataset a query needs: what the Iceberg scans may leave out.

The planner walks DuckDB's parse tree (:mod:`.parse`). Each place a dataset is read from is an
*occurrence* (a self-join has two); per dataset it works out

- the columns: every column the query names, wherever (select list, WHERE, ON, USING, GROUP
  BY, ORDER BY, subqueries), and all of them when it cannot tell (``*``, ``t.*``,
  ``COLUMNS(...)``, a NATURAL join, a table used as a value, renamed columns, or a construct
  it does not model);
- the row filter: for each occurrence, the conjuncts of its own SELECT's WHERE that touch only
  its columns and convert exactly (:mod:`.predicates`); an occurrence under a construct whose
  meaning a filtered scan could change (SEMI/ANTI/ASOF/POSITIONAL/NATURAL joins, TABLESAMPLE,
  table functions, PIVOT, a CTE of the same name) gets none. The dataset's filter is the OR of
  its occurrences' filters, so one scan serves them all.

DuckDB still runs the whole query on what the scans return, so a filter that keeps extra rows
costs time, never correctness. The planner's rule is therefore: when unsure, read more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.expressions import AlwaysTrue, BooleanExpression

from batchgate.lake.filters import all_of, any_of
from batchgate.lake.tables import BATCH_COLUMN
from batchgate_tools.query.parse import Statement, reads_table
from batchgate_tools.query.predicates import Column, conjuncts, to_expression

# The joins a WHERE conjunct may be pushed below (ref types and join types of DuckDB's tree).
_PLAIN_REFS = frozenset({"REGULAR", "CROSS"})
_PLAIN_JOINS = frozenset({"INNER", "LEFT", "RIGHT", "OUTER"})
_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_SELECT_PARTS = (
    "select_list",
    "where_clause",
    "group_expressions",
    "having",
    "qualify",
    "modifiers",
    "sample",
)


@dataclass(frozen=True)
class ScanPlan:
    """What to read of one dataset: ``columns`` (``None``: all of them) and the rows' filter."""

    columns: tuple[str, ...] | None
    row_filter: BooleanExpression


class TableColumns:
    """A dataset's top-level columns, found as DuckDB finds them: case-insensitively."""

    def __init__(self, columns: list[Column]) -> None:
        self.by_lower: dict[str, list[Column]] = {}
        for column in columns:
            self.by_lower.setdefault(column.name.lower(), []).append(column)

    def named(self, name: str) -> list[Column]:
        return self.by_lower.get(name.lower(), [])

    def one(self, name: str) -> Column | None:
        found = self.named(name)
        return found[0] if len(found) == 1 else None


@dataclass(eq=False)
class _Scope:
    """The items of one FROM clause; ``complete`` when every item is a dataset whose columns are
    known (only then does an unqualified column name say which item it belongs to)."""

    occurrences: list[_Occurrence] = field(default_factory=list)
    complete: bool = True


@dataclass(eq=False)
class _Occurrence:
    table: str  # lower-case name of the dataset as the query spells it
    alias: str  # lower case; the table's name when it has no alias
    filterable: bool
    nullable: bool  # on the nullable side of an outer join
    full: bool = False
    where: list[dict[str, Any]] = field(default_factory=list)
    scope: _Scope = field(default_factory=_Scope)


def plan_scans(statements: list[Statement], tables: Mapping[str, TableColumns]) -> dict[str, ScanPlan]:
    """A plan per dataset the statements read; ``tables`` maps lower-case SQL names to columns."""
    walker = _Walker({name.lower(): cols for name, cols in tables.items()})
    for statement in statements:
        walker.query_node(statement.get("node"), frozenset())
    return walker.plans()


class _Walker:
    def __init__(self, tables: Mapping[str, TableColumns]) -> None:
        self.tables = tables
        self.occurrences: list[_Occurrence] = []
        self.column_refs: list[list[str]] = []
        self.star_relations: set[str] = set()

    # -- query nodes ------------------------------------------------------------------------
    def query_node(self, node: Any, ctes: frozenset[str]) -> None:
        if not isinstance(node, dict):
            return
        entries = (node.get("cte_map") or {}).get("map") or []
        ctes = ctes | {str(entry.get("key", "")).lower() for entry in entries}
        for entry in entries:
            # A CTE's own name is in scope inside it too: there it may mean the CTE (recursive)
            # or the dataset; either way such a dataset is read whole.
            self.query_node((entry.get("value") or {}).get("query_node"), ctes)
        kind = node.get("type")
        if kind == "SELECT_NODE":
            self.select_node(node, ctes)
        elif kind == "SET_OPERATION_NODE":
            for child in [*(node.get("children") or []), node.get("left"), node.get("right")]:
                self.query_node(child, ctes)
            self.expressions(node.get("modifiers"), ctes, None)
        elif kind == "RECURSIVE_CTE_NODE":
            inner = ctes | {str(node.get("cte_name", "")).lower()}
            self.query_node(node.get("left"), inner)
            self.query_node(node.get("right"), inner)
            self.expressions(node.get("modifiers"), ctes, None)
        else:
            self.opaque(node)

    def select_node(self, node: dict[str, Any], ctes: frozenset[str]) -> None:
        scope = _Scope()
        # USING SAMPLE draws from the FROM clause's rows before WHERE: a filtered scan would
        # change what it draws from.
        filterable = not node.get("sample")
        self.from_ref(node.get("from_table"), ctes, scope, nullable=False, filterable=filterable)
        where = conjuncts(node.get("where_clause"))
        for occurrence in scope.occurrences:
            occurrence.where = where
            occurrence.scope = scope
        for part in _SELECT_PARTS:
            self.expressions(node.get(part), ctes, scope)

    # -- FROM -------------------------------------------------------------------------------
    def from_ref(
        self, ref: Any, ctes: frozenset[str], scope: _Scope, *, nullable: bool, filterable: bool
    ) -> None:
        if not isinstance(ref, dict):
            return
        kind = ref.get("type")
        if kind == "BASE_TABLE":
            self.base_table(ref, ctes, scope, nullable=nullable, filterable=filterable)
        elif kind == "JOIN":
            join, ref_type = ref.get("join_type"), ref.get("ref_type")
            plain = ref_type in _PLAIN_REFS and join in _PLAIN_JOINS
            before = len(scope.occurrences)
            self.from_ref(
                ref.get("left"),
                ctes,
                scope,
                nullable=nullable or join in ("RIGHT", "OUTER"),
                filterable=filterable and plain,
            )
            self.from_ref(
                ref.get("right"),
                ctes,
                scope,
                nullable=nullable or join in ("LEFT", "OUTER"),
                filterable=filterable and plain,
            )
            if ref_type == "NATURAL":  # joined on the columns both sides share, named nowhere
                for occurrence in scope.occurrences[before:]:
                    occurrence.full = True
            self.column_refs.extend([str(name)] for name in ref.get("using_columns") or [])
            self.expressions(
                {k: v for k, v in ref.items() if k not in ("left", "right", "using_columns")}, ctes, scope
            )
        elif kind == "SUBQUERY":
            scope.complete = False
            self.query_node((ref.get("subquery") or {}).get("node"), ctes)
        elif kind == "EMPTY":
            return
        else:  # VALUES, table functions, PIVOT, SHOW / DESCRIBE, anything newer
            scope.complete = False
            self.opaque(ref)

    def base_table(
        self, ref: dict[str, Any], ctes: frozenset[str], scope: _Scope, *, nullable: bool, filterable: bool
    ) -> None:
        name = str(ref.get("table_name", "")).lower()
        qualified = ref.get("schema_name") not in ("", "main", None) or ref.get("catalog_name") not in (
            "",
            None,
        )
        if qualified or name not in self.tables:
            scope.complete = False
            return
        shadowed = name in ctes
        if shadowed:
            scope.complete = False
        occurrence = _Occurrence(
            table=name,
            alias=str(ref.get("alias") or name).lower(),
            filterable=filterable and not shadowed and not ref.get("sample"),
            nullable=nullable,
            # Renamed columns (t AS x(a, b)) are named by position: read them all.
            full=shadowed or bool(ref.get("column_name_alias")),
        )
        scope.occurrences.append(occurrence)
        self.occurrences.append(occurrence)

    # -- expressions ------------------------------------------------------------------------
    def expressions(self, value: Any, ctes: frozenset[str], scope: _Scope | None) -> None:
        if isinstance(value, list):
            for item in value:
                self.expressions(item, ctes, scope)
            return
        if not isinstance(value, dict):
            return
        kind = value.get("class")
        if kind == "COLUMN_REF":
            self.column_refs.append([str(n) for n in value.get("column_names") or []])
            return
        if kind == "SUBQUERY":
            self.query_node((value.get("subquery") or {}).get("node"), ctes)
            self.expressions(value.get("child"), ctes, scope)
            return
        if kind == "STAR":
            self.star(value, scope)
        elif str(value.get("type")) == "BASE_TABLE" or str(value.get("type")) in _QUERY_NODES:
            self.opaque(value)
            return
        for item in value.values():
            self.expressions(item, ctes, scope)

    def star(self, star: dict[str, Any], scope: _Scope | None) -> None:
        relation = str(star.get("relation_name") or "").lower()
        if relation:
            self.star_relations.add(relation)
        for occurrence in scope.occurrences if scope is not None else []:
            if not relation or occurrence.alias == relation:
                occurrence.full = True

    def opaque(self, value: Any) -> None:
        """Something the planner does not model: every dataset read inside it is read whole."""
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                name = str(item.get("table_name", "")).lower()
                if reads_table(item) and name in self.tables:
                    occurrence = _Occurrence(
                        table=name, alias=name, filterable=False, nullable=True, full=True
                    )
                    self.occurrences.append(occurrence)
                if item.get("class") == "COLUMN_REF":
                    self.column_refs.append([str(n) for n in item.get("column_names") or []])
                stack.extend(item.values())

    # -- the plans --------------------------------------------------------------------------
    def plans(self) -> dict[str, ScanPlan]:
        out: dict[str, ScanPlan] = {}
        for table, columns in self.tables.items():
            occurrences = [o for o in self.occurrences if o.table == table]
            if not occurrences:
                continue
            aliases = {o.alias for o in occurrences}
            whole = (
                any(o.full for o in occurrences)
                or bool(aliases & self.star_relations)
                # the table as a value: SELECT p FROM profiles p
                or any(len(ref) == 1 and ref[0].lower() in aliases for ref in self.column_refs)
            )
            named = sorted({c.name for ref in self.column_refs for part in ref for c in columns.named(part)})
            # count(*) names no column, yet needs the rows: the partition column is the cheapest
            chosen = None if whole else tuple(named or [BATCH_COLUMN])
            filters = [self.row_filter(o, columns) for o in occurrences]
            out[table] = ScanPlan(columns=chosen, row_filter=any_of(filters))
        return out

    def row_filter(self, occurrence: _Occurrence, columns: TableColumns) -> BooleanExpression:
        if not occurrence.filterable:
            return AlwaysTrue()

        def bind(ref: dict[str, Any]) -> Column | None:
            names = [str(n) for n in ref.get("column_names") or []]
            if len(names) == 2 and names[0].lower() == occurrence.alias:
                return columns.one(names[1])
            if len(names) != 1 or not occurrence.scope.complete:
                return None
            others = [o for o in occurrence.scope.occurrences if o is not occurrence]
            if any(self.tables[o.table].named(names[0]) for o in others):
                return None  # the name could be another table's column
            return columns.one(names[0])

        parts = [
            e
            for c in occurrence.where
            if (e := to_expression(c, bind, nullable_side=occurrence.nullable)) is not None
        ]
        return all_of(parts)
