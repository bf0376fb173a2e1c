"""One exception hierarchy with stable codes, mapped to HTTP status and to batch ``errors[]``.

``Terminal`` errors are bad input: fail the row, the file or the request, never retry.
``Transient`` errors (throttling, timeouts, commit conflicts) are retried with backoff; the
class name is the Step Functions error name, so ASL ``Retry``/``Catch`` can match on it.
"""

from __future__ import annotations


class BatchgateError(Exception):
    code = "BG-500-INTERNAL"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class Terminal(BatchgateError):
    code = "BG-400-TERMINAL"
    status = 400


class Transient(BatchgateError):
    code = "BG-503-TRANSIENT"
    status = 503


class InvalidRequest(Terminal):
    code = "BG-400-INVALID"
    status = 400


class Unauthorized(Terminal):
    code = "BG-401-UNAUTHORIZED"
    status = 401


class Forbidden(Terminal):
    code = "BG-403-FORBIDDEN"
    status = 403


class NotFound(Terminal):
    code = "BG-404-NOT-FOUND"
    status = 404


class Conflict(Terminal):
    code = "BG-409-CONFLICT"
    status = 409


class IllegalTransition(Conflict):
    code = "BG-409-ILLEGAL-TRANSITION"


class PayloadTooLarge(Terminal):
    code = "BG-413-TOO-LARGE"
    status = 413


class CommitConflict(Transient):
    code = "BG-503-COMMIT-CONFLICT"
