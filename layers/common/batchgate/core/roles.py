"""What each role of an API key may call (DESIGN, "Roles and sandboxes").

* ``reader`` — reads only (GET / HEAD).
* ``writer`` — reads, and feeds datasets: creates batches, uploads their files, acts on them
  (COMPLETE / ABORT / REVERT, and file actions).
* ``admin`` — everything: datasets, the schema registry, keys, jobs (and, as they land, feeds
  and bundles).

Checked on the resource path and method before any route runs, so a route added later is
admin-only until a rule here says otherwise.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

Role = Literal["admin", "writer", "reader"]
ROLES: tuple[str, ...] = get_args(Role)
READS = frozenset({"GET", "HEAD", "OPTIONS"})

# What a writer may change beyond reading: (methods, path).
_WRITER: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = (
    (frozenset({"POST"}), re.compile(r"^/data/foundation/import/batches/?$")),
    (frozenset({"POST"}), re.compile(r"^/data/foundation/import/batches/[^/]+/?$")),
    (
        frozenset({"PUT", "PATCH", "POST"}),
        re.compile(r"^/data/foundation/import/batches/[^/]+/datasets/[^/]+/files/.+$"),
    ),
)


def allowed(role: str, method: str, path: str) -> bool:
    method = method.upper()
    if role == "admin":
        return True
    if method in READS:
        return role in ROLES
    if role != "writer":
        return False
    return any(method in methods and pattern.match(path) for methods, pattern in _WRITER)


def needed(method: str, path: str) -> Role:
    """The least role that may make this call (for the error message)."""
    if method.upper() in READS:
        return "reader"
    return "writer" if allowed("writer", method, path) else "admin"
