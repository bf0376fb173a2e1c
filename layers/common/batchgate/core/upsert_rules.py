"""What ``required`` means in an upsert dataset (AEP's patch semantics).

An upsert file is a patch: it holds the identity and the columns to change. A required column
the file leaves out is left alone for an existing identity, so validation cannot tell whether a
row lacking it is valid: that depends on whether its identity exists when the batch lands.
``required`` is therefore checked on the row *as it will be stored*, at commit:

* an update of an existing identity: the stored row keeps its value where the file did not carry
  the column, so only a file that carries the column and gives it null breaks the rule;
* a new identity (an insert): the row must be whole, every required column given.

Rows refused there are written to the batch's failed records (code ``BG-ROW-REQUIRED``) with
their source file and row, and counted out of the output, so input = output + failed still
holds. Identity columns keep their required rule at validation. A replay batch in an upsert
dataset replaces whole rows, so it is validated as an append is.
"""

from __future__ import annotations

from batchgate.core.models import Batch, Dataset


def required_at_commit(dataset: Dataset, batch: Batch) -> frozenset[str]:
    """Top-level required columns whose rule is checked at commit, not by the validator."""
    if not dataset.tags.is_upsert or batch.replay is not None:
        return frozenset()
    identity = set(dataset.tags.identity)
    return frozenset(f.name for f in dataset.schema_.fields if f.required and f.name not in identity)
