"""Every sample in events/ runs through `batchgate invoke` against a running `batchgate up`, as
`sam local invoke` would run it in a container, and each has a checked outcome.

The samples are played as one story on one stack: a dataset is created from the API sample, the
drops land in it, a batch is created, uploaded to and completed from the API samples, then the
task samples act on that batch. Every sample file must be played (the last test checks it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from batchgate.core.keys import inbox_batch_id
from tests.e2e.stack import ROOT, RunningStack

EVENTS = ROOT / "events"
SAMPLES = sorted(p.relative_to(EVENTS).as_posix() for p in EVENTS.glob("*/*.json"))
# events/<folder>/ belongs to the function whose CodeUri is functions/<folder>/
FUNCTIONS = {
    "api": "ApiFunction",
    "authorizer": "AuthorizerFunction",
    "validate_json": "ValidateJsonFunction",
    "validate_csv": "ValidateCsvFunction",
    "validate_parquet": "ValidateParquetFunction",
    "tasks": "TasksFunction",
}


def invoke(stack: RunningStack, sample: str, *extra: str) -> subprocess.CompletedProcess[str]:
    function = FUNCTIONS[sample.split("/")[0]]
    port = stack.info["endpoint"].rsplit(":", 1)[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools"))}
    env.pop("AWS_ENDPOINT_URL", None)
    cmd = [sys.executable, "-m", "batchgate_tools.cli", "invoke", function, "-e", str(EVENTS / sample)]
    return subprocess.run(
        [*cmd, "--aws-port", port, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def result(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout)


def api(done: subprocess.CompletedProcess[str], status: int) -> Any:
    answer = result(done)
    assert answer["statusCode"] == status, answer
    return json.loads(answer["body"]) if answer.get("body") else None


def task_output(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The task's answer, from the handler's log line (the sample's token names no execution)."""
    assert result(done) == {"batchItemFailures": []}
    for line in done.stderr.splitlines():
        if line.startswith("{") and '"task done"' in line:
            output: dict[str, Any] = json.loads(line)["output"]
            return output
    raise AssertionError(f"no 'task done' log line (handler logs hidden?):\n{done.stderr[-3000:]}")


def test_every_sample_belongs_to_a_function() -> None:
    assert SAMPLES, "events/ holds no samples"
    for sample in SAMPLES:
        folder = sample.split("/")[0]
        assert folder == "data" or folder in FUNCTIONS, f"{sample}: no function for events/{folder}/"


@pytest.fixture(scope="module")
def dataset(stack: RunningStack) -> str:
    (ref,) = api(invoke(stack, "api/create_dataset.json"), 201)
    return str(ref.removeprefix("@/dataSets/"))


def test_authorizer_allows_the_stacks_key_and_answers_401_for_an_unknown_one(stack: RunningStack) -> None:
    allowed = result(invoke(stack, "authorizer/request.json"))
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow", allowed
    assert allowed["context"]["org"] == "local"
    done = invoke(stack, "authorizer/unknown-key.json")
    answer = result(done)
    assert answer["statusCode"] == 401 and json.loads(answer["body"]) == {"message": "Unauthorized"}
    assert "API Gateway answers 401" in done.stderr


@pytest.mark.parametrize(
    ("sample", "status", "output", "failed"),
    [
        ("validate_json/inbox-drop.json", "success", 2, 0),
        ("validate_csv/inbox-drop.json", "failed", 1, 1),  # row 2 has age "not-a-number"
        ("validate_parquet/inbox-drop.json", "success", 2, 0),
    ],
)
def test_bucket_drop_samples_land_through_the_invoked_validator(
    stack: RunningStack, dataset: str, sample: str, status: str, output: int, failed: int
) -> None:
    done = invoke(stack, sample, "--param", f"DATASET_ID={dataset}", "--put-objects")
    assert result(done) == {"batchItemFailures": []}
    # The invocation, not the stack's poller, validated the file: its logs say so.
    assert "pollers stand aside" in done.stderr and '"level":"INFO"' in done.stderr.replace(" ", ""), (
        done.stderr
    )
    event = json.loads((EVENTS / sample).read_text())
    key = json.loads(event["Records"][-1]["body"])["Records"][0]["s3"]["object"]["key"].replace(
        "DATASET_ID", dataset
    )
    version = stack.s3().head_object(Bucket=stack.bucket, Key=key)["VersionId"]
    batch = stack.wait_batch(inbox_batch_id(key, version), {"success", "failed"})
    assert batch["status"] == status, batch
    assert (batch["metrics"]["outputRecordCount"], batch["metrics"]["failedRecordCount"]) == (output, failed)


def test_an_upload_without_its_batch_is_dropped_quietly(stack: RunningStack, dataset: str) -> None:
    done = invoke(
        stack,
        "validate_parquet/upload-without-batch.json",
        "--param",
        f"DATASET_ID={dataset}",
        "--put-objects",
    )
    assert result(done) == {"batchItemFailures": []}  # acknowledged: a retry could never find the batch
    assert "no-such-batch" in done.stderr


def test_api_then_task_samples_follow_one_batch(stack: RunningStack, dataset: str) -> None:
    ids = ("--param", f"DATASET_ID={dataset}")
    created = api(invoke(stack, "api/create_batch.json", *ids), 201)
    batch = created["id"]
    ids += ("--param", f"BATCH_ID={batch}")
    api(invoke(stack, "api/put_file.json", *ids), 200)
    # a file of a batch still loading can be planned for parts, as validate-large does
    plan = task_output(invoke(stack, "tasks/validate-large-plan-parts.json", *ids))
    assert len(plan["parts"]) == 1, plan
    assert api(invoke(stack, "api/complete_batch.json", *ids), 200)["status"] == "loaded"
    landed = stack.wait_batch(batch, {"success"})
    assert landed["metrics"]["outputRecordCount"] == 2
    assert batch in api(invoke(stack, "api/list_batches.json"), 200)
    assert batch in api(invoke(stack, "api/request.json"), 200)
    # the complete machine's tasks again, on the landed batch: all files validated, and a repeat
    # of the landing changes nothing
    assert task_output(invoke(stack, "tasks/complete-check-files.json", *ids))["state"] == "ready"
    assert task_output(invoke(stack, "tasks/complete-promote.json", *ids)) == {"status": "success"}
    # an abort cleanup refuses a batch that was not aborted (logged, the message acknowledged)
    refused = invoke(stack, "tasks/abort-cleanup.json", *ids)
    assert result(refused) == {"batchItemFailures": []}
    assert "not aborted" in refused.stderr, refused.stderr[-2000:]
    # the revert task takes the batch's rows out
    reverted = task_output(invoke(stack, "tasks/revert.json", *ids))
    assert reverted["status"] == "inactive", reverted
    assert stack.wait_batch(batch, {"inactive"})["status"] == "inactive"
    swept = task_output(invoke(stack, "tasks/gc-sweep.json"))
    assert "inboxRecorded" in swept, swept


def test_every_sample_is_played_by_a_test_here() -> None:
    """Each sample is named by an invoke call above, whose outcome that test checks (a static check:
    xdist does not promise this module's tests run in file order)."""
    source = Path(__file__).read_text()
    unplayed = [s for s in SAMPLES if not s.startswith("data/") and f'"{s}"' not in source]
    assert unplayed == [], "samples no test invokes"
