"""Commit failures and races: a refused commit leaves the table as it was; racing writers all land."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pyiceberg.exceptions import CommitFailedException

from batchgate.core.errors import CommitConflict
from batchgate.lake.commit import CommitPolicy
from batchgate.lake.promote import promote
from batchgate.lake.revert import revert
from tests.integration.lake.helpers import Lake, people, rows_of

FAST = CommitPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


def _metadata_files(lake: Lake, dataset_table: str) -> set[str]:
    table = lake.catalog.load_table(dataset_table)
    root = table.location().removeprefix("s3://").removeprefix("file://") + "/metadata"
    from pyarrow import fs as pafs

    infos = lake.fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return {i.path for i in infos if i.type == pafs.FileType.File}


def test_refused_commit_leaves_table_unchanged_and_raises_commit_conflict(
    anylake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = anylake
    ds = lake.dataset()
    first = promote(lake.catalog, ds, "B1", [lake.stage(ds, "B1", people("a", 2))])
    before_rows = rows_of(lake, ds)
    before_files = _metadata_files(lake, ds.table)
    calls = {"n": 0}

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        calls["n"] += 1
        raise CommitFailedException("injected: another writer won")

    monkeypatch.setattr(lake.catalog, "commit_table", refuse)
    with pytest.raises(CommitConflict):
        promote(lake.catalog, ds, "B2", [lake.stage(ds, "B2", people("b", 2))], policy=FAST)
    with pytest.raises(CommitConflict):
        revert(lake.catalog, ds, "B1", policy=FAST)
    monkeypatch.undo()

    assert calls["n"] == 2 * FAST.attempts
    table = lake.catalog.load_table(ds.table)
    assert table.current_snapshot().snapshot_id == first.snapshot_id  # type: ignore[union-attr]
    assert rows_of(lake, ds) == before_rows
    # pyiceberg deletes the manifests of a refused commit: nothing half-written remains.
    assert _metadata_files(lake, ds.table) == before_files


def test_unknown_commit_outcome_propagates_and_table_is_unchanged(
    s3lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = s3lake.dataset()
    first = promote(s3lake.catalog, ds, "B1", [s3lake.stage(ds, "B1", people("a", 2))])

    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError("injected: catalog unreachable")

    monkeypatch.setattr(s3lake.catalog, "commit_table", boom)
    with pytest.raises(ConnectionError):
        promote(s3lake.catalog, ds, "B2", [s3lake.stage(ds, "B2", people("b", 2))], policy=FAST)
    monkeypatch.undo()

    assert s3lake.catalog.load_table(ds.table).current_snapshot().snapshot_id == first.snapshot_id  # type: ignore[union-attr]
    # The operation can simply be run again.
    again = promote(s3lake.catalog, ds, "B2", [s3lake.stage(ds, "B2", people("b", 2))])
    assert again.noop is False and len(rows_of(s3lake, ds)) == 4


def test_transient_conflict_is_retried_from_fresh_metadata(
    s3lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = s3lake.dataset()
    real = s3lake.catalog.commit_table
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise CommitFailedException("injected once")
        return real(*args, **kwargs)

    monkeypatch.setattr(s3lake.catalog, "commit_table", flaky)
    result = promote(s3lake.catalog, ds, "B1", [s3lake.stage(ds, "B1", people("a", 2))], policy=FAST)

    assert result.attempts == 2 and result.rows_added == 2
    assert len(s3lake.catalog.load_table(ds.table).metadata.snapshots) == 1


def test_two_concurrent_promotes_both_land(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not run on the Glue variant: moto's Glue UpdateTable ignores VersionId, so two racing
    # commits both "succeed" and one is lost — a moto gap (real Glue refuses the second with
    # ConcurrentModificationException, which pyiceberg turns into CommitFailedException).
    ds = lake.dataset()
    paths = {b: [lake.stage(ds, b, people(b.lower(), 3))] for b in ("B1", "B2")}
    real = lake.catalog.commit_table
    # Hold both first commits until both threads have planned on the same base snapshot, so the
    # race is certain rather than likely.
    gate = threading.Barrier(2, timeout=20)
    seen: set[int] = set()
    lock = threading.Lock()

    def racing(*args: Any, **kwargs: Any) -> Any:
        me = threading.get_ident()
        with lock:
            first = me not in seen
            seen.add(me)
        if first:
            gate.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(lake.catalog, "commit_table", racing)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(promote, lake.catalog, ds, b, p, policy=CommitPolicy(base_delay=0.01))
            for b, p in paths.items()
        ]
        results = [f.result(timeout=60) for f in futures]

    assert sorted(r.attempts for r in results) == [1, 2]
    got = rows_of(lake, ds)
    assert len(got) == 6 and {r["_batch_id"] for r in got} == {"B1", "B2"}
    table = lake.catalog.load_table(ds.table)
    assert len(table.metadata.snapshots) == 2


def test_racing_ensure_table_calls_agree_on_one_table(anylake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    from batchgate.lake.tables import ensure_table

    ds = anylake.dataset()  # creates it; now drop it and race two creators
    anylake.catalog.drop_table(ds.table)
    gate = threading.Barrier(2, timeout=20)
    real = anylake.catalog.create_table_transaction

    def racing(*args: Any, **kwargs: Any) -> Any:
        gate.wait()  # both checked "no table" before either creates it
        return real(*args, **kwargs)

    monkeypatch.setattr(anylake.catalog, "create_table_transaction", racing)
    with ThreadPoolExecutor(max_workers=2) as pool:
        tables = [
            f.result(timeout=60) for f in [pool.submit(ensure_table, anylake.catalog, ds) for _ in range(2)]
        ]

    assert tables[0].metadata.table_uuid == tables[1].metadata.table_uuid
    assert [f.name for f in tables[0].spec().fields] == ["_batch_id"]


def test_many_writers_on_one_table_all_land_exactly_once(s3lake: Lake) -> None:
    ds = s3lake.dataset(upsert=True)
    from batchgate.lake.upsert import upsert

    upsert(s3lake.catalog, ds, "U0", [s3lake.stage(ds, "U0", people("u", 3))], ["id"], None)
    jobs = {f"B{i}": [s3lake.stage(ds, f"B{i}", people(f"b{i}-", 2))] for i in range(4)}
    patch = [s3lake.stage(ds, "U1", [{"id": "u1", "age": 99}])]
    policy = CommitPolicy(attempts=12, base_delay=0.01, max_delay=0.2)

    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = [pool.submit(promote, s3lake.catalog, ds, b, p, policy=policy) for b, p in jobs.items()]
        futures.append(
            pool.submit(upsert, s3lake.catalog, ds, "U1", patch, ["id"], ["id", "age"], policy=policy)
        )
        futures.append(pool.submit(promote, s3lake.catalog, ds, "B0", jobs["B0"], policy=policy))  # duplicate
        results = [f.result(timeout=120) for f in futures]

    got = rows_of(s3lake, ds)
    assert len(got) == 3 + 8 and len({r["id"] for r in got}) == 11  # nothing lost, nothing twice
    assert next(r for r in got if r["id"] == "u1")["age"] == 99
    table = s3lake.catalog.load_table(ds.table)
    assert len(table.metadata.snapshots) == 1 + 5  # the duplicate promote committed nothing
    assert sum(r.noop for r in results) == 1
