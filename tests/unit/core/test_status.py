"""The status model and the batch rule, as pure functions."""

from __future__ import annotations

import pytest

from batchgate.core.errors import IllegalTransition
from batchgate.core.models import BatchFile, ErrorEntry
from batchgate.core.status import ALL_STATUSES, FINAL, IDEMPOTENT, TRANSITIONS, decide, next_status


def file(name: str, inp: int, out: int, failed: int, *, file_error: bool = False) -> BatchFile:
    return BatchFile(
        batchId="b",
        name=name,
        key=f"k/{name}",
        status="failed" if file_error else "validated",
        inputRecordCount=inp,
        outputRecordCount=out,
        failedRecordCount=failed,
        fileError=ErrorEntry(code="BG-FILE-EMPTY", description="empty") if file_error else None,
    )


def test_happy_path_of_aep_status_model() -> None:
    status = "loading"
    for event, expected in [("COMPLETE", "loaded"), ("STAGE", "staging"), ("SUCCEED", "success")]:
        nxt = next_status(status, event)  # type: ignore[arg-type]
        assert nxt == expected
        status = nxt
    assert next_status("success", "REVERT") == "inactive"
    assert next_status("inactive", "DELETE") == "deleted"


@pytest.mark.parametrize("status", ["loaded", "staging", "retrying", "success", "failed"])
def test_complete_is_idempotent_after_the_first(status: str) -> None:
    assert next_status(status, "COMPLETE") is None  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["success", "failed", "inactive", "deleted", "abandoned"])
def test_abort_after_the_outcome_is_refused_with_what_is_allowed(status: str) -> None:
    with pytest.raises(IllegalTransition) as exc:
        next_status(status, "ABORT")  # type: ignore[arg-type]
    assert "ABORT is allowed from" in exc.value.message
    assert exc.value.status == 409


def test_every_event_and_status_has_exactly_one_answer() -> None:
    for event in TRANSITIONS:
        for status in ALL_STATUSES:
            try:
                result = next_status(status, event)
            except IllegalTransition:
                assert status not in TRANSITIONS[event]
                assert status not in IDEMPOTENT.get(event, frozenset())
                continue
            if result is None:
                assert status in IDEMPOTENT[event]
            else:
                assert TRANSITIONS[event][status] == result


def test_a_stalled_batch_can_be_completed_again_or_aborted() -> None:
    assert next_status("stalled", "COMPLETE") == "loaded"
    assert next_status("stalled", "ABORT") == "aborted"


def test_final_states_only_leave_through_revert_replace_or_gc() -> None:
    for event, moves in TRANSITIONS.items():
        for src in moves:
            if src in FINAL:
                assert event in ("REVERT", "REPLACE", "DELETE"), (event, src)


def test_batch_rule_counts_and_partial_ingestion() -> None:
    files = [file("a", 100, 98, 2), file("b", 50, 50, 0)]
    strict = decide(files, 0)
    assert not strict.succeeded
    assert strict.metrics.input_record_count == 150
    assert strict.metrics.output_record_count == 148
    assert strict.metrics.failed_record_count == 2
    (summary,) = [e for e in strict.errors if e.code == "BG-BATCH-ROW-ERRORS"]
    assert "2 of 150 records failed" in summary.description
    assert decide(files, 1.5).succeeded  # 1.33 % ≤ 1.5 %
    assert not decide(files, 1.0).succeeded


def test_the_batch_carries_a_sample_of_row_errors_naming_file_row_and_field() -> None:
    rows = [
        ErrorEntry(code="BG-ROW-TYPE", description="not an integer", row=i, field="age") for i in range(30)
    ]
    f = file("a.csv", 40, 10, 30).model_copy(update={"errors": rows})
    outcome = decide([f], 0)
    sample = [e for e in outcome.errors if e.code == "BG-ROW-TYPE"]
    assert len(sample) == 10 and sample[0].file == "a.csv" and sample[0].row == 0 and sample[0].field == "age"


def test_without_diagnostics_only_the_summary_is_kept() -> None:
    rows = [ErrorEntry(code="BG-ROW-TYPE", description="not an integer", row=1, field="age")]
    outcome = decide([file("a.csv", 2, 1, 1).model_copy(update={"errors": rows})], 0, diagnostics=False)
    assert [e.code for e in outcome.errors] == ["BG-BATCH-ROW-ERRORS"]


def test_file_level_error_fails_the_batch_whatever_the_percentage() -> None:
    outcome = decide([file("a", 10, 10, 0), file("bad", 0, 0, 0, file_error=True)], 100)
    assert not outcome.succeeded
    assert outcome.errors[0].file == "bad"


def test_empty_batch_fails_with_a_clear_error() -> None:
    outcome = decide([], 0)
    assert not outcome.succeeded
    assert outcome.errors[0].code == "BG-BATCH-EMPTY"


def test_conservation_is_enforced() -> None:
    broken = file("a", 10, 5, 1)
    with pytest.raises(AssertionError, match="record conservation"):
        decide([broken], 0)
