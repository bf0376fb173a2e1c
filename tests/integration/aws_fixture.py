"""moto's server with the table and bucket exactly as template.yaml declares them (no S3
notifications, no pollers: tests deliver events and call tasks themselves, in their own order)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from batchgate.aws.clients import reset_clients
from batchgate.aws.s3fs import reset_filesystem
from batchgate.aws.store import Store
from batchgate.core.models import Batch, BatchStatus, Dataset, InputFormat
from batchgate.settings import Settings
from batchgate_tools.local.moto_server import EmbeddedAws
from batchgate_tools.local.stack import LocalStack, StackConfig
from batchgate_tools.template import LocalNames, Resolver, load_template


@contextmanager
def template_aws() -> Iterator[Settings]:
    mp = pytest.MonkeyPatch()
    server = EmbeddedAws(port=0, execute_state_machines=False)
    server.start()
    try:
        for k, v in {
            "AWS_ENDPOINT_URL": server.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            mp.setenv(k, v)
        reset_clients()
        reset_filesystem()
        stack = LocalStack(StackConfig())
        stack.resolver = Resolver(load_template(), LocalNames(endpoint=server.endpoint))
        stack._create_tables()
        stack._create_buckets(notifications=False)
        yield Settings(
            table_name=stack.resolver.ref("StateTable"), bucket=stack.resolver.ref("UploadBucket"),
            region="us-east-1", endpoint_url=server.endpoint,
            complete_state_machine_arn=None, revert_state_machine_arn=None, abort_state_machine_arn=None,
            gc_state_machine_arn=None, validate_large_state_machine_arn=None, event_bus_name=None,
            loading_ttl_seconds=3600, single_put_max_bytes=1 << 20, split_bytes=1 << 30,
        )  # fmt: skip
    finally:
        server.stop()
        mp.undo()
        reset_clients()
        reset_filesystem()


def new_batch(
    store: Store, batch_id: str, schema: dict[str, Any], *, status: BatchStatus = "loading", age_ms: int = 0
) -> tuple[Batch, Dataset]:
    """A JSON batch of tenant o/s in a dataset of its own, ``age_ms`` old."""
    now = int(time.time() * 1000)
    ds = Dataset.model_validate(
        {"id": f"ds-{batch_id}", "name": "t", "org": "o", "sandbox": "s", "schema": schema,
         "created": now, "updated": now, "table": "x.y"}
    )  # fmt: skip
    store.put_dataset(ds)
    b = Batch(
        id=batch_id, org="o", sandbox="s", dataset_id=ds.id, input_format=InputFormat(format="json"),
        created=now - age_ms, updated=now - age_ms, status=status,
    )  # fmt: skip
    store.create_batch(b)
    return b, ds
