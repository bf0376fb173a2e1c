"""Random operation sequences against a plain Python model of what the table must hold.

Local ``file://`` warehouse (the storage is not the subject; it keeps the examples fast). After
every step the current rows must equal the model, and after every gc each remaining snapshot must
still be fully readable.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchgate.lake.gc import gc
from batchgate.lake.promote import promote, replay
from batchgate.lake.revert import revert
from batchgate.lake.upsert import upsert
from tests.integration.lake.helpers import Lake, make_lake, rows_of

KEYS = [f"k{i}" for i in range(6)]


def _fresh_lake() -> Lake:
    return make_lake("file", Path(tempfile.mkdtemp(prefix="lake-seq-")), None)


def _view(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["id"], r["age"], r["email"], r["_batch_id"]) for r in rows)


def _check_snapshots(lake: Lake, table_name: str) -> None:
    table = lake.catalog.load_table(table_name)
    for snapshot in table.metadata.snapshots:
        table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()


plain_ops = st.lists(
    st.one_of(
        st.tuples(st.just("promote"), st.integers(0, 3)),
        st.tuples(st.just("replay"), st.integers(1, 2)),
        st.tuples(st.just("revert"), st.integers(0, 9)),
        st.tuples(st.just("gc"), st.integers(1, 3)),
    ),
    min_size=3,
    max_size=9,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_ops)
def test_promote_replay_revert_gc_sequences(ops: list[tuple[str, int]]) -> None:
    lake = _fresh_lake()
    ds = lake.dataset()
    model: dict[str, list[tuple[Any, ...]]] = {}  # batch -> rows it holds now
    landed: list[str] = []
    for step, (op, n) in enumerate(ops):
        batch = f"B{step}"
        if op == "promote":
            rows = [{"id": f"{batch}-{i}", "age": i, "email": None} for i in range(n)]
            promote(lake.catalog, ds, batch, [lake.stage(ds, batch, rows)] if rows else [])
            model[batch] = [(r["id"], r["age"], None, batch) for r in rows]
            landed.append(batch)
        elif op == "replay" and landed:
            olds = landed[-n:]
            rows = [{"id": f"{batch}-0", "age": 1, "email": "r"}]
            replay(lake.catalog, ds, batch, [lake.stage(ds, batch, rows)], olds)
            for old in olds:
                model.pop(old, None)
            model[batch] = [(f"{batch}-0", 1, "r", batch)]
            landed.append(batch)
        elif op == "revert" and landed:
            target = landed[n % len(landed)]
            revert(lake.catalog, ds, target)
            model.pop(target, None)
        elif op == "gc":
            gc(lake.catalog, ds, older_than_ms=int(time.time() * 1000) + 60_000, keep_last=n)
            _check_snapshots(lake, ds.table)
        assert _view(rows_of(lake, ds)) == sorted(r for rows in model.values() for r in rows)


upsert_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("upsert"),
            st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 9)), min_size=1, max_size=4),
            st.sampled_from([("id", "age"), ("id", "email"), ("id", "age", "email")]),
            st.just(0),
        ),
        st.tuples(st.just("revert"), st.just([]), st.just(()), st.integers(0, 9)),
        st.tuples(st.just("gc"), st.just([]), st.just(()), st.just(0)),
    ),
    min_size=2,
    max_size=9,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(upsert_ops)
def test_upsert_and_revert_sequences(
    ops: list[tuple[str, list[tuple[str, int]], tuple[str, ...], int]],
) -> None:
    """The model is the documented revert-of-upsert rule: every identity that still carries the
    reverted batch goes back to its version before that batch, unless that version's batch has
    been reverted too (then the identity is gone); identities changed again later keep the
    later change."""
    lake = _fresh_lake()
    ds = lake.dataset(upsert=True)
    state: dict[str, dict[str, Any]] = {}
    priors: dict[str, dict[str, dict[str, Any]]] = {}  # batch -> state before it
    landed: list[str] = []
    reverted: set[str] = set()
    for step, (op, changes, present, pick) in enumerate(ops):
        batch = f"U{step}"
        if op == "upsert":
            # As a validator stages it: columns the file lacked are null.
            rows: list[dict[str, Any]] = [
                {
                    "id": k,
                    "age": v if "age" in present else None,
                    "email": f"e{v}" if "email" in present else None,
                }
                for k, v in changes
            ]
            upsert(lake.catalog, ds, batch, [lake.stage(ds, batch, rows)], ["id"], list(present))
            priors[batch] = {k: dict(v) for k, v in state.items()}
            landed.append(batch)
            for row in rows:  # last row per identity wins, absent columns keep their value
                old = state.get(row["id"])
                new: dict[str, Any] = {"age": None, "email": None} if old is None else dict(old)
                for col in ("age", "email"):
                    if col in present:
                        new[col] = row[col]
                new["_batch_id"] = batch
                state[row["id"]] = new
        elif op == "revert" and landed:
            target = landed[pick % len(landed)]
            revert(lake.catalog, ds, target)
            if target not in reverted:
                reverted.add(target)
                for key in [k for k, v in state.items() if v["_batch_id"] == target]:
                    before = priors[target].get(key)
                    if before is None or before["_batch_id"] in reverted:
                        del state[key]
                    else:
                        state[key] = dict(before)
        elif op == "gc":
            live = [b for b in landed if b not in reverted]
            gc(lake.catalog, ds, older_than_ms=int(time.time() * 1000) + 60_000, protected_batches=live)
            _check_snapshots(lake, ds.table)
        expected = sorted((k, v["age"], v["email"], v["_batch_id"]) for k, v in state.items())
        assert _view(rows_of(lake, ds)) == expected, (op, batch)
