"""What template.yaml gives an operator: an alarm for each way a part fails, logs that are kept
and then expire, and each function's S3 rights limited to the prefixes core/keys.py lays out."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from batchgate.core import keys
from batchgate.workflow.context import OUTCOME_METRICS
from batchgate_tools.template import load_template

T = load_template()
RESOURCES: dict[str, dict[str, Any]] = T["Resources"]


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == kind}


FUNCTIONS = of_type("AWS::Serverless::Function")
STATE_MACHINES = of_type("AWS::Serverless::StateMachine")
ALARMS = of_type("AWS::CloudWatch::Alarm")


def alarms_on(namespace: str, metric: str, dimension_value: Any) -> list[str]:
    return [
        name
        for name, a in ALARMS.items()
        if a["Properties"].get("Namespace") == namespace
        and a["Properties"].get("MetricName") == metric
        and any(d["Value"] == dimension_value for d in a["Properties"]["Dimensions"])
    ]


def test_every_alarm_notifies_the_topic() -> None:
    assert len(ALARMS) >= 26
    for name, alarm in ALARMS.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "DeadLetterAlarmTopic"}], name


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_has_error_and_throttle_alarms_and_a_kept_log_group(function: str) -> None:
    for metric in ("Errors", "Throttles"):
        assert alarms_on("AWS/Lambda", metric, {"Ref": function}), f"no {metric} alarm on {function}"
    group = FUNCTIONS[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    props = RESOURCES[group]["Properties"]
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "${AWS::StackName}" in props["LogGroupName"]["Fn::Sub"]


@pytest.mark.parametrize("machine", sorted(STATE_MACHINES))
def test_each_state_machine_has_alarms_logging_and_tracing(machine: str) -> None:
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
        assert alarms_on("AWS/States", metric, {"Ref": machine}), f"no {metric} alarm on {machine}"
    props = STATE_MACHINES[machine]["Properties"]
    assert props["Tracing"] == {"Enabled": True}
    assert props["Logging"]["Level"] == "ERROR"
    (destination,) = props["Logging"]["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert RESOURCES[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_api_has_access_logs_and_5xx_and_latency_alarms() -> None:
    api = of_type("AWS::Serverless::Api")["Api"]["Properties"]
    group = api["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert RESOURCES[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    json.loads(api["AccessLogSetting"]["Format"])  # one JSON object per request
    assert alarms_on("AWS/ApiGateway", "5XXError", {"Ref": "AWS::StackName"})
    assert alarms_on("AWS/ApiGateway", "Latency", {"Ref": "AWS::StackName"})
    assert api["Name"] == {"Ref": "AWS::StackName"}, "the API alarms find the API by this name"


def test_the_batch_outcome_alarm_reads_what_the_tasks_function_emits() -> None:
    alarm = ALARMS["BatchesFailedOrStalledAlarm"]["Properties"]
    stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert {s["MetricName"] for s in stats} == {OUTCOME_METRICS["failed"], OUTCOME_METRICS["stalled"]}
    tasks_env = FUNCTIONS["TasksFunction"]["Properties"]["Environment"]["Variables"]
    namespace = T["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    for s in stats:
        assert s["Namespace"] == namespace
        # Powertools adds the service as a dimension: the alarm must name the tasks function's.
        assert s["Dimensions"] == [{"Name": "service", "Value": tasks_env["POWERTOOLS_SERVICE_NAME"]}]


def test_the_dashboard_shows_volume_failures_and_latency() -> None:
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", dashboard["Properties"]["DashboardBody"]["Fn::Sub"]))
    metrics = {m[1] for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]}
    assert {
        "RowsIngested",
        "BatchesFailed",
        "BatchesStalled",
        "Latency",
        "Errors",
        "ExecutionsFailed",
    } <= metrics
    outputs = json.dumps(T["Outputs"]["DashboardUrl"])
    assert "${Dashboard}" in outputs


def test_sqs_event_sources_are_capped_and_queues_outlast_their_consumers() -> None:
    for name, fn in FUNCTIONS.items():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] != "SQS":
                continue
            props = event["Properties"]
            assert "MaximumConcurrency" in props["ScalingConfig"], name
            queue = RESOURCES[props["Queue"]["Fn::GetAtt"][0]]["Properties"]
            timeout = fn["Properties"].get("Timeout", T["Globals"]["Function"]["Timeout"])
            assert queue["VisibilityTimeout"] >= 6 * timeout, f"{name}: AWS advises 6x the function timeout"


# ------------------------------------------------------------------ least privilege on S3
BUCKET_PREFIXES = {
    keys.UPLOADS.rstrip("/"),
    keys.INBOX.rstrip("/"),
    keys.chunk_prefix("o", "s", "b", "n").split("/")[0],
    keys.staged_prefix("o", "s", "d", "b").split("/")[0],
    keys.failed_prefix("o", "s", "d", "b").split("/")[0],
    keys.part_result_key("o", "s", "b", "n", "q", 0).split("/")[0],
    keys.drop_copy_prefix("o", "s", "d", "b").split("/")[0],
    keys.job_run_prefix("o", "s", "j", "r").split("/")[0],
    keys.feed_sync_prefix("o", "s", "f", "y").split("/")[0],
    keys.bundle_prefix("o", "s", "b").split("/")[0],
    "warehouse",  # BATCHGATE_WAREHOUSE in template.yaml's globals
}


def s3_statements(function: str) -> list[dict[str, Any]]:
    out = []
    for policy in FUNCTIONS[function]["Properties"].get("Policies", []):
        assert not (isinstance(policy, dict) and any(k.startswith("S3") for k in policy)), (
            f"{function} uses a bucket-wide S3 policy template: {policy}"
        )
        for stmt in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            if any(a.startswith("s3:") for a in actions):
                out.append(stmt)
    return out


def test_s3_rights_are_object_actions_on_known_prefixes_and_listing() -> None:
    granted_prefixes = set()
    for function in FUNCTIONS:
        for stmt in s3_statements(function):
            resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            for res in resources:
                arn = res["Fn::Sub"]
                if "${JobSourceBuckets}" in arn:  # jobs' source buckets: read only
                    assert set(stmt["Action"]) <= {"s3:ListBucket", "s3:GetObject"}, stmt
                    continue
                if "${FeedDestinationBuckets}" in arn:  # feeds' destinations: write objects only
                    assert set(stmt["Action"]) <= {"s3:ListBucket", "s3:PutObject"}, stmt
                    continue
                if arn.endswith("${UploadBucket}"):  # the bucket itself: listing only
                    assert set(stmt["Action"]) <= {"s3:ListBucket", "s3:ListBucketVersions"}, stmt
                    continue
                m = re.fullmatch(r"arn:\$\{AWS::Partition\}:s3:::\$\{UploadBucket\}/([a-z]+)/\*", arn)
                assert m, f"{function}: {arn} is not one prefix of the bucket"
                assert m.group(1) in BUCKET_PREFIXES, (
                    f"{function}: {m.group(1)}/ is no prefix of core/keys.py"
                )
                granted_prefixes.add(m.group(1))
                assert all(
                    a in {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject",
                          "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
                    for a in stmt["Action"]
                ), stmt  # fmt: skip
    assert granted_prefixes == BUCKET_PREFIXES, "a prefix the code writes that no function may reach"


def prefixes(function: str, action: str) -> set[str]:
    found = set()
    for stmt in s3_statements(function):
        if action in stmt["Action"]:
            for res in stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]:
                m = re.search(r"\}/([a-z]+)/\*$", res["Fn::Sub"])
                if m:
                    found.add(m.group(1))
    return found


def test_who_may_write_and_delete_what() -> None:
    assert s3_statements("AuthorizerFunction") == []
    assert prefixes("ApiFunction", "s3:DeleteObject") == {"chunks"}
    assert "inbox" not in prefixes("ApiFunction", "s3:PutObject")
    for validator in ("ValidateJsonFunction", "ValidateCsvFunction", "ValidateParquetFunction"):
        assert prefixes(validator, "s3:PutObject") == {"staged", "failed", "drops"}
        assert prefixes(validator, "s3:DeleteObject") == {"staged", "failed"}
        assert "warehouse" not in prefixes(validator, "s3:GetObject")
    # nobody deletes what users dropped
    assert all("inbox" not in prefixes(f, "s3:DeleteObject") for f in FUNCTIONS)


def test_callbacks_use_the_sam_policy_template() -> None:
    props = FUNCTIONS["TasksFunction"]["Properties"]
    callbacks = {
        p["StepFunctionsCallbackPolicy"]["StateMachineName"]["Fn::GetAtt"][0]
        for p in props["Policies"]
        if isinstance(p, dict) and "StepFunctionsCallbackPolicy" in p
    }
    assert callbacks == set(STATE_MACHINES)
    text = json.dumps(props["Policies"])
    assert "states:SendTask" not in text, "hand-written SendTask* where StepFunctionsCallbackPolicy exists"


@pytest.mark.parametrize(("outcome", "emitted"), [("failed", "BatchesFailed"), ("stalled", "BatchesStalled")])
def test_a_batch_that_fails_or_stalls_emits_the_metric_the_alarm_reads(
    outcome: str, emitted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchgate.aws.notifications import Notifications
    from batchgate.core.models import Batch, InputFormat, Metrics
    from batchgate.observability import metrics
    from batchgate.workflow.context import TaskContext

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()
    ctx = TaskContext(
        settings=None,  # type: ignore[arg-type]  # notify reads only the notifier
        store=None,  # type: ignore[arg-type]
        objects=None,  # type: ignore[arg-type]
        executions=None,  # type: ignore[arg-type]
        notifications=Notifications(None),  # no bus: nothing sent
    )
    batch = Batch(
        id="b1", org="o", sandbox="s", datasetId="d", status=outcome, inputFormat=InputFormat(format="json"),
        created=1, updated=1, metrics=Metrics(inputRecordCount=5, outputRecordCount=3, failedRecordCount=2),
    )  # fmt: skip
    try:
        ctx.notify(batch, outcome)
        recorded = {name: m["Value"] for name, m in metrics.metric_set.items()}
    finally:
        metrics.clear_metrics()
    assert recorded[emitted] == [1.0]
    if outcome == "failed":
        assert (recorded["RowsIngested"], recorded["RowsFailed"]) == ([3.0], [2.0])
    else:
        assert "RowsIngested" not in recorded
