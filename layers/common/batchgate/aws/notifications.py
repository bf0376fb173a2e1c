"""EventBridge: an event per batch outcome, like AEP's ingestion notifications."""

from __future__ import annotations

import json
from typing import Any

from batchgate.aws.clients import client
from batchgate.core.models import Batch
from batchgate.observability import logger


class Notifications:
    def __init__(self, event_bus_name: str | None) -> None:
        self.event_bus_name = event_bus_name

    def batch_outcome(self, batch: Batch, outcome: str, **extra: Any) -> None:
        """``Batch {outcome}`` on the bus, with the batch as AEP shows it. A lost notification must
        not undo a landed batch: failures are logged, not raised. No bus configured: nothing sent."""
        if not self.event_bus_name:
            return
        detail = {"outcome": outcome, "batch": batch.to_aep(), **{k: str(v) for k, v in extra.items()}}
        entry = {
            "Source": "batchgate",
            "DetailType": f"Batch {outcome}",
            "Detail": json.dumps(detail),
            "EventBusName": self.event_bus_name,
            "Resources": [f"batch/{batch.id}", f"dataset/{batch.dataset_id}"],
        }
        try:
            client("events").put_events(Entries=[entry])
        except Exception as exc:
            logger.warning("notification not sent", extra={"batch_id": batch.id, "error": str(exc)})
