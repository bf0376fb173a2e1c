"""Lake benchmark: promotion and revert times against moto's S3 server (not real S3).

Cases
- big:    one batch of ~``--lake-gb`` GB in staged Parquet files of ~128 MB each.
- small:  one batch of ``--lake-small-files`` small files (default 1,000).
- upsert: our one-snapshot patch upsert vs pyiceberg's ``Table.upsert`` on the same data.
- layout: delete and plan times with many one-file batches, partitioned by ``identity(_batch_id)``
          vs unpartitioned (the measurement behind the table layout).

Staged files are generated once (streaming, bounded memory) and cached under
``benchmarks/data/lake/`` (git-ignored); each run uploads them to a fresh moto server, because
moto keeps no state. Times are wall-clock seconds on this machine and include moto's own costs;
real S3 differs (``storage`` in the output says which). Nothing here asserts a time.

Run: ``python -m benchmarks.lake [--lake-gb 0.25]`` → ``benchmarks/results/lake.json``; or call
``run(results, args)`` from the benchmark runner after ``add_arguments(parser)``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT / "tools")]

import boto3  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from batchgate.core.models import Dataset, DatasetSchema, SchemaField  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "lake"
RESULTS = ROOT / "benchmarks" / "results" / "lake.json"
BUCKET = "bench-lake"
REGION = "us-east-1"
KEY, SECRET = "bench", "bench"
TARGET_FILE = 128 << 20
ROWS_PER_GROUP = 500_000

SCHEMA = DatasetSchema(
    fields=[
        SchemaField(name="id", type="string", required=True),
        SchemaField(name="email", type="string"),
        SchemaField(name="age", type="integer"),
        SchemaField(name="score", type="number"),
        SchemaField(name="seen", type="timestamp"),
    ]
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("lake")
    group.add_argument("--lake-gb", type=float, default=1.0, help="size of the big batch in GB (default 1.0)")
    group.add_argument("--lake-small-files", type=int, default=1000, help="files in the small-files batch")
    group.add_argument("--lake-upsert-rows", type=int, default=200_000, help="table rows for the upsert case")
    group.add_argument(
        "--lake-layout-batches", type=int, default=40, help="batches for the layout case (0: skip)"
    )


# -- data -------------------------------------------------------------------------------------
def _arrow_schema() -> pa.Schema:
    from batchgate.core.schema import arrow_schema

    return arrow_schema(SCHEMA, lineage=True)


def _rows(start: int, n: int, batch_id: str, source: str) -> pa.Table:
    """``n`` synthetic rows, vectorised (no per-row Python): ids, emails, random scores."""
    ids = pa.array(range(start, start + n), type=pa.int64())
    id_text = pc.binary_join_element_wise("p", pc.cast(ids, pa.string()), "")
    arrays = [
        id_text,
        pc.binary_join_element_wise(id_text, "@example.org", ""),
        pc.add(pc.cast(pc.floor(pc.multiply(pc.random(n), 90)), pa.int64()), 10),
        pc.random(n),
        pc.cast(pc.add(pc.multiply(ids, 1_000_000), 1_700_000_000_000_000), pa.timestamp("us", tz="UTC")),
        pa.repeat(pa.scalar(batch_id, pa.string()), n),
        pa.repeat(pa.scalar(source, pa.string()), n),
        pc.subtract(ids, start),
    ]
    return pa.Table.from_arrays(arrays, schema=_arrow_schema())


def _write_big(path: Path, start: int, batch_id: str) -> int:
    """Stream row groups into ``path`` until it reaches ~128 MB; returns rows written."""
    tmp = path.with_suffix(".tmp")
    rows = 0
    with pq.ParquetWriter(tmp, _arrow_schema()) as writer:
        while True:
            writer.write_table(_rows(start + rows, ROWS_PER_GROUP, batch_id, path.name))
            rows += ROWS_PER_GROUP
            if tmp.stat().st_size >= TARGET_FILE:
                break
    tmp.rename(path)
    return rows


def big_batch_files(gb: float, batch_id: str) -> list[Path]:
    """Cached ~128 MB staged files adding up to ``gb`` GB (at least one file)."""
    folder = DATA / f"big-{batch_id}"
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, round(gb * (1 << 30) / TARGET_FILE))
    paths = [folder / f"part-{i:04d}.parquet" for i in range(count)]
    start = 0
    for path in paths:
        if not path.exists():
            _write_big(path, start, batch_id)
        start += pq.read_metadata(path).num_rows
    return paths


def small_batch_files(count: int, batch_id: str, rows_each: int = 100) -> list[Path]:
    folder = DATA / f"small-{batch_id}-{rows_each}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"part-{i:05d}.parquet" for i in range(count)]
    for i, path in enumerate(paths):
        if not path.exists():
            pq.write_table(_rows(i * rows_each, rows_each, batch_id, path.name), path)
    return paths


# -- environment --------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Env:
    """A moto S3 server in its own process (so it does not share the client's GIL), a bucket, and
    a SQL catalog on sqlite with an S3 warehouse."""

    def __init__(self, workdir: Path) -> None:
        from batchgate.lake.catalog import LakeSettings, load_catalog

        port = _free_port()
        self.log = (workdir / "moto.log").open("w")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        self.s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.s3.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.2)
        settings = LakeSettings(
            catalog_type="sql",
            warehouse=f"s3://{BUCKET}/warehouse",
            sql_uri=str(workdir / "catalog.db"),
            s3_endpoint=self.endpoint,
            region=REGION,
            access_key=KEY,
            secret_key=SECRET,
        )
        self.catalog = load_catalog(settings)

    def upload(self, files: list[Path], prefix: str) -> tuple[list[str], int]:
        from concurrent.futures import ThreadPoolExecutor

        def put(path: Path) -> str:
            key = f"{prefix}/{path.name}"
            self.s3.upload_file(str(path), BUCKET, key)
            return f"s3://{BUCKET}/{key}"

        with ThreadPoolExecutor(max_workers=8) as pool:
            uris = list(pool.map(put, files))
        return uris, sum(p.stat().st_size for p in files)

    def dataset(self, *, upsert: bool = False) -> Dataset:
        from batchgate.lake.tables import ensure_table, table_identifier

        dataset_id = uuid.uuid4().hex[:10]
        dataset = Dataset.model_validate(
            {
                "id": dataset_id,
                "name": "bench",
                "org": "bench",
                "sandbox": "prod",
                "schema": SCHEMA,
                "tags": {"isUpsert": upsert, "identity": ["id"] if upsert else []},
                "created": 0,
                "updated": 0,
                "table": table_identifier("bench", "prod", dataset_id),
            }
        )
        ensure_table(self.catalog, dataset)
        return dataset

    def stop(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.server.kill()
        self.log.close()


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, round(time.perf_counter() - started, 3)


# -- cases --------------------------------------------------------------------------------------
def case_promote_revert(env: Env, files: list[Path], batch_id: str) -> dict[str, Any]:
    from batchgate.lake.promote import promote
    from batchgate.lake.revert import revert

    dataset = env.dataset()
    (uris, size), upload_s = _timed(env.upload, files, f"staged/bench/prod/{dataset.id}/{batch_id}")
    result, promote_s = _timed(promote, env.catalog, dataset, batch_id, uris)
    again, repromote_s = _timed(promote, env.catalog, dataset, batch_id, uris)
    reverted, revert_s = _timed(revert, env.catalog, dataset, batch_id)
    return {
        "files": len(uris),
        "rows": result.rows_added,
        "staged_bytes": size,
        "upload_seconds": upload_s,
        "promote_seconds": promote_s,
        "files_added": result.files_added,
        "bytes_rewritten": result.bytes_rewritten,
        "repromote_noop": again.noop,
        "repromote_seconds": repromote_s,
        "revert_seconds": revert_s,
        "revert_rows_deleted": reverted.rows_deleted,
        "revert_bytes_rewritten": reverted.bytes_rewritten,
    }


def case_upsert(env: Env, table_rows: int) -> dict[str, Any]:
    """Same base table and same change set (10% updates, 10% inserts), two ways."""
    from batchgate.lake.promote import promote
    from batchgate.lake.upsert import upsert

    change = max(1, table_rows // 10)
    workdir = Path(tempfile.mkdtemp(prefix="lake-upsert-"))
    base_files = []
    per_file = max(1, table_rows // 8)
    for i in range(0, table_rows, per_file):
        path = workdir / f"base-{i}.parquet"
        pq.write_table(_rows(i, min(per_file, table_rows - i), "BASE", path.name), path)
        base_files.append(path)
    changes = workdir / "change.parquet"
    updates = _rows(table_rows - change, 2 * change, "UP", changes.name)  # half existing, half new
    pq.write_table(updates, changes)

    ours = env.dataset(upsert=True)
    uris, _ = env.upload(base_files, f"staged/bench/prod/{ours.id}/BASE")
    promote(env.catalog, ours, "BASE", uris)
    change_uris, _ = env.upload([changes], f"staged/bench/prod/{ours.id}/UP")
    result, ours_s = _timed(upsert, env.catalog, ours, "UP", change_uris, ["id"], None)
    table = env.catalog.load_table(ours.table)
    ours_files = len(list(table.scan().plan_files()))

    theirs = env.dataset(upsert=True)
    uris, _ = env.upload(base_files, f"staged/bench/prod/{theirs.id}/BASE")
    promote(env.catalog, theirs, "BASE", uris)
    table = env.catalog.load_table(theirs.table)
    before = len(table.metadata.snapshots)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats, theirs_s = _timed(table.upsert, updates, join_cols=["id"])
    table = env.catalog.load_table(theirs.table)
    return {
        "table_rows": table_rows,
        "batch_rows": updates.num_rows,
        "batchgate_upsert": {
            "seconds": ours_s,
            "snapshots": 1,
            "rows_written": result.rows_added,
            "rows_replaced": result.rows_deleted,
            "bytes_written": result.bytes_rewritten,
            "live_files_after": ours_files,
            "patch_semantics": True,
        },
        "pyiceberg_table_upsert": {
            "seconds": theirs_s,
            "snapshots": len(table.metadata.snapshots) - before,
            "rows_updated": stats.rows_updated,
            "rows_inserted": stats.rows_inserted,
            "live_files_after": len(list(table.scan().plan_files())),
            "patch_semantics": False,
        },
    }


def case_layout(env: Env, batches: int) -> dict[str, Any]:
    """Plan and delete one batch among ``batches`` one-file batches, partitioned vs not."""
    from pyiceberg.expressions import EqualTo

    out: dict[str, Any] = {"batches": batches}
    files = {f"01J{i:023d}": small_batch_files(1, f"01J{i:023d}", rows_each=200)[0] for i in range(batches)}
    for layout in ("identity(_batch_id)", "unpartitioned"):
        dataset = env.dataset()
        table = env.catalog.load_table(dataset.table)
        if layout == "unpartitioned":
            with table.update_spec() as spec:
                spec.remove_field("_batch_id")
        from batchgate.lake.promote import promote

        for batch_id, path in files.items():
            uris, _ = env.upload([path], f"staged/bench/{dataset.id}/{layout[:4]}/{batch_id}")
            promote(env.catalog, dataset, batch_id, uris)
        table = env.catalog.load_table(dataset.table)
        target = list(files)[batches // 2]
        tasks, plan_s = _timed(
            lambda t=table, b=target: list(t.scan(row_filter=EqualTo(term="_batch_id", value=b)).plan_files())
        )
        from batchgate.lake.revert import revert

        result, delete_s = _timed(revert, env.catalog, dataset, target)
        out[layout] = {
            "plan_one_batch_seconds": plan_s,
            "files_planned": len(tasks),
            "revert_seconds": delete_s,
            "revert_bytes_rewritten": result.bytes_rewritten,
        }
    return out


# -- entry points -------------------------------------------------------------------------------
def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    """Run every lake case and put the figures under ``results["lake"]``."""
    gb = float(getattr(args, "lake_gb", 1.0))
    small = int(getattr(args, "lake_small_files", 1000))
    upsert_rows = int(getattr(args, "lake_upsert_rows", 200_000))
    layout_batches = int(getattr(args, "lake_layout_batches", 40))
    big_files = big_batch_files(gb, "BIG")
    small_files = small_batch_files(small, "SMALL")
    workdir = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    env = Env(workdir)
    try:
        out: dict[str, Any] = {
            "storage": "moto server S3 (local subprocess stand-in, not AWS S3); catalog: SqlCatalog on sqlite",
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
            "big_batch": case_promote_revert(env, big_files, "BIG"),
            "small_files_batch": case_promote_revert(env, small_files, "SMALL"),
        }
        if upsert_rows:
            out["upsert"] = case_upsert(env, upsert_rows)
        if layout_batches:
            out["layout"] = case_layout(env, layout_batches)
        results["lake"] = out
    finally:
        env.stop()


def _iter_lines(results: dict[str, Any]) -> Iterator[str]:
    lake = results["lake"]
    yield f"storage: {lake['storage']}"
    for name in ("big_batch", "small_files_batch"):
        case = lake[name]
        yield (
            f"{name}: {case['files']} files, {case['rows']:,} rows, {case['staged_bytes'] / 1e6:,.0f} MB staged; "
            f"promote {case['promote_seconds']} s (bytes rewritten {case['bytes_rewritten']}), "
            f"re-promote no-op {case['repromote_seconds']} s, revert {case['revert_seconds']} s"
        )
    if "upsert" in lake:
        up = lake["upsert"]
        yield (
            f"upsert {up['batch_rows']:,} rows into {up['table_rows']:,}: batchgate {up['batchgate_upsert']['seconds']} s "
            f"(1 snapshot), pyiceberg Table.upsert {up['pyiceberg_table_upsert']['seconds']} s "
            f"({up['pyiceberg_table_upsert']['snapshots']} snapshots)"
        )
    if "layout" in lake:
        lay = lake["layout"]
        for layout in ("identity(_batch_id)", "unpartitioned"):
            yield (
                f"layout {layout}, {lay['batches']} batches: plan one batch {lay[layout]['plan_one_batch_seconds']} s, "
                f"revert {lay[layout]['revert_seconds']} s"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    run(results, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results["lake"], indent=2) + "\n")
    for line in _iter_lines(results):
        print(line)
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
