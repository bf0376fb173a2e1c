"""The SDK's feed calls and `batchgate feeds …` against the API function (in-process transport),
on a real Iceberg table. Syncs do not execute here (the state machines record executions only);
the last tests play the feed-sync machine by calling its tasks between the CLI's polls."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from batchgate.workflow import feed_sync
from batchgate.workflow.context import TaskContext
from batchgate_tools.cli.feed_commands import SyncProgress, human_bytes
from batchgate_tools.client import Client, ClientError
from tests.conftest import refresh_process_state
from tests.integration.api.harness import Api, Aws
from tests.integration.api.landing import lake_env, land

DEST = "batchgate-feed-destinations-cli"


@pytest.fixture
def catalog(aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> object:
    """The lake on a SQLite catalog, the feed-sync machine's ARN in the API's environment (the
    harness sets only the batch machines'), and a destination bucket."""
    arn = aws.template.settings.feed_sync_state_machine_arn
    assert arn, "the template's FeedSyncStateMachine was created"
    monkeypatch.setenv("BATCHGATE_FEED_SYNC_SM", arn)
    refresh_process_state()
    aws.s3.create_bucket(Bucket=DEST)
    return lake_env(monkeypatch, tmp_path)


def run(cli: Any, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli(list(argv))
    got = capsys.readouterr()
    return code, got.out, got.err


def one_line_error(err: str, code: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error {code}: "), err
    return lines[0]


def test_sdk_feed_calls(client: Client, api: Api, aws: Aws, catalog: object) -> None:
    ds = api.create_dataset()
    land(aws, catalog, ds, api.create_batch(ds)["id"], ["a", "b"])
    made = client.create_feed("out", ds, {"type": "s3", "uri": f"s3://{DEST}/out/"}, columns=["id"])
    assert made["columns"] == ["id"] and made["destination"]["format"] == "parquet"
    hook = client.create_feed("hook", ds, {"type": "webhook", "url": "http://127.0.0.1:9/x", "batchSize": 7})
    assert [f["id"] for f in client.feeds(ds)] == [hook["id"], made["id"]]
    assert client.feeds("no-such-dataset") == []
    assert client.feeds(page=1) == client.feeds(), "every page is read"
    assert client.feed(made["id"])["state"]["pending"] == {"rows": 2, "batches": 1, "mode": "full"}
    assert client.find_feed("hook")["id"] == hook["id"] and client.find_feed(made["id"])["id"] == made["id"]
    assert client.estimate_feed(made["id"], "full")["rows"] == 2

    sync_id = client.sync_feed(made["id"], full=True)
    (listed,) = client.syncs(made["id"])
    assert listed["id"] == sync_id and listed["mode"] == "full" and listed["status"] == "running"
    assert client.sync(made["id"], sync_id) == listed
    assert client.sync_items(made["id"], sync_id) == [] == client.sync_items(made["id"], sync_id, "failed")
    with pytest.raises(ClientError) as info:
        client.sync_feed(made["id"])
    assert info.value.status == 409 and info.value.code == "BG-409-SYNC-RUNNING"
    with pytest.raises(ClientError) as info:
        client.retry_feed(hook["id"])
    assert info.value.code == "BG-409-NOTHING-TO-RETRY"
    with pytest.raises(TimeoutError, match="still running"):
        client.wait_sync(made["id"], sync_id, timeout=0, interval=0)

    client.delete_feed(hook["id"])
    with pytest.raises(ClientError) as info:
        client.find_feed("hook")
    assert info.value.status == 404 and info.value.code == "BG-404-FEED"
    client.create_feed("twin", ds, {"type": "s3", "uri": f"s3://{DEST}/a/"})
    client.create_feed("twin", ds, {"type": "s3", "uri": f"s3://{DEST}/b/"})
    with pytest.raises(ValueError, match="2 feeds are named 'twin'"):
        client.find_feed("twin")


def test_cli_create_list_show_estimate_sync_and_delete(
    cli: Any, api: Api, aws: Aws, catalog: object, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = api.create_dataset()
    land(aws, catalog, ds, api.create_batch(ds)["id"], ["a", "b", "c"])
    code, out, _ = run(
        cli, capsys, "feeds", "create", "--name", "people-out", "--dataset", ds,
        "--s3", f"s3://{DEST}/people/", "--format", "jsonl", "--columns", "id, n",
    )  # fmt: skip
    assert code == 0
    feed_id = out.strip()
    code, out, _ = run(
        cli, capsys, "feeds", "create", "--name", "hook", "--dataset", ds, "--json",
        "--webhook", "https://hooks.example/in", "--batch-size", "50", "--concurrency", "2",
        "--header", "Authorization=Bearer x=y", "--header", "X-Team=data",
    )  # fmt: skip
    assert code == 0
    hook = json.loads(out)
    assert hook["destination"] | {"timeoutSeconds": 0, "maxAttempts": 0} == {
        "type": "webhook", "url": "https://hooks.example/in", "batchSize": 50, "concurrency": 2,
        "headers": {"Authorization": "Bearer x=y", "X-Team": "data"}, "timeoutSeconds": 0, "maxAttempts": 0,
    }  # fmt: skip

    code, out, _ = run(cli, capsys, "feeds", "list")
    assert code == 0 and out.splitlines()[0].split() == [
        "ID", "NAME", "DATASET", "DESTINATION", "LAST", "SYNC", "PENDING", "ROWS", "FAILED", "ITEMS",
    ]  # fmt: skip
    assert f"s3://{DEST}/people/ (jsonl)" in out and "(2 feeds)" in out
    assert json.loads(run(cli, capsys, "feeds", "list", "--json")[1])[1]["id"] == feed_id
    assert json.loads(run(cli, capsys, "feeds", "list", "--dataset", "other", "--json")[1]) == []

    code, out, _ = run(cli, capsys, "feeds", "show", "people-out")  # by name
    shown = dict(line.split(None, 1) for line in out.splitlines() if not line.startswith(("last", "failed")))
    assert code == 0 and shown["id"] == feed_id and shown["columns"] == "id, n"
    assert "last sync     never" in out and "none (the next sync is full)" in out
    assert "pending       3 rows in 1 batches (full sync)" in out and "failed items  0" in out
    state = json.loads(run(cli, capsys, "feeds", "show", feed_id, "--json")[1])["state"]
    assert state["pending"] == {"rows": 3, "batches": 1, "mode": "full"} and state["syncing"] is None

    code, out, _ = run(cli, capsys, "feeds", "estimate", "people-out", "--full")
    assert code == 0 and "rows     3\n" in out and "mode     full" in out
    assert "(100,000 rows/s assumed)" in out and "1 to upsert, 0 to delete" in out
    est = json.loads(run(cli, capsys, "feeds", "estimate", "people-out", "--json")[1])
    assert est["mode"] == "full" and est["rows"] == 3 and est["bytes"] > 0, "a first sync is full"
    assert f"bytes    {human_bytes(est['bytes'])}\n" in run(cli, capsys, "feeds", "estimate", "people-out")[1]
    assert run(cli, capsys, "feeds", "syncs", "people-out")[1].strip().endswith("(0 syncs)")
    code, _, err = run(cli, capsys, "feeds", "items", "people-out")
    assert code == 2 and err.strip() == f"error: feed {feed_id} has not synced yet: nothing has items"

    code, out, _ = run(cli, capsys, "feeds", "sync", "people-out")
    sync_id = out.strip()
    assert code == 0 and len(sync_id) == 24
    (execution,) = aws.sfn.list_executions(stateMachineArn=aws.template.settings.feed_sync_state_machine_arn)[
        "executions"
    ]
    assert execution["name"] == f"sync-{sync_id}"
    code, out, _ = run(cli, capsys, "feeds", "syncs", "people-out")
    row = out.splitlines()[2].split()
    # the first sync of a feed is full, whatever was asked
    assert row[:3] == [sync_id, "full", "running"] and "(1 syncs)" in out
    code, out, _ = run(cli, capsys, "feeds", "syncs", "people-out", sync_id)
    assert "status     running" in out and "items      0 total, 0 sent, 0 failed, 0 retried" in out
    assert run(cli, capsys, "feeds", "items", "people-out")[1].strip().endswith("(0 items)")
    shown_out = run(cli, capsys, "feeds", "show", "people-out")[1]
    assert f"syncing       {sync_id}" in shown_out and f"last sync     {sync_id} full running" in shown_out

    code, _, err = run(cli, capsys, "feeds", "sync", "people-out", "--full")
    assert code == 2 and sync_id in one_line_error(err, "BG-409-SYNC-RUNNING")
    code, _, err = run(cli, capsys, "feeds", "delete", "people-out")
    assert code == 2 and feed_id in one_line_error(err, "BG-409-SYNC-RUNNING")
    code, out, _ = run(cli, capsys, "feeds", "sync", "hook", "--full", "--json")
    assert code == 0 and len(json.loads(out)["syncId"]) == 24
    code, _, err = run(cli, capsys, "feeds", "retry", "people-out")
    one_line_error(err, "BG-409-NOTHING-TO-RETRY")

    code, out, _ = run(
        cli, capsys, "feeds", "create", "--name", "gone", "--dataset", ds, "--s3", f"s3://{DEST}/x/"
    )
    gone = out.strip()
    assert run(cli, capsys, "feeds", "delete", "gone") == (0, f"deleted feed {gone}\n", "")
    code, _, err = run(cli, capsys, "feeds", "show", gone)
    assert code == 2 and "BG-404-FEED" in one_line_error(err, "BG-404-FEED")


def test_cli_bad_input_is_one_line_with_the_apis_code(
    cli: Any, api: Api, catalog: object, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = api.create_dataset()
    create = ["feeds", "create", "--name", "bad", "--dataset", ds]
    code, _, err = run(cli, capsys, *create, "--s3", f"s3://{DEST}/p/", "--columns", "id,colour")
    assert code == 2 and "colour" in one_line_error(err, "BG-400-FEED-COLUMNS")
    code, _, err = run(cli, capsys, *create, "--s3", "s3://batchgate-feed-destinations-missing/p/")
    assert code == 2 and "batchgate-feed-destinations-missing" in one_line_error(
        err, "BG-400-FEED-DESTINATION"
    )
    code, _, err = run(cli, capsys, *create[:-1], "nope", "--webhook", "http://127.0.0.1:9/x")
    assert code == 2 and one_line_error(err, "BG-400-FEED-DATASET")
    code, _, err = run(cli, capsys, *create, "--s3", "not-a-uri")
    assert code == 2 and one_line_error(err, "BG-400-INVALID")
    for extra, message in (
        (["--webhook", "http://h/x", "--format", "csv"], "error: --format applies to --s3 feeds"),
        (["--s3", f"s3://{DEST}/p/", "--batch-size", "5"], "error: --batch-size apply to --webhook feeds"),
        (["--webhook", "http://h/x", "--header", "NoValue"], "error: --header 'NoValue' is not K=V"),
        (["--s3", f"s3://{DEST}/p/", "--columns", " , "], "error: --columns names no column"),
    ):
        code, out, err = run(cli, capsys, *create, *extra)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (extra, err)
        assert err.startswith(message), (extra, err)
    code, _, err = run(cli, capsys, "feeds", "show", "no-such-feed")
    assert code == 2 and one_line_error(err, "BG-404-FEED")
    assert cli(["feeds", "list", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []


# -- syncs played in-process -----------------------------------------------------------------
class Machine:
    """The feed-sync state machine, one step per poll of the CLI: nothing yet, Plan, Deliver each
    chunk, Finalize."""

    def __init__(self, aws: Aws, feed_id: str) -> None:
        self.ctx = TaskContext.create(aws.template.settings)
        self.feed_id = feed_id
        self.steps: dict[str, list[str]] = {}

    def step(self, sync_id: str) -> None:
        done = self.steps.setdefault(sync_id, [])
        state: dict[str, Any] = {"org": "acme", "sandbox": "prod", "feedId": self.feed_id, "syncId": sync_id}
        if not done:
            done.append("started")
        elif done[-1] == "started":
            self.chunks = feed_sync.feed_plan(self.ctx, state)["chunks"]
            done.append("plan")
        elif len(done) - 2 < len(self.chunks):
            chunk = len(done) - 2
            feed_sync.feed_deliver(self.ctx, {**state, "chunk": chunk})
            done.append(f"deliver {chunk}")
        elif done[-1] != "finalize":
            feed_sync.feed_finalize(self.ctx, state)
            done.append("finalize")


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Machine]]:
    """Runs the next task of a sync each time the SDK reads that sync."""
    running: list[Machine] = []
    real = Client.sync

    def sync(self: Client, feed_id: str, sync_id: str) -> dict[str, Any]:
        for m in running:
            if m.feed_id == feed_id:
                m.step(sync_id)
        return real(self, feed_id, sync_id)

    monkeypatch.setattr(Client, "sync", sync)
    yield running


def progress_lines(err: str) -> list[str]:
    """The progress lines without their elapsed time (and the sync id)."""
    return [line.split(" ", 2)[2].rsplit("  ", 1)[0] for line in err.strip().splitlines()]


def test_cli_sync_wait_follows_the_sync_and_prints_it(
    cli: Any, api: Api, aws: Aws, client: Client, catalog: object, machine: list[Machine],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ds = api.create_dataset()
    land(aws, catalog, ds, api.create_batch(ds)["id"], ["a", "b", "c"])
    land(aws, catalog, ds, api.create_batch(ds)["id"], ["d", "e"])
    # partRows 1 (not a CLI option): a part per data file at least, so two chunks to deliver
    feed = client.create_feed("parts", ds, {"type": "s3", "uri": f"s3://{DEST}/parts/", "partRows": 1})
    machine.append(Machine(aws, feed["id"]))
    code, out, err = run(cli, capsys, "feeds", "sync", "parts", "--full", "--wait", "--interval", "0")
    assert code == 0, err
    total = int(progress_lines(err)[1].split("/")[1].split()[0])
    assert total >= 2
    lines = progress_lines(err)
    assert lines[0] == "full: running  items 0/? sent, 0 failed  rows 0"
    assert lines[1] == f"full: running  items 0/{total} sent, 0 failed  rows 0"
    assert lines[-1] == f"full: success  items {total}/{total} sent, 0 failed  rows 5"
    sent = [int(line.split("items ")[1].split("/")[0]) for line in lines[1:]]
    assert sent == sorted(sent) and len(lines) == 2 + len(machine[0].chunks) + 1, lines
    sync_id = err.split()[1]
    assert f"id         {sync_id}" in out and "status     success" in out
    assert (
        "rows       5 upserted, 0 deleted" in out
        and f"items      {total} total, {total} sent, 0 failed" in out
    )
    assert f"files      {total}" in out
    listed = aws.s3.list_objects_v2(Bucket=DEST, Prefix=f"parts/{sync_id}/")["Contents"]
    assert len(listed) == total + 1, "the parts and the manifest"

    code, out, _ = run(cli, capsys, "feeds", "show", "parts")
    assert f"last sync     {sync_id} full success" in out and "pending       0 rows in 0 batches" in out
    code, out, _ = run(cli, capsys, "feeds", "items", "parts", "--json")
    items = json.loads(out)
    assert [i["status"] for i in items] == ["sent"] * total and sum(i["rows"] for i in items) == 5
    code, out, _ = run(cli, capsys, "feeds", "syncs", "parts")
    assert out.splitlines()[2].split()[:3] == [sync_id, "full", "success"]

    # nothing changed: an incremental sync with nothing to send, followed to the end as JSON
    code, out, err = run(cli, capsys, "feeds", "sync", "parts", "--wait", "--interval", "0", "--json")
    done = json.loads(out)
    assert code == 0 and done["mode"] == "incremental" and done["status"] == "success"
    assert done["items"] == {"total": 0, "sent": 0, "failed": 0, "retried": 0}
    assert progress_lines(err)[-1] == "incremental: success  items 0/0 sent, 0 failed  rows 0"

    # on a terminal: one line, redrawn, ended by one newline
    terminal = Terminal()
    follow = SyncProgress(client, feed["id"], terminal)
    again = client.sync_feed(feed["id"], full=True)
    assert client.wait_sync(feed["id"], again, 60, follow, interval=0)["status"] == "success"
    follow.end()
    drawn = terminal.getvalue()
    assert (
        drawn.count("\n") == 1 and drawn.endswith("\n") and drawn.count("\r") == len(machine[0].steps[again])
    )
    assert (
        drawn.rstrip()
        .rsplit("\r", 1)[1]
        .startswith(f"sync {again} full: success  items {total}/{total} sent")
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Refusing(BaseHTTPRequestHandler):
    """Answers 400 to any POST carrying a record whose id is in ``refused``, 200 otherwise."""

    refused: set[str] = set()
    accepted: list[str] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ids = [r["id"] for r in body["records"]]
        bad = any(i in self.refused for i in ids)
        if not bad:
            self.accepted.extend(ids)
        self.send_response(400 if bad else 200)
        self.end_headers()
        self.wfile.write(b"refused" if bad else b"ok")

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[str]:
    Refusing.refused, Refusing.accepted = {"b"}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_cli_partial_sync_exits_1_lists_failed_items_and_retry_delivers_them(
    cli: Any, api: Api, aws: Aws, catalog: object, machine: list[Machine], webhook: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ds = api.create_dataset()
    land(aws, catalog, ds, api.create_batch(ds)["id"], ["a", "b", "c"])
    code, out, _ = run(
        cli, capsys, "feeds", "create", "--name", "hook", "--dataset", ds, "--webhook", webhook,
        "--batch-size", "1", "--concurrency", "1",
    )  # fmt: skip
    feed_id = out.strip()
    machine.append(Machine(aws, feed_id))
    code, out, err = run(cli, capsys, "feeds", "sync", "hook", "--wait", "--interval", "0")
    assert code == 1, err
    assert progress_lines(err)[-1] == "full: partial  items 2/3 sent, 1 failed  rows 2"
    assert "status     partial" in out and "items      3 total, 2 sent, 1 failed, 0 retried" in out
    assert "ITEM  CODE  ERROR" in out and "400" in out
    assert sorted(Refusing.accepted) == ["a", "c"]

    code, out, _ = run(cli, capsys, "feeds", "items", "hook", "--failed")
    header, _, row, count = out.splitlines()
    assert header.split() == ["ID", "STATUS", "ATTEMPTS", "ROWS", "OP", "BYTES", "LAST", "ERROR"]
    assert row.split()[:5] == ["1", "failed", "1", "1", "upsert"] and "400" in row and count == "(1 items)"
    assert run(cli, capsys, "feeds", "items", "hook", "--status", "sent")[1].strip().endswith("(2 items)")
    code, out, _ = run(cli, capsys, "feeds", "show", "hook")
    assert "failed items  1 (owed by syncs" in out and "`batchgate feeds retry` sends them" in out

    Refusing.refused = set()
    code, out, err = run(cli, capsys, "feeds", "retry", "hook", "--wait", "--interval", "0")
    assert code == 0, err
    assert progress_lines(err)[-1] == "retry: success  items 1/1 sent, 0 failed  rows 1"
    assert "items      1 total, 1 sent, 0 failed, 1 retried" in out
    assert sorted(Refusing.accepted) == ["a", "b", "c"]
    assert "failed items  0\n" in run(cli, capsys, "feeds", "show", "hook")[1]
