"""GET …/export/datasets/{d}/rows, wired to batchgate.lake.read on a real Iceberg table (pyiceberg
SqlCatalog + moto's S3), with batches landed by the lake's own promote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.api.harness import BUCKET, Api, Aws
from tests.integration.api.landing import lake_env, land, set_status


def test_rows_pages_filters_and_time_travel(
    api: Api, aws: Aws, other_api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = lake_env(monkeypatch, tmp_path)
    ds = api.create_dataset()
    rows_path = f"/data/foundation/export/datasets/{ds}/rows"
    empty = api.call("GET", rows_path)
    assert empty.status == 200 and empty.json() == {
        "data": [],
        "page": {"limit": 100, "count": 0, "next": None},
    }
    first, second = api.create_batch(ds)["id"], api.create_batch(ds)["id"]
    land(aws, catalog, ds, first, ["a", "b", "c"])
    land(aws, catalog, ds, second, ["d", "e"])

    page1 = api.call("GET", rows_path, query={"limit": "3"}).json()
    assert page1["page"]["count"] == 3 and page1["page"]["next"]
    page2 = api.call("GET", rows_path, query={"limit": "3", "start": page1["page"]["next"]}).json()
    assert page2["page"]["next"] is None
    ids = sorted(r["id"] for r in page1["data"] + page2["data"])
    assert ids == ["a", "b", "c", "d", "e"]
    only = api.call("GET", rows_path, query={"batchId": second}).json()["data"]
    assert sorted(r["id"] for r in only) == ["d", "e"] and {r["_batch_id"] for r in only} == {second}
    before = api.call("GET", rows_path, query={"asOfBatch": first}).json()["data"]
    assert sorted(r["id"] for r in before) == ["a", "b", "c"]
    unlanded = api.create_batch(ds)["id"]
    r = api.call("GET", rows_path, query={"asOfBatch": unlanded})
    assert r.status == 400 and r.error_code == "BG-400-AS-OF-BATCH"
    other_ds = api.create_dataset()
    r = api.call("GET", f"/data/foundation/export/datasets/{other_ds}/rows", query={"batchId": first})
    assert r.status == 400 and r.error_code == "BG-400-BATCH-DATASET"
    assert other_api.call("GET", rows_path).status == 404


def test_no_read_returns_a_reverted_batchs_rows(
    api: Api, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revert is how data that should never have landed is removed: its rows are gone from
    the current rows, from time travel (asOfBatch, a page token from before) and by batchId."""
    from batchgate.lake.revert import revert

    catalog = lake_env(monkeypatch, tmp_path)
    ds = api.create_dataset()
    rows_path = f"/data/foundation/export/datasets/{ds}/rows"
    b1, b2 = api.create_batch(ds)["id"], api.create_batch(ds)["id"]
    land(aws, catalog, ds, b1, ["pii-1", "pii-2", "pii-3"])
    land(aws, catalog, ds, b2, ["ok-1"])
    before = api.call("GET", rows_path, query={"limit": "2"}).json()["page"]["next"]
    revert(catalog, aws.store.get_dataset("acme", "prod", ds), b1)  # type: ignore[arg-type]
    set_status(aws, b1, "inactive")

    def ids(query: dict[str, str]) -> list[str]:
        r = api.call("GET", rows_path, query=query)
        assert r.status == 200, r.body
        return sorted(row["id"] for row in r.json()["data"])

    assert ids({}) == ["ok-1"]
    assert ids({"asOfBatch": b2}) == ["ok-1"], "time travel to after b1 landed leaves b1 out"
    assert ids({"batchId": b1}) == []
    as_of_reverted = api.call("GET", rows_path, query={"asOfBatch": b1})
    assert as_of_reverted.status == 400 and as_of_reverted.error_code == "BG-400-AS-OF-BATCH"
    next_page = api.call("GET", rows_path, query={"limit": "2", "start": before})
    assert next_page.status == 409 and next_page.error_code == "BG-409-ROWS-CHANGED"


def test_an_aborted_landing_is_not_read_before_its_compensation_commits(
    api: Api, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ABORT can win while the batch's commit runs: the table then holds the aborted rows until
    the compensating revert commits a moment later. Reads do not show them in between."""
    catalog = lake_env(monkeypatch, tmp_path)
    ds = api.create_dataset()
    rows_path = f"/data/foundation/export/datasets/{ds}/rows"
    good, late = api.create_batch(ds)["id"], api.create_batch(ds)["id"]
    land(aws, catalog, ds, good, ["a"])
    land(aws, catalog, ds, late, ["b", "c"])
    set_status(aws, late, "aborted")  # ABORT answered; the revert has not landed yet
    r = api.call("GET", rows_path)
    assert r.status == 200 and [row["id"] for row in r.json()["data"]] == ["a"]
    assert api.call("GET", rows_path, query={"asOfBatch": late}).status == 400


def test_rows_filter_is_pushed_down_pages_and_binds_its_tokens(
    api: Api, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """filter= keeps the rows meeting every condition, pages through them with tokens that work
    only under the same filters, composes with batchId and asOfBatch, and names what it refuses."""
    catalog = lake_env(monkeypatch, tmp_path)
    ds = api.create_dataset()
    rows_path = f"/data/foundation/export/datasets/{ds}/rows"
    b1, b2, b3 = (api.create_batch(ds)["id"] for _ in range(3))
    land(aws, catalog, ds, b1, [f"a{i}" for i in range(6)])  # n = 0..5
    land(aws, catalog, ds, b2, [f"b{i}" for i in range(6)])
    land(aws, catalog, ds, b3, ["c0"])

    def ids(query: dict[str, str | list[str]]) -> list[str]:
        out: list[str] = []
        start: str | None = None
        while True:
            r = api.call("GET", rows_path, query={**query, **({"start": start} if start else {})})
            assert r.status == 200, r.body
            out += [row["id"] for row in r.json()["data"]]
            start = r.json()["page"]["next"]
            if not start:
                return sorted(out)

    assert ids({"filter": "n>=4"}) == ["a4", "a5", "b4", "b5"]
    assert ids({"filter": "n>=4", "limit": "1"}) == ["a4", "a5", "b4", "b5"], "pages of one row"
    assert ids({"filter": ["n>=1", "n < 3"], "limit": "3"}) == ["a1", "a2", "b1", "b2"]
    assert ids({"filter": "id in (a1, 'b2', zz)"}) == ["a1", "b2"]
    assert ids({"filter": ["n=0"], "batchId": b2}) == ["b0"]
    assert ids({"filter": "n = 0", "asOfBatch": b1}) == ["a0"]
    assert ids({"filter": "n is null"}) == []
    assert ids({"filter": "_batch_id=" + b3}) == ["c0"]

    first = api.call("GET", rows_path, query={"filter": "n>=2", "limit": "2"}).json()["page"]["next"]
    assert first
    for other in ({"filter": "n>=3"}, {}, {"filter": "n>=2", "batchId": b1}):
        r = api.call("GET", rows_path, query={**other, "limit": "2", "start": first})
        assert r.status == 400 and r.error_code == "BG-400-PAGE-TOKEN", (other, r.body)
    unfiltered = api.call("GET", rows_path, query={"limit": "2"}).json()["page"]["next"]
    r = api.call("GET", rows_path, query={"filter": "n>=2", "limit": "2", "start": unfiltered})
    assert r.status == 400 and r.error_code == "BG-400-PAGE-TOKEN"

    for bad, named in (
        ("age>3", "'age'"),
        ("n>three", "'three'"),
        ("n>=1.5", "'1.5'"),
        ("id~x", "column op value"),
        ("id in (a", "column op value"),
        ("id='a", "not closed"),
    ):
        r = api.call("GET", rows_path, query={"filter": bad})
        assert r.status == 400 and r.error_code == "BG-400-FILTER", (bad, r.body)
        assert named in r.json()["error"]["message"], (bad, r.body)
    r = api.call("GET", rows_path, query={"filter": [f"n>{i}" for i in range(21)]})
    assert r.status == 400 and r.error_code == "BG-400-LIMIT" and "maxFilters" in r.body.decode()


def test_a_datasets_get_shows_where_its_iceberg_table_is(
    api: Api, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = lake_env(monkeypatch, tmp_path)
    ds = api.create_dataset()
    path = f"/data/foundation/catalog/dataSets/{ds}"
    before = api.call("GET", path).json()[ds]["iceberg"]
    assert before == {
        "catalog": "sql",
        "identifier": f"bg_acme_prod.ds_{ds}",
        "database": "bg_acme_prod",
        "table": f"ds_{ds}",
        "metadataLocation": None,
    }
    land(aws, catalog, ds, api.create_batch(ds)["id"], ["a"])
    after = api.call("GET", path).json()[ds]["iceberg"]
    table = catalog.load_table(after["identifier"])  # type: ignore[attr-defined]
    assert after["metadataLocation"] == table.metadata_location
    assert after["metadataLocation"].startswith(f"s3://{BUCKET}/warehouse/")
    listed = api.call("GET", "/data/foundation/catalog/dataSets").json()[ds]
    assert "iceberg" not in listed, "a listing does not pay one catalog lookup per dataset"
