"""`batchgate query "SQL"`: DuckDB over the datasets' Iceberg tables, reached like every other
command (``--url`` / ``BATCHGATE_URL``, a key), scans pushed down (``batchgate_tools.query``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from batchgate_tools.cli.api_commands import EXIT_ERROR, EXIT_OK, connection_options


def register(sub: Any) -> None:
    q = sub.add_parser(
        "query",
        parents=[connection_options()],
        help="run SQL over the datasets (each dataset is a table named after it, and ds_<id>)",
        description="Datasets are tables named after them and as ds_<id>; SHOW TABLES lists them. "
        'E.g. batchgate query "SELECT tier, count(*) FROM profiles GROUP BY tier". '
        "Against a running `batchgate up` (found by --url) no key is needed.",
    )
    q.add_argument("sql")
    q.add_argument("--json", action="store_true", help="print rows as JSON lines instead of a table")
    q.set_defaults(func=_query)


def _query(args: argparse.Namespace) -> int:
    import requests

    from batchgate_tools.client import ClientError
    from batchgate_tools.query import QueryError, run_query
    from batchgate_tools.query.remote import ApiDirectory, connect

    try:
        connection = connect(args.url, args.api_key, args.token, args.org, args.sandbox)
        result = run_query(args.sql, ApiDirectory(connection))
    except QueryError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except ClientError as exc:
        rid = f" (request {exc.request_id})" if exc.request_id else ""
        print(f"error {exc.code}: {exc.message}{rid}", file=sys.stderr)
        return EXIT_ERROR
    except requests.RequestException as exc:
        print(
            f"error: cannot reach the API at {args.url} (--url / BATCHGATE_URL): {type(exc).__name__}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except Exception as exc:  # reading storage, the network: one line, never a traceback
        text = str(exc).strip().splitlines()
        print(f"error: {type(exc).__name__}: {text[0] if text else ''}", file=sys.stderr)
        return EXIT_ERROR
    _print(result, as_json=args.json)
    return EXIT_OK


def _print(result: Any, *, as_json: bool) -> None:
    from batchgate.lake.read import json_safe

    rows = result.to_pylist()
    if as_json:
        for row in rows:
            print(json.dumps({k: json_safe(v) for k, v in row.items()}))
        return
    print(_table(result.column_names, [[json_safe(v) for v in row.values()] for row in rows]))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header, *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, f"({len(rows)} rows)"])
