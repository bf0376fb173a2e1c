"""`batchgate ingest` against a running stack: presigned single and multipart uploads straight to
S3, COMPLETE, wait, and the outcome printed — the CLI a user runs, as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.stack import ROOT, RunningStack
from tests.e2e.test_guide_flows import PROFILE, Flow


def test_ingest_cli_uploads_several_files_and_reports_the_outcome(
    stack: RunningStack, tmp_path: Path
) -> None:
    flow = Flow(stack)
    ds = flow.dataset("cli_ingest", PROFILE)
    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    rows_big = 1_200_000
    with big.open("wb") as out:  # ~40 MB: three presigned multipart parts of 16 MiB
        out.write(b"id,email,age,tier\n")
        for start in range(0, rows_big, 100_000):
            out.write(
                b"".join(
                    b"c%d,c%d@example.com,%d,gold\n" % (i, i, i % 100) for i in range(start, start + 100_000)
                )
            )
    small.write_bytes(b"id,email,age,tier\ns1,s1@example.com,1,silver\ns2,bad-email,2,silver\n")
    assert big.stat().st_size > 32 * 1024 * 1024
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools")),
        "BATCHGATE_URL": stack.api,
        "BATCHGATE_API_KEY": stack.info["keyId"],
        "BATCHGATE_TOKEN": stack.info["token"],
    }
    done = subprocess.run(
        [sys.executable, "-m", "batchgate_tools.cli", "ingest", str(big), str(small), "--dataset", ds, "--timeout", "300"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    # one bad row of 1,200,002 is over the default 0 % allowance: the batch fails, and says why
    assert done.returncode != 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "failed" in out and "BG-ROW-PATTERN" in out and "small.csv" in out, out[-3000:]
    (batch,) = [b for b in stack.get(f"/data/foundation/catalog/batches?dataSet={ds}").json().values()]
    m = batch["metrics"]
    assert (m["inputFileCount"], m["inputRecordCount"], m["failedRecordCount"]) == (2, rows_big + 2, 1)
    assert m["inputByteSize"] == big.stat().st_size + small.stat().st_size


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: no key in the environment unless given."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BATCHGATE_")}
    base["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools"))
    return subprocess.run(
        [sys.executable, "-m", "batchgate_tools.cli", *args],
        cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_api_commands_use_the_running_stacks_key_and_print_tables(stack: RunningStack) -> None:
    flow = Flow(stack)
    ds = flow.dataset("cli_tables", PROFILE)
    batch = flow.ingest(ds, b'{"id": "t1", "email": "t@example.com", "age": 3, "tier": "gold"}\n')
    # No --api-key, no BATCHGATE_API_KEY: the stack serving --url lends its key.
    listed = cli("datasets", "list", "--url", stack.api)
    assert listed.returncode == 0, listed.stderr
    header = listed.stdout.splitlines()[0].split()
    assert header == ["ID", "NAME", "FIELDS", "UPSERT", "CREATED"]
    assert any(line.split()[:3] == [ds, "cli_tables", "4"] for line in listed.stdout.splitlines())
    shown = cli("datasets", "show", ds, "--url", stack.api)
    assert shown.returncode == 0 and "FIELD" in shown.stdout and "pattern=^[^@]+@[^@]+$" in shown.stdout
    details = cli("batches", "show", batch["id"], "--url", stack.api)
    assert details.returncode == 0, details.stderr
    fields = dict(
        line.split(None, 1) for line in details.stdout.splitlines() if line.strip() and "  " in line
    )
    assert fields["status"].strip() == "success" and fields["ingested"].strip() == "1"
    as_json = cli("batches", "show", batch["id"], "--url", stack.api, "--json")
    assert json.loads(as_json.stdout)["status"] == "success"
    rows = cli("batches", "list", "--dataset", ds, "--url", stack.api)
    assert rows.stdout.splitlines()[0].split()[:2] == ["ID", "STATUS"] and batch["id"] in rows.stdout


def test_gc_keeps_the_templates_retention_so_as_of_batch_still_reads(stack: RunningStack) -> None:
    flow = Flow(stack)
    ds = flow.dataset("cli_gc", PROFILE)
    first = flow.ingest(ds, b'{"id": "g1", "email": "g@example.com", "age": 1, "tier": "gold"}\n')
    flow.ingest(ds, b'{"id": "g2", "email": "h@example.com", "age": 2, "tier": "gold"}\n')
    port = stack.info["endpoint"].rsplit(":", 1)[1]
    done = cli("gc", "--aws-port", port)
    assert done.returncode == 0, done.stdout + done.stderr
    # With a retention of 0 (the old default) the first batch's snapshot would be expired now.
    assert [r["id"] for r in flow.rows(ds, asOfBatch=first["id"])] == ["g1"]
