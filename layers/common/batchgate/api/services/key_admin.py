"""API keys managed through the API (admin): create (the token shown once), list, disable."""

from __future__ import annotations

from typing import Any

from batchgate.api.auth import Principal, create_key
from batchgate.api.bodies import KeyCreate
from batchgate.aws.store import Store
from batchgate.core.errors import Conflict, Forbidden, NotFound


def key_to_api(record: dict[str, Any]) -> dict[str, Any]:
    """A key as the API shows it: never its token or the token's hash."""
    return {
        "id": record["keyId"],
        "org": record["org"],
        "role": record.get("role", "admin"),
        "sandboxes": record.get("sandboxes") or [record.get("sandbox")],
        "user": record.get("user"),
        "description": record.get("description", ""),
        "created": record.get("created"),
        "disabled": bool(record.get("disabled")),
    }


class KeyAdmin:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, p: Principal, body: KeyCreate) -> tuple[dict[str, Any], str]:
        """The new key and its token. A key grants only sandboxes the caller may use itself, so
        an admin of one sandbox cannot mint its way into another."""
        outside = sorted(set(body.sandboxes) - set(p.sandboxes))
        if outside:
            raise Forbidden(
                f"this key may not grant sandbox(es) {', '.join(outside)}: a key grants only sandboxes "
                f"it may use itself ({', '.join(p.sandboxes)})",
                code="BG-403-SANDBOX",
            )
        key = create_key(
            self.store, p.org, body.sandboxes, role=body.role, user=body.user, description=body.description
        )
        return key_to_api(key.record), key.token

    def list(self, p: Principal) -> list[dict[str, Any]]:
        return [key_to_api(r) for r in self.store.list_api_keys(p.org)]

    def disable(self, p: Principal, key_id: str) -> dict[str, Any]:
        record = self.store.get_api_key(key_id)
        if record is None or record["org"] != p.org:
            raise NotFound(f"key {key_id} not found", code="BG-404-KEY")
        if key_id == p.key_id:
            raise Conflict("a key cannot disable itself: use another admin key", code="BG-409-OWN-KEY")
        record["disabled"] = True
        self.store.put_api_key(key_id, record)
        return key_to_api(record)
