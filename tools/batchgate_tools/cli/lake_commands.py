"""`batchgate query "SQL"`: DuckDB over the datasets' Iceberg tables of the running local stack."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any


def register(sub: Any) -> None:
    q = sub.add_parser(
        "query",
        help="run SQL over the local stack's datasets (each dataset is a table named after it)",
        description="Datasets are bound by name (and as ds_<id>); e.g. "
        'batchgate query "SELECT tier, count(*) FROM profiles GROUP BY tier"',
    )
    q.add_argument("sql")
    q.add_argument("--org", default="local")
    q.add_argument("--sandbox", default="prod")
    q.add_argument("--aws-port", type=int, default=4566, help="the running stack's AWS endpoint port")
    q.add_argument("--json", action="store_true", help="print rows as JSON lines instead of a table")
    q.set_defaults(func=_query)


def _query(args: argparse.Namespace) -> int:
    from batchgate_tools.cli.local_commands import _attach

    _attach(args.aws_port)
    from batchgate.aws.store import Store
    from batchgate.lake.catalog import shared_catalog
    from batchgate.lake.read import json_safe
    from batchgate.lake.tables import identifier_of
    from batchgate.settings import settings
    from batchgate_tools.query import query

    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", args.sql))
    tables: dict[str, str] = {}
    for ds in Store(settings().table_name).list_datasets(args.org, args.sandbox, limit=10_000):
        for name in (ds.name, f"ds_{ds.id}"):
            if name in words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                tables[name] = identifier_of(ds)
    result = query(shared_catalog(), args.sql, tables)
    if args.json:
        for row in result.to_pylist():
            print(json.dumps({k: json_safe(v) for k, v in row.items()}))
    else:
        print(
            _table(result.column_names, [[json_safe(v) for v in row.values()] for row in result.to_pylist()])
        )
    return 0


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header, *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, f"({len(rows)} rows)"])
