"""Lambda sizing: the validators' CPU-seconds per GB, and a model of time and cost per GB by memory.

Measured here, per format, on the peers benchmark's profile files (``--peers-rows`` rows, the
same CSV, JSON Lines and Parquet; see ``benchmarks/peers.py``), each run in a process of its own:
  cpu      CPU seconds of ``validate_file`` with one worker thread (the least CPU; more workers
           add a little), all threads of the process, median of ``--sizing-rounds``
  encode   CPU seconds of encoding the staged rows alone (the file it wrote, read back and written
           again with the same settings): the share that runs on at most two threads whatever the vCPUs
  seconds  wall seconds of ``validate_file`` beside its CPU (for reading a busy machine; the model
           uses the CPU only)
The rounds are interleaved (each round runs every format once), so a busy neighbour weighs on the
formats alike; the results say which Arrow memory pool ``validate_file`` ran on (``pool``).
Modeled, for each memory size: Lambda gives ``memory / 1769`` vCPU-seconds per second (one vCPU at
1,769 MB, six at 10,240 MB). The validator can use at most ``min(k / (1 - w), e / w)`` of them,
``w`` = encode / cpu: ``k`` workers (the vCPUs the function sees, at most 3) share the rest, and
``e`` row groups are encoded at once (2 where it sees 3 vCPUs or more, else 1; decision 64), so

    seconds per GB = cpu per GB / min(memory / 1769, k / (1 - w), e / w)
    cost per GB    = seconds per GB * memory / 1024 * $0.0000166667 (x86, per GB-second)

A model, not a measurement on Lambda: it assumes the threads overlap perfectly and leaves out
reading from and writing to S3, the cold start and the per-request price ($0.20 per million).
Run: ``make bench ARGS="--only sizing"``. Results: ``benchmarks/results/sizing.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from batchgate.validation.outputs import MAX_ENCODERS, SECOND_ENCODER_CPUS
from batchgate.validation.pipeline import MAX_WORKERS
from benchmarks._process import run_module

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sizing.json"
FORMATS = ("csv", "json", "parquet")
MEMORY_MB = (1769, 2048, 3538, 5307, 10240)
MB_PER_VCPU = 1769
PRICE_GB_S = 0.0000166667


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sizing")
    group.add_argument("--sizing-rounds", type=int, default=3, help="runs per format (default 3)")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def case(fmt: str, path: Path) -> dict[str, Any]:
    """One measurement, in this process: validate_file's CPU, then the staged rows' encoding."""
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    from batchgate.core.models import InputFormat
    from batchgate.validation import validate_file
    from batchgate.validation.outputs import dictionary_columns
    from benchmarks.peers import _dataset

    pa.array([0])  # pyarrow's lazy pandas import, before the clock (see benchmarks/peers.py)
    with tempfile.TemporaryDirectory(prefix="sizing-") as tmp:
        t0, cpu0 = time.perf_counter(), _cpu()
        r = validate_file(
            fs=pafs.LocalFileSystem(),
            source_path=str(path),
            dataset=_dataset("profile"),
            input_format=InputFormat(format=fmt),
            batch_id="b",
            file_name=path.name,
            staged_dir=f"{tmp}/s",
            failed_dir=f"{tmp}/f",
            workers=1,
        )
        cpu, seconds = _cpu() - cpu0, time.perf_counter() - t0
        pool = pa.default_memory_pool().backend_name
        staged = pq.ParquetFile(r.staged_paths[0])
        groups = [staged.read_row_group(i) for i in range(staged.num_row_groups)]
        cpu0 = _cpu()
        with pq.ParquetWriter(
            f"{tmp}/again.parquet",
            staged.schema_arrow,
            compression="snappy",
            use_dictionary=dictionary_columns(groups[0]),
        ) as writer:
            for g in groups:
                writer.write_table(g, row_group_size=g.num_rows)
        encode = _cpu() - cpu0
    return {
        "cpu_seconds": cpu,
        "seconds": seconds,
        "encode_seconds": encode,
        "rows": r.input_record_count,
        "pool": pool,
    }


def model(cpu_per_gb: float, writer_share: float) -> list[dict[str, Any]]:
    rows = []
    for memory in MEMORY_MB:
        vcpu = memory / MB_PER_VCPU
        # The CPUs the function sees (2 at 2,048 MB), which set its workers and encoders.
        seen = math.ceil(vcpu - 1e-9)
        workers = min(MAX_WORKERS, seen)
        encoders = MAX_ENCODERS if seen >= SECOND_ENCODER_CPUS else 1
        usable = min(workers / (1 - writer_share), encoders / writer_share)
        seconds = cpu_per_gb / min(vcpu, usable)
        rows.append(
            {
                "memory_mb": memory,
                "vcpu_seconds_per_second": round(vcpu, 2),
                "encoders": encoders,
                "used_vcpus": round(min(vcpu, usable), 2),
                "seconds_per_gb": round(seconds, 1),
                "usd_per_gb": round(seconds * memory / 1024 * PRICE_GB_S, 6),
            }
        )
    return rows


def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    from benchmarks.peers import generate

    rows = getattr(args, "peers_rows", 2_000_000)
    paths, _ = generate("profile", rows)
    out: dict[str, Any] = {
        "rows": rows,
        "rounds": args.sizing_rounds,
        "price_usd_per_gb_second": PRICE_GB_S,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "formats": {},
    }
    runs: dict[str, list[dict[str, Any]]] = {fmt: [] for fmt in FORMATS}
    for round_ in range(max(1, args.sizing_rounds)):
        for fmt in FORMATS:
            r = run_module("benchmarks.sizing", "--case", fmt, str(paths[fmt]))
            runs[fmt].append(r)
            print(
                f"  {fmt:8} round {round_ + 1}  cpu {r['cpu_seconds']:6.2f} s  wall {r['seconds']:6.2f} s"
                f"  encode {r['encode_seconds']:5.2f} s  ({r['pool']})",
                flush=True,
            )
    for fmt in FORMATS:
        gb = paths[fmt].stat().st_size / 1e9
        cpu = statistics.median(r["cpu_seconds"] for r in runs[fmt])
        encode = statistics.median(r["encode_seconds"] for r in runs[fmt])
        share = encode / cpu
        out["formats"][fmt] = {
            "file_gb": round(gb, 3),
            "pool": sorted({r["pool"] for r in runs[fmt]}),
            "cpu_seconds": round(cpu, 3),
            "all_cpu_seconds": [round(r["cpu_seconds"], 3) for r in runs[fmt]],
            "seconds": round(statistics.median(r["seconds"] for r in runs[fmt]), 3),
            "all_seconds": [round(r["seconds"], 3) for r in runs[fmt]],
            "encode_seconds": round(encode, 3),
            "cpu_seconds_per_gb": round(cpu / gb, 2),
            "cpu_seconds_per_million_rows": round(cpu / rows * 1e6, 3),
            "encode_share": round(share, 3),
            "model": model(cpu / gb, share),
        }
    results["sizing"] = out
    print_table(out)


def print_table(out: dict[str, Any]) -> None:
    print(f"\nLambda sizing, modeled from CPU measured on {out['rows']:,} profile rows (x86 price)")
    for fmt, per in out["formats"].items():
        print(
            f"{fmt}: {per['cpu_seconds_per_gb']} CPU-s per GB ({per['cpu_seconds_per_million_rows']} per"
            f" million rows), encoder share {per['encode_share']:.0%}"
            f"\n  {'MB':>6} {'vCPU':>5} {'used':>5} {'s/GB':>7} {'$/GB':>9}"
        )
        for m in per["model"]:
            print(
                f"  {m['memory_mb']:>6} {m['vcpu_seconds_per_second']:>5} {m['used_vcpus']:>5}"
                f" {m['seconds_per_gb']:>7} {m['usd_per_gb']:>9.6f}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--case", nargs=2, metavar=("FORMAT", "PATH"))
    parser.add_argument("--rows", type=int, dest="peers_rows", default=2_000_000)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(case(args.case[0], Path(args.case[1]))))
        return
    results: dict[str, Any] = {}
    run(results, args)
    RESULTS.write_text(json.dumps(results["sizing"], indent=2) + "\n")


if __name__ == "__main__":
    main()
