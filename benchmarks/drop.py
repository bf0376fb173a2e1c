"""Drop-to-success benchmark (issue 18): a file dropped into ``batchgate up``'s bucket, to its
batch's ``success``, divided by what the validator alone takes on the same file.

What runs
- ``batchgate up`` in a temp data dir (``tests.e2e.stack.start_stack``).
- The 2M-row file (``--drop-rows``, default 2,000,000): the peers benchmark's profile rows (6
  columns: id, email, name, age, tier, country; the same pattern, maxLength, range and enum
  rules), every row valid, as CSV (~117 MiB), cached under ``benchmarks/data/``. Every row is
  valid because a drop's batch takes the dataset's default ``partialIngestionPercentage`` of 0:
  one bad row fails it, and its (tiny) commit would not be the one measured.
- The 1 GiB file (``--drop-gb``, default 1.0; 0 skips it): ``benchmarks/ingest.py``'s CSV (4
  columns, every row valid), larger than ``SplitBytes``, so the stack validates it in parts.
- Each file is uploaded with boto3 to ``inbox/local/prod/{datasetId}/{name}.csv`` (multipart,
  the SDK's defaults). The dataset's batches are listed every 2 s until the drop's is final (a
  poll costs the stack CPU; the timeline, not the poll, dates the steps).

How it measures
- **drop → success**: from the batch's ``timeline`` (its GET answer): ``commitEnded`` minus the
  file's ``received`` (when S3 created the object: the upload ended). Exact to the millisecond,
  no polling in it.
- **validator alone**: ``validate_file`` on the same file on the local disk, in a process of its
  own with its imports done before the clock (``benchmarks.peers``' batchgate case), in the same
  run, just before the drop; the median of ``--drop-rounds`` runs.
- **ratio** = drop → success ÷ validator alone. The issue's goal: 1.5 for the 2M-row file, 2 for
  the 1 GiB file. Nothing here asserts a time; the batch must be ``success`` with every row
  landed, or the benchmark raises.

Run: ``make bench ARGS="--only drop"`` (``--drop-rows 200000 --drop-gb 0`` for a quick one) →
``benchmarks/results/drop.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
MIB = 1 << 20
GIB = 1 << 30
POLL_SECONDS = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("drop")
    group.add_argument(
        "--drop-rows", type=int, default=2_000_000, help="rows of the dropped CSV (default 2M)"
    )
    group.add_argument(
        "--drop-gb",
        type=float,
        default=1.0,
        help="also drop the ingest benchmark's CSV of this many GiB (0: no)",
    )
    group.add_argument("--drop-rounds", type=int, default=3, help="validator-alone runs per file (median)")
    group.add_argument("--drop-timeout", type=float, default=1800.0, help="seconds to wait for a batch")


# -- data -------------------------------------------------------------------------------------
def profile_csv(rows: int) -> Path:
    """``rows`` valid rows of the peers benchmark's profile dataset, as CSV (cached)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from benchmarks.peers import COUNTRIES, TIERS

    path = DATA / f"drop-profile-{rows}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(18)
    idx = range(rows)
    table = pa.table(
        {
            "id": [f"u{i:09d}" for i in idx],
            "email": [f"user{i}@example.com" for i in idx],
            "name": [f"Person {i}" for i in idx],
            "age": pa.array(rng.integers(0, 100, rows), pa.int64()),
            "tier": np.array(TIERS)[rng.integers(0, 3, rows)].tolist(),
            "country": np.array(COUNTRIES)[rng.integers(0, 5, rows)].tolist(),
        }
    )
    tmp = path.with_suffix(".csv.tmp")
    pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="none"))
    tmp.rename(path)
    return path


# -- measurement ------------------------------------------------------------------------------
def _fields(schema: str) -> list[dict[str, Any]]:
    from benchmarks import ingest, peers

    if schema == "profile":
        return list(peers.FIELDS["profile"])
    dataset: dict[str, Any] = ingest.DATASET
    return list(dataset["schema"]["fields"])


def case(schema: str, path: Path) -> dict[str, Any]:
    """One ``validate_file`` of ``path`` on the local disk, in this (fresh) process."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    from batchgate.core.models import Dataset, InputFormat
    from batchgate.validation import validate_file

    pa.array([0])  # pyarrow's pandas import, before the clock (see benchmarks.peers.case)
    dataset = Dataset.model_validate(
        {"id": "drop", "name": "drop", "org": "o", "sandbox": "s", "created": 0, "updated": 0,
         "table": "bench.drop", "schema": {"fields": _fields(schema)}}
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="drop-") as tmp:
        t0, cpu0 = time.perf_counter(), _cpu_seconds()
        r = validate_file(
            fs=pafs.LocalFileSystem(),
            source_path=str(path),
            dataset=dataset,
            input_format=InputFormat(format="csv"),
            batch_id="b",
            file_name=path.name,
            staged_dir=f"{tmp}/staged",
            failed_dir=f"{tmp}/failed",
        )
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return {
        "seconds": seconds,
        "cpu_seconds": round(cpu, 3),
        "good": r.output_record_count,
        "bad": r.failed_record_count,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def validator_alone(schema: str, path: Path, rounds: int) -> dict[str, Any]:
    """``validate_file`` of ``path`` on the local disk, each run in a process of its own."""
    runs = [run_module("benchmarks.drop", "--case", schema, str(path)) for _ in range(rounds)]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "all_seconds": [round(r["seconds"], 3) for r in runs],
        "good": runs[0]["good"],
        "bad": runs[0]["bad"],
    }


def drop(stack: Any, dataset_id: str, path: Path, timeout: float) -> dict[str, Any]:
    """Upload ``path`` into the inbox, wait for its batch to be final, read its timeline."""
    key = f"inbox/local/prod/{dataset_id}/{path.name}"
    t0 = time.monotonic()
    stack.s3().upload_file(str(path), stack.bucket, key)
    upload_s = time.monotonic() - t0
    # The timeline dates every step, so how often this loop asks changes no figure; it asks
    # every POLL_SECONDS because each answer costs the stack CPU (gateway, authorizer, API,
    # DynamoDB) that the validator, on 2 cores, would otherwise have.
    deadline = time.monotonic() + timeout
    batch: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        r = stack.get(f"/data/foundation/catalog/batches?dataSet={dataset_id}")
        r.raise_for_status()
        found = [b for b in r.json().values() if b["status"] in ("success", "failed")]
        if found:
            batch = found[0]
            break
    if batch is None:
        raise AssertionError(f"no final batch for the drop of {path.name} after {timeout:.0f} s")
    r = stack.get(f"/data/foundation/catalog/batches/{batch['id']}")
    r.raise_for_status()
    batch = dict(r.json()[batch["id"]])
    timeline = batch["timeline"]
    (f,) = timeline["files"]
    received, validated, ended = f["received"], f["validated"], timeline["commitEnded"]
    return {
        "batch_id": batch["id"],
        "status": batch["status"],
        "metrics": {k: batch.get("metrics", {}).get(k) for k in ("inputRecordCount", "outputRecordCount")},
        "upload_s": upload_s,
        "timeline": timeline,
        "received_to_validated_s": (validated - received) / 1000,
        "validated_to_commit_started_s": (timeline["commitStarted"] - validated) / 1000,
        "commit_s": (ended - timeline["commitStarted"]) / 1000,
        "drop_to_success_s": (ended - received) / 1000,
    }


def one_file(
    stack: Any, label: str, schema: str, dataset_id: str, path: Path, rows: int, args: Any
) -> dict[str, Any]:
    print(f"{label}: {path.name}, {path.stat().st_size / MIB:.0f} MiB, {rows:,} rows", flush=True)
    alone = validator_alone(schema, path, max(1, args.drop_rounds))
    if (alone["good"], alone["bad"]) != (rows, 0):
        raise AssertionError(f"validate_file kept {alone['good']} good, {alone['bad']} bad of {rows} rows")
    print(
        f"  validate_file alone (local disk): {alone['seconds']:.2f} s, cpu {alone['cpu_seconds']:.2f} s",
        flush=True,
    )
    dropped = drop(stack, dataset_id, path, args.drop_timeout)
    m = dropped["metrics"]
    if dropped["status"] != "success" or m["inputRecordCount"] != rows or m["outputRecordCount"] != rows:
        raise AssertionError(
            f"the drop's batch is {dropped['status']} with {m}, not success with {rows} rows"
        )
    ratio = dropped["drop_to_success_s"] / alone["seconds"]
    print(
        f"  drop → success {dropped['drop_to_success_s']:.2f} s (received → validated "
        f"{dropped['received_to_validated_s']:.2f}, → commit started {dropped['validated_to_commit_started_s']:.2f}, "
        f"commit {dropped['commit_s']:.2f}); ratio {ratio:.2f}",
        flush=True,
    )
    return {
        "file": {"name": path.name, "bytes": path.stat().st_size, "rows": rows},
        "validator_alone": alone,
        "drop": dropped,
        "ratio": round(ratio, 2),
    }


def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    from benchmarks import ingest
    from tests.e2e.stack import start_stack

    files: list[tuple[str, str, Path, int]] = [
        (f"{args.drop_rows:,}-row file", "profile", profile_csv(args.drop_rows), args.drop_rows)
    ]
    if args.drop_gb > 0:
        path, rows = ingest.csv_file(args.drop_gb)
        files.append((f"{args.drop_gb:g} GiB file", "ingest", path, rows))
    out: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "goal": {"2M-row file": 1.5, "1 GiB file": 2.0},
        "files": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-drop-") as tmp:
        stack = start_stack(Path(tmp) / "stack")
        try:
            for label, schema, path, rows in files:
                r = stack.post(
                    "/data/foundation/catalog/dataSets",
                    json={"name": f"drop-{schema}-{rows}", "schema": {"fields": _fields(schema)}},
                )
                r.raise_for_status()
                dataset_id = str(r.json()[0]).rsplit("/", 1)[-1]
                out["files"][label] = one_file(stack, label, schema, dataset_id, path, rows, args)
        except BaseException:
            print(stack.tail(40), file=sys.stderr)
            raise
        finally:
            stack.stop()
    results["drop"] = out
    print("\ndrop → success ÷ validate_file alone (goal: 1.5 for the 2M-row file, 2 for 1 GiB)")
    for label, r in out["files"].items():
        print(
            f"  {label:12} {r['drop']['drop_to_success_s']:7.2f} s ÷ {r['validator_alone']['seconds']:5.2f} s"
            f" = {r['ratio']:.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    parser.add_argument(
        "--case", nargs=2, metavar=("SCHEMA", "PATH"), help="one validator-alone run (internal)"
    )
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(case(args.case[0], Path(args.case[1]))))
        return
    results: dict[str, Any] = {}
    run(results, args)
    path = ROOT / "benchmarks" / "results" / "drop.json"
    path.write_text(json.dumps(results["drop"], indent=2) + "\n")


if __name__ == "__main__":
    main()
