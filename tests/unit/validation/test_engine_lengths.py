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
