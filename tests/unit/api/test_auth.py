from __future__ import annotations

import pytest

from batchgate.api.auth import (
    Principal,
    authorizer_context,
    hash_token,
    new_key,
    principal_from_request_context,
    verify_token,
)
from batchgate.core.errors import Unauthorized

FAST = 2**4  # scrypt cost for tests of the format only; production uses SCRYPT_N


def test_hash_is_salted_and_verifies() -> None:
    a, b = hash_token("secret", n=FAST), hash_token("secret", n=FAST)
    assert a != b  # random salt per hash
    assert a.startswith(f"scrypt${FAST}$8$1$")
    assert verify_token("secret", a) and verify_token("secret", b)
    assert not verify_token("secreT", a)
    assert "secret" not in a


@pytest.mark.parametrize(
    "stored", ["", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AA==$AA==", "scrypt$16$8$1$!!$AA=="]
)
def test_malformed_stored_hashes_never_verify(stored: str) -> None:
    assert verify_token("anything", stored) is False


def test_new_key_stores_only_the_hash() -> None:
    key = new_key("acme", ["prod"], user="alice")
    assert key.key_id.startswith("bgk_") and key.token.startswith("bgt_")
    assert key.token not in str(key.record)
    assert (
        key.record["org"] == "acme" and key.record["sandboxes"] == ["prod"] and key.record["user"] == "alice"
    )
    assert key.record["role"] == "admin"
    assert verify_token(key.token, key.record["secretHash"])


def test_authorizer_context_round_trips() -> None:
    p = Principal("acme", "prod", "bgk_1", "alice", role="writer", sandboxes=("prod", "dev"))
    assert principal_from_request_context({"authorizer": authorizer_context(p)}) == p
    assert all(isinstance(v, str) for v in authorizer_context(p).values())  # API Gateway's rule


@pytest.mark.parametrize("ctx", [None, {}, {"authorizer": {}}, {"authorizer": {"org": "a", "sandbox": "b"}}])
def test_missing_authorizer_context_is_unauthorized(ctx: dict[str, object] | None) -> None:
    with pytest.raises(Unauthorized):
        principal_from_request_context(ctx)
