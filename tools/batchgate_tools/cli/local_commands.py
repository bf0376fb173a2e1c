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

STATE_ENV = """environment:
  XDG_CACHE_HOME       where a running `batchgate up` leaves its state file (default ~/.cache/batchgate)"""

UP_ENV = """environment:
  BATCHGATE_LOCAL_KEY_ID, BATCHGATE_LOCAL_TOKEN   seed this key instead of generating one
  BATCHGATE_FAULT      failure drills: point[:transient|kill|delay=S][,...] (docs/architecture.md)
  XDG_CACHE_HOME       where the stack's state file goes (default ~/.cache/batchgate), read by
                       invoke, check, gc, query and the API commands (its URL and key)"""


def _parser(sub: Any, name: str, env: str, **kw: Any) -> Any:
    return sub.add_parser(name, epilog=env, formatter_class=argparse.RawDescriptionHelpFormatter, **kw)


def register(sub: Any) -> None:
    up = _parser(sub, "up", UP_ENV, help="run the whole system locally (moto as AWS, API on :3000)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=3000, help="API port (0 picks a free one)")
    up.add_argument("--aws-port", type=int, default=4566, help="AWS endpoint port (0 picks a free one)")
    up.add_argument("--data-dir", type=Path, help="keep data here across restarts (default: a temp dir)")
    up.add_argument("--verbose", action="store_true", help="handler logs and metrics on stdout")
    up.add_argument("--ready-file", type=Path, help="write the stack's URLs and key here once it is up")
    up.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="template parameter")
    up.set_defaults(func=_up)

    inv = _parser(
        sub, "invoke", STATE_ENV,
        help="invoke a function of template.yaml in-process against `batchgate up`",
        description="As `sam local invoke`: the function's logs on stderr, its result on stdout. "
        "Placeholders in the event (words like BATCH_ID) are filled by --param; the stack fills "
        "API_KEY, API_TOKEN and BUCKET_NAME itself. "
        "e.g. batchgate invoke ValidateCsvFunction -e events/validate_csv/inbox-drop.json --put-objects",
    )  # fmt: skip
    inv.add_argument("function", help="logical id, e.g. ApiFunction")
    inv.add_argument("-e", "--event", type=Path, required=True, help="event JSON file (see events/)")
    inv.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="fill a placeholder")
    inv.add_argument(
        "--put-objects", action="store_true",
        help="put the files an S3 sample names (from events/data/) and hold the stack's pollers of "
        "this function meanwhile, so this invocation is the one that handles them",
    )  # fmt: skip
    inv.add_argument("--log-level", default="INFO", help="the function's POWERTOOLS_LOG_LEVEL (default INFO)")
    inv.add_argument("--aws-port", type=int, default=4566, help="the running stack's AWS endpoint port")
    inv.set_defaults(func=_invoke)

    chk = _parser(
        sub,
        "check",
        STATE_ENV,
        help="check the running local stack's data against batchgate's invariants (exit 1 if one fails)",
        description="Every drop has a final batch; no batch left in flight; input = output + failed; "
        "no row of an aborted or reverted batch visible; no snapshot reads a missing file.",
    )
    chk.add_argument("--aws-port", type=int, default=4566, help="the running stack's AWS endpoint port")
    chk.set_defaults(func=_check)

    gc = _parser(sub, "gc", STATE_ENV, help="run garbage collection now on the running local stack")
    gc.add_argument("--aws-port", type=int, default=4566)
    gc.add_argument(
        "--retention-seconds", type=int,
        help="keep snapshots and reverted data younger than this (default: the stack's RetentionSeconds, "
        "as the scheduled GC; 0 expires every old snapshot, and asOfBatch can no longer reach them)",
    )  # fmt: skip
    gc.set_defaults(func=_gc)


def _up(args: argparse.Namespace) -> int:
    import warnings

    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "batchgate")
    # Locally metrics are off unless --verbose; powertools would warn on every invocation.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from batchgate_tools.local.stack import LocalStack, StackConfig, StackError

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
    try:
        stack.start()
    except StackError as exc:
        stack.stop()
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
            f"error: no local stack on port {aws_port}: start one with `batchgate up`, or pass the "
            f"--aws-port it printed (looked for {path})"
        )
    info: dict[str, Any] = json.loads(path.read_text())
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    os.environ["AWS_ENDPOINT_URL"] = info["endpoint"]
    os.environ.update(info["environment"])
    return info


def _invoke(args: argparse.Namespace) -> int:
    from batchgate_tools.local.invoke import SampleError

    try:
        return _run_invoke(args)
    except SampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run_invoke(args: argparse.Namespace) -> int:
    info = _attach(args.aws_port)
    from batchgate_tools.local import invoke
    from batchgate_tools.local.functions import LocalFunctions, apply_environment
    from batchgate_tools.template import LocalNames, Resolver, load_template

    resolver = Resolver(load_template(), LocalNames(endpoint=info["endpoint"]), info["parameters"])
    functions = LocalFunctions(resolver)
    if args.function not in functions.names():
        raise SystemExit(
            f"error: unknown function {args.function!r}; template.yaml has: {', '.join(functions.names())}"
        )
    # This process runs one function: its own environment, as Lambda gives it (service name
    # included), over the stack's local settings; its logs at --log-level, shown on stderr.
    own = resolver.function_environment(args.function)
    apply_environment(
        own | {k: v for k, v in info["environment"].items() if k not in own or k.startswith("BATCHGATE_")}
    )
    apply_environment({"POWERTOOLS_LOG_LEVEL": args.log_level.upper()})
    if args.event.suffix != ".json" or not args.event.is_file():
        raise invoke.SampleError(f"{args.event}: no such event file")
    values = invoke.stack_placeholders(info) | invoke.parse_params(args.param)
    text, left = invoke.fill(args.event.read_text(), values)
    if left:
        print(
            f"note: placeholders left as they are: {', '.join(left)} (fill with --param NAME=VALUE)",
            file=sys.stderr,
        )
    event = json.loads(text)
    # As `sam local invoke`: the function's logs go to stderr, its result alone to stdout.
    # Loggers bind sys.stdout when created, so the swap must cover loading the handler too.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        result, code = _call(args, info, functions, event)
    finally:
        sys.stdout = real_stdout
    print(json.dumps(result, indent=2, default=str))
    return code


def _call(
    args: argparse.Namespace, info: dict[str, Any], functions: Any, event: dict[str, Any]
) -> tuple[Any, int]:
    from contextlib import nullcontext

    from batchgate_tools.local import invoke
    from batchgate_tools.local.hold import hold_pollers

    hold: Any = nullcontext()
    if args.put_objects:
        workers = int(info.get("pollers", {}).get(args.function, 0))
        hold = hold_pollers(args.aws_port, args.function, workers) if workers else nullcontext()
    with hold:
        if args.put_objects:
            from batchgate.aws.clients import client

            put = invoke.put_objects(
                event, args.event.resolve().parent.parent / "data", info["bucket"], client("s3")
            )
            print(
                f"put {', '.join(put) or 'nothing'} (this function's pollers stand aside meanwhile)",
                file=sys.stderr,
            )
        try:
            return functions.invoke(args.function, event), 0
        except Exception as exc:
            kind = "authorizer" if args.function in _authorizers(functions) else "function"
            answer = invoke.gateway_answer_for(kind, exc)
            if answer is not None:
                print(f"{args.function} refused the request: API Gateway answers 401", file=sys.stderr)
                return answer, 0
            print(f"{args.function} raised {type(exc).__name__}: {exc}", file=sys.stderr)
            return invoke.lambda_error(exc), 1


def _authorizers(functions: Any) -> set[str]:
    """Functions an API of the template uses as its Lambda authorizer."""
    found = set()
    for api in functions.resolver.resources_of("AWS::Serverless::Api").values():
        for auth in ((api["Properties"].get("Auth") or {}).get("Authorizers") or {}).values():
            arn = auth.get("FunctionArn", {})
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                found.add(arn["Fn::GetAtt"][0])
    return found


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
    # The scheduled GC's retention (template.yaml's RetentionSeconds) unless asked otherwise: a
    # retention of 0 expires every snapshot but the current one, and asOfBatch of an older batch
    # then has nothing to read.
    retention = args.retention_seconds
    if retention is None:
        retention = int(info["parameters"].get("RetentionSeconds") or 604800)
    sfn = client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=arn,
        name=f"manual-{int(time.time() * 1000)}",
        input=json.dumps({"retentionSeconds": retention}),
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
