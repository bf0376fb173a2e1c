"""The SDK's export-feed calls (``/data/foundation/export/feeds``), mixed into
:class:`batchgate_tools.client.Client`.

    feed = c.create_feed("people-out", ds, {"type": "s3", "uri": "s3://bucket/people/"})
    sync_id = c.sync_feed(feed["id"], full=True)
    done = c.wait_sync(feed["id"], sync_id, progress=lambda s: print(s["status"]))

Every non-2xx answer raises ``ClientError`` as the rest of the SDK does. A sync's ``items``
counters are filled in when it finalizes; while it runs, :meth:`FeedsMixin.sync_items` says how
far it got.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from batchgate_tools.api_session import ApiSession

FEEDS = "/data/foundation/export/feeds"
SyncProgressFn = Callable[[dict[str, Any]], None]


class FeedsMixin(ApiSession):
    """Feeds, their syncs and items, through the client's ``_request``."""

    # -- feeds ----------------------------------------------------------------------------
    def create_feed(
        self,
        name: str,
        dataset_id: str,
        destination: dict[str, Any],
        columns: list[str] | None = None,
    ) -> dict[str, Any]:
        """The feed as created (``id``, ``state``, …). ``destination`` is
        ``{"type": "s3", "uri", "format"?}`` or ``{"type": "webhook", "url", "batchSize"?,
        "headers"?, "concurrency"?}``."""
        body: dict[str, Any] = {"name": name, "datasetId": dataset_id, "destination": destination}
        if columns is not None:
            body["columns"] = columns
        return dict(self._request("POST", FEEDS, json=body).json())

    def feeds(self, dataset_id: str | None = None, page: int = 100) -> list[dict[str, Any]]:
        """Every feed of the sandbox (or of one dataset), newest first, with its state."""
        found: list[dict[str, Any]] = []
        while True:
            params = {"datasetId": dataset_id, "limit": page, "start": len(found)}
            listed = self._request("GET", FEEDS, params=params).json()["feeds"]
            found.extend(listed)
            if len(listed) < page:
                return found

    def feed(self, feed_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"{FEEDS}/{feed_id}").json())

    def find_feed(self, ref: str) -> dict[str, Any]:
        """A feed by id, else by name (a name two feeds share is refused: use the id)."""
        from batchgate_tools.client import ClientError

        try:
            return self.feed(ref)
        except ClientError as exc:
            if exc.status != 404:
                raise
            missing = exc
        named = [f for f in self.feeds() if f.get("name") == ref]
        if len(named) == 1:
            return named[0]
        if named:
            ids = ", ".join(f["id"] for f in named)
            raise ValueError(f"{len(named)} feeds are named {ref!r} ({ids}): give the id")
        raise missing

    def delete_feed(self, feed_id: str) -> None:
        self._request("DELETE", f"{FEEDS}/{feed_id}")

    # -- syncs ----------------------------------------------------------------------------
    def sync_feed(self, feed_id: str, full: bool = False) -> str:
        """Start a SYNC (changes since the watermark) or a FULL_SYNC; the new sync's id.
        409 ``BG-409-SYNC-RUNNING`` while a sync of the feed runs."""
        return self._feed_action(feed_id, "FULL_SYNC" if full else "SYNC")

    def retry_feed(self, feed_id: str) -> str:
        """Send only the items the feed owes (RETRY_FAILED); the new sync's id.
        409 ``BG-409-NOTHING-TO-RETRY`` when it owes none."""
        return self._feed_action(feed_id, "RETRY_FAILED")

    def _feed_action(self, feed_id: str, action: str) -> str:
        resp = self._request("POST", f"{FEEDS}/{feed_id}", params={"action": action})
        return str(resp.json()["syncId"])

    def syncs(self, feed_id: str, limit: int = 50, start: int = 0) -> list[dict[str, Any]]:
        """The feed's syncs, newest first."""
        params = {"limit": limit, "start": start}
        return list(self._request("GET", f"{FEEDS}/{feed_id}/syncs", params=params).json()["syncs"])

    def sync(self, feed_id: str, sync_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"{FEEDS}/{feed_id}/syncs/{sync_id}").json())

    def sync_items(self, feed_id: str, sync_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """The sync's items (``status``: pending | sent | failed), each with a presigned link to
        its payload."""
        path = f"{FEEDS}/{feed_id}/syncs/{sync_id}/items"
        return list(self._request("GET", path, params={"status": status}).json()["items"])

    def estimate_feed(self, feed_id: str, mode: str = "incremental") -> dict[str, Any]:
        """``{"rows", "bytes", "seconds", …}`` a sync in ``mode`` (full | incremental) would take."""
        return dict(self._request("GET", f"{FEEDS}/{feed_id}/estimate", params={"mode": mode}).json())

    def wait_sync(
        self,
        feed_id: str,
        sync_id: str,
        timeout: float = 600.0,
        progress: SyncProgressFn | None = None,
        *,
        interval: float = 1.0,
    ) -> dict[str, Any]:
        """Poll until the sync is no longer ``running`` and return it, calling
        ``progress(sync)`` on each poll; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.sync(feed_id, sync_id)
            if progress:
                progress(current)
            if current["status"] != "running":
                return current
            if time.monotonic() >= deadline:
                raise TimeoutError(f"sync {sync_id} of feed {feed_id} still running after {timeout:g}s")
            time.sleep(interval)
