"""maxLength counts Unicode code points, whichever way the engine gets there: a block whose
values all fit in ``maxLength`` bytes skips counting code points, any other counts them."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from batchgate.core.models import DatasetSchema
from batchgate.validation import codes
from batchgate.validation.engine import Checker


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from("aé€😀"), max_size=8)), min_size=1),
    st.integers(min_value=0, max_value=8),
)
@example(["aa"], 1)  # one byte too many: counted, flagged
@example(["é", "ab"], 2)  # the bytes exceed, the code points do not
@example(["😀😀", None], 2)
def test_max_length_flags_exactly_the_values_with_more_code_points(
    values: list[str | None], max_length: int
) -> None:
    schema = DatasetSchema.model_validate(
        {"fields": [{"name": "s", "type": "string", "maxLength": max_length}]}
    )
    found = Checker(schema).check(pa.table({"s": pa.array(values, pa.string())}))
    flagged = [v for v in found if v.code == codes.ROW_LENGTH]
    expected = [v is not None and len(v) > max_length for v in values]
    if not any(expected):
        assert flagged == []
    else:
        (violation,) = flagged
        assert violation.mask.to_pylist() == expected


_EDGES = [0, 1, -1, 2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63)]
_BOUNDS = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.sampled_from([0, 150, -(2**53) + 1, 2**53 - 1]),
    st.floats(-1e15, 1e15).map(float.__floor__),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(_EDGES), st.integers(-(2**63), 2**63 - 1)), min_size=1),
    _BOUNDS,
    _BOUNDS,
)
def test_integer_range_checks_compare_exactly(values: list[int | None], low: int, high: int) -> None:
    """Integral bounds (below 2**53 in magnitude) compare with integers as integers: exact for
    every int64 (compared as doubles, Arrow refused values beyond 2**53, failing the file)."""
    low, high = min(low, high), max(low, high)
    schema = DatasetSchema.model_validate(
        {"fields": [{"name": "n", "type": "integer", "minimum": low, "maximum": high}]}
    )
    found = Checker(schema).check(pa.table({"n": pa.array(values, pa.int64())}))
    below = [v is not None and v < low for v in values]
    above = [v is not None and v > high for v in values]
    got = {v.message.split()[2]: v.mask.to_pylist() for v in found if v.code == codes.ROW_RANGE}
    assert got.get("below", [False] * len(values)) == below
    assert got.get("above", [False] * len(values)) == above


def test_fractional_range_bounds_still_compare_as_doubles() -> None:
    schema = DatasetSchema.model_validate(
        {"fields": [{"name": "n", "type": "integer", "minimum": 0.5, "maximum": 2.5}]}
    )
    found = Checker(schema).check(pa.table({"n": pa.array([0, 1, 2, 3, None], pa.int64())}))
    got = {v.message.split()[2]: v.mask.to_pylist() for v in found if v.code == codes.ROW_RANGE}
    assert got == {"below": [True, False, False, False, False], "above": [False, False, False, True, False]}
