"""Scheduled jobs for the API tests: the paths, a source bucket and the bodies of jobs."""

from __future__ import annotations

from typing import Any

from tests.integration.api.harness import Api, Aws

SCHEDULES = "/data/foundation/schedules"
JOBS = f"{SCHEDULES}/jobs"
RUNS = f"{SCHEDULES}/runs"
WORKFLOWS = f"{SCHEDULES}/workflows"
# The template lets the stack read buckets named so (JobSourceBuckets' default).
SOURCES = "batchgate-job-sources-acme"


def source_bucket(aws: Aws, name: str = SOURCES) -> str:
    aws.s3.create_bucket(Bucket=name)
    return name


def ingest_s3(dataset_id: str, name: str = "partner-hourly", **changes: Any) -> dict[str, Any]:
    """An ingest-s3 job over ``SOURCES``; ``changes`` replace top-level fields."""
    body: dict[str, Any] = {
        "name": name,
        "description": "the partner's hourly drop",
        "workflow": "ingest-s3",
        "attributes": {"datasetId": dataset_id, "bucket": SOURCES, "prefix": "exports/", "format": "json"},
        "schedule": {"expression": "rate(1 hour)"},
    }
    return {**body, **changes}


def make_feed(api: Api, dataset_id: str, name: str = "nightly") -> str:
    """A webhook feed of ``dataset_id`` (no bucket needed), for export-feed jobs."""
    body = {
        "name": name,
        "datasetId": dataset_id,
        "destination": {"type": "webhook", "url": "http://127.0.0.1:9/in"},
    }
    r = api.call("POST", "/data/foundation/export/feeds", json_body=body)
    assert r.status == 201, r.body
    return str(r.json()["id"])


def export_feed(feed_id: str, name: str = "feed-nightly") -> dict[str, Any]:
    return {
        "name": name,
        "workflow": "export-feed",
        "attributes": {"feedId": feed_id},
        "schedule": {"expression": "cron(0 3 * * ? *)"},
    }


def create_job(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    r = api.call("POST", JOBS, json_body=body)
    assert r.status == 201, r.body
    return dict(r.json())


def act(api: Api, job_id: str, action: str) -> Any:
    return api.call("POST", f"{JOBS}/{job_id}", query={"action": action})
