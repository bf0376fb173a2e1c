"""Tasks of the feed-sync state machine (``statemachines/feed_sync.asl.json``): one sync of a feed.

    Plan → Deliver (Map over chunks of parts, concurrently) → Finalize;  any failure → Fail

Plan works out the changes (:mod:`batchgate.feeds.changes`) and writes them to S3 as
``plan.json`` under the sync's prefix; the state carries only chunk numbers, so a sync of any size
stays within Step Functions' payload limits. Owed items (failed in an earlier sync) go first, then
the parts, deletes before upserts. Every task is idempotent per sync: a restarted plan reuses its
``plan.json``, a restarted delivery skips items already sent (a part file is written under the
same key; a webhook item carries the same ``Idempotency-Key``), and only Finalize moves the
watermark, so a sync killed half-way never passes undelivered rows.

The tasks, one module per step: :mod:`.plan`, :mod:`.deliver`, :mod:`.settle` (Finalize, Fail and
a failed task's note on its sync); :mod:`.loading` what they share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchgate.workflow.context import State, TaskContext
from batchgate.workflow.feed_sync.deliver import feed_deliver
from batchgate.workflow.feed_sync.plan import feed_plan
from batchgate.workflow.feed_sync.settle import feed_fail, feed_finalize, note_failure

__all__ = ["TASKS", "feed_deliver", "feed_fail", "feed_finalize", "feed_plan", "note_failure"]

TASKS: dict[str, Callable[[TaskContext, State], Any]] = {
    "feed_plan": feed_plan,
    "feed_deliver": feed_deliver,
    "feed_finalize": feed_finalize,
    "feed_fail": feed_fail,
}
