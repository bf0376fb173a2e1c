"""API keys and who is calling: ``authorize(headers, store) -> Principal``.

A key is a pair: a public ``keyId`` (sent as ``x-api-key``) and a secret token (sent as
``Authorization: Bearer``). Only a salted scrypt hash of the token is stored, so a leaked table
does not leak usable credentials; comparison is constant-time. A key belongs to one org, may use
some of its sandboxes, and has a role (:mod:`batchgate.core.roles`); the request's
``x-gw-ims-org-id`` / ``x-sandbox-name`` must name its org and one of its sandboxes.

In AWS the REQUEST authorizer (functions/authorizer) calls :func:`authorize` and API Gateway
hands :func:`authorizer_context` to the API function in ``requestContext.authorizer``; the
local stack does the same before invoking the API handler.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchgate.aws.store import Store
from batchgate.core.errors import Forbidden, InvalidRequest, Unauthorized
from batchgate.core.roles import ROLES, Role, allowed, needed

# scrypt's cost: ~50 ms and 16 MiB per check. Tokens are 256-bit random, so this guards against
# offline guessing of the stored hashes, not against weak secrets.
SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN = 2**14, 8, 1, 32
TOKEN_PREFIX = "bgt_"
KEY_PREFIX = "bgk_"


@dataclass(frozen=True)
class Principal:
    org: str
    sandbox: str  # the sandbox of this request (one of the key's)
    key_id: str
    user: str
    role: Role = "reader"
    sandboxes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewKey:
    key_id: str
    token: str
    record: dict[str, Any]


def hash_token(token: str, *, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64); parameters travel with the hash so they can change."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(token.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=DKLEN)
    b64 = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_token(token: str, stored: str) -> bool:
    try:
        alg, n, r, p, salt_b64, hash_b64 = stored.split("$")
        if alg != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        digest = hashlib.scrypt(token.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


class _VerifiedCache:
    """Remembers (keyId, stored hash, sha256(token)) triples that verified, so a warm function
    pays scrypt once per key instead of per request. The stored hash is part of the entry, and the
    key record is still read on every request: disabling or rotating a key takes effect at once."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple[str, str, bytes], None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def check(self, key_id: str, stored: str, token: str) -> bool:
        entry = (key_id, stored, hashlib.sha256(token.encode()).digest())
        with self._lock:
            if entry in self._items:
                self._items.move_to_end(entry)
                return True
        if not verify_token(token, stored):
            return False
        with self._lock:
            self._items[entry] = None
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return True


_verified = _VerifiedCache()


def new_key(
    org: str,
    sandboxes: list[str] | tuple[str, ...],
    *,
    role: str = "admin",
    user: str | None = None,
    description: str = "",
) -> NewKey:
    """A key of ``org`` for ``sandboxes`` with ``role``; only the token's hash is kept."""
    sandboxes = list(dict.fromkeys(s.strip() for s in sandboxes if s.strip()))
    if not org or not sandboxes:
        raise InvalidRequest("a key needs an org and at least one sandbox", code="BG-400-KEY")
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, not {role!r}", code="BG-400-KEY")
    key_id = KEY_PREFIX + secrets.token_hex(10)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = {
        "keyId": key_id,
        "org": org,
        "sandboxes": sandboxes,
        "role": role,
        "user": user or key_id,
        "description": description,
        "secretHash": hash_token(token),
        "created": int(time.time() * 1000),
        "disabled": False,
    }
    return NewKey(key_id, token, record)


def create_key(
    store: Store,
    org: str,
    sandboxes: list[str] | tuple[str, ...],
    *,
    role: str = "admin",
    user: str | None = None,
    description: str = "",
) -> NewKey:
    key = new_key(org, sandboxes, role=role, user=user, description=description)
    store.put_api_key(key.key_id, key.record)
    return key


def migrated(record: dict[str, Any]) -> dict[str, Any] | None:
    """A key record written before roles (one ``sandbox``, no role) in today's shape: the
    ``admin`` of its one sandbox, as it could do everything then; None when already current."""
    if "sandboxes" in record and "role" in record:
        return None
    current = {k: v for k, v in record.items() if k != "sandbox"}
    return current | {"sandboxes": [record["sandbox"]], "role": "admin"}


def _header(headers: Mapping[str, Any] | None, name: str) -> str:
    for k, v in (headers or {}).items():
        if k.lower() == name and v is not None:
            return str(v).strip()
    return ""


def authorize(headers: Mapping[str, Any] | None, store: Store) -> Principal:
    """Who is calling. Unauthorized (401) for missing or wrong credentials; Forbidden (403) when a
    valid key is used for another org or sandbox than its own."""
    auth = _header(headers, "authorization")
    key_id = _header(headers, "x-api-key")
    scheme, _, token = auth.partition(" ")
    if not key_id or scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send 'Authorization: Bearer <token>' and 'x-api-key: <keyId>' "
            "(create a key with `batchgate keys create`)"
        )
    org, sandbox = _header(headers, "x-gw-ims-org-id"), _header(headers, "x-sandbox-name")
    if not org or not sandbox:
        # API Gateway answers 401 itself when an identity-source header is missing; match it.
        raise Unauthorized("send the 'x-gw-ims-org-id' and 'x-sandbox-name' headers")
    record = store.get_api_key(key_id)
    # Unknown key, disabled key and wrong token look the same from outside.
    if (
        record is None
        or record.get("disabled")
        or not _verified.check(key_id, record["secretHash"], token.strip())
    ):
        raise Unauthorized("invalid API key or token")
    if (current := migrated(record)) is not None:
        store.put_api_key(key_id, current)
        record = current
    if record["org"] != org or sandbox not in record["sandboxes"]:
        raise Forbidden(
            f"this key belongs to another org or sandbox than '{org}' / '{sandbox}'",
            code="BG-403-WRONG-TENANT",
        )
    return Principal(
        org=org,
        sandbox=sandbox,
        key_id=key_id,
        user=str(record.get("user") or key_id),
        role=record["role"],
        sandboxes=tuple(record["sandboxes"]),
    )


def authorizer_context(principal: Principal) -> dict[str, str]:
    """What API Gateway (or the local stack) puts into ``requestContext.authorizer`` (strings
    only: an authorizer's context values are scalars)."""
    return {
        "org": principal.org,
        "sandbox": principal.sandbox,
        "keyId": principal.key_id,
        "user": principal.user,
        "role": principal.role,
        "sandboxes": ",".join(principal.sandboxes),
    }


def principal_from_request_context(request_context: Mapping[str, Any] | None) -> Principal:
    """The principal the authorizer established; the API refuses to run without one. A context
    without a role (an authorizer older than roles) gets the least: ``reader``."""
    ctx = (request_context or {}).get("authorizer") or {}
    org, sandbox, key_id = ctx.get("org"), ctx.get("sandbox"), ctx.get("keyId")
    if not org or not sandbox or not key_id:
        raise Unauthorized("no authorizer context on the request: the API must sit behind the authorizer")
    role = str(ctx.get("role") or "reader")
    sandboxes = tuple(s for s in str(ctx.get("sandboxes") or sandbox).split(",") if s)
    return Principal(
        org=str(org),
        sandbox=str(sandbox),
        key_id=str(key_id),
        user=str(ctx.get("user") or key_id),
        role=role if role in ROLES else "reader",  # type: ignore[arg-type]
        sandboxes=sandboxes,
    )


def check_role(principal: Principal, method: str, path: str) -> None:
    """Forbidden (403 ``BG-403-ROLE``) when the key's role may not make this call."""
    if not allowed(principal.role, method, path):
        raise Forbidden(
            f"this key's role '{principal.role}' may not {method.upper()} {path}: it needs '{needed(method, path)}'",
            code="BG-403-ROLE",
        )
