"""The fault-injection suite: `batchgate up` killed at each point a batch passes (BATCHGATE_FAULT=
point:kill ends the process there, as kill -9 would), restarted on the same data directory, and
then `batchgate check` must find every invariant holding: every acknowledged drop in a final batch,
no batch left in flight, input = output + failed, no row of an aborted or reverted batch visible,
no snapshot pointing at a missing file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import ROOT, RunningStack, start_stack

SCHEMA = {"fields": [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "integer"}]}
ROWS = b"".join(json.dumps({"id": f"r{i}", "n": i}).encode() + b"\n" for i in range(300))
FINAL = {"success", "failed", "aborted", "inactive", "deleted", "abandoned"}


def create_dataset(stack: RunningStack) -> str:
    r = stack.post("/data/foundation/catalog/dataSets", json={"name": "drill", "schema": SCHEMA})
    assert r.status_code == 201, r.text
    return str(r.json()[0].removeprefix("@/dataSets/"))


def new_batch(stack: RunningStack, ds: str) -> str:
    r = stack.post(
        "/data/foundation/import/batches", json={"datasetId": ds, "inputFormat": {"format": "json"}}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def files_path(batch: str, ds: str, name: str) -> str:
    return f"/data/foundation/import/batches/{batch}/datasets/{ds}/files/{name}"


def action(stack: RunningStack, batch: str, name: str, **kw: Any) -> Any:
    return stack.post(f"/data/foundation/import/batches/{batch}?action={name}", **kw)


def landed_batch(stack: RunningStack, ds: str) -> str:
    b = new_batch(stack, ds)
    assert stack.put(files_path(b, ds, "rows.json"), ROWS).status_code == 200
    assert action(stack, b, "COMPLETE").status_code == 200
    assert stack.wait_batch(b, FINAL)["status"] == "success"
    return b


def killed(stack: RunningStack, timeout: float = 120) -> None:
    """The drill's point was reached: the stack died there, as under kill -9 (the function's
    worker sends the stack SIGKILL, and leaves one line saying where)."""
    code = stack.proc.wait(timeout=timeout)
    assert code == -signal.SIGKILL, f"the stack exited with {code}, not at the fault point:\n{stack.tail()}"
    assert "BATCHGATE_FAULT: " in stack.log.read_text(errors="replace"), stack.tail()


def check(stack: RunningStack) -> str:
    port = stack.info["endpoint"].rsplit(":", 1)[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools"))}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "batchgate_tools.cli", "check", "--aws-port", port],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-2000:]}"
    return done.stdout


def drill(
    tmp_path: Path,
    point: str,
    before: Callable[[RunningStack], Any],
    hit: Callable[[RunningStack, Any], None],
    after: Callable[[RunningStack, Any], None],
) -> None:
    """``before`` runs on a healthy stack, ``hit`` reaches the point on a stack that dies there,
    ``after`` finishes what a user would on the restarted stack; then every invariant must hold."""
    data = tmp_path / "data"
    healthy = start_stack(data)
    try:
        state = before(healthy)
    finally:
        healthy.stop()
    doomed = start_stack(data, env={"BATCHGATE_FAULT": f"{point}:kill"})
    try:
        hit(doomed, state)
        killed(doomed)
    finally:
        doomed.stop()
    restarted = start_stack(data)
    try:
        after(restarted, state)
        assert "all invariants hold" in check(restarted)
    finally:
        restarted.stop()


def wait_status(stack: RunningStack, batch: str, statuses: set[str]) -> dict[str, Any]:
    return stack.wait_batch(batch, statuses, timeout=120)


def test_killed_while_validating_a_drop(tmp_path: Path) -> None:
    """A drop acknowledged by S3, the stack killed mid-validation: after the restart it ends in a
    final batch (it used to stay `loading` for good)."""

    def hit(stack: RunningStack, ds: str) -> None:
        stack.s3().put_object(Bucket=stack.bucket, Key=f"inbox/local/prod/{ds}/drop.json", Body=ROWS)

    def after(stack: RunningStack, ds: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = list(stack.get(f"/data/foundation/catalog/batches?dataSet={ds}").json().values())
            if found and found[0]["status"] in FINAL:
                assert found[0]["status"] == "success" and found[0]["metrics"]["outputRecordCount"] == 300
                return
            time.sleep(0.5)
        raise AssertionError(f"the drop never became a final batch:\n{stack.tail()}")

    drill(tmp_path, "validate", create_dataset, hit, after)


def test_killed_while_assembling_chunks(tmp_path: Path) -> None:
    def before(stack: RunningStack) -> tuple[str, str]:
        ds = create_dataset(stack)
        b = new_batch(stack, ds)
        path = files_path(b, ds, "big.json")
        assert stack.post(f"{path}?action=INITIALIZE").status_code == 201
        half = len(ROWS) // 2
        total = len(ROWS)
        assert stack.patch(path, ROWS[:half], content_range=f"bytes 0-{half - 1}/{total}").status_code == 200
        assert (
            stack.patch(path, ROWS[half:], content_range=f"bytes {half}-{total - 1}/{total}").status_code
            == 200
        )
        return ds, b

    def hit(stack: RunningStack, state: tuple[str, str]) -> None:
        ds, b = state
        with pytest.raises(Exception):  # noqa: B017 - the connection dies with the stack
            stack.post(f"{files_path(b, ds, 'big.json')}?action=COMPLETE")

    def after(stack: RunningStack, state: tuple[str, str]) -> None:
        ds, b = state
        assert stack.post(f"{files_path(b, ds, 'big.json')}?action=COMPLETE").status_code == 201
        assert action(stack, b, "COMPLETE").status_code == 200
        final = wait_status(stack, b, FINAL)
        assert final["status"] == "success" and final["metrics"]["outputRecordCount"] == 300

    drill(tmp_path, "assemble", before, hit, after)


def test_killed_during_the_commit(tmp_path: Path) -> None:
    def before(stack: RunningStack) -> tuple[str, str]:
        ds = create_dataset(stack)
        b = new_batch(stack, ds)
        assert stack.put(files_path(b, ds, "rows.json"), ROWS).status_code == 200
        return ds, b

    def hit(stack: RunningStack, state: tuple[str, str]) -> None:
        assert action(stack, state[1], "COMPLETE").status_code == 200

    def after(stack: RunningStack, state: tuple[str, str]) -> None:
        final = wait_status(stack, state[1], FINAL)
        assert final["status"] == "success" and final["metrics"]["outputRecordCount"] == 300

    drill(tmp_path, "commit", before, hit, after)


def test_killed_during_an_abort_cleanup(tmp_path: Path) -> None:
    def before(stack: RunningStack) -> tuple[str, str]:
        ds = create_dataset(stack)
        b = new_batch(stack, ds)
        assert stack.put(files_path(b, ds, "rows.json"), ROWS + b"not json\n").status_code == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # staged and failed records exist once it is validated
            files = stack.get(f"/data/foundation/export/batches/{b}/failed").json()["data"]
            if files:
                return ds, b
            time.sleep(0.3)
        raise AssertionError("the file was never validated")

    def hit(stack: RunningStack, state: tuple[str, str]) -> None:
        assert action(stack, state[1], "ABORT").status_code == 200

    def after(stack: RunningStack, state: tuple[str, str]) -> None:
        ds, b = state
        assert wait_status(stack, b, FINAL)["status"] == "aborted"
        deadline = time.monotonic() + 60
        prefix = f"failed/local/prod/{ds}/{b}/"
        while stack.s3().list_objects_v2(Bucket=stack.bucket, Prefix=prefix).get("KeyCount", 0):
            assert time.monotonic() < deadline, "the restarted cleanup never removed the failed records"
            time.sleep(0.5)

    drill(tmp_path, "abort-cleanup", before, hit, after)


def test_killed_during_a_revert(tmp_path: Path) -> None:
    def before(stack: RunningStack) -> tuple[str, str]:
        ds = create_dataset(stack)
        return ds, landed_batch(stack, ds)

    def hit(stack: RunningStack, state: tuple[str, str]) -> None:
        assert action(stack, state[1], "REVERT").status_code == 200

    def after(stack: RunningStack, state: tuple[str, str]) -> None:
        ds, b = state
        assert wait_status(stack, b, {"inactive"})["status"] == "inactive"
        assert stack.get(f"/data/foundation/export/datasets/{ds}/rows").json()["data"] == []

    drill(tmp_path, "revert", before, hit, after)


def test_killed_during_gc(tmp_path: Path) -> None:
    def before(stack: RunningStack) -> tuple[str, str, str]:
        ds = create_dataset(stack)
        gone, kept = landed_batch(stack, ds), landed_batch(stack, ds)
        assert action(stack, gone, "REVERT").status_code == 200
        wait_status(stack, gone, {"inactive"})
        return ds, gone, kept

    def hit(stack: RunningStack, state: tuple[str, str, str]) -> None:
        port = stack.info["endpoint"].rsplit(":", 1)[1]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools"))}
        env.pop("AWS_ENDPOINT_URL", None)
        subprocess.run(
            [sys.executable, "-m", "batchgate_tools.cli", "gc", "--aws-port", port, "--retention-seconds", "0"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def after(stack: RunningStack, state: tuple[str, str, str]) -> None:
        ds, _, kept = state
        rows = stack.get(f"/data/foundation/export/datasets/{ds}/rows?limit=1000").json()["data"]
        assert len(rows) == 300 and {r["_batch_id"] for r in rows} == {kept}

    drill(tmp_path, "gc", before, hit, after)
