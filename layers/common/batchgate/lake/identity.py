"""Matching rows by a dataset's identity columns (upsert and the revert of an upsert).

Two steps, because Iceberg predicates over many composite keys are slow to evaluate:
``key_filter`` is a cheap *superset* filter (one ``In`` per identity column) used to prune files,
and ``match`` finds the exact pairs with an Arrow hash join on the identity columns only (Arrow's
join cannot carry nested payload columns, so rows are joined by index and taken afterwards).
A null in an identity column never matches anything, as in SQL.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysFalse, And, BooleanExpression, In

_LEFT = "__bg_left"
_RIGHT = "__bg_right"


def _valid_mask(df: pa.Table, identity: list[str]) -> pa.Array:
    mask = pa.array([True] * df.num_rows, type=pa.bool_())
    for name in identity:
        mask = pc.and_(mask, pc.is_valid(df.column(name).combine_chunks()))
    return mask


def non_null_keys(df: pa.Table, identity: list[str]) -> pa.Table:
    """Distinct identity tuples of ``df`` with no null component."""
    keys = df.select(identity).filter(_valid_mask(df, identity))
    return keys.group_by(identity, use_threads=False).aggregate([])


def key_filter(keys: pa.Table, identity: list[str]) -> BooleanExpression:
    """A filter that every row whose identity is in ``keys`` passes (and possibly others)."""
    if keys.num_rows == 0:
        return AlwaysFalse()
    parts: list[BooleanExpression] = [
        In(term=name, literals=set(pc.unique(keys.column(name)).to_pylist())) for name in identity
    ]
    return parts[0] if len(parts) == 1 else And(*parts)


def match(left: pa.Table, right: pa.Table, identity: list[str]) -> tuple[pa.Array, pa.Array]:
    """Index pairs ``(i, j)`` with ``left[i]`` and ``right[j]`` equal on every identity column."""
    lk = left.select(identity)
    # Scans may hand back large_string where staged files have string: join on one type.
    rk = right.select(identity).cast(lk.schema)
    lk = lk.append_column(_LEFT, pa.array(range(left.num_rows), type=pa.int64()))
    rk = rk.append_column(_RIGHT, pa.array(range(right.num_rows), type=pa.int64()))
    joined = lk.join(rk, keys=identity, join_type="inner")
    return joined.column(_LEFT).combine_chunks(), joined.column(_RIGHT).combine_chunks()


def not_in(n: int, indices: pa.Array) -> pa.Array:
    """Boolean mask of length ``n``: True where the position is not in ``indices``."""
    return pc.invert(pc.is_in(pa.array(range(n), type=pa.int64()), value_set=indices.cast(pa.int64())))


def last_per_key(df: pa.Table, identity: list[str]) -> pa.Table:
    """``df`` keeping, for each identity, only its last row (file order, then row order): within
    one batch a later record for the same identity supersedes an earlier one. Row order is kept."""
    if df.num_rows == 0:
        return df
    valid = _valid_mask(df, identity)
    indexed = df.select(identity).append_column(_LEFT, pa.array(range(df.num_rows), type=pa.int64()))
    indexed = indexed.filter(valid)
    last = indexed.group_by(identity, use_threads=False).aggregate([(_LEFT, "max")]).column(f"{_LEFT}_max")
    # Rows with a null identity match nothing and are all kept.
    unkeyed = pc.indices_nonzero(pc.invert(valid)).cast(pa.int64())
    indices = pa.concat_arrays([last.combine_chunks(), unkeyed])
    return df.take(pc.take(indices, pc.sort_indices(indices)))
