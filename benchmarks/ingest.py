"""Ingest benchmark (issue 3): a ~1 GB CSV through the real ``batchgate ingest`` CLI, with the CLI
process's memory measured, against plain boto3 ``upload_file`` to the same local S3.

What runs
- ``batchgate up`` in a temp data dir (``tests.e2e.stack.start_stack``), with ``SplitBytes`` set
  to ``--ingest-split-mb`` so the stack validates the file in parts, in parallel.
- A dataset (id string required, email string with a pattern, age integer 0..150, tier enum)
  created over HTTP.
- A CSV of ``--ingest-gb`` GiB (every row valid), generated streaming and cached under
  ``benchmarks/data/`` (git-ignored).
- Baseline: a subprocess uploading the same file with boto3 ``upload_file`` (multipart,
  ``TransferConfig`` with the SDK's part size and worker count) to the stack's S3 endpoint, under
  a key no validator watches.
- The CLI: ``python -m batchgate_tools.cli ingest FILE --dataset ID --format csv`` as a subprocess, with
  the connection in ``BATCHGATE_*`` environment variables.

How it measures (both subprocesses the same way)
- peak RSS polled with psutil every 50 ms, the process plus its children, and the kernel's own
  high-water mark (``VmHWM`` in ``/proc/PID/status``), read at each poll;
- ``ru_maxrss`` from ``os.wait4`` on the process, taken by a small wrapper process that starts
  it: ``getrusage(RUSAGE_CHILDREN)`` here would report at least this benchmark process's own RSS
  (Linux carries ru_maxrss over fork + exec) and every other child it ever reaped;
- the CLI's upload time is process start until it prints "completing batch" on stderr (its
  progress bar writes that right after the last part and the file COMPLETE), and the time to the
  final status is from there until it exits (it polls the batch once a second);
- the batch's ``timeline`` (its GET answer) gives the steps after the upload to the millisecond:
  S3 received the file → validated → commit started → commit ended (no polling granularity);
- the batch is read back over HTTP afterwards: it must be ``success`` with input = output = rows
  generated and no failed rows, else the benchmark raises.

Times include interpreter start-up, imports and moto's own costs (the S3 here is moto's server in
the stack process, not AWS). Sizes: GiB = 2^30 bytes for the file, MB = 10^6 bytes for RSS and
throughput; the target is a CLI peak RSS under 200 MB (2 * 10^8 bytes).

Run: ``make bench ARGS="--only ingest"`` (or ``.venv/bin/python -m benchmarks --only ingest
--ingest-gb 0.05`` for a quick one) → ``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
MB = 1_000_000
MIB = 1 << 20
GIB = 1 << 30
TARGET_RSS = 200 * MB
POLL_S = 0.05
ROWS_PER_BLOCK = 100_000
TIERS = ("gold", "silver", "bronze")

DATASET = {
    "name": "ingest-bench-profiles",
    "schema": {
        "fields": [
            {"name": "id", "type": "string", "required": True},
            {"name": "email", "type": "string", "pattern": "^[^@]+@[^@]+\\.[a-z]+$"},
            {"name": "age", "type": "integer", "minimum": 0, "maximum": 150},
            {"name": "tier", "type": "string", "enum": list(TIERS)},
        ]
    },
}

# The baseline, run as its own process so its memory is measured like the CLI's. It matches the
# SDK's defaults (16 MiB parts, 4 workers) so the comparison is upload code against upload code.
BOTO3_UPLOAD = """
import json, sys, time
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, bucket, key, path, part, workers = sys.argv[1:7]
s3 = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
    aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}),
)
cfg = TransferConfig(
    multipart_threshold=int(part), multipart_chunksize=int(part), max_concurrency=int(workers),
)
t0 = time.monotonic()
s3.upload_file(path, bucket, key, Config=cfg)
upload_s = time.monotonic() - t0
size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
print(json.dumps({"upload_s": upload_s, "size": size}))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ingest")
    group.add_argument("--ingest-gb", type=float, default=1.0, help="CSV size in GiB (default 1.0)")
    group.add_argument(
        "--ingest-split-mb",
        type=int,
        default=64,
        help="the stack's SplitBytes in MiB: larger files are validated in parts (default 64)",
    )
    group.add_argument(
        "--ingest-timeout", type=float, default=3600.0, help="CLI --timeout waiting for the batch (s)"
    )


# -- data -------------------------------------------------------------------------------------
def _block(start: int, n: int) -> str:
    return "".join(
        f"u{i:011d},user.{i}@example.com,{i * 7919 % 121 + 18},{TIERS[i % 3]}\n"
        for i in range(start, start + n)
    )


def csv_file(gb: float) -> tuple[Path, int]:
    """A CSV of at least ``gb`` GiB (whole rows, one header line), written block by block and
    cached with its row count in a sidecar; returns (path, data rows)."""
    target = int(gb * GIB)
    path = DATA / f"ingest-profiles-{target}.csv"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("bytes") == path.stat().st_size:
            return path, int(info["rows"])
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    rows = 0
    with tmp.open("w", encoding="ascii", newline="") as out:
        out.write("id,email,age,tier\n")
        written = len("id,email,age,tier\n")
        while written < target:
            block = _block(rows, ROWS_PER_BLOCK)
            if written + len(block) > target:  # finish on the exact row that crosses the target
                lines = block.splitlines(keepends=True)
                need = target - written
                taken = 0
                cut = 0
                while taken < need:
                    taken += len(lines[cut])
                    cut += 1
                block = "".join(lines[:cut])
                rows += cut
            else:
                rows += ROWS_PER_BLOCK
            out.write(block)
            written += len(block)
    tmp.rename(path)
    meta.write_text(json.dumps({"rows": rows, "bytes": path.stat().st_size}) + "\n")
    return path, rows


# -- measuring a subprocess -------------------------------------------------------------------
# Why a wrapper: Linux carries a process's ru_maxrss across fork + exec from the forking parent,
# so a child of this (large, pyarrow-importing) benchmark process would report at least this
# process's RSS. The measured command is therefore started by a small Python process, which reaps
# it with wait4 and writes that child's own rusage to a file.
RUSAGE_WRAPPER = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, ru = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"ru_maxrss": ru.ru_maxrss, "returncode": os.waitstatus_to_exitcode(status)}, f)
"""


@dataclass
class Measured:
    returncode: int
    wall_s: float
    peak_rss: int  # psutil, the command plus its children, polled every 50 ms
    vm_hwm: int  # the kernel's RSS high-water mark of the command (/proc/PID/status VmHWM)
    ru_maxrss: int  # bytes, from wait4 on the command
    samples: int
    stdout: str
    stderr: str
    marks: dict[str, float] = field(default_factory=dict)  # stderr text → seconds since start


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total


def _vm_hwm(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(cmd: list[str], env: dict[str, str], marks: tuple[str, ...] = ()) -> Measured:
    """Run ``cmd`` (under the rusage wrapper), sampling its RSS every 50 ms and timestamping the
    first time each of ``marks`` shows up on its stderr."""
    fd, ru_path = tempfile.mkstemp(prefix="bench-rusage-", suffix=".json")
    os.close(fd)
    t0 = time.monotonic()
    wrapper = subprocess.Popen(
        [sys.executable, "-c", RUSAGE_WRAPPER, ru_path, *cmd],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert wrapper.stdout is not None and wrapper.stderr is not None
    seen: dict[str, float] = {}
    err_text: list[str] = []
    out_text: list[str] = []
    peak = hwm = samples = 0
    done = threading.Event()

    def read_err(stream: Any) -> None:
        buf = ""
        while chunk := stream.read1(65536):
            now = time.monotonic() - t0
            text = chunk.decode(errors="replace")
            err_text.append(text)
            buf = (buf + text)[-4096:]
            for m in marks:
                if m not in seen and m in buf:
                    seen[m] = now

    def read_out(stream: IO[bytes]) -> None:
        out_text.append(stream.read().decode(errors="replace"))

    def poll() -> None:
        nonlocal peak, hwm, samples
        target: psutil.Process | None = None
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(wrapper.pid)
            while target is None and not done.is_set():
                kids = parent.children()
                target = kids[0] if kids else None
                if target is None:
                    done.wait(0.005)
        while target is not None and not done.is_set():
            try:
                peak = max(peak, _tree_rss(target))
            except psutil.NoSuchProcess:
                return
            hwm = max(hwm, _vm_hwm(target.pid))
            samples += 1
            done.wait(POLL_S)

    threads = [
        threading.Thread(target=read_err, args=(wrapper.stderr,), daemon=True),
        threading.Thread(target=read_out, args=(wrapper.stdout,), daemon=True),
        threading.Thread(target=poll, daemon=True),
    ]
    for t in threads:
        t.start()
    wrapper.wait()
    wall = time.monotonic() - t0
    done.set()
    for t in threads:
        t.join(timeout=10)
    try:
        info = json.loads(Path(ru_path).read_text() or "{}")
    finally:
        os.unlink(ru_path)
    if wrapper.returncode != 0 or "returncode" not in info:
        raise RuntimeError(f"the rusage wrapper failed ({wrapper.returncode}):\n{''.join(err_text)[-3000:]}")
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    ru = int(info["ru_maxrss"]) * (1 if sys.platform == "darwin" else 1024)
    return Measured(
        int(info["returncode"]), wall, peak, hwm, ru, samples, "".join(out_text), "".join(err_text), seen
    )


# -- the run ----------------------------------------------------------------------------------
def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    from tests.e2e.stack import start_stack

    path, rows = csv_file(args.ingest_gb)
    size = path.stat().st_size
    print(f"file {path.name}: {size / GIB:.3f} GiB, {rows:,} rows", flush=True)
    split = args.ingest_split_mb * MIB
    env_base = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools")),
    }
    for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env_base.pop(k, None)

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        stack = start_stack(Path(tmp) / "stack", params={"SplitBytes": str(split)})
        try:
            out = _run_on_stack(stack, path, size, rows, env_base, args)
        except BaseException:
            print(stack.tail(40), file=sys.stderr)
            raise
        finally:
            stack.stop()
    out["stack"] = {"SplitBytes": split, "storage": "moto server in the batchgate up process"}
    out["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_total": psutil.virtual_memory().total,
    }
    out["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["ingest"] = out
    _table(out)
    if not out["cli"]["target_met"]:
        print(f"TARGET MISSED: CLI peak RSS {out['cli']['peak_rss_mb']:.1f} MB >= 200 MB", flush=True)


def _run_on_stack(
    stack: Any, path: Path, size: int, rows: int, env_base: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    from batchgate_tools.client import DEFAULT_PART_SIZE

    r = stack.post("/data/foundation/catalog/dataSets", json=DATASET)
    r.raise_for_status()
    dataset_id = str(r.json()[0]).rsplit("/", 1)[-1]
    workers = 4  # the SDK's default, which the CLI uses

    # 1. baseline: boto3 upload_file, same file, same endpoint, a key outside uploads/ and inbox/
    key = f"benchmarks/ingest-baseline/{path.name}"
    cmd = [
        sys.executable, "-c", BOTO3_UPLOAD,
        stack.info["endpoint"], stack.bucket, key, str(path), str(DEFAULT_PART_SIZE), str(workers),
    ]  # fmt: skip
    print("boto3 upload_file baseline …", flush=True)
    base = measure(cmd, env_base)
    if base.returncode != 0:
        raise RuntimeError(f"boto3 baseline failed ({base.returncode}):\n{base.stderr[-3000:]}")
    base_info = json.loads(base.stdout.strip().splitlines()[-1])
    if base_info["size"] != size:
        raise AssertionError(f"boto3 baseline stored {base_info['size']} bytes, the file has {size}")
    stack.s3().delete_object(Bucket=stack.bucket, Key=key)  # moto keeps it otherwise

    # 2. the CLI
    env = {
        **env_base,
        "BATCHGATE_URL": stack.api,
        "BATCHGATE_API_KEY": stack.info["keyId"],
        "BATCHGATE_TOKEN": stack.info["token"],
        "BATCHGATE_ORG": "local",
        "BATCHGATE_SANDBOX": "prod",
    }
    cmd = [
        sys.executable, "-m", "batchgate_tools.cli", "ingest", str(path),
        "--dataset", dataset_id, "--format", "csv", "--timeout", str(args.ingest_timeout),
    ]  # fmt: skip
    print("batchgate ingest …", flush=True)
    cli = measure(cmd, env, marks=("completing batch",))
    if cli.returncode != 0:
        raise RuntimeError(
            f"batchgate ingest exited {cli.returncode}\nstdout:\n{cli.stdout}\nstderr:\n{cli.stderr[-3000:]}"
        )
    first = cli.stdout.strip().splitlines()[0]  # "batch {id}: {status}"
    batch_id = first.split()[1].rstrip(":")
    batch = _batch(stack, batch_id)
    m = batch.get("metrics", {})
    if batch["status"] != "success":
        raise AssertionError(f"batch {batch_id} is {batch['status']}, not success: {batch.get('errors')}")
    counts = {
        "rows_generated": rows,
        "inputRecordCount": m.get("inputRecordCount"),
        "outputRecordCount": m.get("outputRecordCount"),
        "failedRecordCount": m.get("failedRecordCount"),
        "inputByteSize": m.get("inputByteSize"),
        "inputFileCount": m.get("inputFileCount"),
    }
    if (
        counts["inputRecordCount"] != rows
        or counts["outputRecordCount"] != rows
        or counts["failedRecordCount"] != 0
        or counts["inputByteSize"] != size
    ):
        raise AssertionError(f"records not conserved: {counts}")
    if "completing batch" not in cli.marks:
        raise AssertionError(f"the CLI never printed 'completing batch':\n{cli.stderr[-2000:]}")
    upload_s = cli.marks["completing batch"]
    to_final_s = cli.wall_s - upload_s
    large = _validate_large(stack, batch_id)
    steps = _timeline_steps(batch["timeline"])

    cli_out = {
        "command": "python -m batchgate_tools.cli ingest FILE --dataset ID --format csv",
        "part_size": DEFAULT_PART_SIZE,
        "workers": workers,
        "peak_rss_mb": cli.peak_rss / MB,
        "vm_hwm_mb": cli.vm_hwm / MB,
        "ru_maxrss_mb": cli.ru_maxrss / MB,
        "rss_samples": cli.samples,
        "upload_s": upload_s,
        "upload_mb_s": size / MB / upload_s,
        "complete_to_success_s": to_final_s,
        "total_s": cli.wall_s,
        "target_rss_mb": TARGET_RSS / MB,
        "target_met": max(cli.peak_rss, cli.vm_hwm, cli.ru_maxrss) < TARGET_RSS,
        "batch_id": batch_id,
        "status": batch["status"],
        "counts": counts,
        "validation": large,
        "timeline": steps,
    }
    base_out = {
        "command": "boto3 upload_file, TransferConfig(multipart_threshold/chunksize=part_size, "
        "max_concurrency=workers)",
        "part_size": DEFAULT_PART_SIZE,
        "workers": workers,
        "peak_rss_mb": base.peak_rss / MB,
        "vm_hwm_mb": base.vm_hwm / MB,
        "ru_maxrss_mb": base.ru_maxrss / MB,
        "rss_samples": base.samples,
        "upload_file_s": base_info["upload_s"],
        "process_s": base.wall_s,
        "upload_mb_s": size / MB / base.wall_s,
        "upload_file_mb_s": size / MB / base_info["upload_s"],
    }
    return {
        "file": {"name": path.name, "bytes": size, "gib": size / GIB, "rows": rows},
        "cli": cli_out,
        "boto3": base_out,
        "ratio_cli_over_boto3": {
            "peak_rss": cli.peak_rss / base.peak_rss if base.peak_rss else None,
            "ru_maxrss": cli.ru_maxrss / base.ru_maxrss if base.ru_maxrss else None,
            "upload_mb_s": cli_out["upload_mb_s"] / base_out["upload_mb_s"],
        },
        "notes": (
            "upload times include interpreter start-up and imports (CLI: process start until "
            "'completing batch'; boto3: whole process). CLI complete_to_success_s includes its "
            "1 s poll interval; the timeline's steps come from the batch's GET answer (exact). S3 is "
            "moto's server on this machine, not AWS."
        ),
    }


def _timeline_steps(timeline: dict[str, Any]) -> dict[str, Any]:
    """Seconds between the steps the batch's GET answer records (its ``timeline``), read once the
    batch is final: exact to the millisecond, where the CLI's own wait includes its 1 s polls."""
    (f,) = timeline["files"]
    received, validated = f["received"], f["validated"]
    started, ended = timeline["commitStarted"], timeline["commitEnded"]
    return {
        "raw": timeline,
        "received_to_validated_s": (validated - received) / 1000,
        "validated_to_commit_started_s": (started - validated) / 1000,
        "commit_s": (ended - started) / 1000,
        "received_to_success_s": (ended - received) / 1000,
    }


def _validate_large(stack: Any, batch_id: str) -> dict[str, Any]:
    """Evidence of the split: validate-large executions and the staged Parquet parts."""
    import boto3

    sf = boto3.client(
        "stepfunctions",
        endpoint_url=stack.info["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    executions = 0
    for sm in sf.list_state_machines()["stateMachines"]:
        if "validate-large" in sm["name"]:
            executions += len(sf.list_executions(stateMachineArn=sm["stateMachineArn"])["executions"])
    staged = 0
    for page in stack.s3().get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix="staged/"):
        staged += sum(
            1 for o in page.get("Contents", []) if batch_id in o["Key"] and o["Key"].endswith(".parquet")
        )
    return {"validate_large_executions": executions, "staged_parquet_parts": staged}


def _batch(stack: Any, batch_id: str) -> dict[str, Any]:
    r = requests.get(
        f"{stack.api}/data/foundation/catalog/batches/{batch_id}", headers=stack.headers(), timeout=60
    )
    r.raise_for_status()
    return dict(r.json()[batch_id])


def _table(out: dict[str, Any]) -> None:
    cli, base, f = out["cli"], out["boto3"], out["file"]
    print(f"\n{f['name']}: {f['bytes']:,} bytes ({f['gib']:.3f} GiB), {f['rows']:,} rows")
    head = ("", "peak RSS (psutil)", "VmHWM", "ru_maxrss", "upload s", "MB/s")
    print(f"{head[0]:24}{head[1]:>18}{head[2]:>10}{head[3]:>11}{head[4]:>10}{head[5]:>8}")
    for name, r, secs in (
        ("batchgate ingest (CLI)", cli, cli["upload_s"]),
        ("boto3 upload_file", base, base["process_s"]),
    ):
        print(
            f"{name:24}{r['peak_rss_mb']:>15.1f} MB{r['vm_hwm_mb']:>7.1f} MB{r['ru_maxrss_mb']:>8.1f} MB"
            f"{secs:>10.1f}{r['upload_mb_s']:>8.1f}"
        )
    ratio = out["ratio_cli_over_boto3"]
    print(
        f"{'CLI / boto3':24}{ratio['peak_rss'] or 0:>18.2f}{'':>10}{ratio['ru_maxrss'] or 0:>11.2f}"
        f"{'':>10}{ratio['upload_mb_s']:>8.2f}"
    )
    c, v = cli["counts"], cli["validation"]
    print(
        f"COMPLETE → {cli['status']}: {cli['complete_to_success_s']:.1f} s "
        f"(total {cli['total_s']:.1f} s); records in {c['inputRecordCount']:,}, "
        f"out {c['outputRecordCount']:,}, failed {c['failedRecordCount']:,}; "
        f"validate-large executions {v['validate_large_executions']}, "
        f"staged parts {v['staged_parquet_parts']}"
    )
    t = cli["timeline"]
    print(
        f"timeline: upload received → validated {t['received_to_validated_s']:.1f} s, → commit started "
        f"{t['validated_to_commit_started_s']:.1f} s, commit {t['commit_s']:.1f} s; received → success "
        f"{t['received_to_success_s']:.1f} s"
    )
    verdict = "met" if cli["target_met"] else "MISSED"
    print(f"target CLI peak RSS < {cli['target_rss_mb']:.0f} MB: {verdict}\n", flush=True)
