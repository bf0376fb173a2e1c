"""The SDK's bundle calls (``/data/foundation/bundles``), mixed into
:class:`batchgate_tools.client.Client`.

    export_id = c.export_bundle([ds1, ds2])
    done = c.wait_bundle(export_id)
    c.download_bundle(export_id, "people.bgbundle")       # streamed to the file
    import_id = c.import_bundle("people.bgbundle")        # small in the body, large presigned
    c.wait_bundle(import_id)["status"]                    # "imported" | "failed"
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchgate_tools.api_session import ApiSession

BUNDLES = "/data/foundation/bundles"
# A bundle up to this size goes in the IMPORT request's body; a larger one through a presigned PUT
# (API Gateway carries at most ~6 MB, base64 of binary bodies included).
BODY_MAX = 4 * 1024 * 1024
ProgressFn = Callable[[dict[str, Any]], None]


class BundlesMixin(ApiSession):
    """Exports and imports of bundles, through the client's ``_request``."""

    def export_bundle(
        self, dataset_ids: list[str], *, include_data: bool = True, as_of_batch: str | None = None
    ) -> str:
        """Start an export of ``dataset_ids``; its id (follow it with :meth:`wait_bundle`)."""
        body: dict[str, Any] = {"datasetIds": dataset_ids, "includeData": include_data}
        if as_of_batch is not None:
            body["asOfBatch"] = as_of_batch
        return str(self._request("POST", BUNDLES, params={"action": "EXPORT"}, json=body).json()["id"])

    def import_bundle(self, path: str | os.PathLike[str], *, body_max: int = BODY_MAX) -> str:
        """Start an import of the file at ``path``; its id. A file above ``body_max`` bytes is put
        through a presigned upload (streamed from disk) rather than the request's body."""
        size = Path(path).stat().st_size
        if size <= body_max:
            data = Path(path).read_bytes()
            return str(self._request("POST", BUNDLES, params={"action": "IMPORT"}, data=data).json()["id"])
        plan = self._request("POST", BUNDLES, params={"action": "PRESIGN"}).json()
        with open(path, "rb") as f:
            put = self.s3_session.put(plan["url"], data=f, timeout=max(self.timeout, 600))
        if put.status_code >= 300:
            raise RuntimeError(f"the presigned upload answered {put.status_code}: {put.text[:300]}")
        body = {"uploadId": plan["uploadId"]}
        return str(self._request("POST", BUNDLES, params={"action": "IMPORT"}, json=body).json()["id"])

    def bundle(self, bundle_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"{BUNDLES}/{bundle_id}").json())

    def bundles(self, kind: str | None = None, limit: int = 50, start: int = 0) -> list[dict[str, Any]]:
        params = {"kind": kind, "limit": limit, "start": start}
        return list(self._request("GET", BUNDLES, params=params).json()["bundles"])

    def wait_bundle(
        self,
        bundle_id: str,
        timeout: float = 900.0,
        progress: ProgressFn | None = None,
        *,
        interval: float = 1.0,
    ) -> dict[str, Any]:
        """Poll until the export or import is no longer ``running`` and return it; TimeoutError
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.bundle(bundle_id)
            if progress:
                progress(current)
            if current["status"] != "running":
                return current
            if time.monotonic() >= deadline:
                raise TimeoutError(f"bundle {bundle_id} still running after {timeout:g}s")
            time.sleep(interval)

    def download_bundle(self, bundle_id: str, path: str | os.PathLike[str]) -> int:
        """Stream a ready export to ``path`` (through its presigned URL); the bytes written."""
        url = self.bundle(bundle_id).get("download")
        if not url:
            raise RuntimeError(f"bundle {bundle_id} has no download: it is not a ready export")
        written = 0
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        with self.s3_session.get(url, stream=True, timeout=max(self.timeout, 600)) as resp:
            if resp.status_code != 200:
                raise RuntimeError(f"the download answered {resp.status_code}: {resp.text[:300]}")
            with open(partial, "wb") as f:
                for block in resp.iter_content(chunk_size=8 << 20):
                    f.write(block)
                    written += len(block)
        partial.replace(target)  # a file at ``path`` is always a whole bundle
        return written
