"""`batchgate up`: the whole system on one machine, wired from template.yaml.

moto's server stands in for AWS; the buckets, table, queues and state machines are created from
the template's resources; S3 notifications reach the validator handlers through their SQS queues
and in-process pollers; the state machines' tasks reach the tasks handler the same way; the API
is served over HTTP through the same authorizer and API function. Local differences from AWS,
all deliberate: the Iceberg catalog is SQLite instead of Glue, intervals are short, the bucket's
TLS-only policy is not applied (the local endpoint is plain HTTP), and state persists in
``--data-dir`` through a write-through mirror of moto (see docs/local-persistence.md).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchgate.aws.clients import client, reset_clients
from batchgate.aws.s3fs import reset_filesystem
from batchgate_tools.local.functions import LocalFunctions, apply_environment
from batchgate_tools.local.hold import PollerHold
from batchgate_tools.local.pollers import Poller, sqs_event_sources
from batchgate_tools.local.provision import Provisioner
from batchgate_tools.local.state import state_file
from batchgate_tools.template import LocalNames, Resolver, load_template

LOCAL_ORG, LOCAL_SANDBOX = "local", "prod"
# The seeded admin key may use both; "prod" is the default the CLI and the examples name.
LOCAL_SANDBOXES = ("prod", "dev")
# Short intervals so a batch completes in seconds while someone watches.
LOCAL_PARAMETERS = {
    "PollSeconds": "1",
    "RetryWaitSeconds": "2",
    "CommitWindowSeconds": "20",
    "MaxPolls": "600",
    "SweepSchedule": "rate(1 minute)",
}


class StackError(RuntimeError):
    """The stack cannot start for a reason the user can fix; the message says how."""


def ensure_port_free(host: str, port: int, what: str, flag: str) -> None:
    """Fail before anything starts, with the fix, rather than with a bind traceback half-way."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise StackError(f"cannot listen on {host}:{port} for the {what}: {exc.strerror}") from None
            raise StackError(
                f"port {port} on {host} ({what}) is in use, perhaps by another `batchgate up`: stop it, "
                f"or pass {flag} PORT ({flag} 0 picks a free one)"
            ) from None


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    api_port: int = 3000
    aws_port: int = 4566
    data_dir: Path | None = None
    key_id: str | None = None
    token: str | None = None
    verbose: bool = False
    ready_file: Path | None = None  # written once everything is up (tests and scripts wait on it)
    parameters: dict[str, str] = field(default_factory=dict)


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.pollers: list[Poller] = []
        self.aws: Any = None
        self.api_server: Any = None
        self.key_id = ""
        self.token = ""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._lock: Any = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        from batchgate_tools.local.aws_process import AwsProcess, AwsProcessError
        from batchgate_tools.local.workers import FunctionWorkers

        cfg = self.config
        data_dir = cfg.data_dir
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="batchgate-")
            data_dir = Path(self._tmp.name)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._lock_data_dir(data_dir)
        ensure_port_free(cfg.host, cfg.api_port, "API", "--port")
        ensure_port_free(cfg.host, cfg.aws_port, "AWS endpoint", "--aws-port")
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"

        template = load_template()
        # moto in a process of its own; it keeps the data directory's lock while it lives.
        self.aws = AwsProcess(
            cfg.host, cfg.aws_port, data_dir, self._table_keys(template), keep_fds=[self._lock.fileno()]
        )
        try:
            self.aws.start()
        except AwsProcessError as exc:
            raise StackError(str(exc)) from None
        endpoint = self.aws.endpoint
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        reset_clients()
        reset_filesystem()

        self.resolver = Resolver(template, LocalNames(endpoint=endpoint), LOCAL_PARAMETERS | cfg.parameters)
        self.functions = LocalFunctions(self.resolver)
        self._faults = tempfile.TemporaryDirectory(prefix="batchgate-faults-")
        local = {
            "AWS_ENDPOINT_URL": endpoint,
            "BATCHGATE_CATALOG_TYPE": "sql",
            "BATCHGATE_CATALOG_URI": f"sqlite:///{data_dir / 'catalog.sqlite'}",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "INFO" if cfg.verbose else "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "false" if cfg.verbose else "true",
            "BATCHGATE_LOCAL_DATA_DIR": str(data_dir),
            # A drill fires once across the workers, and `kill` ends the stack, not one worker.
            "BATCHGATE_FAULT_STATE": self._faults.name,
            "BATCHGATE_FAULT_KILL_PID": str(os.getpid()),
        }
        env = self.functions.environment() | local
        apply_environment(env)
        from batchgate.settings import settings

        settings.cache_clear()

        provisioner = Provisioner(self.resolver)
        self.provision(self.resolver)
        restored = self.aws.restore()
        provisioner.notifications()
        self.state_machines = provisioner.state_machines()
        from batchgate.lake.catalog import reset_shared_catalog, shared_catalog

        reset_shared_catalog()
        shared_catalog()  # create the SQL catalog's own tables once, before any handler races to
        self._seed_key()
        self.workers = FunctionWorkers.from_template(self.functions, local)
        self.workers.warm()
        self._start_pollers()
        self._start_api()
        self._start_schedules()
        self._start_job_scheduler()
        if restored:
            from batchgate_tools.local.recovery import Recovery

            Recovery(provisioner, self.state_machines).run()
        self._write_state_file(env)

    def _write_state_file(self, env: dict[str, str]) -> None:
        """Where `batchgate invoke` finds this stack: endpoint, catalog and data directory."""
        info = {
            "pid": os.getpid(),
            "endpoint": self.aws.endpoint,
            "api": self.api_url,
            "dataDir": str(self.data_dir),
            "parameters": self.resolver.parameters,
            "environment": env,
            "keyId": self.key_id,
            "token": self.token,
            "org": LOCAL_ORG,
            "sandbox": LOCAL_SANDBOX,
            "bucket": self.resolver.physical_name("UploadBucket"),
            # pollers per function: `batchgate invoke --put-objects` waits for all to stand aside
            "pollers": {f: sum(p.source.function == f for p in self.pollers) for f in self.functions.names()},
        }
        path = state_file(self.aws.port)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info, indent=2))
        path.chmod(0o600)
        self._state_path = path
        if self.config.ready_file is not None:
            self.config.ready_file.write_text(json.dumps(info, indent=2))

    def _lock_data_dir(self, data_dir: Path, patience: float = 5.0) -> None:
        """One stack per data directory: two would mirror moto into the same files. The lock is
        the kernel's (flock), so it goes with the process however that ends, kill -9 included;
        the AWS process holds it too, and outlives a killed stack by up to 0.2 s (``patience``)."""
        lock = (data_dir / ".lock").open("a+")
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise StackError(
                f"data directory {data_dir} is in use by another `batchgate up` (pid {holder}): "
                "stop it, or pass another --data-dir"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock

    def stop(self) -> None:
        self.stop_event.set()
        state_path = getattr(self, "_state_path", None)
        if state_path is not None:
            state_path.unlink(missing_ok=True)
        if self.api_server is not None:
            self.api_server.shutdown()
            self.api_server.server_close()
        for p in self.pollers:
            p.join(timeout=5)
        workers = getattr(self, "workers", None)
        if workers is not None:
            workers.close()
        if self.aws is not None:
            self.aws.stop()
        faults = getattr(self, "_faults", None)
        if faults is not None:
            faults.cleanup()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://{self.config.host}:{self.api_server.server_address[1]}"

    # -- resources from the template ------------------------------------------------------
    @staticmethod
    def _table_keys(template: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
        """Each table's key attributes, for the Mirror (it must not ask moto while it serves)."""
        tables = {}
        for logical, res in template["Resources"].items():
            if res["Type"] == "AWS::DynamoDB::Table":
                keys = {k["KeyType"]: k["AttributeName"] for k in res["Properties"]["KeySchema"]}
                name = Resolver(template, LocalNames()).physical_name(logical)
                tables[name] = (keys["HASH"], keys.get("RANGE"))
        return tables

    @staticmethod
    def provision(resolver: Resolver) -> None:
        """Create what template.yaml declares, without notifications or state machines: the
        tables, queues and buckets. The local stack starts with this; tests build their AWS
        stand-in with it too, so the fixture and the deployed resources cannot drift."""
        provisioner = Provisioner(resolver)
        provisioner.tables()
        provisioner.queues()
        provisioner.buckets()
        provisioner.schedule_groups()

    def _seed_key(self) -> None:
        from batchgate.api.auth import hash_token, new_key
        from batchgate.aws.store import Store
        from batchgate.settings import settings

        store = Store(settings().table_name)
        key_id = self.config.key_id or os.environ.get("BATCHGATE_LOCAL_KEY_ID")
        token = self.config.token or os.environ.get("BATCHGATE_LOCAL_TOKEN")
        if key_id and token:
            record = new_key(
                LOCAL_ORG,
                LOCAL_SANDBOXES,
                role="admin",
                user="local-developer",
                description="local stack key",
            ).record
            record |= {"keyId": key_id, "secretHash": hash_token(token)}
            store.put_api_key(key_id, record)
        else:
            saved = self.data_dir / "local-key.json"
            if saved.exists():
                data = json.loads(saved.read_text())
                key_id, token = data["keyId"], data["token"]
                # A key seeded before roles and the dev sandbox: it becomes the admin of both.
                stored = store.get_api_key(key_id)
                if stored is not None and (stored.get("role"), stored.get("sandboxes")) != (
                    "admin",
                    list(LOCAL_SANDBOXES),
                ):
                    current = {k: v for k, v in stored.items() if k != "sandbox"}
                    store.put_api_key(key_id, current | {"role": "admin", "sandboxes": list(LOCAL_SANDBOXES)})
            else:
                generated = new_key(
                    LOCAL_ORG,
                    LOCAL_SANDBOXES,
                    role="admin",
                    user="local-developer",
                    description="local stack key",
                )
                store.put_api_key(generated.key_id, generated.record)
                key_id, token = generated.key_id, generated.token
                saved.write_text(json.dumps({"keyId": key_id, "token": token}))
                saved.chmod(0o600)
        self.key_id, self.token = key_id, token

    def _start_pollers(self) -> None:
        hold = PollerHold(self.aws.port)
        for source in sqs_event_sources(self.functions):
            # Two workers for the task queue: a waiting batch must not hold up another's promotion.
            workers = 2 if source.function == "TasksFunction" else 1
            for worker in range(workers):
                poller = Poller(source, self.workers, self.stop_event, worker=worker, hold=hold)
                poller.start()
                self.pollers.append(poller)

    def _start_api(self) -> None:
        from batchgate.aws.store import Store
        from batchgate.settings import settings
        from batchgate_tools.local.http_api import LocalGateway, serve

        gateway = LocalGateway(self.workers, Store(settings().table_name))
        self.api_server = serve(gateway, self.config.host, self.config.api_port)

    def _start_schedules(self) -> None:
        """ScheduleV2 events on state machines (the hourly GC) run on the same schedule here."""
        for logical, res in self.resolver.resources_of("AWS::Serverless::StateMachine").items():
            for ev in (res["Properties"].get("Events") or {}).values():
                if ev.get("Type") not in ("Schedule", "ScheduleV2"):
                    continue
                props = self.resolver.resolve(ev["Properties"])
                seconds = _rate_seconds(props["ScheduleExpression"])
                payload = props.get("Input", "{}")
                threading.Thread(
                    target=self._every,
                    args=(seconds, logical, payload),
                    name=f"schedule-{logical}",
                    daemon=True,
                ).start()

    def _start_job_scheduler(self) -> None:
        """EventBridge Scheduler's part: moto keeps the jobs' schedules, this fires them."""
        from batchgate_tools.local.scheduler import LocalScheduler

        groups = [
            self.resolver.physical_name(logical)
            for logical in self.resolver.resources_of("AWS::Scheduler::ScheduleGroup")
        ]
        self.scheduler = LocalScheduler(groups, self.data_dir / "scheduler.json", self.stop_event)
        self.scheduler.start()

    def _every(self, seconds: float, logical: str, payload: str) -> None:
        while not self.stop_event.wait(seconds):
            self.start_execution(logical, json.loads(payload), prefix="scheduled")

    def start_execution(self, logical: str, payload: dict[str, Any], prefix: str = "run") -> str:
        arn: str = client("stepfunctions").start_execution(
            stateMachineArn=self.state_machines[logical],
            name=f"{prefix}-{int(time.time() * 1000)}",
            input=json.dumps(payload),
        )["executionArn"]
        return arn

    # -- the banner -----------------------------------------------------------------------
    def banner(self) -> str:
        from batchgate.settings import settings

        h = (
            f"-H 'Authorization: Bearer {self.token}' -H 'x-api-key: {self.key_id}' "
            f"-H 'x-gw-ims-org-id: {LOCAL_ORG}' -H 'x-sandbox-name: {LOCAL_SANDBOX}'"
        )
        return "\n".join(
            [
                "batchgate is up.",
                f"  API          {self.api_url}   (OpenAPI: {self.api_url}/openapi.json)",
                f"  Dashboard    {self.api_url}/ui   (log in with the API key and token below)",
                f"  AWS endpoint {self.aws.endpoint}   (S3 bucket: {settings().bucket})",
                f"  tenant       org={LOCAL_ORG} sandbox={LOCAL_SANDBOX}",
                f"  API key      {self.key_id}",
                f"  token        {self.token}",
                f"  data         {self.data_dir}",
                "",
                "Try:",
                f"  curl -s {h} {self.api_url}/data/foundation/catalog/batches",
                f"  aws --endpoint-url {self.aws.endpoint} s3 cp people.json "
                f"s3://{settings().bucket}/inbox/{LOCAL_ORG}/{LOCAL_SANDBOX}/DATASET_ID/people.json",
                "",
                "Ctrl-C stops it; the data stays in the data directory.",
            ]
        )


def _rate_seconds(expression: str) -> float:
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        raise ValueError(f"only rate() schedules run locally, not {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return int(m.group(1)) * unit
