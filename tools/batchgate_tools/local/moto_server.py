"""The embedded AWS of the local stack: moto's server, in-process and threaded.

Built from moto's own pieces (``DomainDispatcherApplication(create_backend_app)`` served by
werkzeug's threaded server, exactly as ``moto.server.ThreadedMotoServer`` does) rather than
``ThreadedMotoServer`` itself, because the local stack needs to wrap moto's WSGI app in a
middleware (``batchgate_tools.local.persistence.Mirror``) and to bind port 0.

moto keeps its state in module-level globals, so there is one AWS per *process*: two
``EmbeddedAws`` running at once in one process serve the same state, and ``MOTO_PORT`` (which
moto's Step Functions interpreter reads to call back into the server) can only name one of them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Protocol

from werkzeug.serving import BaseWSGIServer, make_server

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566


class WSGIApp(Protocol):
    """A PEP 3333 application."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]: ...


class Wrapper(Protocol):
    """A middleware object that binds to the app it wraps (e.g. ``persistence.Mirror``)."""

    def wrap(self, app: WSGIApp) -> WSGIApp: ...


#: ``app -> app``, or an object with ``wrap(app) -> app``.
Middleware = Callable[[WSGIApp], WSGIApp] | Wrapper


def _quiet_handler() -> type:
    # Imported lazily: importing moto's server pulls in flask and every backend index.
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietMotoRequestHandler(MotoRequestHandler):
        """moto's handler (keeps S3 metadata header spelling) logging each request at DEBUG.

        werkzeug logs every request at INFO on the "werkzeug" logger; the local stack issues
        thousands (pollers, Step Functions callbacks), which would drown the user's console.
        """

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug('%s "%s" %s %s', self.address_string(), self.requestline, code, size)

    return QuietMotoRequestHandler


class EmbeddedAws:
    """moto's server running on a background thread of this process.

    Contract:
    - ``start()`` binds ``host:port`` (``port=0`` picks a free port, readable as ``.port``),
      serves requests on a daemon thread (one thread per request), sets ``MOTO_PORT`` to the
      bound port, resets moto's in-process state when ``fresh`` (the default: a freshly started
      server is empty, as a new ``moto_server`` process would be), and enables Step Functions
      execution when ``execute_state_machines``. It returns once the server answers.
    - ``stop()`` stops accepting, waits for the serving thread and closes the socket. Requests
      still in flight on their own threads are not awaited (they are daemon threads).
    - ``middleware``, if given, turns moto's WSGI app into the app to serve: either a callable
      ``app -> app`` or an object with ``wrap(app) -> app`` (a ``Mirror`` can be passed as is).
    - Usable as a context manager (``start`` on enter, ``stop`` on exit).
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        middleware: Middleware | None = None,
        execute_state_machines: bool = True,
        fresh: bool = True,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._middleware = middleware
        self._execute_state_machines = execute_state_machines
        self._fresh = fresh
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.moto_app: WSGIApp | None = None
        self.app: WSGIApp | None = None

    # -- addresses -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the requested one until ``start()``)."""
        if self._server is not None:
            return int(self._server.server_port)
        return self._requested_port

    @property
    def endpoint(self) -> str:
        """``http://host:port`` for boto3's ``endpoint_url``; a wildcard bind is reached on loopback."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind, serve on a background thread, then configure moto (see the class contract)."""
        if self._server is not None:
            raise RuntimeError("EmbeddedAws is already started")
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        moto_app: WSGIApp = DomainDispatcherApplication(create_backend_app)
        self.moto_app = moto_app
        self.app = self._wrap(moto_app)
        # make_server binds in its constructor, so a bind error surfaces here, in the caller's
        # thread, and port 0 is resolved before anything reads MOTO_PORT.
        self._server = make_server(
            self.host, self._requested_port, self.app, threaded=True, request_handler=_quiet_handler()
        )
        # moto's Step Functions interpreter calls back into "localhost:$MOTO_PORT" for its
        # DynamoDB / SQS / aws-sdk tasks; without it they go to port 5000.
        os.environ["MOTO_PORT"] = str(self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # shutdown() waits up to one poll interval
            name=f"embedded-aws:{self.port}",
            daemon=True,
        )
        self._thread.start()
        try:
            if self._fresh:
                self.reset()
            elif self._execute_state_machines:
                self._enable_state_machines()
        except BaseException:
            self.stop()
            raise
        logger.info("embedded AWS listening on %s", self.endpoint)

    def _wrap(self, app: WSGIApp) -> WSGIApp:
        middleware = self._middleware
        if middleware is None:
            return app
        wrap = getattr(middleware, "wrap", None)
        if callable(wrap):
            wrapped: WSGIApp = wrap(app)
            return wrapped
        assert callable(middleware)
        result: WSGIApp = middleware(app)
        return result

    def stop(self) -> None:
        """Stop serving, join the serving thread and release the port. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        if self._execute_state_machines:
            # moto's config is process-wide: leave the process as we found it for later servers.
            self._set_state_machine_execution(False)
        server.shutdown()
        if thread is not None:
            thread.join()
        server.server_close()
        self._server = None
        self._thread = None

    def reset(self) -> None:
        """Empty every moto backend (``/moto-api/reset``), then re-apply our moto config.

        Does not touch a ``Mirror``'s data directory: resetting the stand-in is not deleting the
        user's data (see ``Mirror.clear``).
        """
        self._post("/moto-api/reset", b"")
        if self._execute_state_machines:
            self._enable_state_machines()

    def _enable_state_machines(self) -> None:
        self._set_state_machine_execution(True)

    def _set_state_machine_execution(self, on: bool) -> None:
        body = json.dumps({"stepfunctions": {"execute_state_machine": on}}).encode()
        self._post("/moto-api/config", body)

    def _post(self, path: str, body: bytes) -> None:
        if self._server is None:
            raise RuntimeError("EmbeddedAws is not started")
        request = urllib.request.Request(
            self.endpoint + path, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        # Loopback, no proxy: a developer's HTTP(S)_PROXY must not capture the embedded AWS.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            response.read()

    def __enter__(self) -> EmbeddedAws:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
