"""``batchgate keys|datasets|batches|ingest``: the API from the command line (through the SDK).

Connection settings come from flags or the environment (CONNECTION_ENV below); without a key the
running local stack's is used (cli/connection.py). ``keys create`` writes the DynamoDB table
directly, found from a deployed stack's outputs (``--stack``) or named (``--table``): it is how
the first key comes to exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from batchgate_tools.cli import output
from batchgate_tools.cli.connection import CliError, api_client, guard
from batchgate_tools.client import Client
from batchgate_tools.files import Progress

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2

CONNECTION_ENV = """environment:
  BATCHGATE_URL        the API (default http://localhost:3000, the local stack; in AWS the stack's ApiUrl)
  BATCHGATE_API_KEY    the key id (default: the running local stack's key)
  BATCHGATE_TOKEN      the key's token (default: the running local stack's)
  BATCHGATE_ORG        the org, sent as x-gw-ims-org-id (default local)
  BATCHGATE_SANDBOX    the sandbox, sent as x-sandbox-name (default prod)
  XDG_CACHE_HOME       where running local stacks leave their URL and key (default ~/.cache)"""

KEYS_ENV = """environment:
  BATCHGATE_STACK      the deployed stack whose StateTableName output names the table (--stack)
  BATCHGATE_TABLE      the table itself (--table), e.g. the local stack's batchgate-state
  AWS_REGION, AWS_DEFAULT_REGION   the stack's region (--region)
  AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the AWS credentials boto3 reads
  AWS_ENDPOINT_URL     another AWS endpoint (the local stack's: http://127.0.0.1:4566)"""


def _parser(sub: Any, name: str, *, env: str = CONNECTION_ENV, **kw: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, epilog=env, formatter_class=argparse.RawDescriptionHelpFormatter, **kw
    )
    return parser


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
    shown = argparse.ArgumentParser(add_help=False)
    shown.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    keys = _parser(sub, "keys", env=KEYS_ENV, help="API keys").add_subparsers(
        dest="keys_command", required=True
    )
    kc = _parser(
        keys, "create", env=KEYS_ENV,
        help="create an API key for an org's sandboxes with a role (writes the table)",
        description="Writes the key to the stack's DynamoDB table with your AWS credentials; the token "
        "is shown once. `batchgate keys create --stack batchgate-dev --org acme --sandbox prod --role admin`",
    )  # fmt: skip
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
    where = kc.add_mutually_exclusive_group()
    where.add_argument("--stack", default=os.environ.get("BATCHGATE_STACK"), help="a deployed stack's name")
    where.add_argument("--table", default=os.environ.get("BATCHGATE_TABLE"), help="the DynamoDB table")
    kc.add_argument("--region", help="the stack's AWS region (default: AWS_REGION or the profile's)")
    kc.set_defaults(func=cmd_keys_create)

    ds = _parser(sub, "datasets", help="datasets").add_subparsers(dest="datasets_command", required=True)
    dc = _parser(ds, "create", parents=[conn], help="create a dataset from a JSON file")
    dc.add_argument(
        "--file", required=True, help='{"name", "schema": {"fields": [...]}, "tags"} or {"fields": [...]}'
    )
    dc.add_argument("--name", help="dataset name (required when the file holds only the schema)")
    dc.set_defaults(func=cmd_datasets_create)
    dl = _parser(ds, "list", parents=[conn, shown], help="list datasets")
    dl.add_argument("--limit", type=int, default=50)
    dl.set_defaults(func=cmd_datasets_list)
    dsh = _parser(ds, "show", parents=[conn, shown], help="show a dataset and its schema")
    dsh.add_argument("id")
    dsh.set_defaults(func=cmd_datasets_show)

    bt = _parser(sub, "batches", help="batches").add_subparsers(dest="batches_command", required=True)
    bl = _parser(bt, "list", parents=[conn, shown], help="list batches, newest first")
    bl.add_argument("--dataset")
    bl.add_argument("--status")
    bl.add_argument("--limit", type=int, default=20)
    bl.set_defaults(func=cmd_batches_list)
    for name, help_text in (
        ("show", "show a batch, its metrics and errors"),
        ("complete", "COMPLETE a batch"),
        ("abort", "ABORT a batch"),
        ("revert", "REVERT a successful batch"),
    ):
        p = _parser(bt, name, parents=[conn, shown], help=help_text)
        p.add_argument("id")
        p.set_defaults(func=cmd_batch_action, action=name)

    ing = _parser(sub, "ingest", parents=[conn], help="create a batch, upload files, complete, wait")
    ing.add_argument("files", nargs="+", type=Path)
    ing.add_argument("--dataset", required=True)
    ing.add_argument("--format", choices=["json", "csv", "parquet"], help="default: from the file suffixes")
    ing.add_argument("--no-wait", action="store_true", help="return after COMPLETE")
    ing.add_argument("--timeout", type=float, default=600.0)
    ing.set_defaults(func=cmd_ingest)


def _client(args: argparse.Namespace) -> Client:
    return api_client(args)


def _show(value: Any, out: TextIO | None = None) -> int:
    print(output.as_json(value), file=out or sys.stdout)
    return EXIT_OK


def stack_outputs(stack: str, region: str | None) -> dict[str, str]:
    """A deployed stack's outputs by key (CloudFormation DescribeStacks)."""
    import boto3

    cfn = boto3.session.Session(region_name=region).client("cloudformation")
    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except cfn.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            raise CliError(
                f"no stack {stack!r} in {cfn.meta.region_name}: check --stack and --region "
                "(`aws cloudformation list-stacks` lists them)"
            ) from None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


@guard
def cmd_keys_create(args: argparse.Namespace) -> int:
    from batchgate.api.auth import create_key
    from batchgate.aws.store import Store

    if args.region:
        # Store's client reads the region from the environment, as the functions' do.
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    url = None
    table = args.table
    if args.stack:
        outputs = stack_outputs(args.stack, args.region)
        table, url = outputs.get("StateTableName"), outputs.get("ApiUrl")
        if not table:
            raise CliError(f"stack {args.stack!r} has no StateTableName output: is it a batchgate stack?")
    if not table:
        raise CliError(
            "say where the key goes: --stack NAME (a deployed stack) or --table NAME "
            "(the local stack's is batchgate-state, with AWS_ENDPOINT_URL=http://127.0.0.1:4566)"
        )
    sandboxes = args.sandboxes
    key = create_key(
        Store(table), args.org, sandboxes, role=args.role, user=args.user, description=args.description
    )
    print(f"keyId: {key.key_id}")
    print(f"token: {key.token}")
    print("# the token is shown once; only its hash is stored", file=sys.stderr)
    print(f"export BATCHGATE_API_KEY={key.key_id} BATCHGATE_TOKEN={key.token}", file=sys.stderr)
    print(f"role: {args.role}  sandboxes: {', '.join(sandboxes)}", file=sys.stderr)
    print(f"export BATCHGATE_ORG={args.org} BATCHGATE_SANDBOX={sandboxes[0]}", file=sys.stderr)
    if url:
        print(f"export BATCHGATE_URL={url}", file=sys.stderr)
    return EXIT_OK


@guard
def cmd_datasets_list(args: argparse.Namespace) -> int:
    found = _client(args).list_datasets(limit=args.limit)
    print(output.as_json(found) if args.json else output.datasets_table(found))
    return EXIT_OK


@guard
def cmd_datasets_show(args: argparse.Namespace) -> int:
    ds = _client(args).get_dataset(args.id)
    print(output.as_json(ds) if args.json else output.dataset_details(ds))
    return EXIT_OK


@guard
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


@guard
def cmd_batches_list(args: argparse.Namespace) -> int:
    found = _client(args).list_batches(limit=args.limit, dataset_id=args.dataset, status=args.status)
    print(output.as_json(found) if args.json else output.batches_table(found))
    return EXIT_OK


@guard
def cmd_batch_action(args: argparse.Namespace) -> int:
    c = _client(args)
    calls = {"show": c.get_batch, "complete": c.complete, "abort": c.abort, "revert": c.revert}
    batch = calls[args.action](args.id)
    print(output.as_json(batch) if args.json else output.batch_details(batch))
    return EXIT_OK


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


@guard
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
