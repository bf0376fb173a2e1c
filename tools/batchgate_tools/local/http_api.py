"""API Gateway, locally: HTTP in, a REST-proxy (v1) event through the same authorizer code and
the same API function, HTTP out. It enforces API Gateway's 10 MB request limit the same way."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from batchgate.api.auth import authorize, authorizer_context
from batchgate.aws.store import Store
from batchgate.core.errors import BatchgateError
from batchgate.settings import API_GATEWAY_MAX_BODY
from batchgate_tools.local.functions import Invoker

logger = logging.getLogger(__name__)

# Served without credentials, as template.yaml's events with `Auth: {Authorizer: NONE}` are in
# AWS (tests/unit/test_local_public_paths.py keeps the two equal): the API description, the
# liveness check, and the dashboard's page and files (its data needs the user's key).
PUBLIC_PATHS = ("/openapi.json", "/swagger", "/health", "/ui")


def is_public(path: str) -> bool:
    """``path`` is one of PUBLIC_PATHS or under one (``/ui/batches/…``), not merely sharing a
    prefix (``/uix``)."""
    return any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS)


DRAIN_LIMIT = 64 * 1024 * 1024
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/problem+json")


# RFC 3986 path characters, kept as they are ('%' too: the client's own escapes stay).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def as_sent(path: str) -> str:
    """The path as API Gateway's REST ``path`` carries it: percent-encoded. Python's HTTP server
    reads the request line as Latin-1, so raw UTF-8 bytes a client sent (curl does) arrive as
    mojibake; they are turned back into their bytes and percent-encoded."""
    return quote(path.encode("latin-1", errors="replace"), safe=_PATH_SAFE)


def _is_utf8(body: bytes) -> bool:
    """A body that is not UTF-8 travels base64-encoded, as API Gateway sends binary media types."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _gateway_error(
    status: int, code: str, message: str, request_id: str
) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "requestId": request_id}}).encode()
    return status, {"Content-Type": "application/json"}, body


class LocalGateway:
    def __init__(self, functions: Invoker, store: Store, api_function: str = "ApiFunction") -> None:
        self.functions = functions
        self.store = store
        self.api_function = api_function
        self.stage = functions.resolver.parameters.get("Stage", "prod")

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        request_id = str(uuid.uuid4())
        split = urlsplit(raw_path)
        path = as_sent(split.path or "/")
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        multi_query: dict[str, list[str]] = {}
        for k, v in parse_qsl(split.query, keep_blank_values=True):
            multi_query.setdefault(k, []).append(v)
        authorizer: dict[str, Any] = {}
        if not is_public(path):
            try:
                authorizer = authorizer_context(authorize(headers, self.store))
            except BatchgateError as exc:
                # API Gateway answers 401/403 itself when the authorizer refuses.
                return _gateway_error(exc.status, exc.code, exc.message, request_id)
        content_type = headers.get("content-type", headers.get("Content-Type", ""))
        is_text = (any(content_type.startswith(t) for t in TEXT_TYPES) and _is_utf8(body)) or not body
        event = {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "stage": self.stage,
                "requestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
                "authorizer": authorizer,
            },
            "body": body.decode("utf-8") if is_text else base64.b64encode(body).decode(),
            "isBase64Encoded": not is_text,
        }
        result = self.functions.invoke(self.api_function, event)
        out_body = result.get("body") or ""
        raw = base64.b64decode(out_body) if result.get("isBase64Encoded") else out_body.encode("utf-8")
        out_headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for k, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[k] = ", ".join(str(v) for v in values)
        return int(result.get("statusCode", 200)), out_headers, raw


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: 100 clients connecting at once (the load benchmark)
    # had 44 connections reset. API Gateway itself accepts whatever arrives.
    request_queue_size = 256


def serve(gateway: LocalGateway, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _run(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            headers = {k: v for k, v in self.headers.items()}
            if length > API_GATEWAY_MAX_BODY:
                status, out_headers, body = _gateway_error(
                    413,
                    "BG-413-TOO-LARGE",
                    f"request body of {length} bytes exceeds API Gateway's {API_GATEWAY_MAX_BODY} byte limit; "
                    "use the presigned upload (?action=PRESIGN) for large files",
                    str(uuid.uuid4()),
                )
                self._drain(length)
                self.close_connection = True
            else:
                data = self.rfile.read(length) if length else b""
                try:
                    status, out_headers, body = gateway.handle(self.command, self.path, headers, data)
                except Exception as exc:
                    logger.exception("local gateway failure")
                    status, out_headers, body = _gateway_error(
                        502, "BG-502-BAD-GATEWAY", f"the API function failed: {type(exc).__name__}", "local"
                    )
            self.send_response(status)
            for k, v in out_headers.items():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _drain(self, length: int) -> None:
            """Read (and drop) a refused body so the client can read the 413 instead of seeing a
            reset connection; past DRAIN_LIMIT the connection is simply closed."""
            remaining = min(length, DRAIN_LIMIT)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _run

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("http", extra={"line": format % args})

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="local-api", daemon=True).start()
    return server
