"""The pushdown planner on DuckDB's parse trees: which columns and rows each dataset's scan keeps."""

from __future__ import annotations

import datetime as dt

import pytest
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    NotNull,
    Or,
)
from pyiceberg.types import BooleanType, DateType, DoubleType, LongType, StringType, TimestamptzType

from batchgate_tools.query.parse import parse
from batchgate_tools.query.predicates import Column
from batchgate_tools.query.pushdown import ScanPlan, TableColumns, plan_scans

PROFILES = TableColumns(
    [
        Column("id", StringType()),
        Column("age", LongType()),
        Column("tier", StringType()),
        Column("score", DoubleType()),
        Column("seen", TimestamptzType()),
        Column("born", DateType()),
        Column("active", BooleanType()),
        Column("_batch_id", StringType()),
    ]
)
ORDERS = TableColumns(
    [Column("order_id", StringType()), Column("id", StringType()), Column("total", DoubleType())]
)
EVERYTHING = None


def plan(sql: str) -> dict[str, ScanPlan]:
    return plan_scans(parse(sql), {"profiles": PROFILES, "orders": ORDERS})


def filter_of(sql: str, table: str = "profiles") -> BooleanExpression:
    return plan(sql)[table].row_filter


def columns_of(sql: str, table: str = "profiles") -> tuple[str, ...] | None:
    return plan(sql)[table].columns


def test_a_point_lookup_pushes_its_predicate_and_a_group_by_reads_one_column() -> None:
    assert filter_of("SELECT * FROM profiles WHERE id = 'p42'") == EqualTo("id", "p42")
    assert columns_of("SELECT * FROM profiles WHERE id = 'p42'") is EVERYTHING
    assert columns_of("SELECT tier, count(*) FROM profiles GROUP BY tier") == ("tier",)
    assert filter_of("SELECT tier, count(*) FROM profiles GROUP BY tier") == AlwaysTrue()
    assert columns_of("SELECT count(*) FROM profiles") == ("_batch_id",), "rows need one column"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("age >= 30 AND tier = 'gold'", And(GreaterThanOrEqual("age", 30), EqualTo("tier", "gold"))),
        ("30 > age", LessThan("age", 30)),
        ("tier IN ('gold', 'silver')", In("tier", {"gold", "silver"})),
        ("tier IS NULL", IsNull("tier")),
        ("tier IS NOT NULL", NotNull("tier")),
        ("age BETWEEN 20 AND 29", And(GreaterThanOrEqual("age", 20), LessThanOrEqual("age", 29))),
        ("tier = 'gold' OR age < 3", Or(EqualTo("tier", "gold"), LessThan("age", 3))),
        ("AGE < 3", LessThan("age", 3)),  # DuckDB's names are case-insensitive
        ("p.age < 3", LessThan("age", 3)),
        ("score < 0.5", LessThan("score", 0.5)),
        ("score = 1", EqualTo("score", 1.0)),
        ("active = true", EqualTo("active", True)),
        ("born = '2026-05-06'", EqualTo("born", dt.date(2026, 5, 6))),
        ("born = DATE '2026-05-06'", EqualTo("born", dt.date(2026, 5, 6))),
        (
            "seen >= '2026-05-06 10:00'",
            GreaterThanOrEqual("seen", dt.datetime(2026, 5, 6, 10, tzinfo=dt.UTC)),
        ),
        (
            "seen < TIMESTAMPTZ '2026-05-06T12:00:00+02:00'",
            LessThan("seen", dt.datetime(2026, 5, 6, 10, tzinfo=dt.UTC)),
        ),
        ("seen < '2026-05-06'::DATE", LessThan("seen", dt.datetime(2026, 5, 6, tzinfo=dt.UTC))),
    ],
)
def test_simple_predicates_are_pushed(where: str, expected: BooleanExpression) -> None:
    assert filter_of(f"SELECT id FROM profiles p WHERE {where}") == expected


@pytest.mark.parametrize(
    "where",
    [
        "age < 30.5",  # a decimal against an integer: rounding would drop rows
        "age = '30'",  # a string DuckDB would cast: not pushed, not guessed
        "score > 0.5",  # DuckDB orders NaN above every number; Arrow compares it false
        "score >= 0.5",
        "score <> 0.5",
        "active < true",
        "age + 1 = 3",
        "abs(age) = 3",
        "age = NULL",
        "age = 12345678901234567890",
        "seen > '2026-5-6'",  # not ISO 8601 as both read it
        "seen > '2026-05-06 10:00+02'::TIMESTAMP",
        "tier = 'gold' OR age + 1 = 3",  # one branch cannot go: the OR cannot
        "tier NOT IN ('gold')",
        "tier LIKE 'g%'",
        "age IN (SELECT 1)",
        "age = ?",
    ],
)
def test_predicates_that_could_drop_rows_duckdb_keeps_are_not_pushed(where: str) -> None:
    assert filter_of(f"SELECT id FROM profiles WHERE {where}") == AlwaysTrue()


def test_pushable_conjuncts_go_and_the_others_stay_with_duckdb() -> None:
    assert filter_of("SELECT id FROM profiles WHERE age > 3 AND lower(tier) = 'x'") == GreaterThan("age", 3)
    assert filter_of("SELECT id FROM profiles WHERE (age > 3 AND lower(tier) = 'x') OR id = 'a'") == Or(
        GreaterThan("age", 3), EqualTo("id", "a")
    )


def test_joins_push_each_sides_own_conjuncts() -> None:
    sql = "SELECT * FROM profiles p JOIN orders o ON p.id = o.id WHERE p.age > 30 AND o.total < 5 AND order_id = 'x'"
    assert plan(sql)["profiles"].row_filter == GreaterThan("age", 30)
    assert plan(sql)["orders"].row_filter == And(LessThan("total", 5.0), EqualTo("order_id", "x"))
    # `id` is a column of both: unqualified, it is DuckDB's error to raise, not ours to guess
    assert filter_of("SELECT 1 FROM profiles, orders WHERE id = 'a'") == AlwaysTrue()
    # a subquery in FROM could have any columns: unqualified names are not bound past it
    assert filter_of("SELECT 1 FROM profiles, (SELECT 1 AS age) s WHERE age = 1") == AlwaysTrue()
    assert filter_of("SELECT 1 FROM profiles p, (SELECT 1 AS x) s WHERE p.age = 1") == EqualTo("age", 1)


def test_outer_joins_keep_is_null_on_the_nullable_side() -> None:
    left = "SELECT * FROM orders o LEFT JOIN profiles p ON o.id = p.id WHERE {}"
    assert filter_of(left.format("p.tier IS NULL")) == AlwaysTrue(), "the anti-join pattern"
    assert filter_of(left.format("p.tier = 'gold'")) == EqualTo("tier", "gold")
    assert filter_of(left.format("o.total IS NULL"), "orders") == IsNull("total")
    full = "SELECT * FROM orders o FULL JOIN profiles p ON o.id = p.id WHERE o.total IS NULL"
    assert filter_of(full, "orders") == AlwaysTrue()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM profiles p SEMI JOIN orders o ON p.id = o.id WHERE p.age = 1",
        "SELECT * FROM profiles p ANTI JOIN orders o ON p.id = o.id WHERE p.age = 1",
        "SELECT * FROM profiles p POSITIONAL JOIN orders o WHERE p.age = 1",
        "SELECT * FROM profiles p NATURAL JOIN orders o WHERE p.age = 1",
        "SELECT * FROM profiles p TABLESAMPLE 10% WHERE p.age = 1",
        "SELECT * FROM profiles WHERE age = 1 USING SAMPLE 10%",
        "WITH profiles AS (SELECT * FROM profiles WHERE age = 1) SELECT * FROM profiles WHERE age = 1",
        "SELECT * FROM profiles AS p(a, b) WHERE b = 1",
    ],
)
def test_constructs_a_filtered_scan_could_change_get_no_filter(sql: str) -> None:
    assert filter_of(sql) == AlwaysTrue()


def test_a_table_read_twice_gets_the_or_of_its_reads() -> None:
    sql = "SELECT * FROM profiles a JOIN profiles b ON a.id = b.id WHERE a.age = 1 AND b.age = 2"
    assert filter_of(sql) == Or(EqualTo("age", 1), EqualTo("age", 2))
    assert filter_of("SELECT id FROM profiles WHERE age = 1 UNION SELECT id FROM profiles") == AlwaysTrue()
    union = "SELECT id FROM profiles WHERE age = 1 UNION ALL SELECT id FROM profiles WHERE tier = 'x'"
    assert filter_of(union) == Or(EqualTo("age", 1), EqualTo("tier", "x"))
    nested = "SELECT * FROM orders WHERE id IN (SELECT id FROM profiles WHERE age = 7)"
    assert filter_of(nested) == EqualTo("age", 7)
    assert columns_of(nested) == ("age", "id")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT p.* FROM profiles p JOIN orders o USING (id)", EVERYTHING),
        ("SELECT o.* FROM profiles p JOIN orders o USING (id)", ("id",)),
        ("SELECT COLUMNS('a.*') FROM profiles", EVERYTHING),
        ("SELECT * EXCLUDE (id) FROM profiles", EVERYTHING),
        ("SELECT p FROM profiles p", EVERYTHING),  # the table as a struct value
        ("SELECT * FROM profiles NATURAL JOIN orders", EVERYTHING),
        ("DESCRIBE profiles", EVERYTHING),
        ("SELECT * FROM (SELECT tier FROM profiles) s", ("tier",)),
        ("SELECT max(age) FILTER (WHERE tier = 'x') FROM profiles", ("age", "tier")),
        ("SELECT id FROM profiles ORDER BY seen DESC", ("id", "seen")),
        ("SELECT sum(age) OVER (PARTITION BY tier ORDER BY born) FROM profiles", ("age", "born", "tier")),
        ("SELECT o.total FROM orders o JOIN profiles p USING (id)", ("id",)),
        (
            "SELECT 1 FROM profiles HAVING max(score) > 1 QUALIFY row_number() OVER (ORDER BY ID) = 1",
            ("id", "score"),
        ),
    ],
)
def test_columns_are_every_name_the_query_uses_or_all_when_it_cannot_tell(
    sql: str, expected: tuple[str, ...] | None
) -> None:
    assert columns_of(sql) == expected


def test_tables_that_are_not_datasets_are_left_alone() -> None:
    plans = plan_scans(
        parse("SELECT * FROM other JOIN profiles USING (id) WHERE age = 1"), {"profiles": PROFILES}
    )
    assert set(plans) == {"profiles"}
    assert plans["profiles"].row_filter == AlwaysTrue(), "`age` could be a column of `other`"
    qualified = plan_scans(
        parse("SELECT * FROM other JOIN profiles p USING (id) WHERE p.age = 1"), {"profiles": PROFILES}
    )
    assert qualified["profiles"].row_filter == EqualTo("age", 1)
    assert plan_scans(parse("SELECT * FROM information_schema.profiles"), {"profiles": PROFILES}) == {}
