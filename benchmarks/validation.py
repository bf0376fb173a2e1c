"""Validation benchmark: ``validate_file`` against plain Arrow parsing and per-row validators.

For each format (CSV, JSON Lines, Parquet) on the same ~1 M profile rows (``--rows``):
  validator   ``validate_file`` on the local disk (parse, convert, check, write staged Parquet
              and failed records)
  validator_types  the same against the dataset with its constraints removed (types only, no
              required/enum/pattern/range/length rule, so no failed row): what parsing, converting
              and staging cost before any check
  plain       Arrow parsing of the same file with the same schema, nothing else: the floor
  plain_staged  the same parse, each block written to one Parquet file with the staged files'
              settings (snappy, statistics, the same dictionary choice), serially: the floor of
              what the validator must do (parse and write the rows the lake will register)
  fastjsonschema / jsonschema   per-row validation of the rows as Python dicts (JSON parsed with
              ``json``; CSV with ``csv`` + typed conversion; Parquet with ``to_pylist``).
              jsonschema runs on a sample (``--jsonschema-sample``) and is extrapolated.
  pandas      pandas read + the same checks vectorised in pandas
Every case runs in its own subprocess; peak RSS is that process's ``VmHWM``. The validator and the
two plain cases run ``--repeat`` interleaved rounds and keep their fastest run (the machine is
shared: one slow run says little).
``--big-csv-gb N`` also streams an N GB CSV through ``validate_file`` and reports its peak RSS.
Nothing here asserts a time. Results: ``benchmarks/results/validation.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.abc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._process import run_module

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "validation.json"
FORMATS = ("csv", "json", "parquet")
METHODS = ("validator", "validator_types", "plain", "plain_staged", "fastjsonschema", "jsonschema", "pandas")
REPEATED = ("validator", "validator_types", "plain", "plain_staged")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("validation")
    group.add_argument("--rows", type=int, default=1_000_000, help="rows per format (default 1,000,000)")
    group.add_argument("--jsonschema-sample", type=int, default=20_000, help="rows jsonschema validates")
    group.add_argument("--big-csv-gb", type=float, default=0.0, help="also stream a CSV of this many GB")
    group.add_argument("--block-size", type=int, default=8 << 20)
    group.add_argument(
        "--repeat", type=int, default=3, help="rounds of the validator and plain cases; the fastest counts"
    )


# -- cases, each run in a fresh process -------------------------------------------------------
def _json_schema() -> dict[str, Any]:
    from benchmarks.datagen import FIELDS

    def node(f: dict[str, Any]) -> dict[str, Any]:
        t = f["type"]
        out: dict[str, Any]
        if t == "object":
            out = {
                "type": "object",
                "properties": {c["name"]: node(c) for c in f["fields"]},
                "required": [c["name"] for c in f["fields"] if c.get("required")],
            }
        elif t == "array":
            out = {"type": "array", "items": {"type": f["items"]["type"]}}
        elif t in ("timestamp", "date"):
            out = {"type": "string", "format": "date-time" if t == "timestamp" else "date"}
        else:
            out = {"type": t}
        for k in ("enum", "pattern", "minimum", "maximum", "maxLength"):
            if k in f:
                out[k] = f[k]
        if not f.get("required") and t != "object":
            out = {"anyOf": [out, {"type": "null"}]}
        return out

    return {
        "type": "object",
        "properties": {f["name"]: node(f) for f in FIELDS},
        "required": [f["name"] for f in FIELDS if f.get("required")],
    }


def _rows(fmt: str, path: Path, limit: int | None) -> Any:
    """Rows as JSON-like dicts, the way a per-row validator would receive them."""
    n = 0
    if fmt == "json":
        with open(path, "rb") as f:
            for line in f:
                yield json.loads(line)
                n += 1
                if limit and n >= limit:
                    return
    elif fmt == "csv":
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                yield {
                    "id": r["id"],
                    "email": r["email"],
                    "name": r["name"],
                    "age": int(r["age"]),
                    "tier": r["tier"],
                    "seen": r["seen"],
                    "signup": r["signup"],
                    "score": float(r["score"]),
                    "active": r["active"] == "true",
                    "address": {"city": r["address.city"], "zip": r["address.zip"]},
                    "tags": json.loads(r["tags"]),
                    "country": r["country"],
                }
                n += 1
                if limit and n >= limit:
                    return
    else:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(65536):
            for r in batch.to_pylist():
                r["seen"] = r["seen"].isoformat()
                r["signup"] = r["signup"].isoformat()
                yield r
                n += 1
                if limit and n >= limit:
                    return


_IMPORTS = {
    "validator": ["batchgate.validation", "benchmarks.datagen"],
    "validator_types": ["batchgate.validation", "benchmarks.datagen"],
    "plain": [
        "pyarrow.csv",
        "pyarrow.json",
        "pyarrow.parquet",
        "batchgate.core.schema",
        "benchmarks.datagen",
    ],
    "plain_staged": [
        "pyarrow.csv",
        "pyarrow.json",
        "pyarrow.parquet",
        "batchgate.core.schema",
        "batchgate.validation.outputs",
        "benchmarks.datagen",
    ],
    "fastjsonschema": ["fastjsonschema", "pyarrow.parquet"],
    "jsonschema": ["jsonschema", "pyarrow.parquet"],
    "pandas": ["pandas", "pyarrow.parquet"],
}


class _HidePandas(importlib.abc.MetaPathFinder):
    """Makes ``import pandas`` fail as it would where pandas is not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is hidden in this benchmark process")


def _cpu_seconds() -> float:
    """CPU time of this process (all threads): robust to other load on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM`` restarts at exec, unlike ``ru_maxrss`` which a child
    inherits from the process that forked it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case(fmt: str, method: str, path: Path, rows: int, sample: int, block_size: int) -> dict[str, Any]:
    # Imports first (only this method's, so RSS is its own): the clock measures work, not loading.
    import importlib

    for name in _IMPORTS[method]:
        importlib.import_module(name)
    import pyarrow as pa

    # pyarrow imports pandas lazily the first time pa.array() sees a Python object, when pandas
    # is installed (it is here, for the pandas baseline; the Lambda layer has none): pay it now.
    pa.array([0])
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    extra: dict[str, Any] = {}
    measured_rows = rows
    if method in ("validator", "validator_types"):
        import pyarrow.fs as pafs

        from batchgate.core.models import InputFormat
        from batchgate.validation import validate_file
        from benchmarks.datagen import dataset

        with tempfile.TemporaryDirectory() as tmp:
            r = validate_file(
                fs=pafs.LocalFileSystem(),
                source_path=str(path),
                dataset=dataset(constraints=method == "validator"),
                input_format=InputFormat(format=fmt),
                batch_id="b",
                file_name=path.name,
                staged_dir=f"{tmp}/s",
                failed_dir=f"{tmp}/f",
                block_size=block_size,
            )
        from batchgate.validation.pipeline import default_workers

        extra = {
            "output": r.output_record_count,
            "failed": r.failed_record_count,
            "workers": default_workers(),
        }
        measured_rows = r.input_record_count
    elif method == "plain":
        measured_rows = _plain(fmt, path, block_size)
    elif method == "plain_staged":
        with tempfile.TemporaryDirectory() as tmp:
            measured_rows = _plain(fmt, path, block_size, staged=Path(tmp) / "staged.parquet")
    elif method in ("fastjsonschema", "jsonschema"):
        schema = _json_schema()
        if method == "fastjsonschema":
            import fastjsonschema

            check = fastjsonschema.compile(schema)
            limit = None
        else:
            import jsonschema

            validator = jsonschema.Draft202012Validator(schema)
            check = validator.validate
            limit = sample
        n = bad = 0
        for rec in _rows(fmt, path, limit):
            n += 1
            try:
                check(rec)
            except Exception:
                bad += 1
        measured_rows = n
        extra = {"failed": bad, "sampled_rows": n, "extrapolated": limit is not None and n < rows}
    elif method == "pandas":
        measured_rows, bad = _pandas(fmt, path)
        extra = {"failed": bad}
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    if method == "jsonschema" and measured_rows < rows:
        seconds = seconds * rows / measured_rows
        cpu = cpu * rows / measured_rows
    return {"seconds": seconds, "rows": rows, "cpu_seconds": round(cpu, 3), "rss_mb": _peak_rss_mb(), **extra}


def _plain(fmt: str, path: Path, block_size: int, staged: Path | None = None) -> int:
    """Rows parsed; with ``staged``, every parsed block is also written there as Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    from batchgate.core.schema import arrow_schema
    from benchmarks.datagen import CSV_HEADER, dataset

    target = arrow_schema(dataset().schema_, lineage=False)
    n = 0
    writer: Any = None

    def stage(table: Any) -> None:
        nonlocal writer
        if staged is None:
            return
        from batchgate.validation.outputs import dictionary_columns

        if writer is None:
            writer = pq.ParquetWriter(
                str(staged), table.schema, compression="snappy", use_dictionary=dictionary_columns(table)
            )
        writer.write_table(table, row_group_size=max(table.num_rows, 1))

    if fmt == "csv":
        types = {f.name: f.type for f in target if not pa.types.is_nested(f.type)}
        types.update({"address.city": pa.string(), "address.zip": pa.string(), "tags": pa.string()})
        reader = pacsv.open_csv(
            str(path),
            read_options=pacsv.ReadOptions(block_size=block_size),
            convert_options=pacsv.ConvertOptions(column_types={c: types[c] for c in CSV_HEADER}),
        )
        for batch in reader:
            n += batch.num_rows
            stage(pa.Table.from_batches([batch]))
    elif fmt == "json":
        schema = pa.schema(
            [pa.field(f.name, pa.string() if pa.types.is_date(f.type) else f.type) for f in target]
        )
        table = pajson.read_json(
            str(path),
            read_options=pajson.ReadOptions(block_size=block_size),
            parse_options=pajson.ParseOptions(explicit_schema=schema),
        )
        n = table.num_rows
        for batch in table.to_batches(131072):
            stage(pa.Table.from_batches([batch]))
    else:
        for batch in pq.ParquetFile(str(path)).iter_batches(131072 if staged else 65536):
            n += batch.num_rows
            stage(pa.Table.from_batches([batch]))
    if writer is not None:
        writer.close()
    return n


def _pandas(fmt: str, path: Path) -> tuple[int, int]:
    import pandas as pd

    if fmt == "csv":
        df = pd.read_csv(path)
    elif fmt == "json":
        df = pd.read_json(path, lines=True)
    else:
        df = pd.read_parquet(path)
    bad = df["id"].isna() | df["email"].isna()
    bad |= ~df["email"].astype(str).str.contains(r"^[^@]+@[^@]+\.[a-z]+$", regex=True)
    bad |= df["email"].astype(str).str.len() > 254
    bad |= df["name"].astype(str).str.len() > 40
    age = pd.to_numeric(df["age"], errors="coerce")
    bad |= ~age.between(0, 150) & age.notna()
    bad |= ~df["tier"].isin(["gold", "silver", "bronze"]) & df["tier"].notna()
    bad |= ~df["country"].isin(["FR", "DE", "US", "JP", "BR"]) & df["country"].notna()
    bad |= pd.to_datetime(df["seen"], errors="coerce", utc=True).isna() & df["seen"].notna()
    bad |= pd.to_numeric(df["score"], errors="coerce") < 0
    return len(df), int(bad.sum())


# -- orchestration ----------------------------------------------------------------------------
def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    from benchmarks.datagen import big_csv, generate

    paths = generate(args.rows)
    out: dict[str, Any] = {
        "rows": args.rows,
        "block_size": args.block_size,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "formats": {},
    }
    for fmt in FORMATS:
        size = paths[fmt].stat().st_size
        per: dict[str, Any] = {"file_mb": round(size / 2**20, 1)}
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
        # The fast cases run --repeat rounds, interleaved (validator, plain, plain+write, again...)
        # so that a noisy neighbour slows all of them alike; each keeps its fastest run. The
        # per-row baselines run once: their ratios are far from any target.
        for round_ in range(max(1, args.repeat)):
            for method in METHODS:
                if round_ and method not in REPEATED:
                    continue
                r = run_module(
                    "benchmarks.validation", "--case", fmt, method, str(paths[fmt]), "--rows", str(args.rows),
                    "--jsonschema-sample", str(args.jsonschema_sample), "--block-size", str(args.block_size),
                )  # fmt: skip
                runs[method].append(r)
                print(
                    f"  {fmt:8} {method:15} {r['seconds']:8.2f} s  cpu {r['cpu_seconds']:7.2f} s  "
                    f"{args.rows / r['seconds']:>10,.0f} rows/s  rss {r['rss_mb']:7.0f} MB",
                    flush=True,
                )
        for method in METHODS:
            r = dict(min(runs[method], key=lambda x: x["seconds"]))
            r["rows_per_s"] = round(args.rows / r["seconds"])
            r["mb_per_s"] = round(size / 2**20 / r["seconds"], 1)
            r["rss_mb"] = max(x["rss_mb"] for x in runs[method])
            if len(runs[method]) > 1:
                r["all_seconds"] = [round(x["seconds"], 3) for x in runs[method]]
            per[method] = r
        per["validator_vs_plain"] = round(per["plain"]["seconds"] / per["validator"]["seconds"], 2)
        # Ratios within each round (the two ran a second apart), and their median: steadier than
        # the ratio of two bests when the machine's speed drifts between rounds.
        rounds = _round_ratios(runs["validator"], runs["plain"])
        per["validator_vs_plain_rounds"] = rounds
        per["validator_vs_plain_median"] = round(statistics.median(rounds), 2)
        per["validator_vs_plain_cpu"] = round(
            per["plain"]["cpu_seconds"] / per["validator"]["cpu_seconds"], 2
        )
        per["validator_types_vs_plain"] = round(
            per["plain"]["seconds"] / per["validator_types"]["seconds"], 2
        )
        per["validator_types_vs_plain_median"] = round(
            statistics.median(_round_ratios(runs["validator_types"], runs["plain"])), 2
        )
        per["validator_vs_plain_staged"] = round(
            per["plain_staged"]["seconds"] / per["validator"]["seconds"], 2
        )
        per["validator_vs_jsonschema"] = round(per["jsonschema"]["seconds"] / per["validator"]["seconds"], 1)
        per["validator_vs_fastjsonschema"] = round(
            per["fastjsonschema"]["seconds"] / per["validator"]["seconds"], 1
        )
        per["validator_vs_pandas"] = round(per["pandas"]["seconds"] / per["validator"]["seconds"], 1)
        out["formats"][fmt] = per
    if args.big_csv_gb:
        path = big_csv(args.big_csv_gb)
        size = path.stat().st_size
        r = run_module(
            "benchmarks.validation", "--case", "csv", "validator", str(path), "--rows", "0",
            "--block-size", str(args.block_size),
        )  # fmt: skip
        r["mb_per_s"] = round(size / 2**20 / r["seconds"], 1)
        r["rows_per_s"] = round((r["output"] + r["failed"]) / r["seconds"])
        r["file_mb"] = round(size / 2**20)
        out["big_csv"] = r
        print(
            f"  big csv  {r['file_mb']} MB  {r['seconds']:.1f} s  {r['mb_per_s']} MB/s  peak rss {r['rss_mb']:.0f} MB"
        )
    results["validation"] = out
    _table(out)


def _round_ratios(measured: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> list[float]:
    """baseline ÷ measured time within each round (the two ran seconds apart)."""
    return [round(b["seconds"] / m["seconds"], 2) for m, b in zip(measured, baseline, strict=True)]


def _table(out: dict[str, Any]) -> None:
    print(f"\nvalidation, {out['rows']:,} rows (ratios: >1 means the validator is faster)")
    print(
        f"{'format':8} {'validator rows/s':>17} {'MB/s':>7} {'plain rows/s':>13} {'val/plain':>9} {'(median)':>8} "
        f"{'(cpu)':>6} {'types/plain':>11} {'val/plain+write':>15} {'x jsonschema':>12} {'x fastjs':>9} {'x pandas':>9} {'val RSS MB':>10}"
    )
    for fmt, per in out["formats"].items():
        v = per["validator"]
        print(
            f"{fmt:8} {v['rows_per_s']:>17,} {v['mb_per_s']:>7} {per['plain']['rows_per_s']:>13,} "
            f"{per['validator_vs_plain']:>9} {per['validator_vs_plain_median']:>8} {per['validator_vs_plain_cpu']:>6} "
            f"{per['validator_types_vs_plain']:>11} {per['validator_vs_plain_staged']:>15} {per['validator_vs_jsonschema']:>12} "
            f"{per['validator_vs_fastjsonschema']:>9} {per['validator_vs_pandas']:>9} {v['rss_mb']:>10.0f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--case", nargs=3, metavar=("FORMAT", "METHOD", "PATH"))
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.case:
        fmt, method, path = args.case
        if method != "pandas":
            # The Lambda layer has no pandas; here pandas is installed for its own baseline, and
            # pyarrow would import it lazily (~40 MB) into every process. Hide it outside that case.
            sys.meta_path.insert(0, _HidePandas())
        print(json.dumps(case(fmt, method, Path(path), args.rows, args.jsonschema_sample, args.block_size)))
        return
    results: dict[str, Any] = {}
    run(results, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results["validation"], indent=2) + "\n")


if __name__ == "__main__":
    main()
