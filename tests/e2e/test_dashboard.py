"""The dashboard in a real headless Chromium (Debian's, through Playwright's Python client)
against `batchgate up`: log in, find a dataset, open a failed batch and read its error code,
revert a batch. Screenshots of each view go to BATCHGATE_SCREENSHOTS when it is set
(`make screenshots` sets it to docs/img), else to the test's temporary folder."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.stack import RunningStack
from tests.e2e.test_guide_flows import Flow, jsonl

CHROMIUM = os.environ.get("BATCHGATE_CHROMIUM", "/usr/bin/chromium")
SCHEMA = {
    "fields": [
        {"name": "id", "type": "string", "required": True},
        {"name": "age", "type": "integer", "minimum": 0},
        {"name": "tier", "type": "string", "enum": ["gold", "silver"]},
    ]
}
# Laptop and phone widths: every screenshot is taken at the first, the phone one at the second.
API_4XX = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra: make install-dev")
if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: `make install-dev` installs Debian's chromium with apt-get "
        "(Playwright cannot download browsers here); set BATCHGATE_CHROMIUM to another binary",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = Path(os.environ.get("BATCHGATE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def seeded(stack: RunningStack) -> dict[str, Any]:
    flow = Flow(stack)
    ds = flow.dataset("customer_profiles", SCHEMA)
    other = flow.dataset("orders_daily", {"fields": [{"name": "order", "type": "string", "required": True}]})
    good = flow.ingest(
        ds, jsonl([{"id": f"c{i}", "age": 20 + i, "tier": "gold"} for i in range(5)]), "day1.json"
    )
    to_revert = flow.ingest(ds, jsonl([{"id": "x1", "age": 40, "tier": "silver"}]), "day2.json")
    bad = flow.ingest(ds, jsonl([{"id": "b1", "age": -1}, {"id": "b2", "tier": "bronze"}]), "bad.json")
    assert good["status"] == "success" and to_revert["status"] == "success" and bad["status"] == "failed"
    return {"ds": ds, "other": other, "good": good["id"], "revert": to_revert["id"], "bad": bad["id"]}


@pytest.fixture
def page(browser: Any, stack: RunningStack) -> Iterator[Any]:
    context = browser.new_context(viewport=LAPTOP)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # A CSP violation or a failed module load shows as a console error; the API's own 4xx
    # answers (a wrong token, on purpose) are logged by Chromium too and are not errors here.
    pg.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and not API_4XX.match(m.text) else None,
    )
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert errors == [], errors


def nav(page: Any, view: str) -> Any:
    return page.get_by_role("navigation", name="Views").get_by_role("link", name=view)


def log_in(page: Any, stack: RunningStack, start: str = "/ui") -> None:
    page.goto(stack.api + start)
    page.get_by_label("API key").fill(stack.info["keyId"])
    page.get_by_label("Token").fill(stack.info["token"])
    assert page.get_by_label("Org").input_value() == "local"
    assert page.get_by_label("Sandbox").input_value() == "prod"
    page.get_by_role("button", name="Log in").click()


def test_login_refuses_a_wrong_token_then_opens_the_deep_link_asked_for(
    page: Any, stack: RunningStack, seeded: dict[str, Any], shots: Path
) -> None:
    page.goto(f"{stack.api}/ui/datasets/{seeded['ds']}")
    page.get_by_label("API key").fill(stack.info["keyId"])
    page.get_by_label("Token").fill("bgt_wrong")
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("refused")
    page.screenshot(path=shots / "login.png")
    page.get_by_label("Token").fill(stack.info["token"])
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("customer_profiles")
    assert page.url.endswith(f"/ui/datasets/{seeded['ds']}")
    # The token lives in the tab's session storage, nowhere else.
    assert stack.info["token"] not in page.url
    assert page.context.cookies() == []
    assert page.evaluate("Object.keys(localStorage).length") == 0
    assert stack.info["token"] in page.evaluate("sessionStorage.getItem('batchgate.session')")


def test_find_a_dataset_and_read_its_schema_and_table(
    page: Any, stack: RunningStack, seeded: dict[str, Any], shots: Path
) -> None:
    log_in(page, stack)
    page.wait_for_url("**/ui/datasets")
    page.get_by_label("Find by name").fill("customer")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url("**/ui/datasets?name=customer")
    sync_api.expect(page.get_by_role("link", name="customer_profiles")).to_be_visible()
    sync_api.expect(page.get_by_role("link", name="orders_daily")).to_have_count(0)
    page.screenshot(path=shots / "datasets.png")
    page.get_by_role("link", name="customer_profiles").click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("customer_profiles")
    main = page.locator("main")
    sync_api.expect(main).to_contain_text("minimum 0")
    sync_api.expect(main).to_contain_text("one of gold, silver")
    sync_api.expect(main).to_contain_text(f"ds_{seeded['ds']}")
    sync_api.expect(main).to_contain_text("metadata.json")
    sync_api.expect(main.get_by_role("cell", name="c0", exact=True)).to_be_visible()  # a row of the table
    page.screenshot(path=shots / "dataset.png", full_page=True)


def test_open_a_failed_batch_and_see_its_error_codes_and_rows(
    page: Any, stack: RunningStack, seeded: dict[str, Any], shots: Path
) -> None:
    log_in(page, stack)
    nav(page, "Batches").click()
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*status=failed.*"))
    sync_api.expect(page.get_by_role("link", name=seeded["bad"])).to_be_visible()
    sync_api.expect(page.get_by_role("link", name=seeded["good"])).to_have_count(0)
    page.screenshot(path=shots / "batches.png")
    page.get_by_role("link", name=seeded["bad"]).click()
    main = page.locator("main")
    sync_api.expect(main.get_by_role("cell", name="BG-ROW-RANGE")).to_be_visible()
    sync_api.expect(main.get_by_role("cell", name="BG-ROW-ENUM")).to_be_visible()
    sync_api.expect(main).to_contain_text('"age":-1')  # the failed row, as read
    # A failed batch offers no action.
    for action in ("COMPLETE", "ABORT", "REVERT"):
        sync_api.expect(page.get_by_role("button", name=action, exact=True)).to_have_count(0)
    with page.expect_download() as dl:
        page.get_by_role("button", name=re.compile("Download failed rows")).click()
    assert b"BG-ROW-RANGE" in Path(dl.value.path()).read_bytes()
    page.screenshot(path=shots / "batch-failed.png", full_page=True)
    page.set_viewport_size(PHONE)
    sync_api.expect(main.get_by_role("cell", name="BG-ROW-RANGE")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=shots / "batch-phone.png", full_page=True)


def test_revert_a_batch_with_a_confirmation_and_watch_it_turn_inactive(
    page: Any, stack: RunningStack, seeded: dict[str, Any], shots: Path
) -> None:
    log_in(page, stack, f"/ui/batches/{seeded['revert']}")
    page.wait_for_url(f"**/ui/batches/{seeded['revert']}")
    # The timeline of a landed batch: each step, the landing's end included, at a time.
    timeline = page.locator("section", has=page.get_by_role("heading", name="Timeline"))
    landed = timeline.get_by_role("row").filter(has_text="landing ended")
    sync_api.expect(landed).to_have_count(1)
    sync_api.expect(landed.locator("time")).to_have_count(1)
    sync_api.expect(timeline.get_by_role("row").filter(has_text="received")).to_have_count(1)
    revert = page.get_by_role("button", name="REVERT", exact=True)
    revert.click()
    dialog = page.get_by_role("dialog")
    sync_api.expect(dialog).to_contain_text("Take the batch's rows out")
    page.screenshot(path=shots / "batch-revert.png")
    dialog.get_by_role("button", name="Cancel").click()
    assert (
        stack.get(f"/data/foundation/catalog/batches/{seeded['revert']}").json()[seeded["revert"]]["status"]
        == "success"
    )
    revert.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    page.get_by_role("dialog").get_by_role("button", name="REVERT").click()
    # The page follows the revert by itself until the batch is inactive.
    sync_api.expect(page.locator("main h1 .badge")).to_have_text("inactive", timeout=60_000)
    sync_api.expect(page.get_by_role("button", name="REVERT", exact=True)).to_have_count(0)
    assert (
        stack.get(f"/data/foundation/catalog/batches/{seeded['revert']}").json()[seeded["revert"]]["status"]
        == "inactive"
    )


def test_an_expired_key_says_so_and_returns_to_the_login(
    page: Any, stack: RunningStack, seeded: dict[str, Any]
) -> None:
    made = stack.post("/data/foundation/keys", json={"role": "reader", "sandboxes": ["prod"]}).json()
    page.goto(stack.api + "/ui")
    page.get_by_label("API key").fill(made["id"])
    page.get_by_label("Token").fill(made["token"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/ui/datasets")
    # A reader sees a success batch without REVERT.
    page.goto(f"{stack.api}/ui/batches/{seeded['good']}")
    sync_api.expect(page.locator("main h1 .badge")).to_have_text("success")
    sync_api.expect(page.get_by_role("button", name="REVERT", exact=True)).to_have_count(0)
    gone = requests.delete(
        f"{stack.api}/data/foundation/keys/{made['id']}", headers=stack.headers(), timeout=30
    )
    assert gone.status_code == 200, gone.text
    nav(page, "Datasets").click()
    sync_api.expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    sync_api.expect(page.get_by_role("status")).to_contain_text("log in again")
    assert page.evaluate("sessionStorage.getItem('batchgate.session')") is None


def test_edit_a_job_activate_it_and_see_its_run(
    page: Any, stack: RunningStack, seeded: dict[str, Any], shots: Path
) -> None:
    bucket = "batchgate-job-sources-dashboard"
    s3 = stack.s3()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/day3.json", Body=jsonl([{"id": "j1", "age": 30, "tier": "gold"}]))
    body = {
        "name": "hourly-profiles",
        "workflow": "ingest-s3",
        "attributes": {"datasetId": seeded["ds"], "bucket": bucket, "prefix": "in/", "format": "json"},
        "schedule": {"expression": "cron(0 3 * * ? *)"},
    }
    made = stack.post("/data/foundation/schedules/jobs", json=body)
    assert made.status_code == 201, made.text
    job = made.json()
    log_in(page, stack)
    nav(page, "Jobs").click()
    page.get_by_role("link", name="hourly-profiles").click()
    # Edit while inactive, with the workflow's attribute form.
    page.get_by_label("Description").fill("profiles from the partner bucket")
    page.get_by_label("Schedule expression").fill("rate(1 hour)")
    sync_api.expect(page.get_by_label("pattern")).to_have_value("*")  # the workflow's default
    page.get_by_role("button", name="Save").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("Saved.")
    got = stack.get(f"/data/foundation/schedules/jobs/{job['id']}").json()
    assert got["description"] == "profiles from the partner bucket"
    assert got["schedule"]["expression"] == "rate(1 hour)"
    page.screenshot(path=shots / "job.png", full_page=True)
    # ACTIVATE: a rate() schedule fires at once; the page follows the job to its run.
    page.get_by_role("button", name="Activate").click()
    sync_api.expect(page.locator("main h1 .badge")).to_have_text("active")
    sync_api.expect(page.get_by_text("Deactivate the job to edit it.")).to_be_visible()
    last_run = page.locator("dt:text-is('Last run') + dd a")
    sync_api.expect(last_run).to_be_visible(timeout=60_000)
    last_run.click()
    sync_api.expect(page.locator("main h1 .badge")).to_have_text("success", timeout=60_000)
    main = page.locator("main")
    sync_api.expect(main.get_by_role("cell", name="copy", exact=True)).to_be_visible()
    sync_api.expect(main).to_contain_text("files 1")  # a step's metrics
    page.screenshot(path=shots / "run.png", full_page=True)
    batch = main.locator("dt:text-is('Batches') + dd a")
    batch.click()
    sync_api.expect(page.locator("main h1 .badge")).to_have_text("success")
    # The run history across jobs, searched by the job's name.
    nav(page, "Runs").click()
    page.get_by_label("Job name").fill("hourly-profiles")
    page.get_by_role("button", name="Search").click()
    sync_api.expect(page.get_by_role("cell", name="hourly-profiles")).to_have_count(1)
    page.screenshot(path=shots / "runs.png")
    nav(page, "Jobs").click()
    sync_api.expect(page.get_by_role("cell", name="hourly-profiles")).to_be_visible()
    page.screenshot(path=shots / "jobs.png")
    assert stack.post(f"/data/foundation/schedules/jobs/{job['id']}?action=DEACTIVATE").status_code == 200


def test_start_a_feed_sync_and_see_it_finish(
    page: Any, stack: RunningStack, seeded: dict[str, Any], shots: Path
) -> None:
    bucket = "batchgate-feed-destinations-dashboard"
    stack.s3().create_bucket(Bucket=bucket)
    body = {
        "name": "profiles-to-lake",
        "datasetId": seeded["ds"],
        "destination": {"type": "s3", "uri": f"s3://{bucket}/out/", "format": "jsonl"},
    }
    made = stack.post("/data/foundation/export/feeds", json=body)
    assert made.status_code == 201, made.text
    log_in(page, stack)
    nav(page, "Feeds").click()
    page.get_by_role("link", name="profiles-to-lake").click()
    sync_api.expect(page.locator("dt:text-is('Last sync') + dd")).to_have_text("never")
    page.get_by_role("button", name="Estimate full sync").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("rows")
    page.get_by_role("button", name="Sync now").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("SYNC started")
    # The page follows the sync until it is final.
    section = page.locator("section").filter(has=page.get_by_role("heading", name=re.compile("^Sync ")))
    sync_api.expect(section.locator(".facts .badge")).to_have_text("success", timeout=90_000)
    sync_api.expect(section.get_by_role("cell", name="sent")).to_have_count(1)
    sync_api.expect(page.locator("dt:text-is('Behind') + dd")).to_have_text("up to date")
    page.screenshot(path=shots / "feed.png", full_page=True)
    nav(page, "Feeds").click()
    sync_api.expect(page.get_by_role("link", name="profiles-to-lake")).to_be_visible()
    page.screenshot(path=shots / "feeds.png")


def test_charts_of_the_sandbox_and_of_one_dataset(
    page: Any, stack: RunningStack, seeded: dict[str, Any], shots: Path
) -> None:
    log_in(page, stack)
    nav(page, "Charts").click()
    day = page.get_by_role("img", name=re.compile(r"^Rows per hour, last 24 hours"))
    # The 24 hours' statistics, like the 30 days' below, can take longer than expect's default
    # 5 s: a clean-clone run missed it once, and so did 1 of 21 runs of this test alone.
    sync_api.expect(day).to_be_visible(timeout=60_000)
    sync_api.expect(
        page.get_by_role("img", name=re.compile(r"^Batches by status, last 30 days"))
    ).to_contain_text("failed", timeout=60_000)
    page.screenshot(path=shots / "charts.png")
    page.get_by_label("For").select_option(label="customer_profiles")
    page.wait_for_url(f"**/ui/charts?dataSet={seeded['ds']}")
    # The seeded failed batch: its two failed rows, in this hour's bar and the 30 days' totals.
    # The 30 days' statistics read every batch of the window: on a loaded machine, give them time.
    label = page.get_by_role("img", name=re.compile(r"^Rows per day, last 30 days")).get_attribute(
        "aria-label", timeout=60_000
    )
    assert label is not None and re.search(r", 2 failed$", label), label
    page.get_by_label("For").select_option(label="orders_daily")
    sync_api.expect(page.get_by_text("No batches in this window.")).to_have_count(2, timeout=60_000)
    # The dataset's own page carries the same charts.
    page.goto(f"{stack.api}/ui/datasets/{seeded['ds']}")
    sync_api.expect(page.get_by_role("img", name=re.compile(r"^Rows per hour"))).to_be_visible()


def test_batches_page_older_and_newer_by_creation_time(
    page: Any, stack: RunningStack, seeded: dict[str, Any]
) -> None:
    flow = Flow(stack)
    made = [flow.batch(seeded["other"]) for _ in range(55)]  # 'loading' batches of orders_daily
    log_in(page, stack, f"/ui/batches?dataSet={seeded['other']}")
    page.wait_for_url("**/ui/batches?dataSet=*")
    links = page.locator("main tbody tr td:first-child a")
    sync_api.expect(links).to_have_count(50)
    first_page = links.all_inner_texts()
    older = page.get_by_role("button", name="Older →")
    older.click()
    page.wait_for_url(re.compile(r".*olderThan=\d+.*"))
    sync_api.expect(links).to_have_count(5)
    second_page = links.all_inner_texts()
    # Every batch once, newest first, across the two pages.
    listed = stack.get(
        "/data/foundation/catalog/batches", params={"dataSet": seeded["other"], "limit": 100}
    ).json()
    assert first_page + second_page == list(listed) and set(listed) == set(made)
    sync_api.expect(older).to_be_disabled()
    page.get_by_role("button", name="← Newer").click()
    page.wait_for_url(re.compile(r".*newerThan=\d+.*"))
    sync_api.expect(links).to_have_count(50)
    assert links.all_inner_texts() == first_page


def test_bundles_an_export_ready_with_its_download_and_a_refused_import_with_its_code(
    page: Any, stack: RunningStack, seeded: dict[str, Any], shots: Path
) -> None:
    from batchgate_tools.client import Client

    i = stack.info
    client = Client(stack.api, i["keyId"], i["token"], i["org"], "prod")
    export_id = client.export_bundle([seeded["ds"]])
    r = requests.post(
        stack.api + "/data/foundation/bundles",
        params={"action": "IMPORT"},
        headers={**stack.headers(), "Content-Type": "application/octet-stream"},
        data=b"not a zip at all",
        timeout=60,
    )
    assert r.status_code == 202, r.text
    import_id = r.json()["id"]

    log_in(page, stack, "/ui/bundles")
    page.wait_for_url("**/ui/bundles")
    export_row = page.get_by_role("row").filter(has=page.get_by_role("link", name=export_id))
    # The list follows a running export by itself until it is ready.
    sync_api.expect(export_row).to_contain_text("ready", timeout=60_000)
    sync_api.expect(export_row).to_contain_text("customer_profiles")
    page.screenshot(path=shots / "bundles.png")
    export_row.get_by_role("link", name=export_id).click()
    page.wait_for_url(f"**/ui/bundles/{export_id}")
    download = page.get_by_role("link", name=re.compile("the .bgbundle"))
    sync_api.expect(download).to_have_count(1)
    assert requests.get(str(download.get_attribute("href")), timeout=60).content[:2] == b"PK"

    page.goto(f"{stack.api}/ui/bundles/{import_id}")
    sync_api.expect(page.locator("main h1 .badge")).to_have_text("failed", timeout=60_000)
    sync_api.expect(page.get_by_role("cell", name="BG-400-BUNDLE-CORRUPT")).to_have_count(1)
