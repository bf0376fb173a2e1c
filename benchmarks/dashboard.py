"""The dashboard against a sandbox of a few thousand batches: how long each view takes to paint
its data in headless Chromium, how fast the list and statistics calls answer, and what the
page weighs (``make bench ARGS="--only dashboard"``; results in ``results/dashboard.json``).

The batches are written straight into the stack's table (statuses, metrics and creation times
spread over 30 days), since what is measured is reading them: landing thousands of real batches
would take an hour and measure ingestion instead. Two datasets with real landed batches give
the detail views real tables and rows."""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from tests.e2e.stack import RunningStack

CHROMIUM = os.environ.get("BATCHGATE_CHROMIUM", "/usr/bin/chromium")
# What a view shows once its last call has answered (the charts load after the page).
SETTLED = {
    "dataset": "main .charts > figure:nth-child(4) svg.chart",
    "charts (24 hours)": "main .charts > figure:nth-child(4) svg.chart",
}
STATUSES = ["success"] * 14 + ["failed"] * 3 + ["aborted", "inactive", "loading"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dashboard-batches", type=int, default=3000, help="synthetic batches to write")
    parser.add_argument("--dashboard-rounds", type=int, default=5, help="page loads per view")


def _seed(stack: RunningStack, n: int) -> dict[str, Any]:
    from batchgate.aws.clients import reset_clients
    from batchgate.aws.store import Store
    from batchgate.core.ids import new_id
    from batchgate.core.models import Batch, InputFormat, Metrics
    from tests.e2e.test_guide_flows import Flow, jsonl

    flow = Flow(stack)
    schema = {
        "fields": [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "integer"}]
    }
    datasets = [flow.dataset(f"dataset_{i}", schema) for i in range(4)]
    real = flow.ingest(datasets[0], jsonl([{"id": f"r{i}", "n": i} for i in range(200)]))
    os.environ.update(
        AWS_ENDPOINT_URL=stack.info["endpoint"],
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    reset_clients()
    store = Store(stack.info["environment"]["BATCHGATE_TABLE"])
    rnd = random.Random(7)
    now = int(time.time() * 1000)
    started = time.perf_counter()
    for _ in range(n):
        status = rnd.choice(STATUSES)
        rows = rnd.randint(100, 100_000)
        failed = rnd.randint(1, 500) if status == "failed" else rnd.choice([0, 0, 0, rnd.randint(1, 50)])
        created = now - rnd.randint(0, 30 * 86_400_000)
        store.create_batch(
            Batch(
                id=new_id(),
                org=stack.info["org"],
                sandbox=stack.info["sandbox"],
                datasetId=rnd.choice(datasets),
                status=status,
                inputFormat=InputFormat(format="json"),
                created=created,
                updated=created + 5_000,
                metrics=Metrics(
                    inputRecordCount=rows + failed,
                    outputRecordCount=0 if status == "failed" else rows,
                    failedRecordCount=failed,
                    inputByteSize=rows * 120,
                    inputFileCount=1,
                ),
            )
        )
    return {
        "datasets": datasets,
        "realBatch": real["id"],
        "seedSeconds": round(time.perf_counter() - started, 1),
    }


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def _api_timings(stack: RunningStack, rounds: int) -> dict[str, Any]:
    calls = {
        "batches page 1 (50)": ("/data/foundation/catalog/batches", {"limit": 51}),
        "batches page 40 (start=2000)": ("/data/foundation/catalog/batches", {"limit": 51, "start": 2000}),
        "batches failed, page 1": ("/data/foundation/catalog/batches", {"limit": 51, "status": "failed"}),
        "stats 24h": ("/data/foundation/stats/batches", {"window": "24h"}),
        "stats 30d": ("/data/foundation/stats/batches", {"window": "30d"}),
    }
    deep = requests.get(
        stack.api + "/data/foundation/catalog/batches",
        params={"limit": 1, "start": 2000},
        headers=stack.headers(),
        timeout=60,
    ).json()
    calls["batches 40 pages back by createdBefore (the dashboard's paging)"] = (
        "/data/foundation/catalog/batches",
        {"limit": 51, "createdBefore": next(iter(deep.values()))["created"]},
    )
    out: dict[str, Any] = {}
    for name, (path, params) in calls.items():
        samples = []
        for _ in range(rounds):
            t = time.perf_counter()
            r = requests.get(stack.api + path, params=params, headers=stack.headers(), timeout=60)
            samples.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        out[name] = {"medianMs": _median_ms(samples), "bytes": len(r.content)}
    return out


def _views(stack: RunningStack, seeded: dict[str, Any], rounds: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    views = {
        "datasets": ("/ui/datasets", "main table tbody tr"),
        "batches": ("/ui/batches", "main table tbody tr"),
        "batch": (f"/ui/batches/{seeded['realBatch']}", "main .metrics li"),
        "dataset": (f"/ui/datasets/{seeded['datasets'][0]}", "main section table tbody tr"),
        "charts (24 hours)": ("/ui/charts", "main svg.chart rect"),
        "charts (and 30 days)": ("/ui/charts", "main .charts > figure:nth-child(4) svg.chart"),
    }
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.goto(stack.api + "/ui")
        page.get_by_label("API key").fill(stack.info["keyId"])
        page.get_by_label("Token").fill(stack.info["token"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/ui/datasets")
        for name, (path, ready) in views.items():
            fcp, data = [], []
            for i in range(rounds + 1):
                page.goto(stack.api + path)  # a full page load: HTML, modules, CSS, then the API
                page.wait_for_selector(ready)
                painted = page.evaluate("performance.now()")
                first = page.evaluate(
                    "performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)[0] ?? null"
                )
                # The view's later calls finish before the next load: locally the API function
                # answers one call at a time, so they would delay it (in AWS each is a Lambda).
                page.wait_for_selector(SETTLED.get(name, ready))
                if i == 0:  # the first load fills the cache; the rest revalidate (304)
                    continue
                data.append(painted / 1000)
                if first is not None:
                    fcp.append(first / 1000)
            out[name] = {"firstContentfulPaintMs": _median_ms(fcp), "dataPaintedMs": _median_ms(data)}
        browser.close()
    return out


def run(results: dict[str, Any], args: argparse.Namespace) -> None:
    from batchgate.dashboard.assets import STATIC, total_bytes
    from tests.e2e.stack import start_stack

    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(Path(tmp) / "stack")
        try:
            seeded = _seed(stack, args.dashboard_batches)
            print(f"seeded {args.dashboard_batches} batches in {seeded['seedSeconds']} s", flush=True)
            api = _api_timings(stack, args.dashboard_rounds)
            views = _views(stack, seeded, args.dashboard_rounds)
        finally:
            stack.stop()
    files = sorted(p for p in STATIC.rglob("*") if p.is_file())
    results["dashboard"] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "batches": args.dashboard_batches,
        "rounds": args.dashboard_rounds,
        "assets": {"files": len(files), "bytes": total_bytes()},
        "api": api,
        "views": views,
    }
    print(results["dashboard"], flush=True)
