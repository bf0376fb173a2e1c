"""Racing actions and a model-based test of the batch lifecycle through the API."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from batchgate.api.error_map import classify
from batchgate.aws.store import Store
from batchgate.core.errors import IllegalTransition
from batchgate.core.models import Batch, BatchStatus
from batchgate.core.principal import Principal
from batchgate.core.status import ALL_STATUSES, BatchAction, next_status
from batchgate.ingest.batch_actions import BatchActions
from batchgate.settings import settings as bg_settings
from tests.integration.api.harness import TABLE, Api, Aws

ACME = Principal("acme", "prod", "k", "tester")


class BarrierStore(Store):
    """A real Store whose first batch read in each thread waits for the other thread's: both
    actions then decide on the same 'loading' batch, and only the conditional write can part them."""

    def __init__(self, table: str, parties: int) -> None:
        super().__init__(table)
        self.barrier = threading.Barrier(parties)
        self.local = threading.local()

    def get_batch(self, org: str, sandbox: str, batch_id: str, *, consistent: bool = True) -> Batch:
        batch = super().get_batch(org, sandbox, batch_id, consistent=consistent)
        if not getattr(self.local, "waited", False):
            self.local.waited = True
            self.barrier.wait(timeout=20)
        return batch


def _race(api: Api, actions: tuple[BatchAction, BatchAction]) -> tuple[str, list[int]]:
    ds = api.create_dataset()
    b = api.create_batch(ds)["id"]
    store = BarrierStore(TABLE, 2)
    lifecycle = BatchActions(store, bg_settings())

    def run(action: BatchAction) -> int:
        try:
            lifecycle.act(ACME, b, action)
        except Exception as exc:  # mapped exactly as the API maps it
            return classify(exc)[0]
        return 200

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(run, actions))
    return b, statuses


@pytest.mark.parametrize("_round", range(3))
def test_racing_complete_and_abort_exactly_one_wins(api: Api, aws: Aws, _round: int) -> None:
    b, statuses = _race(api, ("COMPLETE", "ABORT"))
    assert sorted(statuses) == [200, 409]
    final = aws.store.get_batch("acme", "prod", b).status
    assert final == ("loaded" if statuses[0] == 200 else "aborted")
    assert len(aws.executions("COMPLETE")) == (1 if final == "loaded" else 0)


def test_racing_completes_both_succeed_with_one_execution(api: Api, aws: Aws) -> None:
    b, statuses = _race(api, ("COMPLETE", "COMPLETE"))
    assert statuses == [200, 200]
    assert [e["name"] for e in aws.executions("COMPLETE")] == [f"complete-{b}"]


# -- model-based ---------------------------------------------------------------------------
# What the state machines (written elsewhere) do after COMPLETE / REVERT, applied directly so
# the model reaches every status the API can meet.
SYSTEM_MOVES: dict[BatchStatus, tuple[BatchStatus, ...]] = {
    "loaded": ("staging", "failed"),
    "staging": ("success", "failed", "retrying"),
    "retrying": ("staging", "stalled"),
}


class LifecycleMachine(RuleBasedStateMachine):
    api: Api
    aws: Aws

    def __init__(self) -> None:
        super().__init__()
        self.batches: dict[str, BatchStatus] = {}
        self.files: dict[str, int] = {}

    @initialize()
    def dataset(self) -> None:
        self.ds = self.api.create_dataset()

    @rule()
    def create(self) -> None:
        body = self.api.create_batch(self.ds)
        self.batches[body["id"]] = "loading"
        self.files[body["id"]] = 0

    def _pick(self, data: Any) -> str | None:
        # Batches in creation order, never sorted by id: ids are random, and a choice must pick
        # the same batch whenever hypothesis replays it (else: FlakyStrategyDefinition).
        return data.draw(st.sampled_from(list(self.batches))) if self.batches else None

    @rule(data=st.data())
    def upload(self, data: Any) -> None:
        b = self._pick(data)
        if b is None:
            return
        r = self.api.put_file(b, self.ds, f"f{self.files[b]}.json", b"{}\n")
        if self.batches[b] == "loading":
            assert r.status == 200, r.body
            self.files[b] += 1
        else:
            assert r.status == 409 and r.error_code == "BG-409-BATCH-NOT-LOADING"

    @rule(data=st.data(), action=st.sampled_from(["COMPLETE", "ABORT", "REVERT"]))
    def act(self, data: Any, action: BatchAction) -> None:
        b = self._pick(data)
        if b is None:
            return
        before = self.batches[b]
        r = self.api.action(b, action)
        try:
            target = next_status(before, action)
        except IllegalTransition:
            assert r.status == 409, (before, action, r.body)
            return
        assert r.status == 200, (before, action, r.body)
        if target is not None and action != "REVERT":  # REVERT's flip is its state machine's
            self.batches[b] = target
        assert r.json()["status"] == self.batches[b]
        if action == "REVERT":
            assert any(e["name"] == f"revert-{b}" for e in self.aws.executions("REVERT"))

    @rule(data=st.data())
    def system(self, data: Any) -> None:
        movable = [b for b, s in self.batches.items() if s in SYSTEM_MOVES]  # creation order, as above
        if not movable:
            return
        b = data.draw(st.sampled_from(movable))
        target = data.draw(st.sampled_from(SYSTEM_MOVES[self.batches[b]]))
        stored = self.aws.store.get_batch("acme", "prod", b)
        self.aws.store.save_batch(
            stored.model_copy(update={"status": target}),
            expected_status=stored.status,
            expected_version=stored.version,
        )
        self.batches[b] = target

    @invariant()
    def statuses_match_the_model(self) -> None:
        for b, expected in self.batches.items():
            status = self.aws.store.get_batch("acme", "prod", b).status
            assert status in ALL_STATUSES and status == expected


def test_lifecycle_follows_the_status_model(api: Api, aws: Aws) -> None:
    LifecycleMachine.api, LifecycleMachine.aws = api, aws
    LifecycleMachine.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    LifecycleMachine.TestCase().runTest()
