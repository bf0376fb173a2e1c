"""Rows an upsert refuses when it lands (:mod:`batchgate.core.upsert_rules`): written to the
batch's failed records and counted out of the output, so input = output + failed still holds.

Crash safety: every commit attempt that decides writes (or clears) one report per file *before*
it commits, at a fixed key (part :data:`COMMIT_PART` of the file's failed records); after the
commit, or on a re-run that finds the commit done, :meth:`CommitRefusals.apply` moves the counts
of each report not yet applied onto its file. A report is applied once: its key joins the file's
``failedKeys`` in the same write as the counts.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from batchgate.core import keys
from batchgate.core.errors import Terminal
from batchgate.core.models import Batch, BatchFile, ErrorEntry
from batchgate.lake.tables import LINEAGE_COLUMNS
from batchgate.lake.upsert import FILE_INDEX, REFUSED_FIELD, REFUSED_INSERT
from batchgate.validation.codes import ROW_REQUIRED
from batchgate.validation.outputs import failed_line, output_stem
from batchgate.workflow.context import TaskContext

# The part number of a file's failed records that holds its rows refused at commit (validation
# parts count from 0, a file is split into far fewer parts).
COMMIT_PART = 99_999
ERRORS_KEPT = 20
_INTERNAL = {FILE_INDEX, REFUSED_FIELD, REFUSED_INSERT, *LINEAGE_COLUMNS}


class TooManyRefused(Terminal):
    """The rows refused at commit push the batch past its partialIngestionPercentage: nothing is
    committed and the batch fails, its reports applied so the counts say why."""

    code = "BG-BATCH-ROW-ERRORS"


class CommitRefusals:
    """Reports of one batch's rows refused at commit; ``required`` empty means there are none."""

    def __init__(
        self, ctx: TaskContext, batch: Batch, files: list[BatchFile], required: frozenset[str]
    ) -> None:
        self.ctx = ctx
        self.batch = batch
        self.files = files
        self.required = required

    def report_key(self, file_name: str) -> str:
        return f"{keys.batch_failed_prefix(self.batch)}{output_stem(file_name, COMMIT_PART)}.failed.jsonl"

    def write(self, refused: pa.Table) -> None:
        """``on_refused`` of the upsert commit: one report per file with refused rows, the
        reports of an earlier attempt cleared; raises :class:`TooManyRefused` over the budget."""
        names = refused.column("_source_file") if refused.num_rows else None
        for f in self.files:
            key = self.report_key(f.name)
            rows = refused.filter(pc.equal(names, f.name)) if names is not None else None
            if rows is None or rows.num_rows == 0:
                if self.ctx.objects.exists(key):
                    self.ctx.objects.delete_keys([key])
                continue
            self.ctx.objects.put_bytes(key, b"".join(_line(f.name, row) for row in rows.to_pylist()))
        total = sum(f.input_record_count for f in self.files)
        failed = sum(f.failed_record_count for f in self.files) + refused.num_rows
        allowed = self.batch.partial_ingestion_percentage
        if refused.num_rows and total and 100.0 * failed / total > allowed:
            raise TooManyRefused(
                f"{refused.num_rows} rows refused at commit (a required column missing from a new identity, "
                f"or set to null by an update) bring the failed records to {failed} of {total} "
                f"({100.0 * failed / total:.2f}%); allowed: {allowed:g}%; nothing was landed"
            )

    def apply(self) -> list[BatchFile]:
        """The batch's files with every report not yet applied moved onto their counts."""
        if not self.required:
            return self.files
        out = []
        for f in self.files:
            key = self.report_key(f.name)
            if key in f.failed_keys or not self.ctx.objects.exists(key):
                out.append(f)
                continue
            lines = self.ctx.objects.get_bytes(key).splitlines()
            sample = [_error(f.name, line) for line in lines[: max(0, ERRORS_KEPT - len(f.errors))]]
            f = f.model_copy(
                update={
                    "output_record_count": f.output_record_count - len(lines),
                    "failed_record_count": f.failed_record_count + len(lines),
                    "failed_keys": [*(f.failed_keys or ([f.failed_key] if f.failed_key else [])), key],
                    "failed_key": f.failed_key or key,
                    "errors": [*f.errors, *sample],
                }
            )
            self.ctx.store.put_file(self.batch.org, self.batch.sandbox, f)
            out.append(f)
        self.files = out
        return out


def _line(file_name: str, row: dict[str, Any]) -> bytes:
    field = row[REFUSED_FIELD]
    if row[REFUSED_INSERT]:
        message = (
            f"required field is missing or null: a new identity must give every required column ({field})"
        )
    else:
        message = "required field is null: an update through a file that carries it cannot clear it"
    values = {k: v for k, v in row.items() if k not in _INTERNAL and v is not None}
    errors = [{"code": ROW_REQUIRED, "message": message, "field": field}]
    return failed_line(file_name, int(row["_source_row"]), None, values, errors)


def _error(file_name: str, line: bytes) -> ErrorEntry:
    record = json.loads(line)
    first = record["_errors"][0]
    return ErrorEntry(
        code=first["code"],
        description=first["message"],
        file=file_name,
        row=record["_row"],
        field=first["field"],
    )
