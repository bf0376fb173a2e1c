"""Powertools' Logger, Tracer and Metrics: one set for the package and every handler.

The service name is ``POWERTOOLS_SERVICE_NAME``, which template.yaml sets per function
(``batchgate-api``, ``batchgate-validate-csv``, …), so each function's logs, traces and metrics
carry its own name; the metrics namespace is ``POWERTOOLS_METRICS_NAMESPACE`` (``batchgate``).
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

PACKAGE_LOGGER = "batchgate"


class _Metrics(Metrics):
    """Powertools' Metrics, keeping nothing while metrics are disabled. ``log_metrics`` then never
    flushes, so whatever ``add_metric`` kept would pile up across invocations of a long-lived
    process (the local stack) and be printed, 100 values at a time, by add_metric's own flush."""

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        if not is_metrics_disabled():
            super().add_metric(*args, **kwargs)


logger = Logger()
tracer = Tracer()
# An explicit fallback: without a namespace, flushing a metric fails the invocation after its
# work is done ("Must contain a metric namespace"), and SQS delivers the message again.
metrics = _Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "batchgate")

logging.getLogger(PACKAGE_LOGGER)  # registered now, so the copy below finds it
if logger.name.split(".")[0] != PACKAGE_LOGGER:
    # (A service named "batchgate" is that logger itself: children reach it by propagation.)
    copy_config_to_registered_loggers(source_logger=logger, include={PACKAGE_LOGGER})
