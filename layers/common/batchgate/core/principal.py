"""Who makes a call: the API's key holder, or a job acting for the user who set it up."""

from __future__ import annotations

from dataclasses import dataclass

from batchgate.core.roles import Role


@dataclass(frozen=True)
class Principal:
    org: str
    sandbox: str  # the sandbox of this request (one of the key's)
    key_id: str
    user: str
    role: Role = "reader"
    sandboxes: tuple[str, ...] = ()
