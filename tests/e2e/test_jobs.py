"""Scheduled jobs against `batchgate up`, over HTTP and S3 only: roles on keys, a schedule that
fires on its own, runs over a growing prefix that land each file once, the edit / delete rules,
runs that fail for a reason they name, overlapping runs, and a stack killed in the middle of a run."""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.stack import RunningStack, start_stack
from tests.e2e.test_guide_flows import Flow, jsonl

JOBS = "/data/foundation/schedules/jobs"
RUNS = "/data/foundation/schedules/runs"
KEYS = "/data/foundation/keys"
SIMPLE = {"fields": [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "integer"}]}


def rows_of(n: int, start: int = 0) -> bytes:
    return jsonl([{"id": f"r{i}", "n": i} for i in range(start, start + n)])


class Jobs:
    def __init__(self, stack: RunningStack) -> None:
        self.s = stack
        self.s3 = stack.s3()

    def source(self, bucket: str) -> str:
        self.s3.create_bucket(Bucket=bucket)
        return bucket

    def create(
        self, name: str, attributes: dict[str, Any], expression: str = "rate(1 hour)"
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "workflow": "ingest-s3",
            "attributes": attributes,
            "schedule": {"expression": expression},
        }
        r = self.s.post(JOBS, json=body)
        assert r.status_code == 201, r.text
        job: dict[str, Any] = r.json()
        assert job["status"] == "inactive"
        return job

    def action(self, job_id: str, action: str) -> Any:
        return self.s.post(f"{JOBS}/{job_id}?action={action}")

    def run(self, job_id: str) -> str:
        r = self.action(job_id, "RUN")
        assert r.status_code == 202, r.text
        return str(r.json()["runId"])

    def wait(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            r = self.s.get(f"{RUNS}/{run_id}")
            if r.status_code == 200:
                body = r.json()
                if body["status"] != "running":
                    return body
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} still running: {body}\n{self.s.tail()}")

    def runs(self, **params: Any) -> list[dict[str, Any]]:
        r = self.s.get(RUNS, params=params)
        assert r.status_code == 200, r.text
        return list(r.json()["runs"])


def step(run: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s for s in run["steps"] if s["name"] == name]
    return found


@pytest.fixture(scope="module")
def jobs(stack: RunningStack) -> Jobs:
    return Jobs(stack)


@pytest.fixture(scope="module")
def flow(stack: RunningStack) -> Flow:
    return Flow(stack)


def test_a_reader_cannot_write_and_a_writer_cannot_manage_jobs(stack: RunningStack, flow: Flow) -> None:
    made = {}
    for role in ("reader", "writer"):
        r = stack.post(KEYS, json={"role": role, "sandboxes": ["prod"], "description": f"e2e {role}"})
        assert r.status_code == 201, r.text
        made[role] = r.json()

    def as_key(key: dict[str, Any]) -> dict[str, str]:
        return stack.headers() | {"x-api-key": key["id"], "Authorization": f"Bearer {key['token']}"}

    ds = flow.dataset("roles-e2e", SIMPLE)
    reader = as_key(made["reader"])
    assert requests.get(f"{stack.api}/data/foundation/catalog/dataSets/{ds}", headers=reader, timeout=30).ok
    r = requests.post(
        f"{stack.api}/data/foundation/import/batches",
        json={"datasetId": ds, "inputFormat": {"format": "json"}},
        headers=reader,
        timeout=30,
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "BG-403-ROLE", r.text

    writer = as_key(made["writer"])
    r = requests.post(
        f"{stack.api}/data/foundation/import/batches",
        json={"datasetId": ds, "inputFormat": {"format": "json"}},
        headers=writer,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    # Managing jobs is the admin's; reading them and their runs is anyone's (the dashboard shows them).
    for method, path in (("POST", JOBS), ("POST", f"{JOBS}/any?action=RUN"), ("DELETE", f"{JOBS}/any")):
        r = requests.request(method, stack.api + path, json={}, headers=writer, timeout=30)
        assert r.status_code == 403 and r.json()["error"]["code"] == "BG-403-ROLE", (method, path, r.text)
    for path in (JOBS, RUNS):
        assert requests.get(stack.api + path, headers=reader, timeout=30).status_code == 200


def test_three_manual_runs_over_a_growing_prefix_land_each_file_once(jobs: Jobs, flow: Flow) -> None:
    ds = flow.dataset("jobs-growing", SIMPLE)
    bucket = jobs.source("batchgate-job-sources-growing")
    s3 = jobs.s3
    s3.put_object(Bucket=bucket, Key="exports/day1.json", Body=rows_of(3, 0))
    s3.put_object(Bucket=bucket, Key="exports/day2.json", Body=rows_of(4, 3))
    s3.put_object(Bucket=bucket, Key="elsewhere/day1.json", Body=rows_of(50, 1000))  # outside the prefix
    job = jobs.create("growing", {"datasetId": ds, "bucket": bucket, "prefix": "exports/", "format": "json"})

    first = jobs.wait(jobs.run(job["id"]))
    assert first["status"] == "success" and first["trigger"] == "manual", first
    assert len(first["batches"]) == 1
    assert step(first, "copy")["metrics"]["files"] == 2
    assert [s["name"] for s in first["steps"]] == [
        "start", "list", "create-batch", "copy", "complete", "wait", "finish",
    ]  # fmt: skip
    assert all(s["status"] == "success" and s["ended"] >= s["started"] for s in first["steps"]), first

    # Day three arrives, with an empty file and one whose suffix is not the job's format.
    s3.put_object(Bucket=bucket, Key="exports/day3.json", Body=rows_of(5, 7))
    s3.put_object(Bucket=bucket, Key="exports/empty.json", Body=b"")
    s3.put_object(Bucket=bucket, Key="exports/notes.csv", Body=b"id,n\nx,1\n")
    second = jobs.wait(jobs.run(job["id"]))
    assert second["status"] == "success", second
    assert step(second, "copy")["metrics"]["files"] == 1
    listed = step(second, "list")
    assert "empty.json" in listed["message"] and "notes.csv" in listed["message"], listed

    third = jobs.wait(jobs.run(job["id"]))
    assert third["status"] == "success" and third["batches"] == [], third
    assert step(third, "list")["metrics"]["files"] == 0

    got = sorted(r["id"] for r in flow.rows(ds))
    assert got == sorted(f"r{i}" for i in range(12)), "each file landed exactly once"

    history = jobs.runs(jobId=job["id"])
    assert [r["id"] for r in history] == [third["id"], second["id"], first["id"]], "newest first"
    assert [r["id"] for r in jobs.runs(jobName="growing", limit=2)] == [third["id"], second["id"]]
    assert [r["id"] for r in jobs.runs(jobName="growing", limit=2, start=2)] == [first["id"]]


def test_two_runs_at_the_same_instant_one_runs_one_is_skipped(jobs: Jobs, flow: Flow) -> None:
    ds = flow.dataset("jobs-overlap", SIMPLE)
    bucket = jobs.source("batchgate-job-sources-overlap")
    jobs.s3.put_object(Bucket=bucket, Key="a.json", Body=rows_of(10))
    job = jobs.create("overlap", {"datasetId": ds, "bucket": bucket, "format": "json"})
    ids: list[str] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        ids.append(jobs.run(job["id"]))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [jobs.wait(i) for i in ids]
    statuses = sorted(r["status"] for r in done)
    if statuses == ["success", "success"]:
        # The second run's start task ran after the first run had ended (the task queue took
        # them one after the other, and a 10-row run is quick): no overlap, so it rightly ran,
        # and found every file taken. What must hold is the invariant: runs never overlap. The
        # start step takes the lock between its ``started`` (stamped before it tries) and its
        # ``ended``; a run is closed (``ended``) before its lock is released. So the later run
        # had the lock only after the earlier one ended: its start step cannot end sooner.
        def had_the_lock_by(r: dict[str, Any]) -> int:
            return int(next(s for s in r["steps"] if s["name"] == "start")["ended"])

        earlier, later = sorted(done, key=had_the_lock_by)
        assert earlier["ended"] is not None and earlier["ended"] <= had_the_lock_by(later), done
    else:
        assert statuses == ["skipped", "success"], done
        (skipped,) = [r for r in done if r["status"] == "skipped"]
        assert "never overlap" in skipped["message"], skipped
    assert len(flow.rows(ds)) == 10


def test_edit_and_delete_only_while_inactive(jobs: Jobs, flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("jobs-rules", SIMPLE)
    bucket = jobs.source("batchgate-job-sources-rules")
    job = jobs.create("rules", {"datasetId": ds, "bucket": bucket, "format": "json"}, "cron(0 3 * * ? *)")
    path = f"{JOBS}/{job['id']}"
    assert jobs.action(job["id"], "ACTIVATE").json()["status"] == "active"
    r = stack.post(path, json={})  # no action
    assert r.status_code == 400, r.text
    patch = requests.patch(
        stack.api + path, json={"description": "nightly"}, headers=stack.headers(), timeout=30
    )
    assert patch.status_code == 409 and patch.json()["error"]["code"] == "BG-409-JOB-ACTIVE", patch.text
    delete = requests.delete(stack.api + path, headers=stack.headers(), timeout=30)
    assert delete.status_code == 409 and delete.json()["error"]["code"] == "BG-409-JOB-ACTIVE", delete.text

    assert jobs.action(job["id"], "DEACTIVATE").json()["status"] == "inactive"
    renamed = requests.patch(stack.api + path, json={"name": "other"}, headers=stack.headers(), timeout=30)
    assert renamed.status_code == 400, renamed.text
    bad = requests.patch(
        stack.api + path,
        json={"schedule": {"expression": "cron(0 3 * * ?)"}},
        headers=stack.headers(),
        timeout=30,
    )
    assert bad.status_code == 400 and "6 fields" in bad.json()["error"]["message"], bad.text
    ok = requests.patch(
        stack.api + path,
        json={
            "description": "nightly",
            "schedule": {"expression": "cron(30 4 ? * MON-FRI *)", "timezone": "Europe/Paris"},
        },
        headers=stack.headers(),
        timeout=30,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["schedule"] == {"expression": "cron(30 4 ? * MON-FRI *)", "timezone": "Europe/Paris"}
    assert requests.delete(stack.api + path, headers=stack.headers(), timeout=30).status_code in (200, 204)
    assert stack.get(path).status_code == 404


def test_a_run_fails_naming_a_deleted_dataset_or_a_vanished_bucket(
    jobs: Jobs, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("jobs-gone", SIMPLE)
    bucket = jobs.source("batchgate-job-sources-gone")
    jobs.s3.put_object(Bucket=bucket, Key="a.json", Body=rows_of(2))
    job = jobs.create("dataset-gone", {"datasetId": ds, "bucket": bucket, "format": "json"})
    r = requests.delete(
        f"{stack.api}/data/foundation/catalog/dataSets/{ds}", headers=stack.headers(), timeout=30
    )
    assert r.status_code in (200, 202, 204), r.text
    run = jobs.wait(jobs.run(job["id"]))
    assert run["status"] == "failed" and ds in run["message"], run
    assert stack.get(f"{JOBS}/{job['id']}").status_code == 200, "the job stays"

    ds2 = flow.dataset("jobs-bucket-gone", SIMPLE)
    gone = jobs.source("batchgate-job-sources-vanishing")
    job2 = jobs.create("bucket-gone", {"datasetId": ds2, "bucket": gone, "format": "json"})
    jobs.s3.delete_bucket(Bucket=gone)
    run2 = jobs.wait(jobs.run(job2["id"]))
    assert run2["status"] == "failed" and gone in run2["message"], run2
    assert stack.get(f"{JOBS}/{job2['id']}").status_code == 200


def test_a_rate_schedule_fires_on_its_own(jobs: Jobs, flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("jobs-scheduled", SIMPLE)
    bucket = jobs.source("batchgate-job-sources-scheduled")
    jobs.s3.put_object(Bucket=bucket, Key="a.json", Body=rows_of(3))
    job = jobs.create("every-minute", {"datasetId": ds, "bucket": bucket, "format": "json"}, "rate(1 minute)")
    activated = jobs.action(job["id"], "ACTIVATE")
    assert activated.status_code == 200 and activated.json()["status"] == "active", activated.text

    def scheduled_runs(n: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in jobs.runs(jobId=job["id"]) if r["status"] != "running"]
            if len(found) >= n:
                return found
            time.sleep(1)
        raise AssertionError(
            f"{n} scheduled runs expected; runs: {jobs.runs(jobId=job['id'])}\n{stack.tail()}"
        )

    # A rate() schedule starts at once (as EventBridge Scheduler's does), then every minute.
    (first,) = scheduled_runs(1, 60)
    assert first["trigger"] == "schedule" and first["status"] == "success" and first["scheduledTime"], first
    jobs.s3.put_object(Bucket=bucket, Key="b.json", Body=rows_of(2, 3))
    second, again = scheduled_runs(2, 100)
    assert again["id"] == first["id"] and second["trigger"] == "schedule" and second["status"] == "success"
    assert second["scheduledTime"] > first["scheduledTime"]
    assert jobs.action(job["id"], "DEACTIVATE").json()["status"] == "inactive"
    assert sorted(r["id"] for r in flow.rows(ds)) == [f"r{i}" for i in range(5)]

    state = json.loads((stack.data_dir / "scheduler.json").read_text())
    assert state["drift"]["fires"] >= 2
    print(f"local scheduler drift: {state['drift']}")


def test_a_stack_killed_mid_run_finishes_the_run_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    doomed = start_stack(data, env={"BATCHGATE_FAULT": "commit:kill"})
    try:
        jobs, flow = Jobs(doomed), Flow(doomed)
        ds = flow.dataset("jobs-killed", SIMPLE)
        bucket = jobs.source("batchgate-job-sources-killed")
        for day in range(3):
            jobs.s3.put_object(Bucket=bucket, Key=f"d/{day}.json", Body=rows_of(4, 4 * day))
        job = jobs.create("killed", {"datasetId": ds, "bucket": bucket, "prefix": "d/", "format": "json"})
        assert jobs.action(job["id"], "ACTIVATE").status_code == 200  # rate(1 hour): fires once, at once
        deadline = time.monotonic() + 90
        while doomed.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert doomed.proc.poll() is not None, "the commit fault should have killed the stack"
    finally:
        doomed.stop(signal.SIGKILL)

    restarted = start_stack(data)
    try:
        jobs, flow = Jobs(restarted), Flow(restarted)
        (run,) = jobs.runs(jobId=job["id"])
        done = jobs.wait(run["id"], timeout=120)
        assert done["status"] == "success" and done["trigger"] == "schedule", done
        assert sorted(r["id"] for r in flow.rows(ds)) == sorted(f"r{i}" for i in range(12)), (
            "no file twice, none lost"
        )
        again = jobs.wait(jobs.run(job["id"]))
        assert again["status"] == "success" and again["batches"] == [], "nothing new after the restart"
        # The active job's schedule was put back on moto, and its next tick is an hour away.
        scheduler = boto3.client(
            "scheduler",
            endpoint_url=restarted.info["endpoint"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        group = restarted.info["environment"]["BATCHGATE_SCHEDULE_GROUP"]
        assert scheduler.get_schedule(Name=f"job-{job['id']}", GroupName=group)["State"] == "ENABLED"
        assert len(jobs.runs(jobId=job["id"])) == 2, "the schedule did not fire its first tick again"
    finally:
        restarted.stop()


def test_ingest_http_fetches_again_only_when_the_file_changed(jobs: Jobs, flow: Flow, tmp_path: Path) -> None:
    served = tmp_path / "www"
    served.mkdir()
    export = served / "export.json"
    export.write_bytes(rows_of(3))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ds = flow.dataset("jobs-http", SIMPLE)
        r = jobs.s.post(
            JOBS,
            json={
                "name": "vendor-nightly",
                "workflow": "ingest-http",
                "attributes": {
                    "datasetId": ds,
                    "url": f"http://127.0.0.1:{server.server_address[1]}/export.json",
                    "format": "json",
                },
                "schedule": {"expression": "cron(0 2 * * ? *)", "timezone": "America/New_York"},
            },
        )
        assert r.status_code == 201, r.text
        job = r.json()
        first = jobs.wait(jobs.run(job["id"]))
        assert first["status"] == "success" and len(first["batches"]) == 1, first
        unchanged = jobs.wait(jobs.run(job["id"]))
        assert unchanged["status"] == "success" and unchanged["batches"] == [], unchanged
        assert "304" in step(unchanged, "fetch")["message"], unchanged
        # The vendor publishes a new file (a later Last-Modified).
        export.write_bytes(rows_of(2, 3))
        later = time.time() + 10
        os.utime(export, (later, later))
        changed = jobs.wait(jobs.run(job["id"]))
        assert changed["status"] == "success" and len(changed["batches"]) == 1, changed
        assert sorted(r["id"] for r in flow.rows(ds)) == [f"r{i}" for i in range(5)]
    finally:
        server.shutdown()
