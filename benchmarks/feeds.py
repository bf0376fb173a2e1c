"""Feeds benchmark: a full sync against pyiceberg's own scan-to-Parquet, and an incremental sync
of one batch as the table grows, against moto's S3 server (not real S3).

Cases
- full:        a dataset of ``--feeds-rows`` profile rows (``benchmarks.datagen``, 12 columns),
               landed as ``--feeds-batches`` batches through the lake's own promote path, synced
               in full to S3 as Parquet by two methods in the same run:
    feed       the feed's code path, in process: what ``feed_plan`` and ``feed_deliver`` do
               (``workflow/feed_sync/``) without Step Functions or DynamoDB: the table loaded,
               ``reading_point``, ``Planner.full``, the parts cut into chunks as the plan does
               (``S3_CONCURRENCY`` chunks, delivered side by side as the Map runs them), and per
               part ``read_part`` + ``encode`` + one S3 PUT. Not measured: the plan.json write,
               the DynamoDB items, the manifest (a few small requests).
    pyiceberg  the baseline: ``table.scan().to_arrow()`` and ``pyarrow.parquet.write_table`` to
               the same bucket through the table's own FileIO, zstd as the feed writes (one file).
  reported: seconds of each and ``baseline / feed`` (goal >= 0.7), the median of per-round ratios.
- incremental: tables of N one-file batches of ``--feeds-batch-rows`` rows (N in
               ``--feeds-incremental``, default 100 and 1,000), each batch promoted on its own; the
               sync of the last batch from the watermark of the snapshot before it, split in
               ``load`` (catalog.load_table), ``plan`` (``reading_point`` + ``Planner.incremental``)
               and ``deliver`` (its parts read, encoded, put).

Cases are interleaved (every round runs each once), ``--feeds-rounds`` rounds, medians reported.
Staged files are generated once and cached under ``benchmarks/data/feeds/`` (git-ignored); each
run uploads them to a fresh moto server. Times are wall-clock seconds on this machine and include
moto's own costs; nothing here asserts a time.

Run: ``python -m benchmarks --only feeds [--feeds-quick]`` → ``benchmarks/results/feeds.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import gc
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT / "tools")]

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "feeds"
ROW_GROUP = 100_000
INCREMENTAL_REPEATS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("feeds")
    group.add_argument("--feeds-rows", type=int, default=2_000_000, help="rows of the full-sync table")
    group.add_argument("--feeds-batches", type=int, default=20, help="batches of the full-sync table")
    group.add_argument(
        "--feeds-incremental",
        type=int,
        nargs="*",
        default=[100, 1000],
        help="batches in the tables of the incremental case (default 100 1000)",
    )
    group.add_argument("--feeds-batch-rows", type=int, default=1000, help="rows per incremental batch")
    group.add_argument("--feeds-rounds", type=int, default=5, help="interleaved rounds")
    group.add_argument(
        "--feeds-profile", action="store_true", help="after the rounds, profile one incremental sync per size"
    )
    group.add_argument(
        "--feeds-quick",
        action="store_true",
        help="a smaller run: 400,000 rows in 8 batches, incremental at 20 and 200 batches, 2 rounds",
    )


# -- data -------------------------------------------------------------------------------------
def _schema() -> pa.Schema:
    from batchgate.core.schema import arrow_schema
    from benchmarks.datagen import dataset

    return arrow_schema(dataset().schema_, lineage=True)


def _staged(batch_id: str, first: int, rows: int) -> Path:
    """One staged Parquet file of profile rows ``first .. first+rows`` for ``batch_id``, as the
    validators write them (lineage columns included); cached."""
    from benchmarks.datagen import _table, columns

    path = DATA / f"{batch_id}-{first}-{rows}.parquet"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = _schema()
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
        for start in range(first, first + rows, ROW_GROUP):
            n = min(ROW_GROUP, first + rows - start)
            data = _table(columns(start, n))
            lineage = {
                "_batch_id": pa.repeat(pa.scalar(batch_id), n),
                "_source_file": pa.repeat(pa.scalar("profiles.parquet"), n),
                "_source_row": pa.array(range(start - first + 1, start - first + n + 1), pa.int64()),
            }
            arrays = [data.column(f.name) if f.name in data.column_names else lineage[f.name] for f in schema]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    tmp.rename(path)
    return path


class Lake:
    """A moto S3 server (``benchmarks.lake.Env``: its own process), a SqlCatalog, tables of the
    profiles dataset landed batch by batch through ``promote``."""

    def __init__(self, workdir: Path) -> None:
        from benchmarks.lake import BUCKET, Env

        self.env = Env(workdir)
        self.bucket = BUCKET

    def dataset(self) -> Any:
        from batchgate.core.models import Dataset
        from batchgate.lake.tables import ensure_table, table_identifier
        from benchmarks.datagen import FIELDS

        dataset_id = uuid.uuid4().hex[:10]
        dataset = Dataset.model_validate(
            {
                "id": dataset_id,
                "name": "profiles",
                "org": "bench",
                "sandbox": "prod",
                "created": 0,
                "updated": 0,
                "table": table_identifier("bench", "prod", dataset_id),
                "schema": {"fields": FIELDS},
            }
        )
        ensure_table(self.env.catalog, dataset)
        return dataset

    def land(self, dataset: Any, batches: list[tuple[str, Path]]) -> list[int]:
        """Upload the batches' files, then promote each batch in order, one commit each; the
        snapshot id each landing produced."""
        from batchgate.lake.promote import promote

        uris = {}
        for start in range(0, len(batches), 200):
            chunk = batches[start : start + 200]
            uploaded, _ = self.env.upload([p for _, p in chunk], f"staged/bench/prod/{dataset.id}")
            uris.update({b: u for (b, _), u in zip(chunk, uploaded, strict=True)})
        snapshots = []
        with _shallow_metadata_copies():
            for batch_id, _ in batches:
                result = promote(self.env.catalog, dataset, batch_id, [uris[batch_id]])
                assert result.snapshot_id is not None
                snapshots.append(result.snapshot_id)
        return snapshots

    def stop(self) -> None:
        self.env.stop()


@contextlib.contextmanager
def _shallow_metadata_copies() -> Iterator[None]:
    """While tables are built: pyiceberg's ``update_table_metadata`` without its final
    ``model_copy(deep=True)`` of the whole metadata. A transaction computes its metadata a dozen
    times per commit, each a deep copy of every snapshot, so a promote costs ~8 ms per snapshot
    the table already has (1.4 s at 175, some 8 s at 1,000: a table of 1,000 one-commit batches
    would take an hour to build). The models are frozen, so the result is the same table; the
    measured syncs run with pyiceberg as it is."""
    import pyiceberg.catalog
    import pyiceberg.table
    from pyiceberg.table.update import (
        _apply_table_update,
        _TableMetadataUpdateContext,
        _update_table_metadata_log,
    )
    from pyiceberg.utils.datetime import datetime_to_millis

    original = pyiceberg.table.update_table_metadata

    def update(
        base_metadata: Any, updates: Any, enforce_validation: bool = False, metadata_location: Any = None
    ) -> Any:
        base = base_metadata
        if enforce_validation:
            return original(base_metadata, updates, enforce_validation, metadata_location)
        context = _TableMetadataUpdateContext()
        new = base
        for one in updates:
            new = _apply_table_update(one, new, context)
        if context.has_changes():
            if metadata_location:
                new = _update_table_metadata_log(new, metadata_location, base.last_updated_ms)
            if base.last_updated_ms == new.last_updated_ms:
                now = datetime_to_millis(dt.datetime.now().astimezone())
                new = new.model_copy(update={"last_updated_ms": now})
        new.spec().check_compatible(new.schema())
        new.sort_order().check_compatible(new.schema())
        return new

    pyiceberg.table.update_table_metadata = update
    pyiceberg.catalog.update_table_metadata = update
    try:
        yield
    finally:
        pyiceberg.table.update_table_metadata = original
        pyiceberg.catalog.update_table_metadata = original


# -- the feed's path ------------------------------------------------------------------------------
def feed_plan(lake: Lake, dataset: Any, watermark: int | None) -> tuple[Any, Any, dict[str, float]]:
    """What ``feed_plan`` does for an S3 feed with default settings (no DynamoDB: no batch is
    aborted); the plan and the seconds of its steps."""
    from batchgate.feeds.changes import Planner
    from batchgate.feeds.models import S3Destination
    from batchgate.lake.history import reading_point
    from batchgate.lake.tables import load_table

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    table = load_table(lake.env.catalog, dataset)
    seconds["load"] = time.perf_counter() - started
    started = time.perf_counter()
    point = reading_point(table, lambda _batch: False, now_ms=int(time.time() * 1000))
    seconds["reading_point"] = time.perf_counter() - started
    started = time.perf_counter()
    defaults = S3Destination(type="s3", uri=f"s3://{lake.bucket}/exports/", format="parquet")
    planner = Planner(
        table,
        dataset_id=dataset.id,
        identity=list(dataset.tags.identity),
        upsert=dataset.tags.is_upsert,
        columns=None,
        part_rows=defaults.partRows,
        part_bytes=defaults.partBytes,
    )
    snapshot = point.snapshot_id
    found = table.metadata.snapshot_by_id(snapshot) if snapshot is not None else None
    committed = found.timestamp_ms if found is not None else None
    if watermark is None:
        plan = planner.full(snapshot, point.aborted, committed)
    else:
        plan = planner.incremental(watermark, snapshot, point.aborted, committed, _change_writer(lake))
    seconds["plan"] = time.perf_counter() - started
    return table, (plan, planner.columns), seconds


def _change_writer(lake: Lake) -> Any:
    from batchgate.feeds.deliver import encode

    def write(df: pa.Table) -> tuple[str, int]:
        key = f"bench-changes/{uuid.uuid4().hex}.parquet"
        body = encode(df, "parquet")
        lake.env.s3.put_object(Bucket=lake.bucket, Key=key, Body=body)
        return f"s3://{lake.bucket}/{key}", len(body)

    return write


def feed_deliver(lake: Lake, table: Any, planned: Any, prefix: str) -> dict[str, Any]:
    """The plan's parts cut into chunks as ``feed_plan`` does, each chunk delivered by one worker
    as ``feed_deliver`` does: per part ``read_part``, ``encode``, one PUT."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    from batchgate.feeds.deliver import CONTENT_TYPES, encode, export_schema, read_part
    from batchgate.feeds.items import S3_CONCURRENCY, chunk_units, number_units, part_json

    plan, columns = planned
    units = [{"part": part_json(p)} for p in plan.parts]
    numbered, _ = number_units(units, None)  # S3: one item per part
    chunks = chunk_units(numbered, S3_CONCURRENCY)
    schema = export_schema(schema_to_pyarrow(table.schema(), include_field_ids=False), columns)

    def deliver(chunk: list[int]) -> tuple[int, int]:
        rows = size = 0
        for index in chunk:
            unit = numbered[index]
            part = unit["part"]
            df = read_part(table.io, part["files"], schema, part["op"])
            body = encode(df, "parquet")
            key = f"{prefix}part-{int(unit['first']):05d}.parquet"
            lake.env.s3.put_object(
                Bucket=lake.bucket, Key=key, Body=body, ContentType=CONTENT_TYPES["parquet"]
            )
            rows, size = rows + df.num_rows, size + len(body)
        return rows, size

    if len(chunks) <= 1:
        done = [deliver(c) for c in chunks]
    else:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            done = list(pool.map(deliver, chunks))
    return {
        "parts": len(plan.parts),
        "chunks": len(chunks),
        "rows": sum(r for r, _ in done),
        "bytes": sum(b for _, b in done),
    }


# -- cases --------------------------------------------------------------------------------------
def full_feed(lake: Lake, dataset: Any) -> dict[str, Any]:
    sync = uuid.uuid4().hex[:12]
    started = time.perf_counter()
    table, planned, steps = feed_plan(lake, dataset, None)
    delivered_started = time.perf_counter()
    delivered = feed_deliver(lake, table, planned, f"exports/feed/{sync}/")
    ended = time.perf_counter()
    return {
        "seconds": ended - started,
        "load_seconds": steps["load"],
        "reading_point_seconds": steps["reading_point"],
        "plan_seconds": steps["plan"],
        "deliver_seconds": ended - delivered_started,
        **delivered,
    }


def full_pyiceberg(lake: Lake, dataset: Any) -> dict[str, Any]:
    run = uuid.uuid4().hex[:12]
    started = time.perf_counter()
    table = lake.env.catalog.load_table(dataset.table)
    df = table.scan().to_arrow()
    read = time.perf_counter()
    uri = f"s3://{lake.bucket}/exports/pyiceberg/{run}/data.parquet"
    with table.io.new_output(uri).create(overwrite=True) as stream:
        pq.write_table(df, stream, compression="zstd")
    ended = time.perf_counter()
    rows = df.num_rows
    del df
    size = lake.env.s3.head_object(Bucket=lake.bucket, Key=uri.split("/", 3)[3])["ContentLength"]
    return {
        "seconds": ended - started,
        "scan_seconds": read - started,
        "write_seconds": ended - read,
        "rows": rows,
        "bytes": size,
    }


def incremental(lake: Lake, dataset: Any, watermark: int) -> dict[str, Any]:
    sync = uuid.uuid4().hex[:12]
    started = time.perf_counter()
    table, planned, steps = feed_plan(lake, dataset, watermark)
    delivered_started = time.perf_counter()
    delivered = feed_deliver(lake, table, planned, f"exports/incremental/{sync}/")
    ended = time.perf_counter()
    plan = planned[0]
    return {
        "seconds": ended - started,
        "load_seconds": steps["load"],
        "reading_point_seconds": steps["reading_point"],
        "plan_seconds": steps["plan"],
        "deliver_seconds": ended - delivered_started,
        "upsert_batches": plan.upsert_batches,
        **delivered,
    }


# -- orchestration ------------------------------------------------------------------------------
def _settings(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "feeds_quick", False):
        return {
            "rows": 400_000,
            "batches": 8,
            "incremental": [20, 200],
            "batch_rows": 1000,
            "rounds": 2,
            "profile": bool(getattr(args, "feeds_profile", False)),
        }
    return {
        "rows": int(getattr(args, "feeds_rows", 2_000_000)),
        "batches": int(getattr(args, "feeds_batches", 20)),
        "incremental": [int(n) for n in getattr(args, "feeds_incremental", [100, 1000])],
        "batch_rows": int(getattr(args, "feeds_batch_rows", 1000)),
        "rounds": max(1, int(getattr(args, "feeds_rounds", 5))),
        "profile": bool(getattr(args, "feeds_profile", False)),
    }


def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    """Build the tables, run the interleaved rounds, put the figures under ``results["feeds"]``."""
    s = _settings(args)
    workdir = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    lake = Lake(workdir)
    try:
        results["feeds"] = _run(lake, s)
    finally:
        lake.stop()


def _run(lake: Lake, s: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    per_batch = -(-s["rows"] // s["batches"])
    full_files = [
        (
            f"01FULL{b:020d}",
            _staged(f"01FULL{b:020d}", b * per_batch, min(per_batch, s["rows"] - b * per_batch)),
        )
        for b in range(s["batches"])
    ]
    full = lake.dataset()
    lake.land(full, full_files)
    print(f"  full table: {s['rows']:,} rows in {s['batches']} batches ({time.perf_counter() - started:.1f} s)",
          flush=True)  # fmt: skip
    tables: dict[int, tuple[Any, int, float]] = {}
    for n in s["incremental"]:
        started = time.perf_counter()
        files = [
            (f"01INC{b:021d}", _staged(f"01INC{b:021d}", b * s["batch_rows"], s["batch_rows"]))
            for b in range(n)
        ]
        dataset = lake.dataset()
        snapshots = lake.land(dataset, files)
        took = time.perf_counter() - started
        tables[n] = (dataset, snapshots[-2], took)
        print(f"  incremental table: {n} batches of {s['batch_rows']:,} rows ({took:.1f} s)", flush=True)

    runs: dict[str, list[dict[str, Any]]] = {
        "feed": [],
        "pyiceberg": [],
        **{f"incremental_{n}": [] for n in tables},
    }
    for r in range(s["rounds"]):
        order: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("feed", lambda: full_feed(lake, full)),
            ("pyiceberg", lambda: full_pyiceberg(lake, full)),
        ]
        if r % 2:
            order.reverse()
        for _ in range(INCREMENTAL_REPEATS):  # short cases: more samples, still interleaved
            for n, (dataset, watermark, _) in tables.items():
                order.append((f"incremental_{n}", functools.partial(incremental, lake, dataset, watermark)))
        for name, fn in order:
            gc.collect()
            result = fn()
            runs[name].append(result)
            print(f"  round {r + 1} {name:17} {result['seconds']:7.3f} s", flush=True)
    out = _report(s, runs, tables)
    if s["profile"]:
        for n, (dataset, watermark, _) in tables.items():
            out["incremental"][str(n)]["profile"] = _profile(
                lambda d=dataset, w=watermark: incremental(lake, d, w)
            )
    return out


def _short(line: str) -> str:
    """A profile line without this machine's folders."""
    line = line.replace(f"{ROOT}/", "")
    return re.sub(r"\S*/lib/python3\.\d+/", "", re.sub(r"\S*/site-packages/", "", line))


def _profile(fn: Any, top: int = 25) -> list[str]:
    """The functions where one call of ``fn`` spends its time (cumulative, cProfile)."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(fn)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    lines = [_short(line.rstrip()) for line in text.getvalue().splitlines() if line.strip()]
    print("\n".join(lines), flush=True)
    return lines[-top:]


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def _report(
    s: dict[str, Any], runs: dict[str, list[dict[str, Any]]], tables: dict[int, Any]
) -> dict[str, Any]:
    feed, base = runs["feed"], runs["pyiceberg"]
    if any(f["rows"] != s["rows"] for f in feed) or any(b["rows"] != s["rows"] for b in base):
        raise AssertionError(f"rows sent differ from the table's {s['rows']}: {feed} {base}")
    ratios = [round(b["seconds"] / f["seconds"], 3) for f, b in zip(feed, base, strict=True)]
    out: dict[str, Any] = {
        "storage": "moto server S3 (local subprocess stand-in, not AWS S3); catalog: SqlCatalog on sqlite",
        "method": (
            "feed: the code path of feed_plan + feed_deliver in process (load, reading_point, Planner, "
            "parts in chunks delivered side by side, read_part + encode + put), without Step Functions "
            "or DynamoDB; pyiceberg: table.scan().to_arrow() + pyarrow.parquet.write_table (zstd) through "
            "the table's FileIO to the same bucket"
        ),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rounds": s["rounds"],
        "full": {
            "rows": s["rows"],
            "batches": s["batches"],
            "feed": _summary(feed),
            "pyiceberg": _summary(base),
            "ratio": _median(ratios),
            "ratio_rounds": ratios,
            "goal": 0.7,
        },
        "incremental": {},
    }
    for n, (_, _, build_seconds) in tables.items():
        found = runs[f"incremental_{n}"]
        out["incremental"][str(n)] = {
            "batches": n,
            "batch_rows": s["batch_rows"],
            "build_seconds": round(build_seconds, 1),
            **_summary(found),
            "upsert_batches": len(found[0]["upsert_batches"]),
        }
    sizes = sorted(tables)
    if len(sizes) >= 2:
        small, big = out["incremental"][str(sizes[0])], out["incremental"][str(sizes[-1])]
        out["incremental"]["growth"] = {
            "batches": f"{sizes[0]} -> {sizes[-1]}",
            "seconds": round(big["seconds"] / small["seconds"], 2),
            "reading_point_seconds": round(big["reading_point_seconds"] / small["reading_point_seconds"], 2),
            "plan_seconds": round(big["plan_seconds"] / small["plan_seconds"], 2),
            "load_seconds": round(big["load_seconds"] / small["load_seconds"], 2),
        }
    _print(out)
    return out


def _summary(found: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in found[0]:
        if key.endswith("seconds"):
            out[key] = _median([f[key] for f in found])
    out["all_seconds"] = [round(f["seconds"], 3) for f in found]
    for key in ("rows", "bytes", "parts", "chunks"):
        if key in found[0]:
            out[key] = found[0][key]
    return out


def _print(out: dict[str, Any]) -> None:
    full = out["full"]
    print(f"\nfeeds ({out['storage']})")
    print(
        f"full sync, {full['rows']:,} rows in {full['batches']} batches, to S3 as Parquet: feed "
        f"{full['feed']['seconds']:.2f} s ({full['feed']['parts']} parts), pyiceberg scan + write_table "
        f"{full['pyiceberg']['seconds']:.2f} s; ratio {full['ratio']} (goal >= {full['goal']})"
    )
    for key, inc in out["incremental"].items():
        if key == "growth":
            continue
        print(
            f"incremental, 1 batch of {inc['batch_rows']:,} rows among {inc['batches']}: {inc['seconds']:.3f} s "
            f"(load {inc['load_seconds']:.3f}, reading_point {inc['reading_point_seconds']:.3f}, "
            f"plan {inc['plan_seconds']:.3f}, deliver {inc['deliver_seconds']:.3f})"
        )
    if "growth" in out["incremental"]:
        g = out["incremental"]["growth"]
        print(
            f"incremental growth {g['batches']} batches: x{g['seconds']} (load x{g['load_seconds']}, "
            f"reading_point x{g['reading_point_seconds']}, plan x{g['plan_seconds']})"
        )


def main(argv: list[str] | None = None) -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    run(results, args)
    path = ROOT / "benchmarks" / "results" / "feeds.json"
    path.write_text(json.dumps(results["feeds"], indent=2, default=str) + "\n")
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
