"""Limits on JSON request bodies, checked before any parser sees them: Python's JSON parser and
pydantic recurse once per nesting level, so a body nested 100,000 deep would exhaust the stack
and answer 500 instead of a 400 naming the limit."""

from __future__ import annotations

import re

from batchgate.core import limits
from batchgate.core.errors import InvalidRequest

# A JSON string (skipped whole: brackets inside it do not nest) or one bracket.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(body: bytes, stop_after: int) -> int:
    """How deep ``body``'s arrays and objects nest (0 for a scalar); counting stops once the
    depth passes ``stop_after``, so a hostile body costs no more than the limit."""
    depth = deepest = 0
    for token in _TOKEN.finditer(body):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_after:
                    return deepest
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def check_json_body(body: bytes) -> None:
    """400 ``BG-400-LIMIT`` naming ``maxJsonDepth`` for a body nested deeper than it."""
    limit = limits.JSON_BODY_DEPTH
    if json_depth(body, limit.value) > limit.value:
        raise InvalidRequest(
            f"the JSON body nests deeper than {limit.name} = {limit.value} {limit.unit}", code="BG-400-LIMIT"
        )
