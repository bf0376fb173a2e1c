"""Fixtures of the API tests: the template's resources on the stand-in (tests/conftest.py), the
API function's environment pointed at them, and API keys of three tenants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from batchgate.api.auth import NewKey, new_key
from tests.conftest import TemplateAws, refresh_process_state
from tests.integration.api.harness import MACHINE_ENV, SINGLE_PUT_MAX, Api, Aws, Creds, creds_of


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
