"""``batchgate keys|datasets|batches|ingest``: the API from the command line (through the SDK).

Connection settings come from flags or the environment: ``BATCHGATE_URL`` (default
http://localhost:3000, the local stack), ``BATCHGATE_API_KEY``, ``BATCHGATE_TOKEN``,
``BATCHGATE_ORG`` (default local), ``BATCHGATE_SANDBOX`` (default prod). ``keys create`` talks
to the DynamoDB table directly (``BATCHGATE_TABLE``, ``AWS_ENDPOINT_URL``): it is how the first
key comes to exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from batchgate_tools.client import Client, ClientError
from batchgate_tools.files import Progress

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def connection_options() -> argparse.ArgumentParser:
    """The flags (and environment) every command that talks to the API shares."""
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--url", default=os.environ.get("BATCHGATE_URL", "http://localhost:3000"))
    conn.add_argument("--api-key", default=os.environ.get("BATCHGATE_API_KEY"))
    conn.add_argument("--token", default=os.environ.get("BATCHGATE_TOKEN"))
    conn.add_argument("--org", default=os.environ.get("BATCHGATE_ORG", "local"))
    conn.add_argument("--sandbox", default=os.environ.get("BATCHGATE_SANDBOX", "prod"))
    return conn


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conn = connection_options()

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    kc = keys.add_parser(
        "create", help="create an API key for an org's sandboxes with a role (writes the table)"
    )
    kc.add_argument("--org", required=True)
    kc.add_argument(
        "--sandbox",
        dest="sandboxes",
        action="append",
        required=True,
        help="a sandbox the key may use; repeat for several",
    )
    kc.add_argument(
        "--role",
        choices=("admin", "writer", "reader"),
        default="admin",
        help="admin: everything; writer: batches, uploads, actions; reader: GET only (default admin)",
    )
    kc.add_argument("--user", help="user name recorded as createdUser (default: the key id)")
    kc.add_argument("--description", default="")
    kc.add_argument("--table", default=os.environ.get("BATCHGATE_TABLE"))
    kc.set_defaults(func=cmd_keys_create)

    ds = sub.add_parser("datasets", help="datasets").add_subparsers(dest="datasets_command", required=True)
    dc = ds.add_parser("create", parents=[conn], help="create a dataset from a JSON file")
    dc.add_argument(
        "--file", required=True, help='{"name", "schema": {"fields": [...]}, "tags"} or {"fields": [...]}'
    )
    dc.add_argument("--name", help="dataset name (required when the file holds only the schema)")
    dc.set_defaults(func=cmd_datasets_create)
    dl = ds.add_parser("list", parents=[conn], help="list datasets")
    dl.add_argument("--limit", type=int, default=50)
    dl.set_defaults(func=lambda a: _show(_client(a).list_datasets(limit=a.limit)))
    dsh = ds.add_parser("show", parents=[conn], help="show a dataset")
    dsh.add_argument("id")
    dsh.set_defaults(func=lambda a: _show(_client(a).get_dataset(a.id)))

    bt = sub.add_parser("batches", help="batches").add_subparsers(dest="batches_command", required=True)
    bl = bt.add_parser("list", parents=[conn], help="list batches, newest first")
    bl.add_argument("--dataset")
    bl.add_argument("--status")
    bl.add_argument("--limit", type=int, default=20)
    bl.set_defaults(func=cmd_batches_list)
    for name, help_text in (
        ("show", "show a batch"),
        ("complete", "COMPLETE a batch"),
        ("abort", "ABORT a batch"),
        ("revert", "REVERT a successful batch"),
    ):
        p = bt.add_parser(name, parents=[conn], help=help_text)
        p.add_argument("id")
        p.set_defaults(func=cmd_batch_action, action=name)

    ing = sub.add_parser("ingest", parents=[conn], help="create a batch, upload files, complete, wait")
    ing.add_argument("files", nargs="+", type=Path)
    ing.add_argument("--dataset", required=True)
    ing.add_argument("--format", choices=["json", "csv", "parquet"], help="default: from the file suffixes")
    ing.add_argument("--no-wait", action="store_true", help="return after COMPLETE")
    ing.add_argument("--timeout", type=float, default=600.0)
    ing.set_defaults(func=cmd_ingest)


def _client(args: argparse.Namespace) -> Client:
    if not args.api_key or not args.token:
        raise SystemExit(
            "error: set --api-key/--token or BATCHGATE_API_KEY/BATCHGATE_TOKEN (batchgate keys create)"
        )
    return Client(args.url, args.api_key, args.token, args.org, args.sandbox)


def _show(value: Any, out: TextIO | None = None) -> int:
    print(json.dumps(value, indent=2, sort_keys=True), file=out or sys.stdout)
    return EXIT_OK


def _guard(func: Any) -> Any:
    """ClientError → one readable line on stderr and exit code 2, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except ClientError as exc:
            rid = f" (request {exc.request_id})" if exc.request_id else ""
            print(f"error {exc.code}: {exc.message}{rid}", file=sys.stderr)
            return EXIT_ERROR
        except (OSError, ValueError, TimeoutError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR

    return run


@_guard
def cmd_keys_create(args: argparse.Namespace) -> int:
    from batchgate.api.auth import create_key
    from batchgate.aws.store import Store

    if not args.table:
        raise ValueError("set --table or BATCHGATE_TABLE (and AWS_ENDPOINT_URL for the local stack)")
    sandboxes = args.sandboxes
    key = create_key(
        Store(args.table), args.org, sandboxes, role=args.role, user=args.user, description=args.description
    )
    print(f"keyId: {key.key_id}")
    print(f"token: {key.token}")
    print("# the token is shown once; only its hash is stored", file=sys.stderr)
    print(f"export BATCHGATE_API_KEY={key.key_id} BATCHGATE_TOKEN={key.token}", file=sys.stderr)
    print(f"role: {args.role}  sandboxes: {', '.join(sandboxes)}", file=sys.stderr)
    print(f"export BATCHGATE_ORG={args.org} BATCHGATE_SANDBOX={sandboxes[0]}", file=sys.stderr)
    return EXIT_OK


@_guard
def cmd_datasets_create(args: argparse.Namespace) -> int:
    doc = json.loads(Path(args.file).read_text())
    if "fields" in doc:  # only the schema
        doc = {"schema": doc}
    name = args.name or doc.get("name")
    if not name:
        raise ValueError('give the dataset a name: --name or "name" in the file')
    ds_id = _client(args).create_dataset(name, doc.get("schema") or {}, doc.get("tags"))
    print(ds_id)
    return EXIT_OK


@_guard
def cmd_batches_list(args: argparse.Namespace) -> int:
    found = _client(args).list_batches(limit=args.limit, dataset_id=args.dataset, status=args.status)
    for b in found.values():
        m = b.get("metrics", {})
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(b["created"] / 1000))
        ds = b["relatedObjects"][0]["id"]
        print(f"{b['id']}  {b['status']:<9}  {created}Z  dataset={ds}  files={m.get('inputFileCount', 0)}")
    return EXIT_OK


@_guard
def cmd_batch_action(args: argparse.Namespace) -> int:
    c = _client(args)
    calls = {"show": c.get_batch, "complete": c.complete, "abort": c.abort, "revert": c.revert}
    return _show(calls[args.action](args.id))


class ProgressBar:
    """A plain one-line progress bar on stderr (redrawn with \\r), no dependency."""

    def __init__(self, out: TextIO, width: int = 30) -> None:
        self.out = out
        self.width = width

    def __call__(self, p: Progress) -> None:
        if p.phase == "upload" and p.total_bytes:
            frac = p.done_bytes / p.total_bytes
            bar = "#" * int(frac * self.width)
            line = f"upload [{bar:<{self.width}}] {frac:6.1%} {_size(p.done_bytes)}/{_size(p.total_bytes)}"
            self.out.write(f"\r{line}")
        elif p.phase == "complete":
            self.out.write("\ncompleting batch\n")
        elif p.phase == "wait":
            self.out.write(f"\rwaiting: {p.status:<10}")
        elif p.phase == "done":
            self.out.write("\n")
        self.out.flush()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@_guard
def cmd_ingest(args: argparse.Namespace) -> int:
    client = _client(args)
    batch = client.ingest(
        args.files,
        args.dataset,
        args.format,
        wait=not args.no_wait,
        progress=ProgressBar(sys.stderr),
        timeout=args.timeout,
    )
    print(outcome(batch))
    if args.no_wait:
        return EXIT_OK
    return EXIT_OK if batch["status"] == "success" else EXIT_FAILED


def outcome(batch: dict[str, Any], max_errors: int = 5) -> str:
    m = batch.get("metrics", {})
    lines = [
        f"batch {batch['id']}: {batch['status']}",
        f"  files {m.get('inputFileCount', 0)}, bytes {m.get('inputByteSize', 0)}, "
        f"records in {m.get('inputRecordCount', 0)}, ingested {m.get('outputRecordCount', 0)}, "
        f"failed {m.get('failedRecordCount', 0)}",
    ]
    errors = batch.get("errors") or []
    for e in errors[:max_errors]:
        where = "".join(f" {k}={e[k]}" for k in ("file", "row", "field") if e.get(k) is not None)
        lines.append(f"  {e.get('code')}:{where} {e.get('description')}")
    if len(errors) > max_errors:
        lines.append(f"  … and {len(errors) - max_errors} more (batchgate batches show {batch['id']})")
    return "\n".join(lines)
