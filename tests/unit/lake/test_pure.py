"""Pure parts of the lake: settings, table identity, JSON-safe values, identity matching."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pytest

from batchgate.core.errors import InvalidRequest
from batchgate.core.keys import namespace_for, table_identifier
from batchgate.lake.catalog import LakeSettings, sql_url
from batchgate.lake.identity import key_filter, last_per_key, match, non_null_keys
from batchgate.lake.read import json_safe


def test_settings_from_env_local_and_aws() -> None:
    local = LakeSettings.from_env(
        {
            "BATCHGATE_CATALOG_TYPE": "sql",
            "BATCHGATE_WAREHOUSE": "s3://up/warehouse",
            "BATCHGATE_CATALOG_URI": "/tmp/x/catalog.db",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
        }
    )
    assert (local.catalog_type, local.region, local.s3_endpoint) == (
        "sql",
        "eu-west-1",
        "http://127.0.0.1:4566",
    )
    assert local.io_properties()["s3.endpoint"] == "http://127.0.0.1:4566"
    assert local.io_properties()["s3.access-key-id"] == "k"
    aws = LakeSettings.from_env(
        {
            "BATCHGATE_WAREHOUSE": "s3://up/warehouse",
            "AWS_REGION": "us-west-2",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_SESSION_TOKEN": "t",
        }
    )
    assert aws.catalog_type == "glue" and aws.s3_endpoint is None
    assert aws.io_properties()["s3.session-token"] == "t" and "s3.endpoint" not in aws.io_properties()


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"BATCHGATE_WAREHOUSE": "s3://x/w", "BATCHGATE_CATALOG_TYPE": "hive"},
        {"BATCHGATE_WAREHOUSE": "s3://x/w", "BATCHGATE_CATALOG_TYPE": "sql"},
    ],
)
def test_settings_fail_fast(env: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        LakeSettings.from_env(env)


def test_sql_url_accepts_paths_and_urls(tmp_path: Path) -> None:
    assert sql_url("sqlite:///:memory:") == "sqlite:///:memory:"
    assert sql_url(str(tmp_path / "a" / "c.db")) == f"sqlite:///{tmp_path}/a/c.db"
    assert (tmp_path / "a").is_dir()


def test_table_identifier_is_glue_safe_and_collision_free() -> None:
    ident = table_identifier("ACME@AdobeOrg", "prod", "5f0c1a")
    namespace, table = ident.split(".")
    assert namespace.startswith("bg_acme_adobeorg_") and table == "ds_5f0c1a"
    assert all(c.isalnum() or c == "_" for c in namespace + table) and namespace == namespace.lower()
    assert namespace_for("a-b", "s") != namespace_for("a_b", "s")  # lossy: hashed apart
    assert namespace_for("a_b", "s") == "bg_a_b_s"  # already clean: unchanged
    assert table_identifier("o", "s", "d") == table_identifier("o", "s", "d")


def test_json_safe() -> None:
    ts = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    value = {
        "t": ts, "d": dt.date(2026, 1, 2), "n": math.nan, "i": math.inf, "m": -math.inf,
        "b": b"\x00", "l": [ts, 1.5],
    }  # fmt: skip
    assert json_safe(value) == {
        "t": "2026-01-02T03:04:05Z",
        "d": "2026-01-02",
        "n": "NaN",  # only a field with allowNonFinite holds these
        "i": "Infinity",
        "m": "-Infinity",
        "b": "AA==",
        "l": ["2026-01-02T03:04:05Z", 1.5],
    }


def test_identity_helpers() -> None:
    rows = pa.table({"k1": ["a", "b", "a", None, "c"], "k2": [1, 1, 1, 1, 2], "v": [1, 2, 3, 4, 5]})
    assert last_per_key(rows, ["k1", "k2"]).column("v").to_pylist() == [2, 3, 4, 5]
    keys = non_null_keys(rows, ["k1", "k2"])
    assert sorted(keys.to_pylist(), key=str) == sorted(
        [{"k1": "a", "k2": 1}, {"k1": "b", "k2": 1}, {"k1": "c", "k2": 2}], key=str
    )
    other = pa.table({"k1": pa.array(["c", "a", "a"], type=pa.large_string()), "k2": [2, 2, 1]})
    left, right = match(rows, other, ["k1", "k2"])
    assert sorted(zip(left.to_pylist(), right.to_pylist(), strict=True)) == [(0, 2), (2, 2), (4, 0)]
    assert "k1" in str(key_filter(keys, ["k1", "k2"])) and "k2" in str(key_filter(keys, ["k1", "k2"]))
