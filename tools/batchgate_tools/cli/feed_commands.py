"""``batchgate feeds …``: export feeds from the command line (through the SDK, docs/feeds.md).

A feed is named by its id or its name. ``sync`` and ``retry`` start a sync and print its id; with
``--wait`` they follow it (items sent / failed of the total, rows, elapsed: one updating line on
a terminal, a line per change otherwise, on stderr), print the sync and exit 0 when it succeeded,
1 when it ended ``partial`` or ``failed``. Errors are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from batchgate_tools.cli import output
from batchgate_tools.cli.api_commands import _parser, connection_options
from batchgate_tools.cli.connection import CliError, api_client, guard
from batchgate_tools.client import Client

EXIT_OK, EXIT_FAILED = 0, 1
FORMATS = ("parquet", "jsonl", "csv")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conn = connection_options()
    shown = argparse.ArgumentParser(add_help=False)
    shown.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    feed = argparse.ArgumentParser(add_help=False)
    feed.add_argument("feed", metavar="FEED", help="the feed's id or name")
    waits = argparse.ArgumentParser(add_help=False)
    waits.add_argument(
        "--wait", action="store_true", help="follow the sync until it ends; exit 1 unless it succeeded"
    )
    waits.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default 3600)")
    waits.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")

    fd = _parser(
        sub, "feeds", help="export feeds: keep a copy of a dataset in S3 or behind a webhook",
        description="Export feeds (docs/feeds.md). Managing feeds and syncing them needs an admin key.",
    ).add_subparsers(dest="feeds_command", required=True)  # fmt: skip

    fc = _parser(
        fd, "create", parents=[conn, shown], help="create a feed of a dataset to S3 or a webhook",
        description="`batchgate feeds create --name people-out --dataset ID --s3 s3://bucket/people/ "
        "--format parquet` or `… --webhook https://host/hook --batch-size 500 --header Authorization='Bearer x'`",
    )  # fmt: skip
    fc.add_argument("--name", required=True, help="letters, digits, '.', '_', '-'")
    fc.add_argument("--dataset", required=True, help="the dataset's id")
    fc.add_argument("--columns", help="comma-separated columns to send (default: all)")
    where = fc.add_mutually_exclusive_group(required=True)
    where.add_argument("--s3", metavar="URI", help="s3://bucket/prefix/ (the bucket must exist)")
    where.add_argument("--webhook", metavar="URL", help="http(s) URL the records are POSTed to")
    fc.add_argument("--format", choices=FORMATS, help="S3 part files' format (default parquet)")
    fc.add_argument("--batch-size", type=int, help="webhook: records per POST (default 500)")
    fc.add_argument(
        "--header", action="append", default=[], metavar="K=V", help="webhook: a header to send; repeat"
    )
    fc.add_argument("--concurrency", type=int, help="webhook: POSTs in flight at once (default 4)")
    fc.set_defaults(func=cmd_create)

    fl = _parser(fd, "list", parents=[conn, shown], help="list feeds and their state")
    fl.add_argument("--dataset", help="only the feeds of this dataset")
    fl.set_defaults(func=cmd_list)

    _parser(
        fd, "show", parents=[conn, shown, feed],
        help="show a feed: last sync, watermark, pending rows and batches, failed items",
    ).set_defaults(func=cmd_show)  # fmt: skip

    fs = _parser(
        fd, "sync", parents=[conn, shown, feed, waits],
        help="start a sync: the changes since the watermark, or everything with --full",
    )  # fmt: skip
    fs.add_argument("--full", action="store_true", help="FULL_SYNC: every current row, as upserts")
    fs.set_defaults(func=cmd_sync, action="sync")
    _parser(
        fd, "retry", parents=[conn, shown, feed, waits], help="send again only the items the feed owes"
    ).set_defaults(func=cmd_sync, action="retry", full=False)

    fy = _parser(
        fd, "syncs", parents=[conn, shown, feed], help="list the feed's syncs, newest first, or show one"
    )
    fy.add_argument("sync", nargs="?", metavar="SYNC", help="a sync's id: show that sync")
    fy.add_argument("--limit", type=int, default=20)
    fy.add_argument("--start", type=int, default=0)
    fy.set_defaults(func=cmd_syncs)

    fi = _parser(
        fd, "items", parents=[conn, shown, feed],
        help="a sync's items: status, attempts, rows, op, last error (default: the last sync's)",
    )  # fmt: skip
    fi.add_argument("sync", nargs="?", metavar="SYNC", help="a sync's id (default: the feed's last sync)")
    which = fi.add_mutually_exclusive_group()
    which.add_argument(
        "--failed", action="store_const", const="failed", dest="status", help="only failed items"
    )
    which.add_argument("--status", choices=("pending", "sent", "failed"))
    fi.set_defaults(func=cmd_items)

    fe = _parser(
        fd, "estimate", parents=[conn, shown, feed], help="rows, bytes and seconds the next sync would take"
    )
    fe.add_argument("--full", action="store_true", help="estimate a full sync")
    fe.set_defaults(func=cmd_estimate)

    _parser(
        fd, "delete", parents=[conn, feed], help="delete a feed (its syncs stay readable by id)"
    ).set_defaults(func=cmd_delete)


# -- commands ---------------------------------------------------------------------------------
@guard
def cmd_create(args: argparse.Namespace) -> int:
    destination = _destination(args)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    if args.columns is not None and not columns:
        raise CliError("--columns names no column: give them comma-separated, e.g. --columns id,email")
    made = api_client(args).create_feed(args.name, args.dataset, destination, columns)
    print(output.as_json(made) if args.json else made["id"])
    return EXIT_OK


def _destination(args: argparse.Namespace) -> dict[str, Any]:
    webhook_only = [f for f, v in (("--batch-size", args.batch_size), ("--header", args.header),
                                   ("--concurrency", args.concurrency)) if v]  # fmt: skip
    if args.s3:
        if webhook_only:
            raise CliError(f"{', '.join(webhook_only)} apply to --webhook feeds, not to --s3")
        return {"type": "s3", "uri": args.s3, **({"format": args.format} if args.format else {})}
    if args.format:
        raise CliError("--format applies to --s3 feeds; a webhook receives JSON")
    dest: dict[str, Any] = {"type": "webhook", "url": args.webhook}
    if args.batch_size is not None:
        dest["batchSize"] = args.batch_size
    if args.concurrency is not None:
        dest["concurrency"] = args.concurrency
    if args.header:
        headers = {}
        for h in args.header:
            name, sep, value = h.partition("=")
            if not sep or not name.strip():
                raise CliError(f"--header {h!r} is not K=V, e.g. --header Authorization='Bearer abc'")
            headers[name.strip()] = value
        dest["headers"] = headers
    return dest


@guard
def cmd_list(args: argparse.Namespace) -> int:
    found = api_client(args).feeds(args.dataset)
    print(output.as_json(found) if args.json else feeds_table(found))
    return EXIT_OK


@guard
def cmd_show(args: argparse.Namespace) -> int:
    found = api_client(args).find_feed(args.feed)
    print(output.as_json(found) if args.json else feed_details(found))
    return EXIT_OK


@guard
def cmd_sync(args: argparse.Namespace) -> int:
    client = api_client(args)
    feed_id = client.find_feed(args.feed)["id"]
    sync_id = client.retry_feed(feed_id) if args.action == "retry" else client.sync_feed(feed_id, args.full)
    if not args.wait:
        print(output.as_json({"syncId": sync_id}) if args.json else sync_id)
        return EXIT_OK
    follow = SyncProgress(client, feed_id, sys.stderr)
    done = client.wait_sync(feed_id, sync_id, args.timeout, follow, interval=args.interval)
    follow.end()
    print(output.as_json(done) if args.json else sync_details(done))
    return EXIT_OK if done["status"] == "success" else EXIT_FAILED


@guard
def cmd_syncs(args: argparse.Namespace) -> int:
    client = api_client(args)
    feed_id = client.find_feed(args.feed)["id"]
    if args.sync:
        one = client.sync(feed_id, args.sync)
        print(output.as_json(one) if args.json else sync_details(one))
        return EXIT_OK
    found = client.syncs(feed_id, limit=args.limit, start=args.start)
    print(output.as_json(found) if args.json else syncs_table(found))
    return EXIT_OK


@guard
def cmd_items(args: argparse.Namespace) -> int:
    client = api_client(args)
    found = client.find_feed(args.feed)
    sync_id = args.sync or (found["state"].get("lastSync") or {}).get("id")
    if not sync_id:
        raise CliError(f"feed {found['id']} has not synced yet: nothing has items")
    items = client.sync_items(found["id"], sync_id, args.status)
    print(output.as_json(items) if args.json else items_table(items))
    return EXIT_OK


@guard
def cmd_estimate(args: argparse.Namespace) -> int:
    client = api_client(args)
    feed_id = client.find_feed(args.feed)["id"]
    est = client.estimate_feed(feed_id, "full" if args.full else "incremental")
    print(output.as_json(est) if args.json else estimate_details(est))
    return EXIT_OK


@guard
def cmd_delete(args: argparse.Namespace) -> int:
    client = api_client(args)
    feed_id = client.find_feed(args.feed)["id"]
    client.delete_feed(feed_id)
    print(f"deleted feed {feed_id}")
    return EXIT_OK


# -- following a sync -------------------------------------------------------------------------
class SyncProgress:
    """``progress`` for ``Client.wait_sync``: items sent / failed of the total, rows, elapsed.

    A sync's counters are filled in when it finalizes, so while it runs the items are read (one
    more call per poll) to say how far it got. On a terminal one line is redrawn; otherwise a
    line is written whenever the counts change."""

    def __init__(self, client: Client, feed_id: str, out: TextIO) -> None:
        self.client = client
        self.feed_id = feed_id
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.last: tuple[Any, ...] | None = None
        self.width = 0

    def __call__(self, sync: dict[str, Any]) -> None:
        counts = self.counts(sync)
        line = progress_line(sync, *counts)
        if self.tty:
            self.width = max(self.width, len(line))
            self.out.write(f"\r{line:<{self.width}}")
        elif (sync["status"], *counts) != self.last:
            self.out.write(line + "\n")
        self.last = (sync["status"], *counts)
        self.out.flush()

    def counts(self, sync: dict[str, Any]) -> tuple[int, int, int, int]:
        """(sent, failed, total, rows sent)."""
        items = sync["items"]
        if sync["status"] != "running" or not items["total"]:
            rows = sync["rows"]["upserted"] + sync["rows"]["deleted"]
            return items["sent"], items["failed"], items["total"], rows
        listed = self.client.sync_items(self.feed_id, sync["id"])
        sent = [i for i in listed if i["status"] == "sent"]
        failed = sum(1 for i in listed if i["status"] == "failed")
        return len(sent), failed, items["total"], sum(i["rows"] for i in sent)

    def end(self) -> None:
        if self.tty and self.last is not None:
            self.out.write("\n")
            self.out.flush()


def progress_line(sync: dict[str, Any], sent: int, failed: int, total: int, rows: int) -> str:
    ended = sync.get("ended") or time.time() * 1000
    elapsed = max(0.0, (ended - sync["started"]) / 1000)
    planned = f"{sent}/{total}" if total or sync["status"] != "running" else f"{sent}/?"
    return (
        f"sync {sync['id']} {sync['mode']}: {sync['status']}  items {planned} sent, {failed} failed"
        f"  rows {rows:,}  {duration(elapsed)}"
    )


# -- what is printed --------------------------------------------------------------------------
def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def destination_text(d: dict[str, Any]) -> str:
    if d.get("type") == "s3":
        return f"{d.get('uri')} ({d.get('format')})"
    return f"{d.get('url')} (webhook, {d.get('batchSize')} per POST)"


def last_sync_text(last: dict[str, Any] | None) -> str:
    if not last:
        return "never"
    return f"{last['id']} {last['mode']} {last['status']} {output.when(last.get('started'))}"


def feeds_table(found: list[dict[str, Any]]) -> str:
    rows = []
    for f in found:
        st = f.get("state") or {}
        last = st.get("lastSync") or {}
        pending = st.get("pending") or {}
        rows.append([
            f["id"], f["name"], f["datasetId"], destination_text(f["destination"]),
            f"{last.get('status')} {output.when(last.get('started'))}" if last else "never",
            pending.get("rows"), st.get("failedItems", 0),
        ])  # fmt: skip
    header = ["ID", "NAME", "DATASET", "DESTINATION", "LAST SYNC", "PENDING ROWS", "FAILED ITEMS"]
    return output.table(header, rows) + f"\n({len(rows)} feeds)"


def feed_details(f: dict[str, Any]) -> str:
    st = f.get("state") or {}
    wm = st.get("watermark") or {}
    pending = st.get("pending") or {}
    d = f.get("destination") or {}
    pairs: list[tuple[str, Any]] = [
        ("id", f.get("id")),
        ("name", f.get("name")),
        ("dataset", f.get("datasetId")),
        ("columns", ", ".join(f["columns"]) if f.get("columns") else "all"),
        ("destination", destination_text(d)),
    ]
    if d.get("type") == "webhook":
        headers = ", ".join(sorted(d.get("headers") or {})) or "none"
        pairs.append(("webhook", f"concurrency {d.get('concurrency')}, headers {headers}"))
    pairs += [
        ("created", f"{output.when(f.get('created'))} by {f.get('createdUser')}"),
        ("last sync", last_sync_text(st.get("lastSync"))),
        ("syncing", st.get("syncing") or "no"),
        (
            "watermark",
            f"snapshot {wm['snapshot']}, batch {wm.get('batch')}, {output.when(wm.get('time'))}"
            if wm.get("snapshot") is not None
            else "none (the next sync is full)",
        ),
        ("pending", pending_text(pending)),
        ("failed items", f"{st.get('failedItems', 0)}" + owed_text(st.get("owedSyncs") or [])),
    ]
    return output.fields(pairs)


def pending_text(pending: dict[str, Any]) -> str:
    if pending.get("rows") is None:
        return f"unknown: {pending.get('message', '')}".rstrip(": ")
    return f"{pending['rows']:,} rows in {pending.get('batches')} batches ({pending.get('mode')} sync)"


def owed_text(owed: list[str]) -> str:
    return f" (owed by syncs {', '.join(owed)}; `batchgate feeds retry` sends them)" if owed else ""


def syncs_table(found: list[dict[str, Any]]) -> str:
    rows = []
    for s in found:
        it, r = s["items"], s["rows"]
        took = duration((s["ended"] - s["started"]) / 1000) if s.get("ended") else ""
        rows.append([
            s["id"], s["mode"], s["status"], output.when(s["started"]), took,
            r["upserted"], r["deleted"], f"{it['sent']}/{it['total']}", it["failed"],
        ])  # fmt: skip
    header = ["ID", "MODE", "STATUS", "STARTED", "TOOK", "UPSERTED", "DELETED", "SENT", "FAILED"]
    return output.table(header, rows) + f"\n({len(rows)} syncs)"


def sync_details(s: dict[str, Any]) -> str:
    it, r = s["items"], s["rows"]
    took = f" (took {duration((s['ended'] - s['started']) / 1000)})" if s.get("ended") else ""
    head = output.fields(
        [
            ("id", s.get("id")),
            ("feed", s.get("feedId")),
            ("mode", s.get("mode")),
            ("status", s.get("status")),
            ("trigger", s.get("trigger")),
            ("started", output.when(s.get("started"))),
            ("ended", output.when(s.get("ended")) + took),
            ("snapshots", f"{s.get('fromSnapshot') or 'none'} -> {s.get('toSnapshot') or 'none'}"),
            ("rows", f"{r['upserted']:,} upserted, {r['deleted']:,} deleted"),
            (
                "items",
                f"{it['total']} total, {it['sent']} sent, {it['failed']} failed, {it['retried']} retried",
            ),
            ("bytes", human_bytes(s.get("bytes"))),
            ("files", len(s.get("files") or [])),
            ("message", s.get("message")),
        ]
    )
    errors = s.get("errors") or []
    if not errors:
        return head
    rows = [[e.get("item", ""), e.get("code", ""), e.get("message")] for e in errors]
    return head + "\n\n" + output.table(["ITEM", "CODE", "ERROR"], rows)


def items_table(items: list[dict[str, Any]]) -> str:
    rows = [
        [
            i["id"],
            i["status"],
            i["attempts"],
            i["rows"],
            i["op"],
            human_bytes(i.get("bytes")),
            i.get("lastError"),
        ]
        for i in items
    ]
    header = ["ID", "STATUS", "ATTEMPTS", "ROWS", "OP", "BYTES", "LAST ERROR"]
    return output.table(header, rows) + f"\n({len(rows)} items)"


def estimate_details(e: dict[str, Any]) -> str:
    batches = e.get("batches") or {}
    speed = f"{e.get('rowsPerSecond', 0):,.0f} rows/s " + ("measured" if e.get("measured") else "assumed")
    return output.fields(
        [
            ("mode", e.get("mode")),
            ("rows", f"{e['rows']:,}"),
            ("bytes", human_bytes(e.get("bytes"))),
            ("seconds", f"{e['seconds']:g} ({speed})"),
            ("batches", f"{batches.get('upsert', 0)} to upsert, {batches.get('delete', 0)} to delete"),
        ]
    )
