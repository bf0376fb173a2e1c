"""A landing batch's new columns (the dataset's ``extraColumns: evolve``) added to its dataset.

Before the batch's commit, the columns its files added are unioned into the Iceberg table (a
schema change is a metadata commit of its own: it makes no snapshot, so no reader sees a half
landed batch) and then into the dataset, written conditionally on ``updated``. Table first: a
dataset never names a column its table lacks, and a re-run after a crash between the two finds
the table done and writes the dataset.
"""

from __future__ import annotations

from batchgate.core.errors import Conflict
from batchgate.core.ids import now_ms
from batchgate.core.models import BatchFile, Dataset, SchemaField
from batchgate.core.schema_evolution import evolve
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.tables import evolve_table
from batchgate.validation.extra_columns import with_added
from batchgate.validation.result import AddedColumnConflict, unify_added
from batchgate.workflow.context import TaskContext

ATTEMPTS = 5


class NewColumnsConflict(Conflict):
    code = "BG-BATCH-EXTRA-COLUMNS"


def added_by(files: list[BatchFile]) -> dict[str, SchemaField]:
    """The columns a batch's files added, one field per path; files that typed one column
    differently are a :class:`NewColumnsConflict`."""
    merged: dict[str, dict[str, object]] = {}
    for f in files:
        for path, added in f.added_columns.items():
            try:
                merged[path] = unify_added(merged.get(path), added, path)
            except AddedColumnConflict as exc:
                raise NewColumnsConflict(f"{exc}: declare the column with PATCH") from exc
    return {path: SchemaField.model_validate(field) for path, field in merged.items()}


def evolve_for_batch(ctx: TaskContext, dataset: Dataset, files: list[BatchFile]) -> Dataset:
    """``dataset`` with the batch's new columns in its schema and its table."""
    added = added_by(files)
    for _ in range(ATTEMPTS):
        if not added:
            return dataset
        schema = with_added(dataset.schema_, added)
        if schema == dataset.schema_:
            return dataset  # another batch (or an earlier run of this one) added them
        try:
            evolve(dataset.schema_, schema)
        except Conflict as exc:
            raise NewColumnsConflict(f"the batch's new columns cannot be added: {exc.message}") from exc
        updated = dataset.model_copy(
            update={"schema_": schema, "updated": max(now_ms(), dataset.updated + 1)}
        )
        evolve_table(shared_catalog(), updated)
        try:
            ctx.store.replace_dataset(updated, expected_updated=dataset.updated)
            return updated
        except Conflict:
            dataset = ctx.store.get_dataset(dataset.org, dataset.sandbox, dataset.id)
    raise NewColumnsConflict(f"dataset {dataset.id} kept changing while the batch's new columns were added")
