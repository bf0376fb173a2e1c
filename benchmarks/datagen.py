"""Profile-like benchmark data in CSV, JSON Lines and Parquet, generated once and cached.

Twelve columns: id, email (pattern, maxLength), name (maxLength), age (integer range), tier (enum),
seen (timestamp), signup (date), score (number), active (boolean), address {city, zip} (object),
tags (array of strings), country (enum). About 1 % of rows break one rule, so the validator's
failure path is part of the measurement. Files land in ``benchmarks/data/`` (git-ignored).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).parent / "data"

FIELDS: list[dict[str, Any]] = [
    {"name": "id", "type": "string", "required": True},
    {
        "name": "email",
        "type": "string",
        "required": True,
        "pattern": "^[^@]+@[^@]+\\.[a-z]+$",
        "maxLength": 254,
    },
    {"name": "name", "type": "string", "maxLength": 40},
    {"name": "age", "type": "integer", "minimum": 0, "maximum": 150},
    {"name": "tier", "type": "string", "enum": ["gold", "silver", "bronze"]},
    {"name": "seen", "type": "timestamp"},
    {"name": "signup", "type": "date"},
    {"name": "score", "type": "number", "minimum": 0},
    {"name": "active", "type": "boolean"},
    {
        "name": "address",
        "type": "object",
        "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": "string"}],
    },
    {"name": "tags", "type": "array", "items": {"type": "string"}},
    {"name": "country", "type": "string", "enum": ["FR", "DE", "US", "JP", "BR"]},
]
CSV_HEADER = [
    "id",
    "email",
    "name",
    "age",
    "tier",
    "seen",
    "signup",
    "score",
    "active",
    "address.city",
    "address.zip",
    "tags",
    "country",
]


_CONSTRAINTS = ("required", "pattern", "maxLength", "minimum", "maximum", "enum")


def _types_only(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for f in fields:
        g = {k: v for k, v in f.items() if k not in _CONSTRAINTS}
        if "fields" in g:
            g["fields"] = _types_only(g["fields"])
        out.append(g)
    return out


def dataset(constraints: bool = True) -> Any:
    """The profiles dataset; ``constraints=False``: the same types with no rule to check."""
    from batchgate.core.models import Dataset

    return Dataset.model_validate(
        {
            "id": "bench",
            "name": "profiles",
            "org": "o",
            "sandbox": "s",
            "created": 0,
            "updated": 0,
            "table": "bench.profiles",
            "schema": {"fields": FIELDS if constraints else _types_only(FIELDS)},
        }
    )


def columns(start: int, n: int, seed: int = 7) -> dict[str, list[Any]]:
    """Column values for rows ``start .. start+n`` (plain Python lists, strings for dates)."""
    rng = np.random.default_rng(seed + start)
    ids = np.arange(start, start + n)
    age = rng.integers(0, 100, n)
    bad = rng.random(n) < 0.01  # ~1 % invalid rows
    age = np.where(bad, 200, age)
    secs = rng.integers(1_600_000_000, 1_700_000_000, n).astype("datetime64[s]")
    days = rng.integers(10_000, 19_000, n).astype("datetime64[D]")
    cities = np.array(["Paris", "Berlin", "Boston", "Tokyo", "Recife"])
    tag_pool = ["vip", "new", "churn-risk", "mobile", "web"]
    k = rng.integers(0, 4, n)
    return {
        "id": [f"u{i:09d}" for i in ids],
        "email": [f"user{i}@example.com" for i in ids],
        "name": [f"Person {i}" for i in ids],
        "age": age.tolist(),
        "tier": np.array(["gold", "silver", "bronze"])[rng.integers(0, 3, n)].tolist(),
        "seen": [f"{s}Z" for s in secs.astype(str)],
        "signup": days.astype(str).tolist(),
        "score": np.round(rng.random(n) * 1000, 3).tolist(),
        "active": (rng.random(n) < 0.5).tolist(),
        "city": cities[rng.integers(0, 5, n)].tolist(),
        "zip": [f"{z:05d}" for z in rng.integers(0, 99_999, n)],
        "tags": [tag_pool[: int(j)] for j in k],
        "country": np.array(["FR", "DE", "US", "JP", "BR"])[rng.integers(0, 5, n)].tolist(),
    }


def _csv_lines(c: dict[str, list[Any]]) -> str:
    out = []
    for i in range(len(c["id"])):
        tags = '"' + json.dumps(c["tags"][i]).replace('"', '""') + '"'
        out.append(
            f"{c['id'][i]},{c['email'][i]},{c['name'][i]},{c['age'][i]},{c['tier'][i]},{c['seen'][i]},"
            f"{c['signup'][i]},{c['score'][i]},{str(c['active'][i]).lower()},{c['city'][i]},{c['zip'][i]},"
            f"{tags},{c['country'][i]}"
        )
    return "\n".join(out) + "\n"


def _json_lines(c: dict[str, list[Any]]) -> str:
    keys = ["id", "email", "name", "age", "tier", "seen", "signup", "score", "active"]
    out = []
    for i in range(len(c["id"])):
        rec = {k: c[k][i] for k in keys}
        rec["address"] = {"city": c["city"][i], "zip": c["zip"][i]}
        rec["tags"] = c["tags"][i]
        rec["country"] = c["country"][i]
        out.append(json.dumps(rec))
    return "\n".join(out) + "\n"


def _table(c: dict[str, list[Any]]) -> pa.Table:
    from batchgate.core.schema import arrow_schema

    schema = arrow_schema(dataset().schema_, lineage=False)
    seen = pa.array(np.array([s[:-1] for s in c["seen"]], dtype="datetime64[us]")).cast(
        pa.timestamp("us", tz="UTC")
    )
    signup = pa.array(np.array(c["signup"], dtype="datetime64[D]")).cast(pa.date32())
    address = pa.StructArray.from_arrays([pa.array(c["city"]), pa.array(c["zip"])], names=["city", "zip"])
    arrays = [
        pa.array(c["id"]),
        pa.array(c["email"]),
        pa.array(c["name"]),
        pa.array(c["age"], pa.int64()),
        pa.array(c["tier"]),
        seen,
        signup,
        pa.array(c["score"], pa.float64()),
        pa.array(c["active"]),
        address,
        pa.array(c["tags"], pa.list_(pa.string())),
        pa.array(c["country"]),
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def generate(rows: int, chunk: int = 100_000) -> dict[str, Path]:
    """CSV, JSONL and Parquet files of ``rows`` rows (reused when already there)."""
    DATA.mkdir(parents=True, exist_ok=True)
    paths = {
        fmt: DATA / f"profiles-{rows}.{ext}"
        for fmt, ext in (("csv", "csv"), ("json", "jsonl"), ("parquet", "parquet"))
    }
    if all(p.exists() for p in paths.values()):
        return paths
    tmp = {k: p.with_suffix(p.suffix + ".tmp") for k, p in paths.items()}
    writer = None
    with open(tmp["csv"], "w") as fc, open(tmp["json"], "w") as fj:
        fc.write(",".join(CSV_HEADER) + "\n")
        for start in range(0, rows, chunk):
            c = columns(start, min(chunk, rows - start))
            fc.write(_csv_lines(c))
            fj.write(_json_lines(c))
            table = _table(c)
            if writer is None:
                writer = pq.ParquetWriter(tmp["parquet"], table.schema)
            writer.write_table(table)
    if writer is not None:
        writer.close()
    for k, p in tmp.items():
        p.rename(paths[k])
    return paths


def big_csv(gb: float) -> Path:
    """A CSV of about ``gb`` GB, written streaming (one 100k-row chunk repeated, fresh ids)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"profiles-big-{gb:g}gb.csv"
    if path.exists():
        return path
    target = int(gb * (1 << 30))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(",".join(CSV_HEADER) + "\n")
        written, start = 0, 0
        while written < target:
            text = _csv_lines(columns(start, 100_000))
            f.write(text)
            written += len(text)
            start += 100_000
    tmp.rename(path)
    return path
