"""Every sample in events/ runs through `batchgate invoke` against a running `batchgate up`,
as `sam local invoke` would run it in a container; each has a checked outcome."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from batchgate.core.keys import inbox_batch_id
from tests.e2e.stack import ROOT, RunningStack

EVENTS = ROOT / "events"
# events/<folder>/ belongs to the function whose CodeUri is functions/<folder>/
FUNCTIONS = {
    "api": "ApiFunction",
    "authorizer": "AuthorizerFunction",
    "validate_json": "ValidateJsonFunction",
    "validate_csv": "ValidateCsvFunction",
    "validate_parquet": "ValidateParquetFunction",
    "tasks": "TasksFunction",
}
SAMPLES = sorted(p for p in EVENTS.glob("*/*.json"))


def invoke(stack: RunningStack, function: str, event: Path) -> subprocess.CompletedProcess[str]:
    port = stack.info["endpoint"].rsplit(":", 1)[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools"))}
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "batchgate_tools.cli", "invoke", function, "-e", str(event), "--aws-port", port],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def put_referenced_objects(stack: RunningStack, event: dict[str, Any]) -> dict[str, str]:
    """An S3 sample names an object by key and ETag: put the bytes from events/data/ there.
    Returns each key's version id (the stack's bucket is versioned, as the template's)."""
    versions = {}
    for record in event.get("Records", []):
        body = json.loads(record.get("body") or "{}")
        for r in body.get("Records", []):
            key = r["s3"]["object"]["key"]
            name = key.rsplit("/", 1)[1]
            data = (EVENTS / "data" / name).read_bytes() if (EVENTS / "data" / name).exists() else b"PAR1"
            assert hashlib.md5(data).hexdigest() == r["s3"]["object"]["eTag"], f"{key}: sample ETag is stale"
            versions[key] = stack.s3().put_object(Bucket=stack.bucket, Key=key, Body=data)["VersionId"]
    return versions


def test_every_sample_belongs_to_a_function() -> None:
    assert SAMPLES, "events/ holds no samples"
    for path in SAMPLES:
        if path.parent.name != "data":
            assert path.parent.name in FUNCTIONS, f"{path}: no function for events/{path.parent.name}/"


# What each API sample gets from a fresh stack. The samples' BATCH_ID / DATASET_ID placeholders
# name nothing that exists, so those calls must fail with the error that says so.
API_SAMPLE_OUTCOMES: dict[str, tuple[int, Callable[[Any], bool]]] = {
    "create_dataset.json": (201, lambda b: len(b) == 1 and b[0].startswith("@/dataSets/")),
    "list_batches.json": (200, lambda b: isinstance(b, dict)),
    "request.json": (200, lambda b: isinstance(b, dict)),
    "create_batch.json": (400, lambda b: b["error"]["code"] == "BG-400-UNKNOWN-DATASET"),
    "complete_batch.json": (404, lambda b: b["error"]["code"] == "BG-404-BATCH"),
    "put_file.json": (404, lambda b: b["error"]["code"] == "BG-404-BATCH"),
    # the authorizer's REQUEST event, sent straight to the API function: no authorizer context
    "authorizer_request.json": (401, lambda b: b["error"]["code"] == "BG-401-UNAUTHORIZED"),
}


@pytest.mark.parametrize(
    "sample", [p for p in SAMPLES if p.parent.name != "data"], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_sample_event(stack: RunningStack, sample: Path) -> None:
    function = FUNCTIONS[sample.parent.name]
    event = json.loads(sample.read_text())
    versions = put_referenced_objects(stack, event) if function.startswith("Validate") else {}
    done = invoke(stack, function, sample)
    if function == "AuthorizerFunction":
        # the sample carries a placeholder token: API Gateway would answer 401
        assert done.returncode != 0 and "Unauthorized" in done.stderr, done.stderr[-2000:]
        return
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    if function == "ApiFunction":
        status, check = API_SAMPLE_OUTCOMES[sample.name]
        assert result["statusCode"] == status, result
        assert check(json.loads(result["body"])), result
        return
    assert result == {"batchItemFailures": []}, result
    for record in event["Records"]:
        for r in json.loads(record["body"]).get("Records", []):
            key = r["s3"]["object"]["key"]
            if key.startswith("inbox/"):
                bid = inbox_batch_id(key, versions[key])
                batch = stack.wait_batch(bid, {"failed", "success"})
                # the samples drop into a dataset that does not exist: a failed batch, not silence
                assert batch["errors"][0]["code"] == "BG-INBOX-DATASET", batch
