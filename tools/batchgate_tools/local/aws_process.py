"""The local stack's AWS in a process of its own: moto's server, its write-through Mirror, and
the ranged-read patches, as ``python -m batchgate_tools.local.aws_process``.

Why a process: moto answers every S3, DynamoDB, SQS and Step Functions request in Python; in the
stack's own process it shared one interpreter lock with the functions, so a validator parsing a
file and moto serving that file's bytes took turns (issue 18). Here they run side by side.

The child:
- binds ``--host:--port`` (0 picks one), applies :mod:`moto_patches`, serves moto wrapped in a
  ``Mirror`` of ``--data-dir`` and in :class:`Control`, then writes ``{"endpoint", "port",
  "pid"}`` to ``--ready-file``;
- answers ``POST /_batchgate/restore`` by loading the data directory back into itself (the
  stack asks once its tables and buckets exist, before notifications are configured);
- ends on SIGTERM, and on its own within 0.2 s once its parent is gone (a ``kill -9`` of
  ``batchgate up`` must not leave a server holding the port and the data directory).

The parent (:class:`AwsProcess`) passes the data directory's lock file to the child, so the lock
is held until both are gone: a restarted stack cannot mirror into files the old server still
writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from batchgate_tools.local.persistence import RestoreResult

RESTORE_PATH = "/_batchgate/restore"
# moto's imports (flask and every backend's index) take a few seconds on a loaded machine.
START_TIMEOUT = 120.0


class Control:
    """WSGI middleware: the stack's control route in front of the Mirror (and moto)."""

    def __init__(self, mirror: Any) -> None:
        self.mirror = mirror
        self.app: Callable[..., Iterable[bytes]] | None = None
        self.endpoint = ""

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Control:
        self.app = self.mirror.wrap(app)
        return self

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        assert self.app is not None
        if environ.get("PATH_INFO") == RESTORE_PATH and environ.get("REQUEST_METHOD") == "POST":
            result = self.mirror.restore(self.endpoint, region="us-east-1")
            body = json.dumps(dataclasses.asdict(result)).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return self.app(environ, start_response)


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgate_tools.local.aws_process")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--tables", default="{}", help="JSON: table name -> [hash key, range key or null]")
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--parent", type=int, required=True, help="the pid whose end ends this server")
    args = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group; the parent stops the functions, then this server.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(args.parent)

    from batchgate_tools.local import moto_patches
    from batchgate_tools.local.moto_server import EmbeddedAws
    from batchgate_tools.local.persistence import Mirror

    moto_patches.apply()
    tables = {name: (keys[0], keys[1]) for name, keys in json.loads(args.tables).items()}
    control = Control(Mirror(args.data_dir, tables))
    aws = EmbeddedAws(host=args.host, port=args.port, middleware=control)
    aws.start()
    control.endpoint = aws.endpoint
    # The first task state would otherwise pay for botocore's models (~0.3 CPU-s) mid-batch.
    threading.Thread(target=moto_patches.warm_clients, args=("us-east-1",), daemon=True).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    tmp = args.ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"endpoint": aws.endpoint, "port": aws.port, "pid": os.getpid()}))
    tmp.replace(args.ready_file)
    done.wait()
    aws.stop()


class AwsProcessError(RuntimeError):
    """The AWS process did not come up; the message carries what it printed."""


class AwsProcess:
    """The parent's handle: start, where it listens, restore, stop."""

    def __init__(
        self,
        host: str,
        port: int,
        data_dir: Path,
        tables: dict[str, tuple[str, str | None]],
        *,
        keep_fds: Sequence[int] = (),
    ) -> None:
        self.host, self._requested_port, self.data_dir = host, port, data_dir
        self.tables = tables
        self.keep_fds = tuple(keep_fds)
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.port = port

    def start(self, timeout: float = START_TIMEOUT) -> None:
        ready = self.data_dir / ".aws-ready.json"
        ready.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "batchgate_tools.local.aws_process",
            f"--host={self.host}",
            f"--port={self._requested_port}",
            f"--data-dir={self.data_dir}",
            f"--tables={json.dumps(self.tables)}",
            f"--ready-file={ready}",
            f"--parent={os.getpid()}",
        ]
        self.proc = subprocess.Popen(command, pass_fds=self.keep_fds, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            code = self.proc.poll()
            if code is not None:
                raise AwsProcessError(
                    f"the local AWS server exited with {code} before it was ready (see above)"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AwsProcessError(f"the local AWS server was not ready after {timeout:.0f} s")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        ready.unlink(missing_ok=True)
        self.endpoint, self.port = info["endpoint"], int(info["port"])

    def restore(self) -> RestoreResult:
        """Load the data directory back into the server (see ``Mirror.restore``)."""
        import urllib.request

        request = urllib.request.Request(self.endpoint + RESTORE_PATH, data=b"", method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=600) as response:
            return RestoreResult(**json.loads(response.read()))

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
