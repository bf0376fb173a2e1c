"""Query benchmark: ``batchgate query`` before and after pushdown, against DuckDB on the same files.

A dataset table of ``--query-rows`` profile rows (12 columns, ``benchmarks.datagen``) is built
through the lake's own path: staged Parquet files, one per batch (``--query-batches``), each
promoted into an Iceberg table (SqlCatalog on sqlite, a ``file://`` warehouse on local disk, so
DuckDB can read the very same data files). Two queries:

  lookup    SELECT * FROM profiles WHERE id = '<one id>'            (a filtered point lookup)
  group_by  SELECT tier, count(*), avg(age) FROM profiles GROUP BY tier

each by three methods:

  before    a faithful copy of the old ``batchgate_tools.query.query``: the whole table read with
            ``scan().to_arrow()`` and registered in DuckDB
  after     the new engine (``batchgate_tools.query.run_query``): DuckDB's parser, the pushdown
            planner, a streamed pyiceberg scan with row filter and selected columns, reverted /
            aborted batches left out; the CLI adds to it only the API calls that find the
            datasets (not measured here: they need a running stack)
  duckdb    DuckDB alone, ``read_parquet([...])`` over the table's current data files

Every case runs in its own subprocess (so peak RSS, ``VmHWM``, is that case's), after its imports
and after opening the catalog (so the clock measures the query: loading the table's metadata,
planning, reading, DuckDB; the RSS includes each method's libraries); ``--query-rounds``
rounds interleave the methods. Reported: the fastest time, the peak RSS and the part of it the
query added after the imports, and the ratios to DuckDB (the median of the per-round time
ratios). The three methods must give the same answer. Nothing here asserts a time.
Results: ``benchmarks/results/query.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._process import run_module

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "query.json"
METHODS = ("before", "after", "duckdb")
QUERIES = {
    "lookup": "SELECT * FROM profiles WHERE id = '{id}'",
    "group_by": "SELECT tier, count(*) AS n, avg(age) AS mean_age FROM profiles GROUP BY tier ORDER BY tier",
}
ROW_GROUP = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("query")
    group.add_argument("--query-rows", type=int, default=2_000_000, help="table rows (default 2,000,000)")
    group.add_argument("--query-batches", type=int, default=8, help="batches (one data file each)")
    group.add_argument("--query-rounds", type=int, default=3, help="interleaved rounds")


# -- the table ----------------------------------------------------------------------------------
def build_table(workdir: Path, rows: int, batches: int) -> dict[str, Any]:
    """Stage one Parquet file per batch as the validators do, promote each; describe the result."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from batchgate.core.models import Dataset
    from batchgate.core.schema import arrow_schema
    from batchgate.lake.catalog import LakeSettings, load_catalog
    from batchgate.lake.promote import promote
    from batchgate.lake.tables import ensure_table, table_identifier
    from benchmarks.datagen import FIELDS, _table, columns

    settings = LakeSettings(
        catalog_type="sql", warehouse=f"file://{workdir}/warehouse", sql_uri=str(workdir / "catalog.db")
    )
    catalog = load_catalog(settings)
    dataset = Dataset.model_validate(
        {
            "id": "bench0query",
            "name": "profiles",
            "org": "bench",
            "sandbox": "prod",
            "created": 0,
            "updated": 0,
            "table": table_identifier("bench", "prod", "bench0query"),
            "schema": {"fields": FIELDS},
        }
    )
    ensure_table(catalog, dataset)
    schema = arrow_schema(dataset.schema_, lineage=True)
    per_batch = -(-rows // batches)
    for b in range(batches):
        batch_id = f"01BENCH{b:019d}"
        path = workdir / "staged" / batch_id / "part-0.parquet"
        path.parent.mkdir(parents=True)
        first, last = b * per_batch, min(rows, (b + 1) * per_batch)
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(first, last, ROW_GROUP):
                n = min(ROW_GROUP, last - start)
                data = _table(columns(start, n))
                lineage = {
                    "_batch_id": pa.repeat(pa.scalar(batch_id), n),
                    "_source_file": pa.repeat(pa.scalar("profiles.parquet"), n),
                    "_source_row": pa.array(range(start - first, start - first + n), pa.int64()),
                }
                arrays = [
                    data.column(f.name) if f.name in data.column_names else lineage[f.name] for f in schema
                ]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        promote(catalog, dataset, batch_id, [f"file://{path}"])
    table = catalog.load_table(dataset.table)
    files = sorted(t.file.file_path.removeprefix("file://") for t in table.scan().plan_files())
    return {
        "catalog": str(workdir / "catalog.db"),
        "warehouse": f"file://{workdir}/warehouse",
        "dataset": dataset.model_dump(mode="json", by_alias=True),
        "files": files,
        "bytes": sum(Path(f).stat().st_size for f in files),
        "lookup_id": f"u{rows * 5 // 8 + 17:09d}",
    }


# -- the methods, each in a fresh process -------------------------------------------------------
def query_before(catalog: Any, sql: str, tables: dict[str, str]) -> Any:
    """The old ``batchgate_tools.query.query`` (main before issue 13), as it was: every table
    loaded whole into an Arrow table, registered, then the SQL."""
    import duckdb
    import pyarrow as pa

    connection = duckdb.connect(config={"enable_external_access": False})
    try:
        for name, identifier in tables.items():
            table = catalog.load_table(identifier)
            scan = table.scan(row_filter="True", snapshot_id=None)
            connection.register(name, scan.to_arrow())
        relation = connection.sql(sql)
        if relation is None:
            return pa.table({})
        return relation.to_arrow_table()
    finally:
        connection.close()


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def case(method: str, query: str, spec_path: Path) -> dict[str, Any]:
    spec = json.loads(spec_path.read_text())
    sql = QUERIES[query].format(id=spec["lookup_id"])
    # Imports first, only this method's: the clock measures the query, the RSS includes them.
    import duckdb

    open_seconds = 0.0
    if method != "duckdb":
        from batchgate.core.models import Dataset
        from batchgate.lake.catalog import LakeSettings, load_catalog
        from batchgate_tools.query import CatalogDirectory, run_query

        settings = LakeSettings(catalog_type="sql", warehouse=spec["warehouse"], sql_uri=spec["catalog"])
        dataset = Dataset.model_validate(spec["dataset"])
        # Opening a SQL catalog (an SQLAlchemy engine, ~0.2 s) is a process's one-time cost, as
        # the imports are; the CLI asks the API instead. Timed apart, the same for both methods.
        opened = time.perf_counter()
        catalog = load_catalog(settings)
        open_seconds = time.perf_counter() - opened
    imported_mb = _rss_now_mb()
    started = time.perf_counter()
    if method == "before":
        result = query_before(catalog, sql, {"profiles": dataset.table})
    elif method == "after":
        result = run_query(sql, CatalogDirectory(catalog, [dataset]))
    else:
        with duckdb.connect() as connection:
            files = ", ".join(f"'{f}'" for f in spec["files"])
            connection.execute(f"CREATE VIEW profiles AS SELECT * FROM read_parquet([{files}])")
            result = connection.sql(sql).to_arrow_table()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 4),
        "catalog_open_seconds": round(open_seconds, 4),
        "rss_mb": round(_peak_rss_mb(), 1),
        "rss_after_imports_mb": round(imported_mb, 1),
        "rows_out": result.num_rows,
        "answer": _comparable(result.to_pylist()[:5]),
    }


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as JSON, floats rounded: parallel aggregation sums in any order."""
    text = json.dumps(rows, default=str)
    return [{k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()} for r in json.loads(text)]


# -- orchestration ------------------------------------------------------------------------------
def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    rows, batches, rounds = args.query_rows, args.query_batches, max(1, args.query_rounds)
    workdir = Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        _run(results, workdir, rows, batches, rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(results: dict[str, Any], workdir: Path, rows: int, batches: int, rounds: int) -> None:
    started = time.perf_counter()
    spec = build_table(workdir, rows, batches)
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    print(f"  table: {rows:,} rows in {len(spec['files'])} files, {spec['bytes'] / 2**20:.0f} MB "
          f"({time.perf_counter() - started:.1f} s to build)", flush=True)  # fmt: skip
    out: dict[str, Any] = {
        "rows": rows,
        "batches": batches,
        "data_files": len(spec["files"]),
        "data_mb": round(spec["bytes"] / 2**20, 1),
        "rounds": rounds,
        "storage": "local disk (file:// warehouse); catalog: SqlCatalog on sqlite",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "queries": {name: sql.format(id=spec["lookup_id"]) for name, sql in QUERIES.items()},
        "cases": {},
    }
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {q: {m: [] for m in METHODS} for q in QUERIES}
    for _ in range(rounds):
        for query in QUERIES:
            for method in METHODS:
                r = run_module("benchmarks.query", "--case", method, query, str(spec_path))
                runs[query][method].append(r)
                print(
                    f"  {query:9} {method:7} {r['seconds']:7.3f} s  peak rss {r['rss_mb']:7.1f} MB",
                    flush=True,
                )
    for query, by_method in runs.items():
        answers = {m: by_method[m][0]["answer"] for m in METHODS}
        if not (answers["before"] == answers["after"] == answers["duckdb"]):
            raise AssertionError(f"{query}: the methods disagree: {answers}")
        per: dict[str, Any] = {}
        for method in METHODS:
            found = by_method[method]
            per[method] = {
                "seconds": min(r["seconds"] for r in found),
                "all_seconds": [r["seconds"] for r in found],
                "rss_mb": max(r["rss_mb"] for r in found),
                "rss_after_imports_mb": max(r["rss_after_imports_mb"] for r in found),
                # what the query itself added to the process, the libraries' own memory aside
                "rss_query_mb": round(max(r["rss_mb"] - r["rss_after_imports_mb"] for r in found), 1),
                "rows_out": found[0]["rows_out"],
                "catalog_open_seconds": min(r["catalog_open_seconds"] for r in found),
            }
        for method in ("before", "after"):
            ratios = [
                round(m["seconds"] / d["seconds"], 2)
                for m, d in zip(by_method[method], by_method["duckdb"], strict=True)
            ]
            per[f"{method}_vs_duckdb_time"] = round(statistics.median(ratios), 2)
            per[f"{method}_vs_duckdb_time_rounds"] = ratios
            per[f"{method}_vs_duckdb_rss"] = round(per[method]["rss_mb"] / per["duckdb"]["rss_mb"], 2)
            per[f"{method}_vs_duckdb_rss_query"] = round(
                per[method]["rss_query_mb"] / per["duckdb"]["rss_query_mb"], 2
            )
        per["answer_sample"] = answers["after"][:3]
        out["cases"][query] = per
    results["query"] = out
    _summary(out)


def _summary(out: dict[str, Any]) -> None:
    print(f"\nquery, {out['rows']:,} rows (ratios: x DuckDB over the same Parquet files; lower is better)")
    print(
        f"{'query':9} {'method':7} {'seconds':>8} {'peak RSS MB':>12} {'of it query':>12} "
        f"{'time x':>7} {'RSS x':>6} {'query RSS x':>12}"
    )
    for query, per in out["cases"].items():
        for method in METHODS:
            r = per[method]
            tx = per.get(f"{method}_vs_duckdb_time", 1.0)
            rx = per.get(f"{method}_vs_duckdb_rss", 1.0)
            qx = per.get(f"{method}_vs_duckdb_rss_query", 1.0)
            print(
                f"{query:9} {method:7} {r['seconds']:>8.3f} {r['rss_mb']:>12.1f} {r['rss_query_mb']:>12.1f} "
                f"{tx:>7} {rx:>6} {qx:>12}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--case", nargs=3, metavar=("METHOD", "QUERY", "SPEC"))
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.case:
        method, query, spec = args.case
        print(json.dumps(case(method, query, Path(spec))))
        return
    results: dict[str, Any] = {}
    run(results, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results["query"], indent=2) + "\n")


if __name__ == "__main__":
    main()
