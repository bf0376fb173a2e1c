"""The local stack's function workers: a sandbox per function, its own environment, failures
that fail only the invocation, timeouts that kill, and replacement of a dead sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchgate_tools.local.functions import LocalFunctions
from batchgate_tools.local.workers import FunctionFailed, FunctionSpec, FunctionWorkers
from batchgate_tools.template import LocalNames, Resolver, load_template

HANDLER = """
import os, time

def handler(event, context):
    action = event.get("action")
    if action == "env":
        return {"pid": os.getpid(), "value": os.environ.get(event["name"]), "fn": context.function_name}
    if action == "raise":
        raise ValueError("bad input: " + event.get("why", ""))
    if action == "die":
        os._exit(3)
    if action == "imports":
        import sys
        import pyarrow as pa
        pa.array(["x"])  # pyarrow tries pandas here when it can
        try:
            import pandas  # noqa: F401
        except ImportError as exc:
            return {"pandas": str(exc), "loaded": "pandas" in sys.modules and sys.modules["pandas"] is not None}
        return {"pandas": "imported"}
    if action == "sleep":
        time.sleep(event["seconds"])
        return {"slept": event["seconds"]}
    return {"echo": event}
"""


def _spec(path: Path, name: str, env: dict[str, str], timeout: int = 30) -> FunctionSpec:
    return FunctionSpec(
        logical=name,
        path=str(path),
        handler="handler",
        environment=env,
        context={"function_name": f"local-{name}", "timeout_seconds": timeout},
    )


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[FunctionWorkers]:
    path = tmp_path / "fn.py"
    path.write_text(HANDLER)
    resolver = Resolver(load_template(), LocalNames())
    specs = {
        "One": _spec(path, "One", {"ONLY_ONE": "1", "PATH": os.environ["PATH"]}),
        "Two": _spec(path, "Two", {"PATH": os.environ["PATH"]}, timeout=1),
    }
    pool = FunctionWorkers(specs, resolver, max_per_function=2)
    yield pool
    pool.close()


def test_each_function_sees_its_own_environment_in_its_own_process(workers: FunctionWorkers) -> None:
    one = workers.invoke("One", {"action": "env", "name": "ONLY_ONE"})
    two = workers.invoke("Two", {"action": "env", "name": "ONLY_ONE"})
    assert one["value"] == "1" and two["value"] is None
    assert one["fn"] == "local-One" and two["fn"] == "local-Two"
    assert len({one["pid"], two["pid"], os.getpid()}) == 3
    # the idle sandbox is reused, as Lambda reuses a warm one
    assert workers.invoke("One", {"action": "env", "name": "X"})["pid"] == one["pid"]


def test_a_sandbox_lacks_what_the_layer_lacks(workers: FunctionWorkers) -> None:
    # pandas is in the benchmarks' environment, not in the functions' layer: whether it is
    # installed here or not, a sandbox's import fails, and says why.
    got = workers.invoke("One", {"action": "imports"})
    assert "not in the functions' layer" in got["pandas"]
    assert got["loaded"] is False


def test_a_raising_handler_fails_the_invocation_not_the_sandbox(workers: FunctionWorkers) -> None:
    first = workers.invoke("One", {"action": "env", "name": "X"})["pid"]
    with pytest.raises(FunctionFailed, match="ValueError: bad input: no id"):
        workers.invoke("One", {"action": "raise", "why": "no id"})
    assert workers.invoke("One", {"action": "env", "name": "X"})["pid"] == first


def test_a_dead_sandbox_fails_its_invocation_and_is_replaced(workers: FunctionWorkers) -> None:
    first = workers.invoke("One", {"action": "env", "name": "X"})["pid"]
    with pytest.raises(FunctionFailed, match="exited with 3"):
        workers.invoke("One", {"action": "die"})
    again = workers.invoke("One", {"action": "env", "name": "X"})["pid"]
    assert again != first


def test_an_invocation_past_the_timeout_is_killed(workers: FunctionWorkers) -> None:
    with pytest.raises(FunctionFailed, match="timed out"):
        workers.invoke("Two", {"action": "sleep", "seconds": 30})
    assert workers.invoke("Two", {"action": "sleep", "seconds": 0})["slept"] == 0


def test_an_unknown_function_and_a_broken_handler_say_so(workers: FunctionWorkers, tmp_path: Path) -> None:
    with pytest.raises(FunctionFailed, match="no function 'Three'"):
        workers.invoke("Three", {})
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('missing dependency')\n")
    pool = FunctionWorkers({"B": _spec(broken, "B", {})}, workers.resolver)
    try:
        with pytest.raises(FunctionFailed, match="init failed: ImportError: missing dependency"):
            pool.invoke("B", {})
    finally:
        pool.close()


def test_the_template_functions_get_their_own_service_name() -> None:
    """From template.yaml: POWERTOOLS_SERVICE_NAME is each function's own (in one process it
    could only be the global one), and a variable only the API has is not a validator's."""
    functions = LocalFunctions(Resolver(load_template(), LocalNames()))
    pool = FunctionWorkers.from_template(functions, {"BATCHGATE_LOCAL": "1"})
    try:
        specs = pool._specs
        names = {spec.environment.get("POWERTOOLS_SERVICE_NAME") for spec in specs.values()}
        assert len(names) > 1
        resolver = functions.resolver
        for logical, spec in specs.items():
            own = resolver.function_environment(logical)
            assert {k: spec.environment[k] for k in own} == own
            assert spec.environment["BATCHGATE_LOCAL"] == "1"
            others = set(functions.environment()) - set(own)
            assert not others & set(spec.environment), (logical, others & set(spec.environment))
    finally:
        pool.close()
