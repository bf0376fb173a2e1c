"""The workflow's door to the lake: one catalog per process, and the Iceberg operations a batch
transition needs, named by what they do to the batch.

A catalog commit that raises leaves the table as it was (Iceberg commits are atomic), so each
function either lands the whole change or none of it; ``batchgate.lake`` retries lost races.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from batchgate.core.errors import Transient
from batchgate.core.models import Dataset
from batchgate.lake import gc as lake_gc
from batchgate.lake import promote as lake_promote
from batchgate.lake import revert as lake_revert
from batchgate.lake import upsert as lake_upsert
from batchgate.lake.catalog import LakeSettings, load_catalog
from batchgate.lake.commit import CommitResult
from batchgate.lake.tables import ensure_table

_lock = threading.Lock()
_catalog: Any = None


def catalog() -> Any:
    global _catalog
    with _lock:
        if _catalog is None:
            _catalog = load_catalog(LakeSettings.from_env())
        return _catalog


def reset_catalog() -> None:
    global _catalog
    with _lock:
        _catalog = None


def _fault(point: str) -> None:
    """Failure drills: ``BATCHGATE_FAULT=commit`` makes the next lake commit fail as a transient
    error, so operators (and the end-to-end tests) can watch retrying → staging → success and
    check the table is untouched by the failed attempt. Off unless the variable is set."""
    if os.environ.get("BATCHGATE_FAULT") == point:
        os.environ.pop("BATCHGATE_FAULT")
        raise Transient(f"injected fault at {point} (BATCHGATE_FAULT)", code="BG-503-INJECTED")


def _table_catalog(dataset: Dataset) -> Any:
    """The catalog, with the dataset's table created on its first batch (idempotent)."""
    cat = catalog()
    ensure_table(cat, dataset)
    return cat


def promote(dataset: Dataset, batch_id: str, staged: list[str]) -> CommitResult:
    _fault("commit")
    return lake_promote.promote(_table_catalog(dataset), dataset, batch_id, staged)


def replay(dataset: Dataset, batch_id: str, staged: list[str], predecessors: list[str]) -> CommitResult:
    _fault("commit")
    return lake_promote.replay(_table_catalog(dataset), dataset, batch_id, staged, predecessors)


def upsert(
    dataset: Dataset,
    batch_id: str,
    staged: list[str],
    identity: list[str],
    present: Mapping[str, list[str] | None],
) -> CommitResult:
    _fault("commit")
    return lake_upsert.upsert(_table_catalog(dataset), dataset, batch_id, staged, identity, present)


def revert(dataset: Dataset, batch_id: str, *, prior_snapshot: int | None) -> CommitResult:
    _fault("revert")
    return lake_revert.revert(catalog(), dataset, batch_id, upsert_prior_snapshot=prior_snapshot)


def collect_garbage(dataset: Dataset, *, older_than_ms: int, candidates: list[str]) -> lake_gc.GcResult:
    """Expire old snapshots, then delete those ``candidates`` no live snapshot still needs."""
    return lake_gc.gc(_table_catalog(dataset), dataset, older_than_ms=older_than_ms, candidates=candidates)
