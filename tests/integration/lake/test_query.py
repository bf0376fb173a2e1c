"""`batchgate query`'s engine on real Iceberg tables: the same answers as DuckDB over the whole
visible tables, with the scans narrowed, hidden batches left out, and names that are refused."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.expressions import AlwaysTrue, EqualTo, NotIn

from batchgate.core.models import Dataset, DatasetSchema
from batchgate.lake.promote import promote
from batchgate.lake.revert import revert
from batchgate.lake.tables import ensure_table
from batchgate_tools.query import AmbiguousName, CatalogDirectory, QueryError, run_query
from tests.conftest import TemplateAws
from tests.integration.lake.helpers import Lake, make_lake

SCHEMA = DatasetSchema.model_validate(
    {
        "fields": [
            {"name": "id", "type": "string", "required": True},
            {"name": "age", "type": "integer"},
            {"name": "tier", "type": "string"},
            {"name": "score", "type": "number", "allowNonFinite": True},
            {"name": "seen", "type": "timestamp"},
            {"name": "born", "type": "date"},
        ]
    }
)
START = dt.datetime(2026, 5, 6, tzinfo=dt.UTC)


def dataset(lake: Lake, name: str) -> Dataset:
    ds = lake.dataset().model_copy(update={"name": name, "schema_": SCHEMA})
    ds = ds.model_copy(update={"table": ds.table + "_q"})
    ensure_table(lake.catalog, ds)
    return ds


def rows(prefix: str, n: int, offset: int = 0) -> list[dict[str, Any]]:
    tiers = ["gold", "silver", "bronze", None]
    return [
        {
            "id": f"{prefix}{i}",
            "age": None if i % 7 == 6 else 18 + (i + offset) % 40,
            "tier": tiers[i % 4],
            "score": math.nan if i % 9 == 4 else ((i * 37) % 100) / 100,
            "seen": START + dt.timedelta(hours=6 * i),
            "born": dt.date(2000, 1, 1) + dt.timedelta(days=i),
        }
        for i in range(n)
    ]


def land(lake: Lake, ds: Dataset, batch: str, data: list[dict[str, Any]]) -> None:
    promote(lake.catalog, ds, batch, [lake.stage(ds, batch, data, name=f"{batch}-part")])


def whole_tables(lake: Lake, named: dict[str, Dataset], hidden: set[str]) -> dict[str, pa.Table]:
    """What the old `batchgate query` registered: every visible row of every table, in memory."""
    out = {}
    for name, ds in named.items():
        table = lake.catalog.load_table(ds.table)
        out[name] = table.scan(row_filter=NotIn("_batch_id", hidden) if hidden else AlwaysTrue()).to_arrow()
    return out


def normal(found: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows in a stable order, NaN spelled out (NaN equals nothing, itself included)."""
    return sorted(
        (tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in row) for row in found),
        key=repr,
    )


def reference(sql: str, tables: dict[str, pa.Table]) -> list[tuple[Any, ...]]:
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        for name, table in tables.items():
            connection.register(name, table)
        return connection.sql(sql).fetchall()


QUERIES = [
    "SELECT * FROM people WHERE id = 'a13'",
    "SELECT tier, count(*), sum(age), min(born) FROM people GROUP BY tier",
    "SELECT id FROM people WHERE score > 0.5",  # NaN sorts above every number in DuckDB
    "SELECT id FROM people WHERE score < 0.5 OR score = 1",
    "SELECT id FROM people WHERE age BETWEEN 20 AND 25 AND tier IN ('gold', 'silver')",
    "SELECT id, seen FROM people WHERE seen >= '2026-05-08 12:00' AND seen < TIMESTAMPTZ '2026-05-10T02:00:00+02:00'",
    "SELECT count(*) FROM people WHERE born = '2000-01-05' OR born > DATE '2000-01-30'",
    "SELECT count(*) FROM people WHERE tier IS NULL OR age IS NULL",
    "SELECT a.id, b.id FROM people a JOIN people b ON a.age = b.age WHERE a.tier = 'gold' AND b.tier = 'bronze'",
    "SELECT o.id FROM orders o LEFT JOIN people p ON o.id = p.id WHERE p.tier IS NULL",
    "SELECT o.id, p.tier FROM orders o LEFT JOIN people p USING (id) WHERE p.age > 30",
    "WITH old AS (SELECT * FROM people WHERE age > 40) SELECT tier, count(*) FROM old WHERE tier <> 'gold' GROUP BY 1",
    "SELECT id FROM people WHERE id IN (SELECT id FROM orders WHERE age = 21)",
    "SELECT id FROM people WHERE age = 30 UNION ALL SELECT id FROM orders WHERE tier = 'silver'",
    "SELECT count(*) FROM people NATURAL JOIN orders",
    "SELECT people FROM people WHERE id = 'b1'",
    "SELECT _batch_id, count(*) FROM people GROUP BY ALL",
    "SELECT * FROM people ORDER BY id LIMIT 3",
]


@pytest.fixture(scope="module")
def two_datasets(
    tmp_path_factory: pytest.TempPathFactory, module_aws: TemplateAws
) -> tuple[Lake, dict[str, Dataset]]:
    """Built once for the module: the queries only read."""
    lake = make_lake("s3", tmp_path_factory.mktemp("query"), module_aws)
    people, orders = dataset(lake, "people"), dataset(lake, "orders")
    land(lake, people, "B1", rows("a", 40))
    land(lake, people, "B2", rows("b", 40, offset=5))
    land(lake, people, "B3", rows("x", 40))
    revert(lake.catalog, people, "B3")
    land(lake, orders, "C1", rows("a", 30, offset=3) + rows("z", 5))
    return lake, {"people": people, "orders": orders}


@pytest.mark.parametrize("sql", QUERIES)
def test_pushed_down_queries_answer_as_duckdb_over_the_whole_tables(
    two_datasets: tuple[Lake, dict[str, Dataset]], sql: str
) -> None:
    lake, named = two_datasets
    expected = reference(sql, whole_tables(lake, named, hidden={"B3"}))
    got = run_query(sql, CatalogDirectory(lake.catalog, list(named.values())))
    assert normal([tuple(r.values()) for r in got.to_pylist()]) == normal(expected)


def test_scans_get_the_plans_columns_and_filter_and_stream_each_scan(
    two_datasets: tuple[Lake, dict[str, Dataset]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchgate_tools.query import sources

    lake, named = two_datasets
    planned: list[dict[str, Any]] = []
    made: list[sources.ScanSource] = []
    real_plan, real_source = sources.plan_visible, sources.ScanSource.__init__

    def spy_plan(*args: Any, **kwargs: Any) -> Any:
        planned.append(kwargs)
        return real_plan(*args, **kwargs)

    def spy_source(self: sources.ScanSource, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        real_source(self, *args, **kwargs)

    monkeypatch.setattr(sources, "plan_visible", spy_plan)
    monkeypatch.setattr(sources.ScanSource, "__init__", spy_source)
    directory = CatalogDirectory(lake.catalog, list(named.values()))

    point = run_query("SELECT * FROM people WHERE id = 'a13'", directory)
    assert point.num_rows == 1
    assert planned[-1]["row_filter"] == EqualTo("id", "a13") and planned[-1]["selected_fields"] == ("*",)
    assert made[-1].scan is not None and "B3" in made[-1].scan.hidden, "the reverted batch is left out"
    assert made[-1].scan is not None and len(made[-1].scan.tasks) == 1, (
        "b's and x's files ruled out by bounds"
    )

    grouped = run_query("SELECT tier, count(*) FROM people GROUP BY tier", directory)
    assert sum(grouped.column("count_star()").to_pylist()) == 80
    assert planned[-1]["selected_fields"] == ("tier",) and made[-1].scan is not None
    assert made[-1].scan.schema.names == ["tier"]

    run_query("SELECT count(*) FROM people a JOIN people b USING (id)", directory)
    assert made[-1].streams == 2, "a self-join scans twice, each scan its own stream"


def test_aborted_landings_are_left_out_as_the_rows_api_does(s3lake: Lake) -> None:
    people = dataset(s3lake, "people")
    land(s3lake, people, "B1", rows("a", 5))
    land(s3lake, people, "B2", rows("b", 5))  # ABORT won during this commit; no revert yet
    directory = CatalogDirectory(s3lake.catalog, [people], is_aborted=lambda batch: batch == "B2")
    got = run_query("SELECT DISTINCT _batch_id FROM people", directory)
    assert got.column("_batch_id").to_pylist() == ["B1"]
    assert run_query("SELECT count(*) AS n FROM people WHERE id = 'b1'", directory).to_pylist() == [{"n": 0}]


def test_names_ambiguity_show_tables_and_errors(s3lake: Lake) -> None:
    first, second, empty = (
        dataset(s3lake, "profiles"),
        dataset(s3lake, "Profiles"),
        dataset(s3lake, "empty one"),
    )
    land(s3lake, first, "B1", rows("a", 3))
    land(s3lake, second, "B2", rows("b", 4))
    directory = CatalogDirectory(s3lake.catalog, [first, second, empty])

    with pytest.raises(AmbiguousName) as info:
        run_query("SELECT count(*) FROM profiles", directory)
    assert first.id in info.value.message and second.id in info.value.message and "ds_" in info.value.message
    assert run_query(f"SELECT count(*) AS n FROM DS_{second.id}", directory).to_pylist() == [{"n": 4}]
    assert run_query('SELECT count(*) AS n, min(age) AS m FROM "empty one"', directory).to_pylist() == [
        {"n": 0, "m": None}
    ]
    # a CTE of an ambiguous name is the query's own table
    assert run_query("WITH profiles AS (SELECT 1 AS x) SELECT x FROM profiles", directory).to_pylist() == [
        {"x": 1}
    ]

    listed = run_query("SHOW TABLES", directory).to_pylist()
    assert {(r["name"], r["id"], r["sql_name"]) for r in listed} == {
        ("profiles", first.id, f"ds_{first.id}"),
        ("Profiles", second.id, f"ds_{second.id}"),
        ("empty one", empty.id, "empty one"),
    }
    expanded = run_query("show all tables;", directory)
    assert "column_names" in expanded.column_names and expanded.num_rows == 3

    for sql, says in (
        ("SELEC 1", "Parser Error"),
        ("SELECT * FROM nowhere", "nowhere"),
        (f"SELECT nope FROM ds_{first.id}", "nope"),
        ("COPY (SELECT 1) TO 'x.csv'", "only queries"),
        ("SELECT * FROM read_csv('/etc/passwd')", "disabled"),
    ):
        with pytest.raises(QueryError) as failed:
            run_query(sql, directory)
        assert says in failed.value.message and "\n" not in failed.value.message, failed.value.message
