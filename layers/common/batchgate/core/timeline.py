"""When each step of a batch happened: what the batch's GET answer shows as ``timeline``."""

from __future__ import annotations

from typing import Any

from batchgate.core.models import Batch, BatchFile


def batch_timeline(batch: Batch, files: list[BatchFile]) -> dict[str, Any]:
    """Epoch milliseconds of the batch's steps, ``None`` for those that have not happened.

    Per file: ``received`` (S3 created the object: the upload ended), ``validated`` (its result
    was recorded) and ``staged`` (its valid rows were written as staged Parquet, which happens as
    validation ends, so it equals ``validated`` when the file has rows to land and is ``None``
    otherwise). For the batch: ``commitStarted`` and ``commitEnded`` of its last landing.
    """
    return {
        "created": batch.created,
        "files": [
            {
                "name": f.name,
                "received": f.received_at,
                "validated": f.validated_at,
                "staged": f.validated_at if f.staged_keys else None,
            }
            for f in sorted(files, key=lambda f: f.name)
        ],
        "commitStarted": batch.commit_started,
        "commitEnded": batch.commit_ended,
    }
