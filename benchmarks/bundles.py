"""Bundles benchmark (issue 16): export and import of a 2M-row dataset through ``batchgate up``,
as ratios to pyarrow writing and reading the same rows in the same run; and the memory of
verifying a ~1 GB bundle (the one step of an import that reads the whole bundle in a function:
the parts are then copied server-side, as byte ranges).

What runs
- ``batchgate up`` in a temp data dir; the profiles dataset of ``datagen`` with its types only
  (every row valid), its ``--bundle-rows`` rows (default 2,000,000) landed from one Parquet file
  through the SDK (``Client.ingest``) in sandbox ``prod``.
- Export: ``POST /data/foundation/bundles?action=EXPORT`` until ``ready`` (the export state
  machine reads the table and streams the bundle into a multipart upload of the stack's S3),
  then the download through the presigned URL, timed apart.
- Import: the file into sandbox ``dev`` through a presigned upload and ``?action=IMPORT`` until
  ``imported`` (verify whole, create the dataset, copy the parts into a batch, validate them as
  any Parquet upload, land them in one commit).
- Baselines on the same rows, interleaved around the stack's work (medians of 3): pyarrow
  ``pq.write_table`` (zstd, the bundle's codec) of the table to a local file, and
  ``pq.read_table`` of that file.
- Memory: a bundle of ``--bundle-gb`` GiB (random 180-byte strings, which zstd cannot shrink
  much) written by ``BundleWriter`` in a subprocess, then verified by ``batchgate.bundles.verify``
  in another; each reports its peak RSS (``VmHWM``) and its RSS after imports, before work.

Ratios are pyarrow's time divided by ours: 1.0 means as fast as pyarrow, 0.5 half as fast. The
stack's times include moto's S3 in the same process as the functions (the local stack's cost,
issue 18), the validators' checks and the Iceberg commit: what a user waits for.

Run: ``make bench ARGS="--only bundles"`` (``--bundle-rows 200000 --bundle-gb 0.1`` for a quick
one) → ``benchmarks/results/bundles.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks import datagen
from benchmarks._process import run_script

MB = 1_000_000
GIB = 1 << 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("bundles")
    g.add_argument("--bundle-rows", type=int, default=2_000_000, help="rows of the exported dataset")
    g.add_argument(
        "--bundle-gb", type=float, default=1.0, help="GiB of the bundle whose verify memory is measured"
    )


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _pyarrow(table: Any, path: Path) -> dict[str, float]:
    write = _timed(lambda: pq.write_table(table, path, compression="zstd"))
    read = _timed(lambda: pq.read_table(path))
    return {"write": write, "read": read}


def _stack_round(rows: int, parquet: Path, work: Path) -> dict[str, Any]:
    from batchgate_tools.client import Client
    from tests.e2e.stack import start_stack

    stack = start_stack(work / "stack", timeout=180)
    try:
        info = stack.info
        prod = Client(stack.api, info["keyId"], info["token"], info["org"], "prod", timeout=600)
        dev = Client(stack.api, info["keyId"], info["token"], info["org"], "dev", timeout=600)
        schema = {"fields": datagen._types_only(datagen.FIELDS)}
        ds = prod.create_dataset("profiles", schema)
        landed = prod.ingest([parquet], ds, "parquet", timeout=1800, poll_interval=0.5)
        if landed["status"] != "success" or landed["metrics"]["outputRecordCount"] != rows:
            raise RuntimeError(f"the dataset did not land whole: {landed['status']} {landed['metrics']}")

        t = time.perf_counter()
        export_id = prod.export_bundle([ds])
        exported = prod.wait_bundle(export_id, timeout=3600, interval=0.2)
        export_s = time.perf_counter() - t
        if exported["status"] != "ready":
            raise RuntimeError(f"export failed: {exported}")
        bundle = work / "profiles.bgbundle"
        download_s = _timed(lambda: prod.download_bundle(export_id, bundle))

        t = time.perf_counter()
        import_id = dev.import_bundle(bundle, body_max=0)
        imported = dev.wait_bundle(import_id, timeout=3600, interval=0.2)
        import_s = time.perf_counter() - t
        if imported["status"] != "imported" or imported["datasets"][0]["rows"] != rows:
            raise RuntimeError(f"import failed: {imported}")
        return {
            "import_breakdown": _breakdown(stack, dev, imported),
            "export_server_s": (exported["ended"] - exported["created"]) / 1000,
            "export_s": export_s,
            "download_s": download_s,
            "import_s": import_s,
            "bundle_bytes": bundle.stat().st_size,
            "parts": len(json.loads(_manifest(bundle))["datasets"][0]["files"]),
        }
    finally:
        stack.stop()


def _breakdown(stack: Any, dev: Any, imported: dict[str, Any]) -> dict[str, float]:
    """Where an import's time goes, from what the stack recorded: the import's start to its batch's
    creation (verify, claim, dataset), the batch's files (copied, then validated: each file's own
    validation time, and the last one's end), then COMPLETE to the batch's success (the commit and
    the polls around it), and the import's end."""
    batch_id = imported["datasets"][0]["batchId"]
    batch = dev._request("GET", f"/data/foundation/catalog/batches/{batch_id}").json()[batch_id]
    files = dev._request("GET", f"/data/foundation/export/batches/{batch_id}/files").json()
    listed = files.get("data", files) if isinstance(files, dict) else files
    start = imported["created"]
    out = {
        "to_batch_created_s": (batch["created"] - start) / 1000,
        "to_batch_success_s": (batch["updated"] - start) / 1000,
        "to_import_end_s": (imported["ended"] - start) / 1000,
        "files": len(listed) if isinstance(listed, list) else 0,
    }
    return out


def _manifest(bundle: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(bundle) as z:
        return z.read("bundle.json")


_WRITE = textwrap.dedent(
    """
    import datetime as dt, json, os, sys
    import pyarrow as pa
    from batchgate.bundles import BundleSource, BundleWriter
    from batchgate.core.models import DatasetSchema
    path, target = sys.argv[1], int(sys.argv[2])
    before = rss()
    schema = DatasetSchema.model_validate({"fields": [{"name": "id", "type": "integer"}, {"name": "blob", "type": "string"}]})
    source = BundleSource(org="o", sandbox="s", exported_at=dt.datetime.now(dt.UTC))
    rows_per_batch, rows = 65536, 0
    with open(path, "wb") as f, BundleWriter(f, "memory-1", source) as w:
        w.add_dataset("big", "big", schema)
        def batches(n):
            global rows
            for _ in range(n):
                blob = pa.array([os.urandom(90).hex() for _ in range(rows_per_batch)])
                ids = pa.array(range(rows, rows + rows_per_batch))
                rows += rows_per_batch
                yield pa.record_batch([ids, blob], names=["id", "blob"])
        while f.tell() < target:
            w.add_part("big", batches(16))
    peak = hwm()
    print(json.dumps({"rows": rows, "bytes": os.path.getsize(path), "rss_before": before, "rss_peak": peak}))
    """
)
_VERIFY = textwrap.dedent(
    """
    import json, sys, time
    from batchgate.bundles import verify
    before = rss()
    t = time.perf_counter()
    manifest = verify(sys.argv[1])
    seconds = time.perf_counter() - t
    peak = hwm()
    print(json.dumps({"parts": len(manifest.datasets[0].files), "seconds": seconds, "rss_before": before, "rss_peak": peak}))
    """
)


# RSS from /proc/self/status: VmRSS now (before the work: the high-water mark would still hold
# the imports' peak) and VmHWM, the process's own high-water mark (``ru_maxrss`` would not do: Linux
# carries it over fork + exec, so a child would report this benchmark's ~1 GB table).
_RSS = """
def _status(name):
    for line in open("/proc/self/status"):
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no " + name)
def rss():
    return _status("VmRSS")
def hwm():
    return _status("VmHWM")
"""


def _memory(gb: float, work: Path) -> dict[str, Any]:
    path = work / "memory.bgbundle"
    written = run_script(_RSS + _WRITE, str(path), str(int(gb * GIB)))
    verified = run_script(_RSS + _VERIFY, str(path))
    path.unlink()
    return {
        "bundle_bytes": written["bytes"],
        "rows": written["rows"],
        "write_rss_growth_mb": (written["rss_peak"] - written["rss_before"]) / MB,
        "verify_rss_growth_mb": (verified["rss_peak"] - verified["rss_before"]) / MB,
        "verify_rss_peak_mb": verified["rss_peak"] / MB,
        "verify_s": verified["seconds"],
        "verify_mb_per_s": written["bytes"] / MB / verified["seconds"],
    }


def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    rows = int(args.bundle_rows)
    parquet = datagen.generate(rows)["parquet"]
    table = pq.read_table(parquet)
    if table.num_rows != rows:
        raise RuntimeError(f"{parquet} holds {table.num_rows} rows, not {rows}")
    with tempfile.TemporaryDirectory(prefix="bench-bundles-") as tmp:
        work = Path(tmp)
        baselines = [_pyarrow(table, work / "baseline-0.parquet")]
        stack = _stack_round(rows, parquet, work)
        baselines += [_pyarrow(table, work / f"baseline-{i}.parquet") for i in (1, 2)]
        memory = _memory(float(args.bundle_gb), work)
    write = statistics.median(b["write"] for b in baselines)
    read = statistics.median(b["read"] for b in baselines)
    out = {
        "rows": rows,
        "stack": stack,
        "pyarrow": {"write_s": write, "read_s": read, "rounds": baselines},
        "ratios": {
            "export_vs_pyarrow_write": write / stack["export_s"],
            "import_vs_pyarrow_read": read / stack["import_s"],
        },
        "throughput_rows_per_s": {
            "export": rows / stack["export_s"],
            "import": rows / stack["import_s"],
            "pyarrow_write": rows / write,
            "pyarrow_read": rows / read,
        },
        "memory": memory,
    }
    results["bundles"] = out
    print(
        f"{rows:,} rows, bundle {stack['bundle_bytes'] / MB:.1f} MB in {stack['parts']} part(s)\n"
        f"  export {stack['export_s']:.2f} s (download {stack['download_s']:.2f} s)  "
        f"pyarrow write {write:.2f} s  ratio {out['ratios']['export_vs_pyarrow_write']:.3f}\n"
        f"  import {stack['import_s']:.2f} s  pyarrow read {read:.2f} s  "
        f"ratio {out['ratios']['import_vs_pyarrow_read']:.3f}\n"
        f"  import breakdown (s from its start): {stack['import_breakdown']}\n"
        f"  verify of a {memory['bundle_bytes'] / GIB:.2f} GiB bundle: {memory['verify_s']:.1f} s "
        f"({memory['verify_mb_per_s']:.0f} MB/s), RSS +{memory['verify_rss_growth_mb']:.0f} MB "
        f"(peak {memory['verify_rss_peak_mb']:.0f} MB); writing it: RSS +{memory['write_rss_growth_mb']:.0f} MB",
        flush=True,
    )
