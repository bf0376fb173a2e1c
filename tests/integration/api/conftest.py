"""Fixtures of the API tests: the template's resources on the stand-in (tests/conftest.py), the
API function's environment pointed at them, and API keys of three tenants."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from batchgate.api.auth import NewKey, new_key
from batchgate_tools.cli import main
from batchgate_tools.client import Client
from tests.conftest import TemplateAws, refresh_process_state
from tests.integration.api.harness import (
    API_URL,
    MACHINE_ENV,
    SINGLE_PUT_MAX,
    Api,
    Aws,
    Creds,
    creds_of,
    sdk_session,
)

MIB = 1024 * 1024


@pytest.fixture
def aws(template_aws: TemplateAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    machines = template_aws.state_machines()
    for name, value in template_aws.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BATCHGATE_SINGLE_PUT_MAX", str(SINGLE_PUT_MAX))
    for var in ("POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_METRICS_DISABLED"):
        monkeypatch.setenv(var, "1")
    by_action = {}
    for action, (logical, env) in MACHINE_ENV.items():
        monkeypatch.setenv(env, machines[logical])
        by_action[action] = machines[logical]
    refresh_process_state()
    yield Aws(template_aws, by_action)
    refresh_process_state()


@pytest.fixture(scope="session")
def session_keys() -> dict[str, NewKey]:
    # Hashed once per session (scrypt costs ~50 ms a key); re-stored after every reset, so the
    # authorizer's verified-key cache is warm from the second test on.
    return {
        "acme": new_key("acme", ["prod"], user="alice@acme"),
        "acme-dev": new_key("acme", ["dev"]),
        "other": new_key("other", ["prod"]),
    }


@pytest.fixture
def keys(aws: Aws, session_keys: dict[str, NewKey]) -> dict[str, Creds]:
    for key in session_keys.values():
        aws.store.put_api_key(key.key_id, key.record)
    return {name: creds_of(key) for name, key in session_keys.items()}


@pytest.fixture
def api(keys: dict[str, Creds]) -> Api:
    return Api(keys["acme"])


@pytest.fixture
def other_api(keys: dict[str, Creds]) -> Api:
    return Api(keys["other"])


@pytest.fixture
def client(api: Api, keys: dict[str, Creds]) -> Client:
    """The SDK as tenant acme/prod (an admin key), through the in-process API."""
    k = keys["acme"]
    return Client(API_URL, k.key_id, k.token, k.org, k.sandbox, session=sdk_session(api), part_size=5 * MIB)


@pytest.fixture
def cli(api: Api, keys: dict[str, Creds], monkeypatch: pytest.MonkeyPatch) -> Callable[[Sequence[str]], int]:
    """``batchgate`` in this process, as tenant acme/prod, its SDK going through the in-process API."""
    import batchgate_tools.cli.connection as commands

    # The API handler runs in this process and prints its EMF metrics on stdout, where the CLI's
    # output is read; keep them off here whatever other tests left in the environment.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    real = commands.Client
    monkeypatch.setattr(
        commands, "Client", lambda *a, **kw: real(*a, **kw, session=sdk_session(api), part_size=5 * MIB)
    )
    k = keys["acme"]
    for name, value in {
        "BATCHGATE_URL": API_URL,
        "BATCHGATE_API_KEY": k.key_id,
        "BATCHGATE_TOKEN": k.token,
        "BATCHGATE_ORG": "acme",
        "BATCHGATE_SANDBOX": "prod",
    }.items():
        monkeypatch.setenv(name, value)
    return main
