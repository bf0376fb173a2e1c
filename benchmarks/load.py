"""Load benchmark (reliability issue): many batches at once against one ``batchgate up``.

What runs, one after the other on the same stack (fresh temp data dir, one dataset: id string
required, n integer):
- api:   ``--load-batches`` clients (default 100) at once, each doing the full AEP flow: create
         the batch (partialIngestionPercentage 1), PUT one JSON Lines file of ``--load-rows`` rows
         (default 1,000) of which 5 are bad, COMPLETE, then GET the batch every ``--load-poll``
         seconds until its status is final. Time to final = first request to the poll that saw it.
- drops: ``--load-drops`` objects (default 100) put to ``inbox/{org}/{sandbox}/{datasetId}/`` at the
         same moment (one thread and one S3 client each, released together), every row valid (an
         inbox batch allows no failed row). Their batch ids are not predictable client-side, so
         the batches are found by listing the dataset's batches every ``--load-poll`` seconds and
         keeping those created by "s3-inbox"; each final one is matched to its object through
         its file list. Time to final = put returned to the listing that saw the final status.

Both times are at the resolution of the poll interval (0.5 s by default): a batch is final at
most that much earlier than reported. Every HTTP status the clients see is counted (a request
that fails with a connection error or a 5xx is retried twice, 1 s then 2 s later, and every
attempt counts); S3 puts report botocore's own retries. A successful batch's record counts are
checked against what was sent. The ``batchgate up`` process tree's RSS is sampled every 0.2 s
during each scenario. A scenario gives up after ``--load-timeout`` seconds (default 600): what is
not final by then counts as not succeeded. Error lines of the stack's log are counted at the end.

The clients run as threads in this process, on the same machine as the stack (``machine`` in the
output says how many CPUs they share); S3 is moto's server inside the stack process.

Run: ``.venv/bin/python -m benchmarks --only load [--load-batches 10 --load-drops 10]`` →
``benchmarks/results/load.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import requests

from batchgate.core.status import FINAL
from benchmarks.ingest import MB, _tree_rss

if TYPE_CHECKING:
    from tests.e2e.stack import RunningStack

IMPORT = "/data/foundation/import/batches"
CATALOG = "/data/foundation/catalog/batches"
DROP_USER = "s3-inbox"  # batchgate.ingest.drop.DROP_USER: the createdUser of an inbox batch
BAD_ROWS = 5
PARTIAL_PCT = 1  # API batches allow 1 % failed rows, so the 5 bad rows of 1,000 still succeed
RSS_EVERY_S = 0.2
RETRY_WAITS = (1.0, 2.0)
ERROR_LINE = re.compile(r'"level":\s*"(ERROR|CRITICAL)"|\bERROR\b|Traceback \(most recent call last\)')
WARNING_LINE = re.compile(r'"level":\s*"WARNING"|\bWARNING\b')

FIELDS = [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "integer"}]
DATASET = {"name": "load-bench", "schema": {"fields": FIELDS}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("load")
    group.add_argument("--load-batches", type=int, default=100, help="concurrent API batches (default 100)")
    group.add_argument("--load-drops", type=int, default=100, help="simultaneous bucket drops (default 100)")
    group.add_argument("--load-rows", type=int, default=1000, help="rows per file (default 1,000)")
    group.add_argument("--load-poll", type=float, default=0.5, help="status poll interval in s (default 0.5)")
    group.add_argument(
        "--load-timeout", type=float, default=600.0, help="give up on a scenario after this many s (600)"
    )


# -- data -------------------------------------------------------------------------------------
def payload(rows: int, bad: int) -> bytes:
    """JSON Lines: ``rows`` rows, ``bad`` of them (spread through the file) invalid
    (no id, or n not an integer)."""
    bad_at = {rows * (k + 1) // (bad + 1) for k in range(bad)} if bad else set()
    lines = []
    for i in range(rows):
        if i in bad_at:
            row: dict[str, Any] = {"n": i} if i % 2 else {"id": f"r{i}", "n": "not a number"}
        else:
            row = {"id": f"r{i}", "n": i}
        lines.append(json.dumps(row))
    return ("\n".join(lines) + "\n").encode()


# -- measuring --------------------------------------------------------------------------------
class RssSampler:
    """The process tree's RSS every ``RSS_EVERY_S`` while the ``with`` block runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.first = self.peak = self.last = self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.last = _tree_rss(self.proc)
                self.first = self.first or self.last
                self.peak = max(self.peak, self.last)
                self.samples += 1
            if self._stop.wait(RSS_EVERY_S):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        return {
            "start_mb": self.first / MB,
            "peak_mb": self.peak / MB,
            "end_mb": self.last / MB,
            "samples": self.samples,
        }


class Client:
    """One simulated client: its own HTTP session, counting every status code (or error) it gets."""

    def __init__(self, stack: RunningStack) -> None:
        self.api = stack.api
        self.session = requests.Session()
        self.session.headers.update(stack.headers())
        self.codes: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()  # "step: what went wrong", for errors and 5xx
        self.latencies: list[float] = []  # seconds, every answered request

    def call(self, step: str, method: str, path: str, **kw: Any) -> requests.Response | None:
        """The answer; a connection error or a 5xx is tried again (``RETRY_WAITS``). None when
        every attempt failed without an answer."""
        answer = None
        for wait in (*RETRY_WAITS, None):
            sent = time.monotonic()
            try:
                answer = self.session.request(method, self.api + path, timeout=60, **kw)
                self.latencies.append(time.monotonic() - sent)
            except requests.RequestException as exc:
                self.codes[type(exc).__name__] += 1
                self.failures[f"{step}: {_reason(exc)}"] += 1
            else:
                self.codes[str(answer.status_code)] += 1
                if answer.status_code < 500:
                    return answer
                self.failures[f"{step}: HTTP {answer.status_code} {answer.text[:120]}"] += 1
            if wait is not None:
                time.sleep(wait)
        return answer

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        r = self.call("poll", "GET", f"{CATALOG}/{batch_id}")
        return r.json()[batch_id] if r is not None and r.status_code == 200 else None


def _reason(exc: Exception) -> str:
    """What a failed request ran into, without the URL (which names the batch)."""
    text = str(exc)
    for pattern in (r"\[Errno -?\d+\][^'\"\)]*", r"Connection reset by peer", r"Remote end closed[^'\"\)]*"):
        if m := re.search(pattern, text):
            return f"{type(exc).__name__} ({m.group(0).strip()})"
    text = re.sub(r"url: \S+", "url: …", text)
    return f"{type(exc).__name__} ({text[:160]})"


@dataclass
class Outcome:
    """What one batch (or drop) came to."""

    name: str
    status: str  # the batch's final status, or what stopped it: "timeout", "create-failed 500", …
    seconds: float | None = None  # to the observed final status
    batch_id: str | None = None
    counts_ok: bool | None = None  # success only: input / output / failed rows as sent
    client: Client | None = None  # what it asked over HTTP (a drop asks nothing itself)
    detail: Any = None


def _counts_ok(batch: dict[str, Any], rows: int, bad: int) -> bool:
    m = batch.get("metrics", {})
    have = ("inputRecordCount", "outputRecordCount", "failedRecordCount", "inputFileCount")
    return tuple(m.get(k) for k in have) == (rows, rows - bad, bad, 1)


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "min": None}
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=100, method="inclusive")[94] if len(ordered) > 1 else ordered[0]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1], "min": ordered[0]}


def summarize(outcomes: list[Outcome], wall_s: float, rss: RssSampler, *others: Client) -> dict[str, Any]:
    """The scenario's figures; ``others``: clients whose requests were for no single batch."""
    clients = [o.client for o in outcomes if o.client is not None] + list(others)
    codes: Counter[str] = sum((c.codes for c in clients), Counter())
    failures: Counter[str] = sum((c.failures for c in clients), Counter())
    statuses = Counter(o.status for o in outcomes)
    ok = [o for o in outcomes if o.status == "success"]
    return {
        "count": len(outcomes),
        "successes": len(ok),
        "not_succeeded_by_status": {k: v for k, v in sorted(statuses.items()) if k != "success"},
        "successes_with_wrong_counts": sum(1 for o in ok if not o.counts_ok),
        "http_5xx": sum(v for k, v in codes.items() if k.startswith("5")),
        "http_codes": dict(sorted(codes.items())),
        "request_failures": dict(failures.most_common()),  # each one was retried
        "request_seconds": _quantiles([t for c in clients for t in c.latencies]),
        "seconds_to_success": _quantiles([o.seconds for o in ok if o.seconds is not None]),
        "seconds_to_final": _quantiles([o.seconds for o in outcomes if o.seconds is not None]),
        "wall_s": wall_s,
        "rss": rss.summary(),
        "batches": [
            {
                "name": o.name,
                "batch_id": o.batch_id,
                "status": o.status,
                "seconds": o.seconds,
                "counts_ok": o.counts_ok,
                "codes": dict(o.client.codes) if o.client is not None else {},
                **({"detail": o.detail} if o.detail is not None else {}),
            }
            for o in outcomes
        ],
    }


# -- scenario 1: the API flow -----------------------------------------------------------------
def api_batch(
    stack: RunningStack, i: int, dataset_id: str, data: bytes, args: argparse.Namespace, go: threading.Event
) -> Outcome:
    c = Client(stack)
    out = Outcome(name=f"api-{i}", status="", client=c)
    go.wait()
    t0 = time.monotonic()
    body = {
        "datasetId": dataset_id,
        "inputFormat": {"format": "json"},
        "partialIngestionPercentage": PARTIAL_PCT,
    }
    r = c.call("create", "POST", IMPORT, json=body)
    if r is None or r.status_code != 201:
        out.status = f"create-failed {r.status_code if r is not None else 'no answer'}"
        return out
    out.batch_id = batch_id = str(r.json()["id"])
    steps = (
        ("upload", "PUT", f"{IMPORT}/{batch_id}/datasets/{dataset_id}/files/load-{i}.json", data),
        ("complete", "POST", f"{IMPORT}/{batch_id}?action=COMPLETE", None),
    )
    for step, method, path, content in steps:
        r = c.call(step, method, path, data=content, headers={"Content-Type": "application/octet-stream"})
        if r is None or r.status_code >= 300:
            out.status = f"{step}-failed {r.status_code if r is not None else 'no answer'}"
            out.detail = r.text[:500] if r is not None else None
            return out
    deadline = t0 + args.load_timeout
    while time.monotonic() < deadline:
        batch = c.batch(batch_id)
        if batch is not None and batch["status"] in FINAL:
            out.seconds = time.monotonic() - t0
            out.status = batch["status"]
            if out.status == "success":
                out.counts_ok = _counts_ok(batch, args.load_rows, BAD_ROWS)
            else:
                out.detail = batch.get("errors", [])[:3]
            return out
        time.sleep(args.load_poll)
    out.status = "timeout"
    return out


def run_api(stack: RunningStack, dataset_id: str, args: argparse.Namespace) -> dict[str, Any]:
    n = args.load_batches
    data = payload(args.load_rows, BAD_ROWS)
    go = threading.Event()
    with RssSampler(stack.proc.pid) as rss, ThreadPoolExecutor(n, thread_name_prefix="api") as pool:
        futures = [pool.submit(api_batch, stack, i, dataset_id, data, args, go) for i in range(n)]
        time.sleep(0.5)  # let every thread reach the start line
        t0 = time.monotonic()
        go.set()
        outcomes = [f.result() for f in futures]
        wall = time.monotonic() - t0
    out = summarize(outcomes, wall, rss)
    out["file"] = {"rows": args.load_rows, "bad_rows": BAD_ROWS, "bytes": len(data)}
    return out


# -- scenario 2: bucket drops -----------------------------------------------------------------
@dataclass
class Put:
    key: str
    started: float = 0.0
    done: float = 0.0
    error: str | None = None
    retries: int = 0


def _put(s3: Any, bucket: str, put: Put, data: bytes, start: threading.Barrier) -> None:
    start.wait()
    put.started = time.monotonic()
    try:
        meta = s3.put_object(Bucket=bucket, Key=put.key, Body=data)["ResponseMetadata"]
        put.retries = int(meta.get("RetryAttempts", 0))
    except Exception as exc:  # counted and reported, never raised: the other drops go on
        put.error = f"{type(exc).__name__}: {exc}"[:300]
    put.done = time.monotonic()


def _inbox_batches(c: Client, dataset_id: str) -> Iterator[dict[str, Any]]:
    start = 0
    while True:
        r = c.call("list", "GET", CATALOG, params={"dataSet": dataset_id, "limit": 100, "start": start})
        if r is None or r.status_code != 200:
            return
        page = r.json()
        yield from (b for b in page.values() if b.get("createdUser") == DROP_USER)
        if len(page) < 100:
            return
        start += 100


def run_drops(stack: RunningStack, dataset_id: str, args: argparse.Namespace) -> dict[str, Any]:
    n = args.load_drops
    data = payload(args.load_rows, 0)
    prefix = f"inbox/{stack.info['org']}/{stack.info['sandbox']}/{dataset_id}/"
    puts = {f"drop-{i}.json": Put(prefix + f"drop-{i}.json") for i in range(n)}
    clients = [stack.s3() for _ in range(n)]  # one each: a shared client's pool holds 10 connections
    start = threading.Barrier(n)
    watcher = Client(stack)
    final: dict[str, Outcome] = {}  # batch id → outcome
    seen: dict[str, str] = {}  # batch id → last status seen
    with RssSampler(stack.proc.pid) as rss:
        with ThreadPoolExecutor(n, thread_name_prefix="drop") as pool:
            t0 = time.monotonic()
            for s3, put in zip(clients, puts.values(), strict=True):
                pool.submit(_put, s3, stack.bucket, put, data, start)
        put_wall = time.monotonic() - t0
        stored = sum(1 for p in puts.values() if p.error is None)
        deadline = t0 + args.load_timeout
        while len(final) < stored and time.monotonic() < deadline:
            for b in _inbox_batches(watcher, dataset_id):
                seen[b["id"]] = b["status"]
                if b["status"] in FINAL and b["id"] not in final:
                    final[b["id"]] = _drop_outcome(watcher, b, puts, time.monotonic(), args)
            if len(final) < stored:
                time.sleep(args.load_poll)
        wall = time.monotonic() - t0
    matched = {o.name for o in final.values()}
    outcomes = list(final.values())
    for name, p in puts.items():
        if name in matched:
            continue
        status = "put-failed" if p.error else "timeout"
        outcomes.append(Outcome(name=name, status=status, detail=p.error))
    out = summarize(outcomes, wall, rss, watcher)  # the drops' only HTTP requests: the watcher's
    out["puts"] = {
        "stored": stored,
        "failed": n - stored,
        "botocore_retries": sum(p.retries for p in puts.values()),
        "seconds": _quantiles([p.done - p.started for p in puts.values()]),
        "all_puts_wall_s": put_wall,
    }
    out["inbox_batches_seen"] = len(seen)
    out["inbox_batches_not_final"] = dict(Counter(s for s in seen.values() if s not in FINAL))
    out["file"] = {"rows": args.load_rows, "bad_rows": 0, "bytes": len(data)}
    return out


def _drop_outcome(
    c: Client, batch: dict[str, Any], puts: dict[str, Put], seen_at: float, args: argparse.Namespace
) -> Outcome:
    """The drop a final inbox batch came from (its one file's name), timed from that put."""
    r = c.call("files", "GET", f"/data/foundation/export/batches/{batch['id']}/files")
    names = [f["name"] for f in r.json().get("data", [])] if r is not None and r.status_code == 200 else []
    put = next((puts[name] for name in names if name in puts), None)
    out = Outcome(
        name=names[0] if names else f"unmatched:{batch['id']}",
        status=batch["status"],
        seconds=seen_at - put.done if put is not None else None,
        batch_id=batch["id"],
    )
    if out.status == "success":
        out.counts_ok = _counts_ok(batch, args.load_rows, 0)
    else:
        out.detail = batch.get("errors", [])[:3]
    return out


# -- the run ----------------------------------------------------------------------------------
def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    from tests.e2e.stack import start_stack

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        stack = start_stack(Path(tmp) / "stack")
        try:
            r = stack.post("/data/foundation/catalog/dataSets", json=DATASET)
            r.raise_for_status()
            dataset_id = str(r.json()[0]).rsplit("/", 1)[-1]
            print(f"api: {args.load_batches} concurrent batches …", flush=True)
            api = run_api(stack, dataset_id, args)
            print(f"drops: {args.load_drops} simultaneous drops …", flush=True)
            drops = run_drops(stack, dataset_id, args)
            log = _log_errors(stack.log)
        except BaseException:
            print(stack.tail(40), file=sys.stderr)
            raise
        finally:
            code = stack.stop()
    out = {
        "scenarios": {"api": api, "drops": drops},
        "stack_log": log,
        "stack_exit_code": code,
        "settings": {
            "batches": args.load_batches,
            "drops": args.load_drops,
            "rows_per_file": args.load_rows,
            "poll_s": args.load_poll,
            "timeout_s": args.load_timeout,
            "rss_every_s": RSS_EVERY_S,
            "retry_waits_s": list(RETRY_WAITS),
        },
        "notes": (
            "seconds are to the poll that saw the final status (poll_s resolution). api: from the "
            "batch's create request; drops: from its put returning, final status seen by listing "
            "the dataset's batches and matched to the drop by its file name. Clients are threads "
            "of the benchmark process on the stack's machine; S3 is moto's server in the stack."
        ),
        "total_s": time.monotonic() - began,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "memory_total": psutil.virtual_memory().total,
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    results["load"] = out
    _table(out)


def _log_errors(log: Path) -> dict[str, Any]:
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if ERROR_LINE.search(line)]
    warnings = [line for line in lines if WARNING_LINE.search(line) and not ERROR_LINE.search(line)]
    return {
        "lines": len(lines),
        "error_lines": len(errors),
        "warning_lines": len(warnings),
        "first_errors": [e[:400] for e in errors[:10]],
        "first_warnings": [w[:400] for w in warnings[:10]],
    }


def _table(out: dict[str, Any]) -> None:
    head = ("", "count", "success", "not ok", "5xx", "p50 s", "p95 s", "max s", "wall s", "peak RSS")
    print(f"\n{head[0]:8}" + "".join(f"{h:>9}" for h in head[1:-1]) + f"{head[-1]:>12}")
    for name, s in out["scenarios"].items():
        q = s["seconds_to_success"]
        secs = "".join(f"{v:>9.1f}" if v is not None else f"{'-':>9}" for v in (q["p50"], q["p95"], q["max"]))
        not_ok = s["count"] - s["successes"]
        print(
            f"{name:8}{s['count']:>9}{s['successes']:>9}{not_ok:>9}{s['http_5xx']:>9}{secs}"
            f"{s['wall_s']:>9.1f}{s['rss']['peak_mb']:>9.0f} MB"
        )
    for name, s in out["scenarios"].items():
        if s["not_succeeded_by_status"] or s["successes_with_wrong_counts"]:
            print(
                f"{name}: not succeeded {s['not_succeeded_by_status']}, "
                f"successes with wrong counts {s['successes_with_wrong_counts']}"
            )
    log = out["stack_log"]
    print(
        f"seconds to success are to the status poll that saw it ({out['settings']['poll_s']} s apart); "
        f"drops from the put returning. Stack log: {log['error_lines']} error and "
        f"{log['warning_lines']} warning lines of {log['lines']}. Total {out['total_s']:.0f} s.\n",
        flush=True,
    )
