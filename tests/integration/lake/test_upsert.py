"""Upsert with AEP patch semantics, and the revert of an upsert."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from batchgate.lake.promote import promote, replay
from batchgate.lake.revert import revert
from batchgate.lake.upsert import REFUSED_FIELD, REFUSED_INSERT, upsert
from tests.integration.lake.helpers import Lake, people, rows_of

ADDRESS = {"city": "Oslo"}


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def _one_batch_per_file(lake: Lake, table_name: str) -> None:
    table = lake.catalog.load_table(table_name)
    for task in table.scan().plan_files():
        from batchgate.lake.files import read_tasks

        ids = pc.unique(read_tasks(table, table.metadata, [task]).column("_batch_id")).to_pylist()
        assert len(ids) == 1, f"{task.file.file_path} mixes batches {ids}"


def test_upsert_patch_semantics_then_revert_restores_prior_rows(anylake: Lake) -> None:
    lake = anylake
    ds = lake.dataset(upsert=True)
    base = people("a", 3, address=ADDRESS, tags=["t"])
    first = upsert(lake.catalog, ds, "U1", [lake.stage(ds, "U1", base)], ["id"], None)
    assert first.bytes_rewritten == 0 and first.rows_added == 3  # first load: registered in place
    before = rows_of(lake, ds)

    # The file carried id, email, age only: address/tags/seen/born are absent and must be kept.
    patch: list[dict[str, Any]] = [
        {"id": "a0", "email": None, "age": 99},  # explicit null sets null
        {"id": "a1", "email": "new@x.io", "age": 50},
        {"id": "a9", "email": "nine@x.io", "age": 9},  # new identity: inserted
    ]
    result = upsert(lake.catalog, ds, "U2", [lake.stage(ds, "U2", patch)], ["id"], ["id", "email", "age"])

    assert (result.rows_added, result.rows_deleted) == (3, 2)
    assert result.bytes_rewritten > 0
    snapshot = lake.catalog.load_table(ds.table).current_snapshot()
    assert snapshot is not None and snapshot.parent_snapshot_id == first.snapshot_id  # one snapshot
    got = _by_id(rows_of(lake, ds))
    assert sorted(got) == ["a0", "a1", "a2", "a9"]
    assert (got["a0"]["email"], got["a0"]["age"], got["a0"]["address"], got["a0"]["tags"]) == (
        None,
        99,
        ADDRESS,
        ["t"],
    )
    assert (got["a1"]["email"], got["a1"]["age"], got["a1"]["address"]) == ("new@x.io", 50, ADDRESS)
    assert got["a2"] == _by_id(before)["a2"]  # untouched, still batch U1
    assert (got["a9"]["address"], got["a9"]["_batch_id"]) == (None, "U2")
    assert {got[k]["_batch_id"] for k in ("a0", "a1")} == {"U2"}
    assert (got["a1"]["_source_file"], got["a1"]["_source_row"]) == ("part-0", 1)
    _one_batch_per_file(lake, ds.table)

    reverted = revert(lake.catalog, ds, "U2", upsert_prior_snapshot=result.previous_snapshot_id)

    assert (reverted.rows_deleted, reverted.rows_added) == (3, 2)
    assert rows_of(lake, ds) == before  # values and lineage exactly as before the upsert
    _one_batch_per_file(lake, ds.table)


def test_revert_of_upsert_finds_its_prior_snapshot_and_leaves_later_changes(s3lake: Lake) -> None:
    ds = s3lake.dataset(upsert=True)
    upsert(s3lake.catalog, ds, "U1", [s3lake.stage(ds, "U1", people("a", 3))], ["id"], None)
    before = _by_id(rows_of(s3lake, ds))
    upsert(
        s3lake.catalog,
        ds,
        "U2",
        [s3lake.stage(ds, "U2", [{"id": "a0", "age": 1}, {"id": "a1", "age": 1}, {"id": "n", "age": 1}])],
        ["id"],
        ["id", "age"],
    )
    # A later batch changes a1 again and adds its own row.
    upsert(
        s3lake.catalog,
        ds,
        "U3",
        [s3lake.stage(ds, "U3", [{"id": "a1", "age": 3}, {"id": "z", "age": 3}])],
        ["id"],
        ["id", "age"],
    )

    revert(s3lake.catalog, ds, "U2")  # prior snapshot found from U2's snapshot summary

    got = _by_id(rows_of(s3lake, ds))
    assert sorted(got) == ["a0", "a1", "a2", "z"]  # U2's insert "n" is gone
    assert got["a0"] == before["a0"]  # restored to U1's version
    assert (got["a1"]["age"], got["a1"]["_batch_id"]) == (3, "U3")  # later change wins (documented)
    assert got["a1"]["email"] == before["a1"]["email"]
    assert got["a2"] == before["a2"] and got["z"]["_batch_id"] == "U3"


def test_revert_of_upsert_does_not_resurrect_a_reverted_batch(s3lake: Lake) -> None:
    ds = s3lake.dataset(upsert=True)
    upsert(s3lake.catalog, ds, "U1", [s3lake.stage(ds, "U1", people("a", 1))], ["id"], None)
    upsert(s3lake.catalog, ds, "U2", [s3lake.stage(ds, "U2", people("b", 1))], ["id"], None)
    upsert(
        s3lake.catalog,
        ds,
        "U3",
        [s3lake.stage(ds, "U3", [{"id": "a0", "age": 5}, {"id": "b0", "age": 5}])],
        ["id"],
        ["id", "age"],
    )
    revert(s3lake.catalog, ds, "U2")  # U2's row b0 now carries U3: nothing of U2 is left to remove
    revert(s3lake.catalog, ds, "U3")

    got = _by_id(rows_of(s3lake, ds))
    assert sorted(got) == ["a0"] and got["a0"]["_batch_id"] == "U1"


def test_upsert_last_row_per_identity_wins_and_rerun_is_noop(s3lake: Lake) -> None:
    ds = s3lake.dataset(upsert=True)
    rows = [{"id": "a", "age": 1}, {"id": "b", "age": 1}, {"id": "a", "age": 2}]
    paths = [s3lake.stage(ds, "U1", rows[:2], name="f1"), s3lake.stage(ds, "U1", rows[2:], name="f2")]

    first = upsert(s3lake.catalog, ds, "U1", paths, ["id"], None)
    again = upsert(s3lake.catalog, ds, "U1", paths, ["id"], None)

    got = _by_id(rows_of(s3lake, ds))
    assert (got["a"]["age"], got["a"]["_source_file"]) == (2, "f2") and len(got) == 2
    assert first.rows_added == 2 and again.noop and again.snapshot_id == first.snapshot_id


def test_upsert_into_rows_of_a_plain_promote(s3lake: Lake) -> None:
    ds = s3lake.dataset(upsert=True)
    promote(s3lake.catalog, ds, "P1", [s3lake.stage(ds, "P1", people("a", 4))])

    upsert(
        s3lake.catalog, ds, "U1", [s3lake.stage(ds, "U1", [{"id": "a2", "age": 0}])], ["id"], ["id", "age"]
    )

    got = rows_of(s3lake, ds)
    assert [(r["id"], r["age"], r["_batch_id"]) for r in got] == [
        ("a0", 20, "P1"),
        ("a1", 21, "P1"),
        ("a2", 0, "U1"),
        ("a3", 23, "P1"),
    ]
    _one_batch_per_file(s3lake, ds.table)


def test_revert_with_prior_snapshot_never_duplicates_rows_that_are_still_live(s3lake: Lake) -> None:
    # The workflow passes the prior snapshot for every batch of an upsert dataset, replays too.
    # A replay can carry an identity that another live batch also holds; reverting the replay
    # must not bring that other row back a second time.
    ds = s3lake.dataset(upsert=True)
    upsert(s3lake.catalog, ds, "A", [s3lake.stage(ds, "A", people("k", 2))], ["id"], None)
    upsert(s3lake.catalog, ds, "P", [s3lake.stage(ds, "P", people("p", 1))], ["id"], None)
    before = rows_of(s3lake, ds)
    result = replay(s3lake.catalog, ds, "R", [s3lake.stage(ds, "R", people("k", 1, age=7))], ["P"])

    revert(s3lake.catalog, ds, "R", upsert_prior_snapshot=result.previous_snapshot_id)

    after = rows_of(s3lake, ds)
    assert [r["id"] for r in after] == ["k0", "k1"]  # P stays replaced, A's k0 is there once
    assert after == [r for r in before if r["_batch_id"] == "A"]


def test_present_columns_per_file(s3lake: Lake) -> None:
    ds = s3lake.dataset(upsert=True)
    upsert(s3lake.catalog, ds, "U1", [s3lake.stage(ds, "U1", people("a", 3, address=ADDRESS))], ["id"], None)
    ages = s3lake.stage(ds, "U2", [{"id": "a0", "age": 1}], name="ages")  # a CSV with id,age
    mails = s3lake.stage(
        ds, "U2", [{"id": "a1", "email": None}, {"id": "n", "email": "n@x.io"}], name="mails"
    )

    upsert(s3lake.catalog, ds, "U2", [ages, mails], ["id"], {ages: ["id", "age"], mails: ["id", "email"]})

    got = _by_id(rows_of(s3lake, ds))
    assert (got["a0"]["age"], got["a0"]["email"], got["a0"]["address"]) == (1, "a0@x.io", ADDRESS)
    assert (got["a1"]["age"], got["a1"]["email"], got["a1"]["address"]) == (21, None, ADDRESS)
    assert (got["n"]["age"], got["n"]["email"], got["a2"]["_batch_id"]) == (None, "n@x.io", "U1")


def test_required_binds_the_stored_row_refused_rows_are_handed_over_and_left_out(s3lake: Lake) -> None:
    """core/upsert_rules: a new identity must be whole; an update may leave a required column out
    but not clear it through a file that carries it; refused rows touch nothing."""
    ds = s3lake.dataset(upsert=True)
    upsert(s3lake.catalog, ds, "U1", [s3lake.stage(ds, "U1", people("a", 3, address=ADDRESS))], ["id"], None)
    before = _by_id(rows_of(s3lake, ds))
    ages = s3lake.stage(ds, "U2", [{"id": "a0", "age": 1}, {"id": "new", "age": 2}], name="ages")
    mails = s3lake.stage(
        ds, "U2", [{"id": "a1", "email": None}, {"id": "a2", "email": "x@x.io"}], name="mails"
    )
    handed: list[Any] = []

    result = upsert(
        s3lake.catalog, ds, "U2", [ages, mails], ["id"], {ages: ["id", "age"], mails: ["id", "email"]},
        required_at_commit=frozenset({"email"}), on_refused=handed.append,
    )  # fmt: skip

    [refused] = handed
    shown = sorted(
        zip(
            refused.column("id").to_pylist(),
            refused.column(REFUSED_FIELD).to_pylist(),
            refused.column(REFUSED_INSERT).to_pylist(),
            refused.column("_source_file").to_pylist(),
            strict=True,
        )
    )
    assert shown == [("a1", "email", False, "mails"), ("new", "email", True, "ages")]
    got = _by_id(rows_of(s3lake, ds))
    assert sorted(got) == ["a0", "a1", "a2"] and result.rows_added == 2
    assert (got["a0"]["age"], got["a0"]["email"]) == (1, "a0@x.io"), "an update leaving email out keeps it"
    assert got["a1"] == before["a1"], "a refused update leaves the stored row as it was"
    assert got["a2"]["email"] == "x@x.io"
    snapshot = s3lake.catalog.load_table(ds.table).current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert snapshot.summary["batchgate.rows-refused"] == "2"

    # a re-run is a no-op and refuses nothing again (the reports of the landed attempt stand)
    handed.clear()
    again = upsert(
        s3lake.catalog, ds, "U2", [ages, mails], ["id"], {ages: ["id", "age"], mails: ["id", "email"]},
        required_at_commit=frozenset({"email"}), on_refused=handed.append,
    )  # fmt: skip
    assert again.noop and handed == []
