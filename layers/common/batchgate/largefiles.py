"""Tasks of the validate-large state machine: plan a large file's parts, validate each part, merge.

Parts run in parallel (a Step Functions Map). Each part's result is written to S3 and only its
key travels through the execution, so the state stays far below Step Functions' 256 KB limit
whatever the number of parts and errors. The merged result is recorded exactly like a one-pass
result (``Ingestor.record``), conditional on the object's sequencer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from batchgate.aws.clients import client
from batchgate.aws.s3fs import s3_filesystem
from batchgate.aws.store import Store
from batchgate.core import keys as layout
from batchgate.core.models import ErrorEntry
from batchgate.ingest import Ingestor, ObjectEvent, failed_dir, staged_dir
from batchgate.settings import Settings
from batchgate.validation import FileResult, merge_results, plan_parts, validate_file
from batchgate.validation.codes import FILE_UNREADABLE


def _event(file: dict[str, Any]) -> ObjectEvent:
    return ObjectEvent(
        file["bucket"], file["key"], file["size"], file["etag"], file.get("versionId"), file["sequencer"]
    )


def _work_key(file: dict[str, Any], part: int) -> str:
    digest = hashlib.sha256(f"{file['name']}\0{file['sequencer']}".encode()).hexdigest()[:24]
    return f"work/{file['org']}/{file['sandbox']}/{file['batchId']}/{digest}/part-{part:05d}.json"


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
    }


def result_from_json(d: dict[str, Any]) -> FileResult:
    return FileResult(
        **{
            **d,
            "errors": [ErrorEntry.model_validate(e) for e in d["errors"]],
            "file_error": ErrorEntry.model_validate(d["file_error"]) if d["file_error"] else None,
        }
    )


class LargeFiles:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def _context(self, file: dict[str, Any]) -> tuple[Any, Any, str | None]:
        batch = self.store.get_batch(file["org"], file["sandbox"], file["batchId"])
        dataset = self.store.get_dataset(batch.org, batch.sandbox, batch.dataset_id)
        return batch, dataset, layout.format_for_name(file["name"])[1]

    def plan(self, state: dict[str, Any]) -> dict[str, Any]:
        file = state["file"]
        batch, _, compression = self._context(file)
        parts = plan_parts(
            s3_filesystem(),
            f"{file['bucket']}/{file['key']}",
            batch.input_format,
            file["size"],
            self.settings.split_bytes,
            compression=compression,
        )
        return {
            "parts": [{**p, "byte_range": list(p["byte_range"])} if "byte_range" in p else p for p in parts]
        }

    def validate_part(self, state: dict[str, Any]) -> dict[str, Any]:
        file, part = state["file"], dict(state["part"])
        batch, dataset, compression = self._context(file)
        if "byte_range" in part:
            part["byte_range"] = tuple(part["byte_range"])
        result = validate_file(
            fs=s3_filesystem(),
            source_path=f"{file['bucket']}/{file['key']}",
            dataset=dataset,
            input_format=batch.input_format,
            batch_id=batch.id,
            file_name=file["name"],
            staged_dir=staged_dir(file["bucket"], batch),
            failed_dir=failed_dir(file["bucket"], batch),
            compression=compression,
            **part,
        )
        key = _work_key(file, int(part.get("part", 0)))
        client("s3").put_object(Bucket=self.settings.bucket, Key=key, Body=json.dumps(result_to_json(result)))
        return {"resultKey": key}

    def merge(self, state: dict[str, Any]) -> dict[str, Any]:
        file = state["file"]
        batch, _, _ = self._context(file)
        s3 = client("s3")
        parts = []
        for item in state["results"]:
            body = s3.get_object(Bucket=self.settings.bucket, Key=item["resultKey"])["Body"].read()
            parts.append(result_from_json(json.loads(body)))
        merged = merge_results(parts)
        outcome = Ingestor(self.settings, self.store).record(_event(file), batch, file["name"], merged)
        s3.delete_objects(
            Bucket=self.settings.bucket,
            Delete={"Objects": [{"Key": i["resultKey"]} for i in state["results"]], "Quiet": True},
        )
        return {"status": outcome, "parts": len(parts), "inputRecordCount": merged.input_record_count}

    def failed(self, state: dict[str, Any]) -> dict[str, Any]:
        """The split itself failed: the file gets a file-level error instead of waiting forever."""
        file = state["file"]
        batch, _, _ = self._context(file)
        cause = str((state.get("error") or {}).get("Cause") or "the split validation failed")
        error = ErrorEntry(code=FILE_UNREADABLE, description=f"validated in parts, failed: {cause}"[:1000])
        outcome = Ingestor(self.settings, self.store).record(
            _event(file), batch, file["name"], FileResult(file_error=error)
        )
        return {"status": outcome}
