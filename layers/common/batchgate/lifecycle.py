"""What the API does, free of HTTP: datasets, batches, batch actions and the export listings.

Every status change goes through :func:`batchgate.core.status.next_status` and is written with
``Store.save_batch``'s conditional write, so of two racing actions exactly one wins and the
other gets a 409; nothing half-applies. State machine executions get deterministic names
(``complete-{batchId}`` …), so repeating an action can never start a second run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from batchgate.api.auth import Principal
from batchgate.api.bodies import BatchAction, BatchCreate, DatasetCreate
from batchgate.aws import objects
from batchgate.aws.clients import client
from batchgate.aws.store import BatchQuery, Store
from batchgate.core.errors import (
    BatchgateError,
    Conflict,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    Transient,
)
from batchgate.core.models import Batch, BatchFile, Dataset
from batchgate.core.status import next_status
from batchgate.settings import Settings


class NotConfigured(BatchgateError):
    """A state machine ARN the action needs is not set: say so instead of pretending it ran."""

    code = "BG-503-NOT-CONFIGURED"
    status = 503


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    """24 hex characters, the shape of AEP's catalog ids; random, so ids reveal nothing."""
    return secrets.token_hex(12)


_INVALID_NAME = re.compile(r"[^a-z0-9_]")


def _sanitise(value: str) -> str:
    clean = _INVALID_NAME.sub("_", value.lower())[:120]
    if clean != value:
        clean = f"{clean}_{hashlib.sha256(value.encode()).hexdigest()[:6]}"
    return clean


def table_identifier(org: str, sandbox: str, dataset_id: str) -> str:
    """The Iceberg identifier recorded on a new dataset: the same rule as
    ``batchgate.lake.tables.table_identifier`` (a test keeps them equal), restated here because
    that module pulls pyarrow into every API cold start for one string."""
    return f"bg_{_sanitise(org)}_{_sanitise(sandbox)}.ds_{_sanitise(dataset_id)}"


def dataset_to_aep(ds: Dataset) -> dict[str, Any]:
    return {
        "id": ds.id,
        "name": ds.name,
        "imsOrg": ds.org,
        "sandboxName": ds.sandbox,
        "schema": ds.schema_.model_dump(by_alias=True, exclude_none=True),
        "tags": ds.tags.model_dump(by_alias=True),
        "created": ds.created,
        "updated": ds.updated,
        "table": ds.table,
        "version": "1.0.0",
    }


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN StartExecution will give ``name``; known before the call, so the batch can record
    it in the same conditional write that changes its status."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


# -- export file ids ----------------------------------------------------------------------
# A dataSetFileId names (batch, kind, file name), never an S3 key: a download is resolved through
# the caller's own batch and file items, so another tenant's or an arbitrary object is unreachable.
FILE_KINDS = ("upload", "failed")


def encode_file_id(batch_id: str, kind: str, name: str, part: int = 0) -> str:
    """An opaque download id. ``part`` tells apart the failed-records files of a file that was
    validated in parts (one report per part); it is left out when 0."""
    fields: list[Any] = [batch_id, kind, name] + ([part] if part else [])
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_file_id(file_id: str) -> tuple[str, str, str, int]:
    try:
        raw = base64.urlsafe_b64decode(file_id + "=" * (-len(file_id) % 4))
        fields = json.loads(raw)
        batch_id, kind, name = fields[:3]
        part = fields[3] if len(fields) == 4 else 0
        if len(fields) not in (3, 4) or kind not in FILE_KINDS or not isinstance(part, int) or part < 0:
            raise ValueError(kind)
        if not isinstance(batch_id, str) or not isinstance(name, str):
            raise ValueError(kind)
    except (ValueError, TypeError, IndexError, binascii.Error) as exc:
        raise NotFound(f"file {file_id!r} not found", code="BG-404-FILE") from exc
    return batch_id, kind, name, part


@dataclass(frozen=True)
class ExportFile:
    file_id: str
    batch_id: str
    dataset_id: str
    name: str
    key: str
    size: int | None
    is_valid: bool
    created: int
    updated: int


@dataclass
class Download:
    """A file or byte range to send inline, or a presigned URL to redirect to."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    redirect: str | None = None


class RangeNotSatisfiable(BatchgateError):
    code = "BG-416-RANGE"
    status = 416

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.headers = {"Content-Range": f"bytes */{size}"}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` / ``a-`` / ``-n`` range as inclusive (start, end); None for the whole file.
    Multiple ranges are refused rather than answered with a multipart body."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeNotSatisfiable(f"unsupported Range {header!r}; send one 'bytes=start-end' range", size)
    first, last = m.group(1), m.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            raise RangeNotSatisfiable(f"Range {header!r} ends before it starts", size)
    else:
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable("a suffix range of 0 bytes selects nothing", size)
        start, end = max(size - n, 0), size - 1
    if start >= size:
        raise RangeNotSatisfiable(f"Range {header!r} starts beyond the file's {size} bytes", size)
    return start, end


class Lifecycle:
    def __init__(self, store: Store, cfg: Settings) -> None:
        self.store = store
        self.cfg = cfg

    @property
    def sfn(self) -> Any:
        return client("stepfunctions")

    @property
    def s3(self) -> Any:
        return client("s3")

    # -- datasets -------------------------------------------------------------------------
    def create_dataset(self, p: Principal, body: DatasetCreate) -> Dataset:
        if body.schema_ is None:
            if body.schema_ref is not None:
                raise InvalidRequest(
                    "'schemaRef' (an XDM schema id) is not supported: give the dataset's columns in "
                    "'schema': {\"fields\": [...]} (see docs/api.md)",
                    code="BG-400-SCHEMA-REF",
                )
            raise InvalidRequest('\'schema\' is required: {"fields": [{"name", "type"}, ...]}')
        ts = now_ms()
        ds_id = new_id()
        ds = Dataset(
            id=ds_id,
            name=body.name,
            org=p.org,
            sandbox=p.sandbox,
            schema_=body.schema_,
            tags=body.tags,
            created=ts,
            updated=ts,
            table=table_identifier(p.org, p.sandbox, ds_id),
        )
        self.store.put_dataset(ds)
        return ds

    def get_dataset(self, p: Principal, dataset_id: str) -> Dataset:
        return self.store.get_dataset(p.org, p.sandbox, dataset_id)

    def list_datasets(self, p: Principal, *, limit: int, start: int) -> list[Dataset]:
        return self.store.list_datasets(p.org, p.sandbox, limit=limit, start=start)

    # -- batches --------------------------------------------------------------------------
    def create_batch(self, p: Principal, body: BatchCreate) -> Batch:
        try:
            self.store.get_dataset(p.org, p.sandbox, body.dataset_id)
        except NotFound as exc:
            raise InvalidRequest(
                f"dataset {body.dataset_id!r} not found; create it first or check the id",
                code="BG-400-UNKNOWN-DATASET",
            ) from exc
        if body.replay is not None:
            self._check_predecessors(p, body.dataset_id, body.replay.predecessors)
        ts = now_ms()
        batch = Batch(
            id=new_id(),
            org=p.org,
            sandbox=p.sandbox,
            dataset_id=body.dataset_id,
            input_format=body.input_format,
            enable_error_diagnostics=body.enable_error_diagnostics,
            partial_ingestion_percentage=body.partial_ingestion_percentage,
            replay=body.replay,
            created=ts,
            updated=ts,
            created_user=p.user,
            updated_user=p.user,
        )
        self.store.create_batch(batch)
        return batch

    def _check_predecessors(self, p: Principal, dataset_id: str, predecessors: list[str]) -> None:
        if len(set(predecessors)) != len(predecessors):
            raise InvalidRequest("replay.predecessors lists a batch twice", code="BG-400-REPLAY")
        for pred_id in predecessors:
            try:
                pred = self.store.get_batch(p.org, p.sandbox, pred_id)
            except NotFound as exc:
                raise InvalidRequest(
                    f"replay predecessor {pred_id!r} not found", code="BG-400-REPLAY"
                ) from exc
            if pred.dataset_id != dataset_id:
                raise InvalidRequest(
                    f"replay predecessor {pred_id!r} belongs to dataset {pred.dataset_id!r}, "
                    f"not {dataset_id!r}",
                    code="BG-400-REPLAY",
                )
            if pred.status != "success":
                raise InvalidRequest(
                    f"replay predecessor {pred_id!r} is '{pred.status}'; only 'success' batches can "
                    "be replaced",
                    code="BG-400-REPLAY",
                )

    def get_batch(self, p: Principal, batch_id: str) -> Batch:
        return self.store.get_batch(p.org, p.sandbox, batch_id)

    def list_batches(self, p: Principal, q: BatchQuery) -> list[Batch]:
        return self.store.list_batches(p.org, p.sandbox, q)

    # -- actions --------------------------------------------------------------------------
    def act(self, p: Principal, batch_id: str, action: BatchAction) -> Batch:
        """COMPLETE / ABORT / REVERT. Returns the batch as it is after the action."""
        b = self.store.get_batch(p.org, p.sandbox, batch_id)
        if self._is_repeat(b, action):
            return self._ensure_started(b, action)
        next_status(b.status, action)  # raises IllegalTransition (409) naming what is allowed
        arn = self._machine(action)
        if action == "COMPLETE":
            self._check_files_landed(p, b)
        new = self._apply(b, action, p.user, arn)
        try:
            stored = self.store.save_batch(new, expected_status=b.status, expected_version=b.version)
        except IllegalTransition:
            # Lost a race. Only a repeat of the same action turns into success; anything else
            # (COMPLETE vs ABORT) is the loser's 409, even if its action would now be allowed.
            current = self.store.get_batch(p.org, p.sandbox, batch_id)
            if self._is_repeat(current, action) and current.execution_arn == new.execution_arn:
                return self._ensure_started(current, action)
            raise
        if action == "ABORT" and b.execution_arn:
            self._stop(b.execution_arn)
        return self._ensure_started(stored, action)

    def _machine(self, action: BatchAction) -> str | None:
        arn = {
            "COMPLETE": self.cfg.complete_state_machine_arn,
            "REVERT": self.cfg.revert_state_machine_arn,
            "ABORT": self.cfg.abort_state_machine_arn,
        }[action]
        if not arn and action != "ABORT":
            # ABORT's cleanup machine is optional; COMPLETE and REVERT do nothing without theirs.
            env = {"COMPLETE": "BATCHGATE_COMPLETE_SM", "REVERT": "BATCHGATE_REVERT_SM"}[action]
            raise NotConfigured(f"{action} needs a state machine: {env} is not set in this deployment")
        return arn

    def _is_repeat(self, b: Batch, action: BatchAction) -> bool:
        if action == "REVERT" and b.status == "success" and b.execution_arn:
            # REVERT leaves the status to its state machine; the recorded execution marks a repeat.
            return f":revert-{b.id}" in b.execution_arn
        try:
            return next_status(b.status, action) is None
        except IllegalTransition:
            return False

    @staticmethod
    def _apply(b: Batch, action: BatchAction, user: str, arn: str | None) -> Batch:
        update: dict[str, Any] = {"updated": now_ms(), "updated_user": user}
        target = next_status(b.status, action)
        if action != "REVERT" and target is not None:
            update["status"] = target
        update["execution_arn"] = execution_arn(arn, _execution_name(b, action)) if arn else None
        return b.model_copy(update=update)

    def _ensure_started(self, b: Batch, action: BatchAction) -> Batch:
        """Start (or re-start: the name makes it a no-op) the action's execution when one is due."""
        due = {
            "COMPLETE": b.status == "loaded",
            "REVERT": b.status == "success",
            "ABORT": b.status == "aborted",
        }[action]
        if not due:
            return b
        arn = self._machine(action)
        if arn is None:
            return b
        payload = {"org": b.org, "sandbox": b.sandbox, "batchId": b.id, "datasetId": b.dataset_id}
        try:
            name = b.execution_arn.rsplit(":", 1)[1] if b.execution_arn else _execution_name(b, action)
            self.sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code != "ExecutionAlreadyExists":
                raise Transient(
                    f"batch {b.id} is '{b.status}' but its {action} execution could not be started "
                    f"({code}); repeat the action to retry",
                    code="BG-503-START-FAILED",
                ) from exc
        return b

    def _stop(self, arn: str) -> None:
        try:
            self.sfn.stop_execution(executionArn=arn, cause="batch aborted")
        except ClientError as exc:
            # Already finished or never started: there is nothing left to stop.
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("ExecutionDoesNotExist", "ExecutionNotRunning", "ValidationException"):
                raise

    def _check_files_landed(self, p: Principal, b: Batch) -> None:
        """COMPLETE must not seal a batch whose chunked or presigned files never arrived."""
        missing = []
        for f in self.store.list_files(p.org, p.sandbox, b.id):
            if f.status == "uploading" and not self._exists(f.key):
                missing.append(f.name)
        if missing:
            shown = ", ".join(repr(n) for n in missing[:5])
            raise Conflict(
                f"{len(missing)} file(s) of batch {b.id} have no data yet: {shown}; finish their "
                "upload (PATCH chunks + COMPLETE, or the presigned PUT) or ABORT the batch",
                code="BG-409-FILES-INCOMPLETE",
            )

    def _exists(self, key: str) -> bool:
        return objects.exists(self.cfg.bucket, key)

    # -- dataset rows ---------------------------------------------------------------------
    def catalog(self) -> Any:
        """The Iceberg catalog: one per process, shared with the workflow (``batchgate.landing``)
        so two first uses cannot race to create a SQL catalog's tables."""
        from batchgate import landing

        return landing.catalog()

    def read_rows(
        self,
        p: Principal,
        dataset_id: str,
        *,
        limit: int,
        start: str | None,
        as_of_batch: str | None,
        batch_id: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the dataset's current rows (or as of a batch's snapshot, or one batch's)."""
        # imported here, not at the top: the other routes' cold start stays free of pyarrow
        from batchgate.lake.read import read_rows, snapshot_for
        from batchgate.lake.tables import load_table

        ds = self.store.get_dataset(p.org, p.sandbox, dataset_id)
        for ref in (as_of_batch, batch_id):
            if ref is not None and self.store.get_batch(p.org, p.sandbox, ref).dataset_id != ds.id:
                raise InvalidRequest(f"batch {ref!r} belongs to another dataset", code="BG-400-BATCH-DATASET")
        catalog = self.catalog()
        try:
            load_table(catalog, ds)
        except NotFound:
            return [], None  # no batch has landed yet: the table does not exist so far
        snapshot = None
        if as_of_batch is not None:
            snapshot = snapshot_for(catalog, ds, as_of_batch)
            if snapshot is None:
                raise InvalidRequest(
                    f"batch {as_of_batch!r} has no snapshot in the table's current history "
                    "(not landed yet, reverted, or its snapshot expired)",
                    code="BG-400-AS-OF-BATCH",
                )
        return read_rows(catalog, ds, limit=limit, start=start or 0, snapshot_id=snapshot, batch_id=batch_id)

    # -- exports --------------------------------------------------------------------------
    def export_files(self, p: Principal, batch_id: str, *, failed: bool) -> list[ExportFile]:
        b = self.store.get_batch(p.org, p.sandbox, batch_id)
        if failed and not b.enable_error_diagnostics:
            # The failed records are still written (they prove input = output + failed) but,
            # as in AEP, they are only handed out when the batch asked for diagnostics.
            raise Conflict(
                f"batch {b.id} was created with enableErrorDiagnostics: false, so its failed rows "
                "are not available; create the batch with enableErrorDiagnostics: true to download them",
                code="BG-409-DIAGNOSTICS-OFF",
            )
        out = []
        for f in sorted(self.store.list_files(p.org, p.sandbox, b.id), key=lambda f: f.name):
            if not failed:
                out.append(self._export_file(b, f, "upload"))
                continue
            for part, _ in enumerate(_failed_keys(f)):
                out.append(self._export_file(b, f, "failed", part))
        return out

    @staticmethod
    def _export_file(b: Batch, f: BatchFile, kind: str, part: int = 0) -> ExportFile:
        valid = f.file_error is None and f.status != "failed" and kind == "upload"
        return ExportFile(
            file_id=encode_file_id(b.id, kind, f.name, part),
            batch_id=b.id,
            dataset_id=b.dataset_id,
            name=f.name,
            key=f.key if kind == "upload" else _failed_keys(f)[part],
            size=f.size if kind == "upload" else None,
            is_valid=valid,
            created=b.created,
            updated=f.validated_at or b.updated,
        )

    def download(self, p: Principal, file_id: str, range_header: str | None, *, inline_max: int) -> Download:
        batch_id, kind, name, part = decode_file_id(file_id)
        b = self.store.get_batch(p.org, p.sandbox, batch_id)
        f = self.store.get_file(p.org, p.sandbox, b.id, name)
        key = None
        if f is not None and kind == "upload":
            key = f.key
        elif f is not None and part < len(_failed_keys(f)):
            key = _failed_keys(f)[part]
        if key is None:
            raise NotFound(f"file {file_id!r} not found", code="BG-404-FILE")
        try:
            size = int(self.s3.head_object(Bucket=self.cfg.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            raise NotFound(f"file {file_id!r} has no data (yet)", code="BG-404-FILE") from exc
        rng = parse_range(range_header, size) if size else None
        length = size if rng is None else rng[1] - rng[0] + 1
        if length > inline_max:
            # Lambda answers at most 6 MB (base64 costs a third): send the client to S3 itself.
            # HTTP clients repeat the Range header on the redirected request.
            url = self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.cfg.bucket, "Key": key}, ExpiresIn=900
            )
            return Download(status=307, redirect=url, headers={"Location": url})
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'attachment; filename="{_disposition(name)}"',
        }
        if rng is None:
            body = self.s3.get_object(Bucket=self.cfg.bucket, Key=key)["Body"].read()
            return Download(status=200, body=body, headers=headers)
        obj = self.s3.get_object(Bucket=self.cfg.bucket, Key=key, Range=f"bytes={rng[0]}-{rng[1]}")
        headers["Content-Range"] = f"bytes {rng[0]}-{rng[1]}/{size}"
        return Download(status=206, body=obj["Body"].read(), headers=headers)


def _failed_keys(f: BatchFile) -> list[str]:
    """A file's failed-records reports: one per part when it was validated in parts."""
    return f.failed_keys or ([f.failed_key] if f.failed_key else [])


def _disposition(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", base)


def _execution_name(b: Batch, action: BatchAction) -> str:
    """``complete-{id}`` / ``abort-{id}``: a repeat can never start a second run. A REVERT that
    failed, or a COMPLETE of a stalled batch, is a new attempt, and execution names stay taken for
    90 days: those attempts are named after the batch version they started from."""
    if action == "REVERT" or (action == "COMPLETE" and b.status == "stalled"):
        return f"{action.lower()}-{b.id}-v{b.version}"
    return f"{action.lower()}-{b.id}"
