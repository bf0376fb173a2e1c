"""Python SDK for the batchgate API (AEP Batch Ingestion compatible).

    from batchgate_tools.client import Client
    c = Client("http://localhost:3000", api_key="bgk_…", token="bgt_…", org="local", sandbox="prod")
    batch = c.ingest(["day1.json", "day2.json"], dataset_id="…")
    print(batch["status"], batch["metrics"])

Every non-2xx answer raises :class:`ClientError` with the API's stable code, message and request
id. File bytes never pass through the API here: ``ingest`` asks for presigned URLs and sends files
straight to S3, large ones as multipart with parallel parts, reading one part at a time from disk
(memory about part size times workers, whatever the file size).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from batchgate_tools.bundles_client import BundlesMixin
from batchgate_tools.feeds_client import FeedsMixin
from batchgate_tools.files import Progress, ProgressFn, infer_format, unique_names

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 16 * MIB
SCHEDULES = "/data/foundation/schedules"
FINAL = frozenset({"success", "failed", "aborted", "abandoned", "inactive", "deleted", "stalled"})


class ClientError(Exception):
    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (request {request_id})" if request_id else ""))
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class Client(FeedsMixin, BundlesMixin):  # export feeds: feeds_client.py; bundles: bundles_client.py
    def __init__(
        self,
        base_url: str,
        api_key: str,
        token: str,
        org: str = "local",
        sandbox: str = "prod",
        *,
        session: requests.Session | None = None,
        timeout: float = 60.0,
        part_size: int = DEFAULT_PART_SIZE,
        workers: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "x-api-key": api_key,
                "x-gw-ims-org-id": org,
                "x-sandbox-name": sandbox,
            }
        )
        # Presigned URLs carry their own signature: a separate session so our credentials never
        # travel to S3.
        self.s3_session = requests.Session()
        self.timeout = timeout
        self.part_size = part_size
        self.workers = workers

    # -- plumbing -------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> requests.Response:
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/octet-stream")
        resp = self.session.request(
            method,
            self.base_url + path,
            params={k: v for k, v in (params or {}).items() if v is not None},
            json=json,
            data=data,
            headers=hdrs,
            timeout=self.timeout,
            allow_redirects=allow_redirects,
        )
        if resp.status_code >= 400:
            raise _error(resp)
        return resp

    @staticmethod
    def _files_path(batch_id: str, dataset_id: str, name: str) -> str:
        return (
            f"/data/foundation/import/batches/{batch_id}/datasets/{dataset_id}/files/{quote(name, safe='/')}"
        )

    # -- datasets -------------------------------------------------------------------------
    def create_dataset(self, name: str, schema: dict[str, Any], tags: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"name": name, "schema": schema}
        if tags is not None:
            body["tags"] = tags
        ref = self._request("POST", "/data/foundation/catalog/dataSets", json=body).json()[0]
        return str(ref).rsplit("/", 1)[-1]

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        return dict(
            self._request("GET", f"/data/foundation/catalog/dataSets/{dataset_id}").json()[dataset_id]
        )

    def list_datasets(self, limit: int = 50, start: int = 0) -> dict[str, Any]:
        params = {"limit": limit, "start": start}
        return dict(self._request("GET", "/data/foundation/catalog/dataSets", params=params).json())

    def all_datasets(self, page: int = 100) -> list[dict[str, Any]]:
        """Every dataset of the tenant, newest first (as many listing calls as it takes)."""
        found: list[dict[str, Any]] = []
        while True:
            listed = self.list_datasets(limit=page, start=len(found))
            found.extend(listed.values())
            if len(listed) < page:
                return found

    def dataset_rows(
        self,
        dataset_id: str,
        *,
        limit: int = 100,
        start: str | None = None,
        as_of_batch: str | None = None,
        batch_id: str | None = None,
        filters: Iterable[str] = (),
    ) -> dict[str, Any]:
        params = {
            "limit": limit,
            "start": start,
            "asOfBatch": as_of_batch,
            "batchId": batch_id,
            "filter": list(filters) or None,  # repeated: filter=a&filter=b
        }
        path = f"/data/foundation/export/datasets/{dataset_id}/rows"
        return dict(self._request("GET", path, params=params).json())

    # -- batches --------------------------------------------------------------------------
    def create_batch(
        self,
        dataset_id: str,
        fmt: str = "json",
        *,
        input_format: dict[str, Any] | None = None,
        replay: dict[str, Any] | None = None,
        partial_ingestion_percentage: float | None = None,
        enable_error_diagnostics: bool | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "datasetId": dataset_id,
            "inputFormat": {"format": fmt, **(input_format or {})},
        }
        if replay is not None:
            body["replay"] = replay
        if partial_ingestion_percentage is not None:
            body["partialIngestionPercentage"] = partial_ingestion_percentage
        if enable_error_diagnostics is not None:
            body["enableErrorDiagnostics"] = enable_error_diagnostics
        return dict(self._request("POST", "/data/foundation/import/batches", json=body).json())

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/data/foundation/import/batches/{batch_id}").json())

    def list_batches(
        self,
        *,
        limit: int = 50,
        start: int = 0,
        order_by: str = "desc:created",
        created_after: int | None = None,
        created_before: int | None = None,
        dataset_id: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        params = {
            "limit": limit,
            "start": start,
            "orderBy": order_by,
            "createdAfter": created_after,
            "createdBefore": created_before,
            "dataSet": dataset_id,
            "status": status,
        }
        return dict(self._request("GET", "/data/foundation/catalog/batches", params=params).json())

    def _action(self, batch_id: str, action: str) -> dict[str, Any]:
        path = f"/data/foundation/import/batches/{batch_id}"
        return dict(self._request("POST", path, params={"action": action}).json())

    def complete(self, batch_id: str) -> dict[str, Any]:
        return self._action(batch_id, "COMPLETE")

    def abort(self, batch_id: str) -> dict[str, Any]:
        return self._action(batch_id, "ABORT")

    def revert(self, batch_id: str) -> dict[str, Any]:
        return self._action(batch_id, "REVERT")

    def wait(
        self,
        batch_id: str,
        *,
        timeout: float = 600.0,
        interval: float = 1.0,
        progress: ProgressFn | None = None,
    ) -> dict[str, Any]:
        """Poll until the batch reaches a final status (or ``stalled``); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            batch = self.get_batch(batch_id)
            if progress:
                progress(Progress("wait", 0, 0, status=batch["status"]))
            if batch["status"] in FINAL:
                return batch
            if time.monotonic() >= deadline:
                raise TimeoutError(f"batch {batch_id} still '{batch['status']}' after {timeout:g}s")
            time.sleep(interval)

    # -- uploads through the API (AEP's routes) -------------------------------------------
    def put_file(self, batch_id: str, dataset_id: str, name: str, data: bytes) -> None:
        self._request("PUT", self._files_path(batch_id, dataset_id, name), data=data)

    def initialize_file(self, batch_id: str, dataset_id: str, name: str) -> None:
        self._request("POST", self._files_path(batch_id, dataset_id, name), params={"action": "INITIALIZE"})

    def patch_chunk(
        self, batch_id: str, dataset_id: str, name: str, data: bytes, first: int, total: int | None
    ) -> None:
        rng = f"bytes {first}-{first + len(data) - 1}/{'*' if total is None else total}"
        path = self._files_path(batch_id, dataset_id, name)
        self._request("PATCH", path, data=data, headers={"Content-Range": rng})

    def complete_file(
        self, batch_id: str, dataset_id: str, name: str, body: dict[str, Any] | None = None
    ) -> None:
        path = self._files_path(batch_id, dataset_id, name)
        self._request("POST", path, params={"action": "COMPLETE"}, json=body)

    def presign(
        self, batch_id: str, dataset_id: str, name: str, size: int, *, part_size: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"size": size}
        if part_size is not None:
            body["partSize"] = part_size
        path = self._files_path(batch_id, dataset_id, name)
        return dict(self._request("POST", path, params={"action": "PRESIGN"}, json=body).json())

    # -- uploads straight to S3 -----------------------------------------------------------
    def upload_path(
        self,
        batch_id: str,
        dataset_id: str,
        path: str | os.PathLike[str],
        name: str | None = None,
        *,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """Upload one file with presigned URLs: a single PUT up to ``part_size``, else S3
        multipart with ``workers`` parts in flight, each read from disk when it is sent."""
        file = Path(path)
        size = file.stat().st_size
        if size == 0:
            raise ValueError(f"{file} is empty; batchgate has nothing to ingest from it")
        plan = self.presign(batch_id, dataset_id, name or file.name, size, part_size=self.part_size)
        if "uploadId" not in plan:
            with file.open("rb") as fh:
                self._s3_put(plan["url"], fh.read())
            if on_bytes:
                on_bytes(size)
            return

        def send(part: dict[str, Any]) -> dict[str, Any]:
            with file.open("rb") as fh:
                fh.seek(part["first"])
                data = fh.read(part["last"] - part["first"] + 1)
            etag = self._s3_put(part["url"], data)
            if on_bytes:
                on_bytes(len(data))
            return {"partNumber": part["partNumber"], "etag": etag}

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            # map() keeps at most `workers` parts in memory: each is read inside its own task.
            parts = list(pool.map(send, plan["parts"]))
        self.complete_file(
            batch_id, dataset_id, name or file.name, {"uploadId": plan["uploadId"], "parts": parts}
        )

    def _s3_put(self, url: str, data: bytes) -> str:
        for attempt in range(3):
            try:
                resp = self.s3_session.put(url, data=data, timeout=self.timeout)
            except requests.ConnectionError:
                if attempt == 2:
                    raise
                time.sleep(0.5 * 2**attempt)
                continue
            if resp.status_code < 300:
                return str(resp.headers.get("ETag", ""))
            if resp.status_code < 500 or attempt == 2:
                raise ClientError(resp.status_code, "S3-UPLOAD-FAILED", resp.text[:500])
            time.sleep(0.5 * 2**attempt)  # S3 asks to retry 5xx (SlowDown, InternalError)
        raise AssertionError("unreachable")

    # -- exports --------------------------------------------------------------------------
    def list_files(self, batch_id: str) -> list[dict[str, Any]]:
        body = self._request("GET", f"/data/foundation/export/batches/{batch_id}/files").json()
        return list(body["data"])

    def list_failed(self, batch_id: str) -> list[dict[str, Any]]:
        body = self._request("GET", f"/data/foundation/export/batches/{batch_id}/failed").json()
        return list(body["data"])

    def download(self, file_id_or_href: str, byte_range: str | None = None) -> bytes:
        """A file's bytes (``byte_range`` like ``bytes=0-99``); large files are fetched from the
        presigned URL the API redirects to, without our credentials."""
        path = (
            file_id_or_href
            if file_id_or_href.startswith("/")
            else f"/data/foundation/export/files/{file_id_or_href}"
        )
        headers = {"Range": byte_range} if byte_range else {}
        resp = self._request("GET", path, headers=headers, allow_redirects=False)
        if resp.status_code in (301, 302, 303, 307, 308):
            got = self.s3_session.get(resp.headers["Location"], headers=headers, timeout=self.timeout)
            if got.status_code >= 400:
                raise ClientError(got.status_code, "S3-DOWNLOAD-FAILED", got.text[:500])
            return got.content
        return resp.content

    # -- scheduled jobs -------------------------------------------------------------------
    # A job may be named by its id or by its name wherever one is taken (``job``, ``edit_job``,
    # ``activate_job``, ...): the id is tried first, a name costs one listing call more.
    def workflows(self) -> list[dict[str, Any]]:
        """The workflows a job can run, each with its typed attributes and steps."""
        return list(self._request("GET", f"{SCHEDULES}/workflows").json()["workflows"])

    def create_job(
        self,
        name: str,
        workflow: str,
        attributes: dict[str, Any],
        schedule: str | dict[str, Any],
        description: str = "",
    ) -> dict[str, Any]:
        """A new job, inactive. ``schedule`` is an EventBridge Scheduler expression, or
        ``{"expression", "start"?, "end"?, "timezone"?}``."""
        body = {
            "name": name,
            "description": description,
            "workflow": workflow,
            "attributes": attributes,
            "schedule": {"expression": schedule} if isinstance(schedule, str) else schedule,
        }
        return dict(self._request("POST", f"{SCHEDULES}/jobs", json=body).json())

    def jobs(
        self, name: str | None = None, status: str | None = None, workflow: str | None = None
    ) -> list[dict[str, Any]]:
        """Every job of the tenant matching the filters, newest first (as many pages as it takes)."""
        found: list[dict[str, Any]] = []
        while True:
            params = {"name": name, "status": status, "workflow": workflow, "limit": 100, "start": len(found)}
            page = self._request("GET", f"{SCHEDULES}/jobs", params=params).json()["jobs"]
            found.extend(page)
            if len(page) < 100:
                return found

    def job(self, job: str) -> dict[str, Any]:
        return self._on_job(job, lambda job_id: self._request("GET", _job_path(job_id)).json())

    def edit_job(self, job: str, **changes: Any) -> dict[str, Any]:
        """PATCH ``description``, ``attributes`` (the whole set) and / or ``schedule``; the job must
        be inactive (409 ``BG-409-JOB-ACTIVE`` otherwise)."""
        return self._on_job(
            job, lambda job_id: self._request("PATCH", _job_path(job_id), json=changes).json()
        )

    def delete_job(self, job: str) -> None:
        self._on_job(job, lambda job_id: self._request("DELETE", _job_path(job_id)))

    def _job_action(self, job: str, action: str) -> Any:
        return self._on_job(
            job, lambda job_id: self._request("POST", _job_path(job_id), params={"action": action}).json()
        )

    def activate_job(self, job: str) -> dict[str, Any]:
        return dict(self._job_action(job, "ACTIVATE"))

    def deactivate_job(self, job: str) -> dict[str, Any]:
        return dict(self._job_action(job, "DEACTIVATE"))

    def run_job(self, job: str) -> str:
        """Start a run now (trigger ``manual``); the run's id."""
        return str(self._job_action(job, "RUN")["runId"])

    def runs(
        self,
        job_id: str | None = None,
        job_name: str | None = None,
        status: str | None = None,
        limit: int = 50,
        start: int = 0,
    ) -> list[dict[str, Any]]:
        """Run history, newest first."""
        params = {"jobId": job_id, "jobName": job_name, "status": status, "limit": limit, "start": start}
        return list(self._request("GET", f"{SCHEDULES}/runs", params=params).json()["runs"])

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"{SCHEDULES}/runs/{quote(run_id, safe='')}").json())

    def wait_run(
        self,
        run_id: str,
        *,
        timeout: float = 600.0,
        interval: float = 1.0,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the run is no longer ``running`` (success, failed or skipped); the run.
        TimeoutError when it still runs after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if progress:
                progress(run)
            if run["status"] != "running":
                return run
            if time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} still running after {timeout:g}s")
            time.sleep(interval)

    def _on_job(self, job: str, call: Callable[[str], Any]) -> Any:
        """``call`` with the job's id: ``job`` as an id, else as a name (through the list filter)."""
        try:
            return call(job)
        except ClientError as exc:
            if exc.status != 404 or exc.code != "BG-404-JOB":
                raise
            named = self.jobs(name=job)
            if not named:
                raise ClientError(
                    404, exc.code, f"no job with the id or name {job!r} in this sandbox", exc.request_id
                ) from None
        return call(str(named[0]["id"]))

    # -- the whole flow -------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | os.PathLike[str]],
        dataset_id: str,
        fmt: str | None = None,
        *,
        wait: bool = True,
        progress: ProgressFn | None = None,
        timeout: float = 600.0,
        poll_interval: float = 1.0,
        input_format: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a batch, upload ``paths``, COMPLETE it and (with ``wait``) poll until it is final.
        Returns the batch. On an upload failure the batch is aborted before the error is raised,
        so nothing half-uploaded is ever completed."""
        files = [Path(p) for p in paths]
        if not files:
            raise ValueError("nothing to ingest: give at least one file")
        fmt = fmt or infer_format(files)
        total = sum(f.stat().st_size for f in files)
        batch = self.create_batch(dataset_id, fmt, input_format=input_format)
        batch_id = batch["id"]
        sent = 0
        lock = threading.Lock()

        def counter(name: str) -> Callable[[int], None]:
            def on_bytes(n: int) -> None:
                nonlocal sent
                with lock:
                    sent += n
                    done = sent
                if progress:
                    progress(Progress("upload", done, total, file=name))

            return on_bytes

        try:
            names = unique_names(files)
            for file, name in zip(files, names, strict=True):
                self.upload_path(batch_id, dataset_id, file, name, on_bytes=counter(name))
        except BaseException:
            with contextlib.suppress(ClientError):  # the original failure is the one to report
                self.abort(batch_id)
            raise
        if progress:
            progress(Progress("complete", sent, total))
        batch = self.complete(batch_id)
        if wait:
            batch = self.wait(batch_id, timeout=timeout, interval=poll_interval, progress=progress)
        if progress:
            progress(Progress("done", sent, total, status=batch["status"]))
        return batch


def _job_path(job_id: str) -> str:
    return f"{SCHEDULES}/jobs/{quote(job_id, safe='')}"


def _error(resp: requests.Response) -> ClientError:
    try:
        err = resp.json()
    except ValueError:
        err = None
    if isinstance(err, dict) and isinstance(err.get("error"), dict):
        e = err["error"]
        return ClientError(resp.status_code, str(e.get("code")), str(e.get("message")), e.get("requestId"))
    # API Gateway's own answers (authorizer 401/403, throttling) are {"message": …}
    message = err.get("message") if isinstance(err, dict) else resp.text[:500]
    return ClientError(
        resp.status_code, f"HTTP-{resp.status_code}", str(message), resp.headers.get("x-amzn-RequestId")
    )
