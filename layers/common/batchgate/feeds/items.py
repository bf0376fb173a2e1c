"""How a sync's work is cut up: parts sized per destination, each part numbered as the items it
delivers (one part file for S3, one POST per ``batchSize`` rows for a webhook, one item per owed
one), and units grouped into at most ``concurrency`` chunks the state machine's Map delivers side
by side."""

from __future__ import annotations

import math
from typing import Any

from batchgate.feeds.changes import Part
from batchgate.feeds.models import Feed, S3Destination, WebhookDestination

# Webhook parts are read whole by one delivery: keep them small enough for the function's memory.
WEBHOOK_PART_ROWS = 50_000
S3_CONCURRENCY = 4


def part_json(part: Part) -> dict[str, Any]:
    return {"op": part.op, "files": part.files, "rows": part.rows, "bytes": part.bytes}


def part_size(feed: Feed) -> tuple[int, int]:
    d = feed.destination
    if isinstance(d, S3Destination):
        return d.partRows, d.partBytes
    return max(WEBHOOK_PART_ROWS, d.batchSize), 256 * 1024 * 1024


def concurrency_of(feed: Feed) -> int:
    d = feed.destination
    return d.concurrency if isinstance(d, WebhookDestination) else S3_CONCURRENCY


def rows_per_item(feed: Feed) -> int | None:
    """A webhook item's rows (its ``batchSize``); None for S3, where a part is one item."""
    return feed.destination.batchSize if isinstance(feed.destination, WebhookDestination) else None


def number_units(units: list[dict[str, Any]], per: int | None) -> tuple[list[dict[str, Any]], int]:
    """Each unit with its first item number: a part is one item (``per`` None) or one per
    ``per`` rows; an owed item is one item."""
    number = 0
    for unit in units:
        unit["first"] = number
        if "part" in unit and per is not None:
            number += max(1, math.ceil(unit["part"]["rows"] / per))
        else:
            number += 1
    return units, number


def chunk_units(units: list[dict[str, Any]], concurrency: int) -> list[list[int]]:
    """Unit indexes per chunk, at most ``concurrency`` chunks of about equal rows. Owed items
    and deletes come first in unit order; a chunk delivers its units in order."""
    if not units:
        return []
    k = min(concurrency, len(units))
    weights = [max(1, (u.get("part") or u.get("retry") or {}).get("rows", 1)) for u in units]
    target = sum(weights) / k
    chunks: list[list[int]] = [[]]
    acc = 0.0
    for i, w in enumerate(weights):
        if chunks[-1] and acc + w > target and len(chunks) < k:
            chunks.append([])
            acc = 0.0
        chunks[-1].append(i)
        acc += w
    return chunks
