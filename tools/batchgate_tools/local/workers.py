"""The local stack's Lambda functions, each in worker processes of its own, as Lambda runs them.

A worker is one function's sandbox: it takes that function's environment from template.yaml (not
the union of every function's: a variable a function lacks in AWS is missing here too), loads its
handler once, and serves one invocation at a time over a pipe. ``FunctionWorkers.invoke`` hands an
event to an idle worker of the function, or starts another up to ``max_per_function`` (Lambda's
concurrency); a worker that runs past the function's ``Timeout`` is killed and the invocation
fails, as Lambda would; a worker that dies (a crash, ``os._exit``) fails its invocation and is
replaced on the next one.

Workers are forked from a forkserver that has imported the heavy libraries once (pyarrow,
pyiceberg, boto3, powertools), so a new sandbox costs a fork and the handler's own imports, and
the libraries' pages are shared between workers. A worker ends with its parent.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchgate_tools.local.functions import LocalContext, LocalFunctions
from batchgate_tools.template import Resolver

logger = logging.getLogger(__name__)

# Imported once by the forkserver, shared by every worker forked from it.
PRELOAD = [
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.csv",
    "pyarrow.fs",
    "pyarrow.json",
    "pyarrow.parquet",
    "boto3",
    "botocore.session",
    "pydantic",
    "sqlalchemy",
    "pyiceberg.catalog.sql",
    "pyiceberg.table",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.event_handler",
]
# Installed here (benchmarks, tests) but not in the functions' layer. pyarrow imports pandas on the
# first ``pa.array`` of Python objects when it can (0.3 CPU-s, measured: paid by a new worker's
# first file); hidden from workers, as Lambda's runtime lacks it, so a worker neither pays that
# nor can come to depend on it.
NOT_IN_LAYER = ("pandas",)
# A worker is killed this long after its function's Timeout (the parent's wait, not the handler's).
TIMEOUT_GRACE_SECONDS = 2.0


class FunctionFailed(RuntimeError):
    """The handler raised, timed out or its sandbox died; the message says which."""


class _NotInLayer(importlib.abc.MetaPathFinder):
    """Fails the import of :data:`NOT_IN_LAYER` packages as if they were not installed. (A
    ``None`` in ``sys.modules`` is not enough: Cython's import returns it as the module.)"""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] in NOT_IN_LAYER:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (not in the functions' layer)", name=fullname
            )
        return None


@dataclass(frozen=True)
class FunctionSpec:
    """What a worker needs to become one function's sandbox (pickled to the worker)."""

    logical: str
    path: str
    handler: str
    environment: dict[str, str]
    context: dict[str, Any]


def _serve(spec: FunctionSpec, conn: multiprocessing.connection.Connection) -> None:
    """The worker's main loop (runs in the forked process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the stack's to handle
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    os.environ.clear()
    os.environ.update(spec.environment)
    sys.meta_path.insert(0, _NotInLayer())
    try:
        module_spec = importlib.util.spec_from_file_location(f"batchgate_fn_{spec.logical}", spec.path)
        if module_spec is None or module_spec.loader is None:
            raise RuntimeError(f"cannot load {spec.path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        handler = getattr(module, spec.handler)
    except BaseException as exc:
        conn.send(("init-error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return
    conn.send(("ready",))
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = handler(event, LocalContext(**spec.context))
        except BaseException as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        else:
            conn.send(("ok", result))


class Worker:
    """The parent's end of one sandbox."""

    def __init__(self, ctx: Any, spec: FunctionSpec) -> None:
        self.spec = spec
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(spec, child), name=f"fn-{spec.logical}", daemon=True)
        self.process.start()
        child.close()
        self._ready = False

    def _receive(self, timeout: float | None, what: str) -> tuple[Any, ...]:
        if not self.conn.poll(timeout):
            self.kill()
            raise FunctionFailed(f"{self.spec.logical}: {what} timed out after {timeout:.0f} s")
        try:
            reply: tuple[Any, ...] = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(timeout=5)
            raise FunctionFailed(
                f"{self.spec.logical}: its process exited with {self.process.exitcode} during {what}"
            ) from None
        return reply

    def call(self, event: Any, timeout: float) -> Any:
        if not self._ready:
            reply = self._receive(120.0, "init")
            if reply[0] != "ready":
                logger.error("%s failed to start:\n%s", self.spec.logical, reply[2])
                raise FunctionFailed(f"{self.spec.logical}: init failed: {reply[1]}")
            self._ready = True
        try:
            self.conn.send(event)
        except (BrokenPipeError, OSError):
            raise FunctionFailed(
                f"{self.spec.logical}: its process exited with {self.process.exitcode}"
            ) from None
        reply = self._receive(timeout + TIMEOUT_GRACE_SECONDS, "the invocation")
        if reply[0] == "ok":
            return reply[1]
        logger.debug("%s raised:\n%s", self.spec.logical, reply[2])
        raise FunctionFailed(f"{self.spec.logical}: {reply[1]}")

    @property
    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class FunctionWorkers:
    """``invoke(logical, event)`` in worker processes; the same interface as ``LocalFunctions``."""

    def __init__(
        self, specs: Mapping[str, FunctionSpec], resolver: Resolver, *, max_per_function: int = 4
    ) -> None:
        self.resolver = resolver
        self.max_per_function = max_per_function
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._specs = dict(specs)
        self._idle: dict[str, list[Worker]] = {name: [] for name in self._specs}
        self._count = dict.fromkeys(self._specs, 0)
        self._all: list[Worker] = []
        self._cond = threading.Condition()
        self._closed = False

    @classmethod
    def from_template(
        cls, functions: LocalFunctions, local_environment: dict[str, str], **kwargs: Any
    ) -> FunctionWorkers:
        """Every function of template.yaml: its template environment over the ambient one, the
        stack's local settings over both; another function's variables are left out."""
        templated = set(functions.environment())
        ambient = {k: v for k, v in os.environ.items() if k not in templated}
        specs = {}
        for logical in functions.names():
            path, handler = functions.resolver.function_handler(logical)
            context = functions.context(logical)
            specs[logical] = FunctionSpec(
                logical=logical,
                path=str(path),
                handler=handler,
                environment=ambient | functions.resolver.function_environment(logical) | local_environment,
                context={
                    "function_name": context.function_name,
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "timeout_seconds": context.timeout_seconds,
                    "invoked_function_arn": context.invoked_function_arn,
                },
            )
        return cls(specs, functions.resolver, **kwargs)

    def names(self) -> list[str]:
        return list(self._specs)

    def warm(self) -> None:
        """Start one worker per function (they load their handlers while the stack starts)."""
        for name in self._specs:
            with self._cond:
                if self._count[name] == 0:
                    self._idle[name].append(self._start(name))

    def _start(self, logical: str) -> Worker:
        worker = Worker(self._ctx, self._specs[logical])
        self._count[logical] += 1
        self._all.append(worker)
        return worker

    def _acquire(self, logical: str) -> Worker:
        if logical not in self._specs:
            raise FunctionFailed(f"no function {logical!r} in template.yaml")
        with self._cond:
            while True:
                if self._closed:
                    raise FunctionFailed("the local stack is stopping")
                if self._idle[logical]:
                    return self._idle[logical].pop()
                if self._count[logical] < self.max_per_function:
                    return self._start(logical)
                self._cond.wait()

    def _release(self, worker: Worker) -> None:
        with self._cond:
            if worker.alive and not self._closed:
                self._idle[worker.spec.logical].append(worker)
            else:
                self._count[worker.spec.logical] -= 1
                self._all.remove(worker)
            self._cond.notify_all()

    def invoke(self, logical: str, event: Any) -> Any:
        worker = self._acquire(logical)
        try:
            return worker.call(event, float(worker.spec.context["timeout_seconds"]))
        finally:
            self._release(worker)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._cond.notify_all()
        for worker in workers:
            worker.kill()
