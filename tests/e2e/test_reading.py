"""Reading tables (issue 13), each finding replayed against `batchgate up`: `batchgate query`
pushes filters down and returns the right rows, lists tables, refuses ambiguous names, answers SQL
errors in one line with a non-zero exit, honours BATCHGATE_URL; the rows API filters; a dataset's
GET says where its Iceberg metadata is, and pyiceberg loads the table from there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import requests
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import StaticTable

from tests.e2e.stack import ROOT, RunningStack
from tests.e2e.test_guide_flows import Flow, jsonl, people

ROWS = "/data/foundation/export/datasets/{}/rows"


def batchgate(
    stack: RunningStack, *args: str, url: str | None = None, key: bool = False
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: BATCHGATE_URL set, no --url; a key only when asked (otherwise
    the command finds the local stack's own key from the URL)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("BATCHGATE_API_KEY", "BATCHGATE_TOKEN", "AWS_ENDPOINT_URL", "BATCHGATE_URL")
    }
    env |= {
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools")),
        "BATCHGATE_URL": url or stack.api,
    }
    if key:
        env |= {"BATCHGATE_API_KEY": stack.info["keyId"], "BATCHGATE_TOKEN": stack.info["token"]}
    return subprocess.run(
        [sys.executable, "-m", "batchgate_tools.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def json_lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr and done.stdout == "", done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr.strip()


@pytest.fixture(scope="module")
def profiles(stack: RunningStack) -> dict[str, Any]:
    """A dataset with two landed batches and a reverted third."""
    flow = Flow(stack)
    ds = flow.dataset("profiles")
    visible = people(40, tier="gold") + people(40, start=40, tier="silver")
    kept = flow.ingest(ds, jsonl(visible))
    gone = flow.ingest(ds, jsonl(people(10, start=100, tier="bronze")))
    assert {kept["status"], gone["status"]} == {"success"}
    assert flow.action(gone["id"], "REVERT").status_code == 200
    stack.wait_batch(gone["id"], {"inactive"})
    return {"id": ds, "rows": visible, "batches": (kept["id"], gone["id"])}


def test_query_with_a_filter_returns_the_right_rows(stack: RunningStack, profiles: dict[str, Any]) -> None:
    done = batchgate(
        stack, "query", "SELECT id, age, tier FROM profiles WHERE age >= 70 ORDER BY id", "--json"
    )
    expected = sorted(
        ({"id": r["id"], "age": r["age"], "tier": r["tier"]} for r in profiles["rows"] if r["age"] >= 70),
        key=lambda r: r["id"],
    )
    assert expected and json_lines(done) == expected
    grouped = batchgate(
        stack, "query", "SELECT tier, count(*) AS n FROM profiles GROUP BY tier ORDER BY tier", "--json"
    )
    assert json_lines(grouped) == [{"tier": "gold", "n": 40}, {"tier": "silver", "n": 40}], (
        "bronze was reverted"
    )


def test_show_tables_lists_datasets_by_name_and_id(stack: RunningStack, profiles: dict[str, Any]) -> None:
    listed = json_lines(batchgate(stack, "query", "SHOW TABLES", "--json", key=True))
    assert {"name": "profiles", "id": profiles["id"], "sql_name": "profiles"} in listed


def test_a_name_two_datasets_share_is_refused_naming_both(stack: RunningStack) -> None:
    flow = Flow(stack)
    first, second = flow.dataset("twins"), flow.dataset("twins")
    assert flow.ingest(first, jsonl(people(3)))["status"] == "success"
    message = one_line_error(batchgate(stack, "query", "SELECT count(*) FROM twins"))
    assert first in message and second in message and "ds_" in message
    by_id = batchgate(stack, "query", f"SELECT count(*) AS n FROM ds_{first}", "--json")
    assert json_lines(by_id) == [{"n": 3}]


def test_sql_errors_are_one_line_and_a_non_zero_exit(stack: RunningStack, profiles: dict[str, Any]) -> None:
    assert "syntax error" in one_line_error(batchgate(stack, "query", "SELEC * FROM profiles"))
    unknown = one_line_error(batchgate(stack, "query", "SELECT * FROM nowhere"))
    assert "nowhere" in unknown and "SHOW TABLES" in unknown


def test_batchgate_url_is_honoured(stack: RunningStack, profiles: dict[str, Any]) -> None:
    # The stack listens on ports picked at random, not the defaults (3000 / 4566): every query
    # above found it through BATCHGATE_URL alone. One pointed nowhere fails cleanly.
    assert not stack.api.endswith(":3000")
    with_key = batchgate(stack, "query", "SELECT count(*) AS n FROM profiles", "--json", key=True)
    assert json_lines(with_key) == [{"n": 80}]
    nowhere = one_line_error(
        batchgate(stack, "query", "SELECT count(*) FROM profiles", url="http://127.0.0.1:9", key=True)
    )
    assert "cannot reach the API at http://127.0.0.1:9" in nowhere


def test_rows_api_filter(stack: RunningStack, profiles: dict[str, Any]) -> None:
    path = ROWS.format(profiles["id"])
    expected = sorted(r["id"] for r in profiles["rows"] if r["age"] >= 70 and r["tier"] == "silver")
    got: list[str] = []
    start = None
    while True:
        params: dict[str, Any] = {"filter": ["age>=70", "tier=silver"], "limit": 3}
        if start:
            params["start"] = start
        body = stack.get(path, params=params).json()
        got += [row["id"] for row in body["data"]]
        start = body["page"]["next"]
        if not start:
            break
        other = stack.get(path, params={"filter": "age>=71", "limit": 3, "start": start})
        assert other.status_code == 400 and other.json()["error"]["code"] == "BG-400-PAGE-TOKEN"
    assert sorted(got) == expected and len(expected) == 10
    bad = stack.get(path, params={"filter": "agee>=70"})
    assert bad.status_code == 400 and "agee" in bad.json()["error"]["message"]


def test_dataset_get_shows_the_metadata_location_and_pyiceberg_loads_it(
    stack: RunningStack, profiles: dict[str, Any]
) -> None:
    ds = profiles["id"]
    iceberg = stack.get(f"/data/foundation/catalog/dataSets/{ds}").json()[ds]["iceberg"]
    assert iceberg["catalog"] == "sql" and iceberg["identifier"] == f"bg_local_prod.ds_{ds}"
    assert iceberg["metadataLocation"].startswith(f"s3://{stack.bucket}/")
    s3 = {
        "s3.endpoint": stack.info["endpoint"],
        "s3.access-key-id": "testing",
        "s3.secret-access-key": "testing",
        "s3.region": "us-east-1",
    }
    table = StaticTable.from_metadata(iceberg["metadataLocation"], properties=s3)
    assert table.scan().count() == 80
    # The docs' snippet for the local stack's catalog reaches the same metadata.
    catalog = SqlCatalog(
        "batchgate",
        uri=f"sqlite:///{stack.data_dir / 'catalog.sqlite'}",
        warehouse=f"s3://{stack.bucket}/warehouse",
        **s3,
    )
    assert catalog.load_table(iceberg["identifier"]).metadata_location == iceberg["metadataLocation"]
    fresh = Flow(stack).dataset("not_landed_yet")
    assert (
        stack.get(f"/data/foundation/catalog/dataSets/{fresh}").json()[fresh]["iceberg"]["metadataLocation"]
        is None
    )
    assert requests.get(stack.api + "/health", timeout=10).status_code == 200
