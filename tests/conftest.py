"""The one AWS stand-in of the tests: moto's server as the local stack embeds it, with the
resources template.yaml declares, created through ``LocalStack.provision`` (the code `batchgate
up` starts with), so the fixtures and the deployed resources cannot drift.

``aws_endpoint`` starts the server once per test process and points boto3 and pyarrow at it.
``template_aws`` (per test) and ``module_aws`` (per module) empty it and create the template's
tables, queues and buckets, and yield a :class:`TemplateAws` with the names to use. Nothing here
starts pollers or executes state machines: tests deliver events and run tasks in their own order.
The end-to-end tests (tests/e2e) run the whole product as a user does, in a subprocess.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest

from batchgate.aws.clients import reset_clients
from batchgate.aws.s3fs import reset_filesystem
from batchgate.aws.store import Store
from batchgate.lake.catalog import reset_shared_catalog
from batchgate.settings import Settings, settings
from batchgate_tools.local.moto_server import EmbeddedAws
from batchgate_tools.local.provision import Provisioner
from batchgate_tools.local.stack import LocalStack
from batchgate_tools.template import LocalNames, Resolver, load_template

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Which Settings field each state machine's ARN fills.
MACHINE_SETTINGS = {
    "CompleteStateMachine": "complete_state_machine_arn",
    "RevertStateMachine": "revert_state_machine_arn",
    "AbortStateMachine": "abort_state_machine_arn",
    "GcStateMachine": "gc_state_machine_arn",
    "ValidateLargeStateMachine": "validate_large_state_machine_arn",
    "JobRunStateMachine": "job_run_state_machine_arn",
    "FeedSyncStateMachine": "feed_sync_state_machine_arn",
    "BundleExportStateMachine": "bundle_export_state_machine_arn",
    "BundleImportStateMachine": "bundle_import_state_machine_arn",
}

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server access log


def refresh_process_state() -> None:
    """Forget what was built from the environment (clients, settings, the catalog, the API's
    services), after a test changed it."""
    from batchgate.api import deps

    settings.cache_clear()
    reset_clients()
    reset_filesystem()
    reset_shared_catalog()
    deps.reset()


@pytest.fixture(scope="session")
def aws_server() -> Iterator[EmbeddedAws]:
    server = EmbeddedAws(port=0, execute_state_machines=False)
    server.start()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": server.endpoint,
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(k, v)
        mp.setenv("AWS_REGION", REGION)
        refresh_process_state()
        yield server
    server.stop()
    refresh_process_state()


@pytest.fixture(scope="session")
def aws_endpoint(aws_server: EmbeddedAws) -> str:
    return aws_server.endpoint


@dataclass
class TemplateAws:
    """The template's resources on the stand-in, and what code under test needs to reach them."""

    endpoint: str
    resolver: Resolver
    settings: Settings

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    @property
    def table(self) -> str:
        return self.settings.table_name

    @property
    def store(self) -> Store:
        return Store(self.table)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    def state_machines(self) -> dict[str, str]:
        """Create the template's state machines (they record executions, none runs); logical id
        → ARN, also set on ``settings``."""
        machines = Provisioner(self.resolver).state_machines()
        self.settings = replace(self.settings, **{MACHINE_SETTINGS[k]: arn for k, arn in machines.items()})
        return machines

    def environment(self) -> dict[str, str]:
        """The functions' environment from the template, as the local stack sets it."""
        from batchgate_tools.local.functions import LocalFunctions

        return LocalFunctions(self.resolver).environment()


def provision(server: EmbeddedAws, **parameters: str) -> TemplateAws:
    """Empty the stand-in, then create the template's tables, queues and buckets."""
    server.reset()
    endpoint = server.endpoint
    resolver = Resolver(load_template(), LocalNames(endpoint=endpoint), parameters)
    LocalStack.provision(resolver)
    cfg = Settings(
        table_name=resolver.ref("StateTable"), bucket=resolver.ref("UploadBucket"),
        region=REGION, endpoint_url=endpoint,
        complete_state_machine_arn=None, revert_state_machine_arn=None, abort_state_machine_arn=None,
        gc_state_machine_arn=None, validate_large_state_machine_arn=None, event_bus_name=None,
        loading_ttl_seconds=3600, single_put_max_bytes=1 << 20, split_bytes=1 << 30,
    )  # fmt: skip
    return TemplateAws(endpoint, resolver, cfg)


@pytest.fixture
def template_aws(aws_server: EmbeddedAws) -> TemplateAws:
    return provision(aws_server)


@pytest.fixture(scope="module")
def module_aws(aws_server: EmbeddedAws) -> TemplateAws:
    return provision(aws_server)
