"""Powertools' Logger, Tracer and Metrics: one set for the package and every handler.

The service name is ``POWERTOOLS_SERVICE_NAME``, which template.yaml sets per function
(``batchgate-api``, ``batchgate-validate-csv``, …), so each function's logs, traces and metrics
carry its own name; the metrics namespace is ``POWERTOOLS_METRICS_NAMESPACE`` (template.yaml:
``batchgate/{stack}``), read each time metrics are written (:func:`metrics_namespace`).
The package's standard-library loggers (the lake, a library that does not depend on Powertools,
and the API's error map) are children of ``batchgate``: that parent gets the Powertools handler,
so their records come out as the same structured JSON, with the function's keys.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.types import CloudWatchEMFOutput

PACKAGE_LOGGER = "batchgate"
DEFAULT_METRICS_NAMESPACE = "batchgate"


def metrics_namespace() -> str:
    """The namespace the function's environment names (template.yaml's global
    ``POWERTOOLS_METRICS_NAMESPACE``), or ``batchgate`` where none is set."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE


class _EmfProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider, taking its namespace from the environment when it writes.

    Powertools reads the namespace once, when ``Metrics()`` is built, i.e. when this module is
    first imported. Whatever imports it before the function's environment is in place (the local
    stack imports the package before it applies template.yaml's environment; a test, a tool)
    fixed the namespace for good: with no value, every flush failed after the handler's work was
    done ("Must contain a metric namespace") and SQS delivered the message again; with the old
    import-time fallback, the metrics went to ``batchgate`` instead of ``batchgate/{stack}``,
    where the alarms do not look."""

    def serialize_metric_set(
        self, metrics: dict | None = None, dimensions: dict | None = None, metadata: dict | None = None
    ) -> CloudWatchEMFOutput:
        self.namespace = metrics_namespace()
        return super().serialize_metric_set(metrics, dimensions, metadata)


class _Metrics(Metrics):
    """Powertools' Metrics, keeping nothing while metrics are disabled. ``log_metrics`` then never
    flushes, so whatever ``add_metric`` kept would pile up across invocations of a long-lived
    process (the local stack) and be printed, 100 values at a time, by add_metric's own flush."""

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        if not is_metrics_disabled():
            super().add_metric(*args, **kwargs)


logger = Logger()
tracer = Tracer()
# The provider shares Metrics' class-level sets, as the one Metrics() builds by itself does.
metrics = _Metrics(
    provider=_EmfProvider(
        metric_set=Metrics._metrics,
        dimension_set=Metrics._dimensions,
        metadata_set=Metrics._metadata,
        default_dimensions=Metrics._default_dimensions,
        namespace=metrics_namespace(),
    )
)

logging.getLogger(PACKAGE_LOGGER)  # registered now, so the copy below finds it
if logger.name.split(".")[0] != PACKAGE_LOGGER:
    # (A service named "batchgate" is that logger itself: children reach it by propagation.)
    copy_config_to_registered_loggers(source_logger=logger, include={PACKAGE_LOGGER})
