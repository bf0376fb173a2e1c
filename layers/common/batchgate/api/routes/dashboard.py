"""The dashboard's page and files at ``/ui``: public (no caller; its data comes through the
API with the user's key) and not part of the OpenAPI document (it is not an API).

Answered before the resolver, not as a powertools route: the files need nothing of it (no
caller, no validation, no shared state), so they are not held behind the lock that serialises
API calls in one process (``app.resolve``): locally a page's files would otherwise wait for
the previous page's slow API calls. powertools' path parameters also match one segment each,
and a view's URL has several."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchgate.dashboard.assets import PREFIX, serve


def is_dashboard(event: Mapping[str, Any]) -> bool:
    path = str(event.get("path") or "")
    method = str(event.get("httpMethod") or "")
    return method in ("GET", "HEAD") and (path == PREFIX or path.startswith(PREFIX + "/"))


def answer(event: Mapping[str, Any]) -> dict[str, Any]:
    """The REST proxy answer to a ``GET /ui…`` event."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
    a = serve(str(event["path"]), headers.get("if-none-match"))
    return {
        "statusCode": a.status,
        "multiValueHeaders": {"Content-Type": [a.content_type], **{k: [v] for k, v in a.headers.items()}},
        # Every file is UTF-8 text (HTML, JS, CSS, SVG): no base64 needed.
        "body": "" if event.get("httpMethod") == "HEAD" else a.body.decode("utf-8"),
        "isBase64Encoded": False,
    }
