"""Lambda functions of template.yaml, loaded and invoked in-process (what `sam local invoke` does
in a container): same handler file, same environment, a Lambda-shaped context object."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

from batchgate_tools.template import Resolver

_load_lock = threading.Lock()
# Set per function in template.yaml (each function's logs and metrics carry its own service name).
PER_FUNCTION = frozenset({"POWERTOOLS_SERVICE_NAME"})


class Invoker(Protocol):
    """What invokes a function by logical id: in this process (``LocalFunctions``, for `batchgate
    invoke` and the tests) or in worker processes (``workers.FunctionWorkers``, `batchgate up`)."""

    resolver: Resolver

    def invoke(self, logical: str, event: dict[str, Any]) -> Any: ...


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that powertools and handlers read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: int = 60
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


class LocalFunctions:
    """Handlers by logical id, loaded once from the paths template.yaml gives."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._modules: dict[str, ModuleType] = {}

    def names(self) -> list[str]:
        return sorted(self.resolver.resources_of("AWS::Serverless::Function"))

    def environment(self) -> dict[str, str]:
        """The union of every function's environment; a name with two values is a template bug,
        except the per-function names of :data:`PER_FUNCTION`, which keep the template's global
        value. It is the environment of whatever runs every function in one process (the stack's
        own process, `batchgate invoke`); `batchgate up`'s workers get each function's own."""
        env: dict[str, str] = {}
        shared = self.resolver.global_environment()
        for name in self.names():
            for key, value in self.resolver.function_environment(name).items():
                if key in PER_FUNCTION:
                    value = shared.get(key, "batchgate")
                if key in env and env[key] != value:
                    raise RuntimeError(f"{key} differs between functions ({env[key]!r} vs {value!r})")
                env[key] = value
        return env

    def _module(self, logical: str) -> ModuleType:
        with _load_lock:
            if logical not in self._modules:
                path, _ = self.resolver.function_handler(logical)
                spec = importlib.util.spec_from_file_location(f"batchgate_fn_{logical}", path)
                if spec is None or spec.loader is None:
                    raise RuntimeError(f"cannot load {path} for {logical}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                self._modules[logical] = module
            return self._modules[logical]

    def context(self, logical: str) -> LocalContext:
        """A fresh context object for one invocation, with the template's memory and timeout."""
        props = self.resolver.resource(logical)["Properties"]
        glob = (self.resolver.t.get("Globals") or {}).get("Function") or {}
        return LocalContext(
            function_name=self.resolver.physical_name(logical),
            # A number, or a parameter's value (the validators' ValidatorMemorySize).
            memory_limit_in_mb=int(
                self.resolver.resolve(props.get("MemorySize", glob.get("MemorySize", 128)))
            ),
            timeout_seconds=int(props.get("Timeout", glob.get("Timeout", 3))),
            invoked_function_arn=self.resolver.get_att(logical, "Arn"),
        )

    def invoke(self, logical: str, event: dict[str, Any]) -> Any:
        _, func_name = self.resolver.function_handler(logical)
        ctx = self.context(logical)
        handler = getattr(self._module(logical), func_name)
        return handler(event, ctx)


def apply_environment(env: dict[str, str]) -> None:
    for key, value in env.items():
        os.environ[key] = value
