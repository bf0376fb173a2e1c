"""Metrics leave with the namespace of the function's environment, whenever the package was imported.

The local stack imports the package before it applies template.yaml's environment (where the
namespace is ``batchgate/{stack}``); before that was read at flush time, a ``--verbose`` stack
either failed every invocation after its work ("Must contain a metric namespace", the message
delivered again) or, with an import-time fallback, wrote to a namespace no alarm reads.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchgate.observability import DEFAULT_METRICS_NAMESPACE, metrics


@metrics.log_metrics
def _handler(event: dict[str, Any], context: LambdaContext) -> str:
    metrics.add_metric(name="Probe", unit="Count", value=1)
    return "done"


def _emitted(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_a_namespace_set_after_import_is_the_one_metrics_are_written_to(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A value no process could have had when the package was imported.
    namespace = f"batchgate/stack-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", namespace)
    metrics.clear_metrics()
    assert _handler({}, LambdaContext()) == "done"
    (emf,) = _emitted(capsys.readouterr().out)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == namespace
    assert emf["Probe"] == [1.0]


def test_without_a_namespace_in_the_environment_the_invocation_still_succeeds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    metrics.clear_metrics()
    assert _handler({}, LambdaContext()) == "done"
    (emf,) = _emitted(capsys.readouterr().out)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == DEFAULT_METRICS_NAMESPACE
