"""boto3 clients: one session per process, made at a handler's import where the environment allows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from batchgate.aws import clients


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")  # no region from a config file either
    clients.reset_clients()
    yield
    clients.reset_clients()


def test_preload_makes_the_clients_the_handler_will_get(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    clients.preload("dynamodb", "s3")
    assert clients.client.cache_info().currsize == 2
    ddb = clients.client("dynamodb")
    assert ddb.meta.region_name == "eu-west-1"
    assert clients.client.cache_info().hits == 1, "the handler's call found the preloaded client"


def test_preload_without_a_region_leaves_the_clients_for_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    clients.preload("dynamodb", "s3")  # a test importing a handler module: no region yet
    assert clients.client.cache_info().currsize == 0
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    clients.reset_clients()  # what the tests' fixtures and the local stack do after setting it
    assert clients.client("dynamodb").meta.region_name == "us-west-2"


def test_clients_of_one_process_share_one_session(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3.session

    made: list[object] = []

    class Counted(boto3.session.Session):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(boto3.session, "Session", Counted)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s3, sfn = clients.client("s3"), clients.client("stepfunctions")
    assert s3 is not sfn and len(made) == 1
    clients.reset_clients()  # a changed environment: a new session for the next client
    clients.client("s3")
    assert len(made) == 2
