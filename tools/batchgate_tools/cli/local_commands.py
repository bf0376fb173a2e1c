"""`batchgate up`, `batchgate invoke` and `batchgate gc`: the local stack from the command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="run the whole system locally (moto as AWS, API on :3000)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=3000, help="API port (0 picks a free one)")
    up.add_argument("--aws-port", type=int, default=4566, help="AWS endpoint port (0 picks a free one)")
    up.add_argument("--data-dir", type=Path, help="keep data here across restarts (default: a temp dir)")
    up.add_argument("--verbose", action="store_true", help="handler logs and metrics on stdout")
    up.add_argument("--ready-file", type=Path, help="write the stack's URLs and key here once it is up")
    up.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="template parameter")
    up.set_defaults(func=_up)

    inv = sub.add_parser(
        "invoke", help="invoke a function of template.yaml in-process against `batchgate up`"
    )
    inv.add_argument("function", help="logical id, e.g. ApiFunction")
    inv.add_argument("-e", "--event", type=Path, required=True, help="event JSON file (see events/)")
    inv.add_argument("--aws-port", type=int, default=4566, help="the running stack's AWS endpoint port")
    inv.set_defaults(func=_invoke)

    chk = sub.add_parser(
        "check",
        help="check the running local stack's data against batchgate's invariants (exit 1 if one fails)",
        description="Every drop has a final batch; no batch left in flight; input = output + failed; "
        "no row of an aborted or reverted batch visible; no snapshot reads a missing file.",
    )
    chk.add_argument("--aws-port", type=int, default=4566, help="the running stack's AWS endpoint port")
    chk.set_defaults(func=_check)

    gc = sub.add_parser("gc", help="run garbage collection now on the running local stack")
    gc.add_argument("--aws-port", type=int, default=4566)
    gc.add_argument("--retention-seconds", type=int, default=0)
    gc.set_defaults(func=_gc)


def _up(args: argparse.Namespace) -> int:
    import warnings

    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "batchgate")
    # Locally metrics are off unless --verbose; powertools would warn on every invocation.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from batchgate_tools.local.stack import LocalStack, StackConfig

    params = dict(p.split("=", 1) for p in args.param)
    stack = LocalStack(
        StackConfig(
            host=args.host,
            api_port=args.port,
            aws_port=args.aws_port,
            data_dir=args.data_dir.resolve() if args.data_dir else None,
            verbose=args.verbose,
            ready_file=args.ready_file,
            parameters=params,
        )
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    stack.start()
    print(stack.banner(), flush=True)
    try:
        done.wait()
    finally:
        print("stopping…", file=sys.stderr, flush=True)
        stack.stop()
    return 0


def _attach(aws_port: int) -> dict[str, Any]:
    """Point this process at a running stack: its endpoint and the functions' environment."""
    from batchgate_tools.local.state import state_file

    path = state_file(aws_port)
    if not path.exists():
        raise SystemExit(
            f"no local stack on port {aws_port}: start one with `batchgate up` (looked for {path})"
        )
    info: dict[str, Any] = json.loads(path.read_text())
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    os.environ["AWS_ENDPOINT_URL"] = info["endpoint"]
    os.environ.update(info["environment"])
    return info


def _invoke(args: argparse.Namespace) -> int:
    info = _attach(args.aws_port)
    from batchgate_tools.local.functions import LocalFunctions
    from batchgate_tools.template import LocalNames, Resolver, load_template

    resolver = Resolver(load_template(), LocalNames(endpoint=info["endpoint"]), info["parameters"])
    functions = LocalFunctions(resolver)
    if args.function not in functions.names():
        raise SystemExit(
            f"unknown function {args.function!r}; template.yaml has: {', '.join(functions.names())}"
        )
    event = json.loads(args.event.read_text())
    # As `sam local invoke`: the function's logs go to stderr, its result alone to stdout.
    # Loggers bind sys.stdout when created, so the swap must cover loading the handler too.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        result = functions.invoke(args.function, event)
    finally:
        sys.stdout = real_stdout
    print(json.dumps(result, indent=2, default=str))
    return 0


def _check(args: argparse.Namespace) -> int:
    info = _attach(args.aws_port)
    from batchgate.aws.objects import Objects
    from batchgate.lake.catalog import shared_catalog
    from batchgate_tools.client import Client
    from batchgate_tools.invariants import check

    client = Client(
        info["api"], api_key=info["keyId"], token=info["token"], org=info["org"], sandbox=info["sandbox"]
    )
    findings = check(client, Objects(info["bucket"]), shared_catalog(), info["org"], info["sandbox"])
    for finding in findings:
        print(finding)
    print("all invariants hold" if not findings else f"{len(findings)} finding(s)")
    return 1 if findings else 0


def _gc(args: argparse.Namespace) -> int:
    import time

    info = _attach(args.aws_port)
    from batchgate.aws.clients import client

    arn = info["environment"].get("BATCHGATE_GC_SM") or _gc_arn(info)
    sfn = client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=arn,
        name=f"manual-{int(time.time() * 1000)}",
        input=json.dumps({"retentionSeconds": args.retention_seconds}),
    )["executionArn"]
    while (desc := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        time.sleep(0.5)
    print(
        json.dumps({"status": desc["status"], "output": json.loads(desc.get("output") or "null")}, indent=2)
    )
    return 0 if desc["status"] == "SUCCEEDED" else 1


def _gc_arn(info: dict[str, Any]) -> str:
    from batchgate_tools.template import LocalNames, Resolver, load_template

    return Resolver(load_template(), LocalNames(endpoint=info["endpoint"]), info["parameters"]).ref(
        "GcStateMachine"
    )
