"""`batchgate ingest` against a running stack: presigned single and multipart uploads straight to
S3, COMPLETE, wait, and the outcome printed — the CLI a user runs, as a subprocess."""

from __future__ import annotations

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
