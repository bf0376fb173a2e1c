"""What the SDK's resource mixins (:mod:`.feeds_client`, :mod:`.bundles_client`) use of the
:class:`~batchgate_tools.client.Client` they are mixed into; they subclass :class:`ApiSession`, so
mypy checks both their calls and that the client provides it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import requests


class ApiSession(Protocol):
    # Presigned URLs carry their own signature: a session without the API's credentials.
    s3_session: requests.Session
    timeout: float

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
        """One call of the API; a non-2xx answer raises ``ClientError``."""
        ...
