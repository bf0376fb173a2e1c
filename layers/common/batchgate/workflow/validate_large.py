"""Tasks of the validate-large state machine (``statemachines/validate_large.asl.json``): plan a
large file's parts, validate each part, merge; SplitFailed when the split itself fails.

Parts run in parallel (a Step Functions Map). Each part's result is written to S3 and only its
key travels through the execution, so the state stays far below Step Functions' 256 KB limit
whatever the number of parts and errors. The merged result is recorded exactly like a one-pass
result (:func:`batchgate.ingest.results.record_result`), conditional on the object's sequencer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchgate.aws.s3fs import s3_filesystem
from batchgate.core import keys
from batchgate.core.file_names import format_for_name
from batchgate.core.models import Batch, Dataset, ErrorEntry
from batchgate.core.upsert_rules import required_at_commit
from batchgate.ingest.messages import ObjectEvent
from batchgate.ingest.results import record_result
from batchgate.validation import FileResult, land_nothing, merge_results, plan_parts, validate_file
from batchgate.validation.codes import FILE_UNREADABLE
from batchgate.workflow.context import State, TaskContext


def plan_file_parts(ctx: TaskContext, state: State) -> State:
    file = state["file"]
    batch, _ = _context(ctx, file)
    parts = plan_parts(
        s3_filesystem(),
        keys.fs_path(file["bucket"], file["key"]),
        batch.input_format,
        file["size"],
        ctx.settings.split_bytes,
        compression=format_for_name(file["name"])[1],
    )
    return {"parts": [{**p, "byte_range": list(p["byte_range"])} if "byte_range" in p else p for p in parts]}


def validate_part(ctx: TaskContext, state: State) -> State:
    file, part = state["file"], dict(state["part"])
    batch, dataset = _context(ctx, file)
    if "byte_range" in part:
        part["byte_range"] = tuple(part["byte_range"])
    result = validate_file(
        fs=s3_filesystem(),
        source_path=keys.fs_path(file["bucket"], file["key"]),
        dataset=dataset,
        input_format=batch.input_format,
        batch_id=batch.id,
        file_name=file["name"],
        staged_dir=keys.fs_path(file["bucket"], keys.batch_staged_prefix(batch)),
        failed_dir=keys.fs_path(file["bucket"], keys.batch_failed_prefix(batch)),
        compression=format_for_name(file["name"])[1],
        required_at_commit=required_at_commit(dataset, batch),
        **part,
    )
    key = keys.part_result_key(
        file["org"],
        file["sandbox"],
        file["batchId"],
        file["name"],
        file["sequencer"],
        int(part.get("part", 0)),
    )
    ctx.objects.put_json(key, result_to_json(result))
    return {"resultKey": key}


def merge_parts(ctx: TaskContext, state: State) -> State:
    file = state["file"]
    batch, _ = _context(ctx, file)
    result_keys = [item["resultKey"] for item in state["results"]]
    merged = merge_results([result_from_json(ctx.objects.get_json(k)) for k in result_keys])
    failed_dir = keys.fs_path(file["bucket"], keys.batch_failed_prefix(batch))
    merged = land_nothing(s3_filesystem(), merged, failed_dir, file["name"], part=len(result_keys))
    outcome = record_result(ctx.store, _event(file), batch, file["name"], merged)
    ctx.objects.delete_keys(result_keys)
    return {"status": outcome, "parts": len(result_keys), "inputRecordCount": merged.input_record_count}


def split_failed(ctx: TaskContext, state: State) -> State:
    """The split itself failed: the file gets a file-level error instead of waiting forever."""
    file = state["file"]
    batch, _ = _context(ctx, file)
    cause = str((state.get("error") or {}).get("Cause") or "the split validation failed")
    error = ErrorEntry(code=FILE_UNREADABLE, description=f"validated in parts, failed: {cause}"[:1000])
    return {
        "status": record_result(ctx.store, _event(file), batch, file["name"], FileResult(file_error=error))
    }


def _context(ctx: TaskContext, file: dict[str, Any]) -> tuple[Batch, Dataset]:
    batch = ctx.store.get_batch(file["org"], file["sandbox"], file["batchId"])
    return batch, ctx.store.get_dataset(batch.org, batch.sandbox, batch.dataset_id)


def _event(file: dict[str, Any]) -> ObjectEvent:
    return ObjectEvent(
        file["bucket"],
        file["key"],
        file["size"],
        file["etag"],
        file.get("versionId"),
        file["sequencer"],
        received_at=file.get("receivedAt"),
    )


def result_to_json(r: FileResult) -> dict[str, Any]:
    return {
        "input_record_count": r.input_record_count,
        "output_record_count": r.output_record_count,
        "failed_record_count": r.failed_record_count,
        "input_bytes": r.input_bytes,
        "staged_paths": r.staged_paths,
        "failed_path": r.failed_path,
        "failed_paths": r.failed_paths,
        "errors": [e.model_dump() for e in r.errors],
        "file_error": r.file_error.model_dump() if r.file_error else None,
        "duration_ms": r.duration_ms,
        "line_count": r.line_count,
        "present_columns": r.present_columns,
        "extra_columns": r.extra_columns,
        "added_columns": r.added_columns,
    }


def result_from_json(d: dict[str, Any]) -> FileResult:
    return FileResult(
        **{
            **d,
            "errors": [ErrorEntry.model_validate(e) for e in d["errors"]],
            "file_error": ErrorEntry.model_validate(d["file_error"]) if d["file_error"] else None,
        }
    )


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {
    "plan_parts": plan_file_parts,
    "validate_part": validate_part,
    "merge_parts": merge_parts,
    "split_failed": split_failed,
}
