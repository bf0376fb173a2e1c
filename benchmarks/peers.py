"""Peers benchmark: validate a file and land it as Parquet, batchgate against what a user would pick.

On the same rows in CSV, JSON Lines and Parquet, for two datasets:
  profile  2,000,000 rows (``--peers-rows``), 6 columns: id (required), email (required, pattern,
           maxLength), name (maxLength), age (integer 0..150), tier (enum), country (enum);
           ~1.2 % of the rows break exactly one rule (out-of-range age, malformed email, unknown
           tier, overlong name, missing id)
  narrow   the same number of rows, 2 columns: id (required), age (integer 0..150), ~1.2 % bad
the cases, each in a process of its own (imports before the clock):
  arrow     pyarrow ``read_csv`` / ``read_json`` / ``read_table`` + ``write_table``, no checks:
            the baseline (1.00)
  polars    polars ``read_csv`` / ``read_ndjson`` / ``read_parquet`` with the schema, the same
            checks as one mask, good rows to Parquet, bad rows to NDJSON
  duckdb    DuckDB ``read_csv`` / ``read_json`` / ``read_parquet`` into a table with a check
            column, good rows ``COPY`` to Parquet, bad rows ``COPY`` to JSON
  dlt       ``pipeline.run(arrow table)`` to a local filesystem destination as Parquet (the table
            read with pyarrow); no checks at all
  batchgate ``validate_file`` on the local disk (staged Parquet and the failed-records file)
Each round runs every case once, the rounds interleaved (``--peers-rounds``, at least 3) so that
a busy neighbour slows them alike; the ratio is the baseline's time over the case's time within
a round (> 1: faster than the baseline), and the medians over the rounds are reported. The cases
that check must agree: the same good and bad counts as each other and as the generator's own
count of rows it broke, or the run fails. Nothing here asserts a time.
Run: ``make bench ARGS="--only peers"`` or ``python -m benchmarks.peers --rows 100000`` for a
small one. Results: ``benchmarks/results/peers.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._process import run_module

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "peers.json"
# dlt sends telemetry unless told not to (its case sets this too, before importing dlt).
_DLT_QUIET = {"RUNTIME__DLTHUB_TELEMETRY": "false"}
DATASETS = ("profile", "narrow")
FORMATS = ("csv", "json", "parquet")
CASES = ("arrow", "polars", "duckdb", "dlt", "batchgate")
CHECKING = ("polars", "duckdb", "batchgate")
BASELINE = "arrow"
EXT = {"csv": "csv", "json": "jsonl", "parquet": "parquet"}

EMAIL_PATTERN = "^[^@]+@[^@]+\\.[a-z]+$"
TIERS = ["gold", "silver", "bronze"]
COUNTRIES = ["FR", "DE", "US", "JP", "BR"]
FIELDS: dict[str, list[dict[str, Any]]] = {
    "profile": [
        {"name": "id", "type": "string", "required": True},
        {"name": "email", "type": "string", "required": True, "pattern": EMAIL_PATTERN, "maxLength": 254},
        {"name": "name", "type": "string", "maxLength": 40},
        {"name": "age", "type": "integer", "minimum": 0, "maximum": 150},
        {"name": "tier", "type": "string", "enum": TIERS},
        {"name": "country", "type": "string", "enum": COUNTRIES},
    ],
    "narrow": [
        {"name": "id", "type": "string", "required": True},
        {"name": "age", "type": "integer", "minimum": 0, "maximum": 150},
    ],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("peers")
    group.add_argument("--peers-rows", type=int, default=2_000_000, help="rows per file (default 2,000,000)")
    group.add_argument("--peers-rounds", type=int, default=3, help="interleaved rounds (default 3)")
    group.add_argument(
        "--peers-only", action="append", choices=CASES, help="run only these cases (the baseline always runs)"
    )


# -- data -------------------------------------------------------------------------------------
def generate(kind: str, rows: int) -> tuple[dict[str, Path], int]:
    """The dataset's rows as CSV, JSON Lines and Parquet (cached under benchmarks/data/), and how
    many rows break a rule. Rows are broken by their index, so every format holds the same rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    DATA.mkdir(parents=True, exist_ok=True)
    paths = {fmt: DATA / f"peers-{kind}-{rows}.{EXT[fmt]}" for fmt in FORMATS}
    rng = np.random.default_rng(18)
    # Which rule each row breaks: 0 none; 1 age out of range, 2 email, 3 tier, 4 name, 5 no id.
    draw = rng.random(rows)
    broken = np.zeros(rows, dtype=np.int8)
    broken[draw < 0.012] = 1
    if kind == "profile":
        broken[draw < 0.008] = 2
        broken[draw < 0.005] = 3
        broken[draw < 0.003] = 4
    broken[draw < 0.001] = 5
    bad = int((broken > 0).sum())
    if all(p.exists() for p in paths.values()):
        return paths, bad
    idx = np.arange(rows)
    ids = pa.array([f"u{i:09d}" for i in idx]).to_pylist()
    id_col = pa.array([None if b == 5 else v for v, b in zip(ids, broken.tolist(), strict=True)], pa.string())
    age = rng.integers(0, 100, rows)
    age = np.where(broken == 1, 150 + rng.integers(1, 100, rows), age)
    columns: dict[str, pa.Array] = {"id": id_col}
    if kind == "profile":
        email = [
            f"user{i}-at-example.com" if b == 2 else f"user{i}@example.com"
            for i, b in zip(idx.tolist(), broken.tolist(), strict=True)
        ]
        name = [
            f"Person {i} " + "x" * 40 if b == 4 else f"Person {i}"
            for i, b in zip(idx.tolist(), broken.tolist(), strict=True)
        ]
        tier = np.array(TIERS)[rng.integers(0, 3, rows)]
        tier = np.where(broken == 3, "platinum", tier)
        columns |= {
            "email": pa.array(email),
            "name": pa.array(name),
            "age": pa.array(age, pa.int64()),
            "tier": pa.array(tier.tolist()),
            "country": pa.array(np.array(COUNTRIES)[rng.integers(0, 5, rows)].tolist()),
        }
    else:
        columns["age"] = pa.array(age, pa.int64())
    table = pa.table(columns)
    tmp = {fmt: p.with_suffix(p.suffix + ".tmp") for fmt, p in paths.items()}
    # No quoting: an empty cell is a missing id for every reader (a quoted "" is not, in DuckDB).
    pacsv.write_csv(table, tmp["csv"], pacsv.WriteOptions(quoting_style="none"))
    with open(tmp["json"], "w") as f:
        names = table.column_names
        for batch in table.to_batches(100_000):
            cols = [batch.column(n).to_pylist() for n in names]
            f.writelines(
                json.dumps(dict(zip(names, values, strict=True))) + "\n" for values in zip(*cols, strict=True)
            )
    pq.write_table(table, tmp["parquet"])
    for fmt, p in tmp.items():
        p.rename(paths[fmt])
    return paths, bad


def _dataset(kind: str) -> Any:
    from batchgate.core.models import Dataset

    return Dataset.model_validate(
        {
            "id": f"peers-{kind}",
            "name": kind,
            "org": "o",
            "sandbox": "s",
            "created": 0,
            "updated": 0,
            "table": f"bench.{kind}",
            "schema": {"fields": FIELDS[kind]},
        }
    )


# -- cases, each in a fresh process -----------------------------------------------------------
_IMPORTS = {
    "arrow": ["pyarrow.csv", "pyarrow.json", "pyarrow.parquet", "pyarrow.dataset"],
    "polars": ["polars"],
    "duckdb": ["duckdb"],
    "dlt": ["dlt", "pyarrow.csv", "pyarrow.json", "pyarrow.parquet", "pyarrow.dataset", "dlt.destinations"],
    "batchgate": ["batchgate.validation", "pyarrow.fs"],
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _arrow_schema(kind: str) -> Any:
    import pyarrow as pa

    return pa.schema(
        [(f["name"], pa.int64() if f["type"] == "integer" else pa.string()) for f in FIELDS[kind]]
    )


def _arrow_read(kind: str, fmt: str, path: Path) -> Any:
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    schema = _arrow_schema(kind)
    if fmt == "csv":
        types = {f.name: f.type for f in schema}
        return pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
        )
    if fmt == "json":
        return pajson.read_json(path, parse_options=pajson.ParseOptions(explicit_schema=schema))
    return pq.read_table(path)


def _polars(kind: str, fmt: str, path: Path, out: Path) -> tuple[int, int]:
    import polars as pl

    schema = {f["name"]: pl.Int64 if f["type"] == "integer" else pl.String for f in FIELDS[kind]}
    if fmt == "csv":
        df = pl.read_csv(path, schema=schema)
    elif fmt == "json":
        df = pl.read_ndjson(path, schema=schema)
    else:
        df = pl.read_parquet(path)
    ok = pl.col("id").is_not_null() & (pl.col("age").is_null() | pl.col("age").is_between(0, 150))
    if kind == "profile":
        ok = (
            ok
            & pl.col("email").is_not_null()
            & pl.col("email").str.contains(EMAIL_PATTERN)
            & (pl.col("email").str.len_chars() <= 254)
            & (pl.col("name").is_null() | (pl.col("name").str.len_chars() <= 40))
            & (pl.col("tier").is_null() | pl.col("tier").is_in(TIERS))
            & (pl.col("country").is_null() | pl.col("country").is_in(COUNTRIES))
        )
    mask = df.select(ok.fill_null(False).alias("ok")).to_series()
    good, bad = df.filter(mask), df.filter(~mask)
    good.write_parquet(out / "good.parquet")
    bad.write_ndjson(out / "bad.jsonl")
    return good.height, bad.height


def _duckdb(kind: str, fmt: str, path: Path, out: Path) -> tuple[int, int]:
    import duckdb

    columns = ", ".join(
        f"'{f['name']}': '{'BIGINT' if f['type'] == 'integer' else 'VARCHAR'}'" for f in FIELDS[kind]
    )
    source = {
        "csv": f"read_csv('{path}', header=true, columns={{{columns}}})",
        "json": f"read_json('{path}', format='newline_delimited', columns={{{columns}}})",
        "parquet": f"read_parquet('{path}')",
    }[fmt]
    checks = ["id IS NOT NULL", "(age IS NULL OR age BETWEEN 0 AND 150)"]
    if kind == "profile":
        tiers = ", ".join(f"'{t}'" for t in TIERS)
        countries = ", ".join(f"'{c}'" for c in COUNTRIES)
        checks += [
            "email IS NOT NULL",
            f"regexp_matches(email, '{EMAIL_PATTERN}')",
            "length(email) <= 254",
            "(name IS NULL OR length(name) <= 40)",
            f"(tier IS NULL OR tier IN ({tiers}))",
            f"(country IS NULL OR country IN ({countries}))",
        ]
    names = ", ".join(f["name"] for f in FIELDS[kind])
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT *, coalesce({' AND '.join(checks)}, false) AS ok FROM {source}")
    con.execute(f"COPY (SELECT {names} FROM t WHERE ok) TO '{out / 'good.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT {names} FROM t WHERE NOT ok) TO '{out / 'bad.json'}' (FORMAT json)")
    good, bad = con.execute("SELECT count(*) FILTER (ok), count(*) FILTER (NOT ok) FROM t").fetchone() or (
        0,
        0,
    )
    return int(good), int(bad)


def _dlt(kind: str, fmt: str, path: Path, out: Path) -> int:
    import dlt

    table = _arrow_read(kind, fmt, path)
    pipeline = dlt.pipeline(
        pipeline_name="peers",
        pipelines_dir=str(out / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(out / "lake").as_uri()),
        dataset_name="peers",
    )
    pipeline.run(table, table_name="rows", loader_file_format="parquet")
    return int(table.num_rows)


def _batchgate(kind: str, fmt: str, path: Path, out: Path) -> tuple[int, int]:
    import pyarrow.fs as pafs

    from batchgate.core.models import InputFormat
    from batchgate.validation import validate_file

    r = validate_file(
        fs=pafs.LocalFileSystem(),
        source_path=str(path),
        dataset=_dataset(kind),
        input_format=InputFormat(format=fmt),
        batch_id="b",
        file_name=path.name,
        staged_dir=str(out / "staged"),
        failed_dir=str(out / "failed"),
    )
    if r.file_error is not None:
        raise RuntimeError(f"batchgate failed the file: {r.file_error}")
    return r.output_record_count, r.failed_record_count


def case(kind: str, fmt: str, method: str, path: Path) -> dict[str, Any]:
    import importlib

    import pyarrow as pa

    for name in _IMPORTS[method]:
        importlib.import_module(name)
    # pyarrow imports pandas (installed here for other benchmarks; Lambda's layer has none) the
    # first time pa.array() is handed Python objects: ~0.25 s that would fall inside the measured
    # time of whichever case does that first (batchgate does; polars and DuckDB never do). Paid
    # here, before the clock, in every case alike.
    pa.array([0])
    if method == "dlt":
        os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        out = Path(tmp)
        t0, cpu0 = time.perf_counter(), _cpu_seconds()
        good: int | None
        bad: int | None = None
        if method == "arrow":
            import pyarrow.parquet as pq

            table = _arrow_read(kind, fmt, path)
            pq.write_table(table, out / "rows.parquet")
            good = table.num_rows
        elif method == "polars":
            good, bad = _polars(kind, fmt, path, out)
        elif method == "duckdb":
            good, bad = _duckdb(kind, fmt, path, out)
        elif method == "dlt":
            good = _dlt(kind, fmt, path, out)
        else:
            good, bad = _batchgate(kind, fmt, path, out)
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return {"seconds": seconds, "cpu_seconds": round(cpu, 3), "good": good, "bad": bad}


# -- orchestration ----------------------------------------------------------------------------
def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    rows, rounds = args.peers_rows, max(3, args.peers_rounds)
    cases = [c for c in CASES if c == BASELINE or not args.peers_only or c in args.peers_only]
    out: dict[str, Any] = {
        "rows": rows,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "datasets": {},
    }
    for kind in DATASETS:
        paths, expected_bad = generate(kind, rows)
        per_kind: dict[str, Any] = {"bad_rows": expected_bad, "formats": {}}
        for fmt in FORMATS:
            runs: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
            for round_ in range(rounds):
                for method in cases:
                    case_args = ("--case", kind, fmt, method, str(paths[fmt]))
                    r = run_module("benchmarks.peers", *case_args, env_defaults=_DLT_QUIET)
                    runs[method].append(r)
                    print(
                        f"  {kind:7} {fmt:8} {method:9} round {round_ + 1}  {r['seconds']:7.2f} s"
                        f"  cpu {r['cpu_seconds']:6.2f} s",
                        flush=True,
                    )
            per: dict[str, Any] = {"file_mb": round(paths[fmt].stat().st_size / 2**20, 1)}
            for method in cases:
                r0 = runs[method][0]
                if method in CHECKING and (r0["good"], r0["bad"]) != (rows - expected_bad, expected_bad):
                    raise AssertionError(
                        f"{kind}/{fmt}: {method} kept {r0['good']} good and {r0['bad']} bad rows, "
                        f"the generator broke {expected_bad} of {rows}"
                    )
                if method not in CHECKING and r0["good"] != rows:
                    raise AssertionError(f"{kind}/{fmt}: {method} wrote {r0['good']} of {rows} rows")
                ratios = [
                    round(b["seconds"] / m["seconds"], 3)
                    for m, b in zip(runs[method], runs[BASELINE], strict=True)
                ]
                per[method] = {
                    "seconds": round(statistics.median(x["seconds"] for x in runs[method]), 3),
                    "cpu_seconds": round(statistics.median(x["cpu_seconds"] for x in runs[method]), 3),
                    "all_seconds": [round(x["seconds"], 3) for x in runs[method]],
                    "ratio_rounds": ratios,
                    "ratio": round(statistics.median(ratios), 2),
                    "good": r0["good"],
                    "bad": r0["bad"],
                }
            per_kind["formats"][fmt] = per
        out["datasets"][kind] = per_kind
    results["peers"] = out
    print_table(out)


def print_table(out: dict[str, Any]) -> None:
    print(
        f"\npeers, {out['rows']:,} rows, medians of {out['rounds']} interleaved rounds"
        f" (ratio: pyarrow parse + write ÷ the case, > 1 is faster)"
    )
    for kind, per_kind in out["datasets"].items():
        print(f"{kind} ({per_kind['bad_rows']:,} bad rows)")
        print(f"  {'case':10}" + "".join(f" {fmt + ' s':>10} {'ratio':>6}" for fmt in per_kind["formats"]))
        for method in CASES:
            cells = []
            for per in per_kind["formats"].values():
                if method in per:
                    cells.append(f" {per[method]['seconds']:>10.2f} {per[method]['ratio']:>6.2f}")
            if cells:
                print(f"  {method:10}" + "".join(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--case", nargs=4, metavar=("DATASET", "FORMAT", "METHOD", "PATH"))
    parser.add_argument("--rows", type=int, dest="peers_rows", default=2_000_000, help="rows per file")
    parser.add_argument("--rounds", type=int, dest="peers_rounds", default=3, help="interleaved rounds (≥ 3)")
    parser.add_argument("--only", action="append", dest="peers_only", choices=CASES, help="only these cases")
    args = parser.parse_args(argv)
    if args.case:
        kind, fmt, method, path = args.case
        print(json.dumps(case(kind, fmt, method, Path(path))))
        return
    results: dict[str, Any] = {}
    run(results, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results["peers"], indent=2) + "\n")


if __name__ == "__main__":
    main()
