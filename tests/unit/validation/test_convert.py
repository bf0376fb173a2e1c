import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchgate.validation import codes, convert
from batchgate.validation.convert import conform, parse_json_cells

LIST_OF_STRINGS = pa.list_(pa.string())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.lists(st.text(max_size=6), max_size=4)), min_size=1, max_size=20),
    st.booleans(),
)
def test_json_cells_match_json_loads(values: list[list[str] | None], spaced: bool) -> None:
    """The regex fast path for string lists and the JSON parser agree with ``json.loads``."""
    sep = (", ", ": ") if spaced else (",", ":")
    cells = pa.array(
        [None if v is None else json.dumps(v, separators=sep, ensure_ascii=False) for v in values]
    )
    out, bad = parse_json_cells(cells, LIST_OF_STRINGS)
    assert out.to_pylist() == values
    assert not any(bad.to_pylist())


def test_conform_reports_bad_cells_and_keeps_good_ones() -> None:
    arr = pa.array([b"1", b" 2 ", b"", None, b"x", b"99999999999999999999", b"\xff"])
    out, violations = conform(arr, pa.int64(), "n")
    assert out.to_pylist() == [1, 2, None, None, None, None, None]
    found = {v.code: [i for i, b in enumerate(v.mask.to_pylist()) if b] for v in violations}
    assert found == {codes.ROW_ENCODING: [6], codes.ROW_TYPE: [4, 5]}


def test_conform_timestamps_and_booleans() -> None:
    ts = pa.array(
        ["2024-01-01", "2024-01-01T10:00:00Z", "2024-01-01 10:00:00+02:00", "2024-01-01 10:00:00", "no"]
    )
    out, violations = conform(ts, pa.timestamp("us", tz="UTC"), "t")
    assert [v.isoformat() if v else None for v in out.to_pylist()] == [
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T10:00:00+00:00",
        "2024-01-01T08:00:00+00:00",
        "2024-01-01T10:00:00+00:00",
        None,
    ]
    assert [v.mask.to_pylist() for v in violations] == [[False, False, False, False, True]]
    out, violations = conform(pa.array(["True", "no", "maybe", None]), pa.bool_(), "b")
    assert out.to_pylist() == [True, False, None, None]
    assert violations[0].mask.to_pylist() == [False, False, True, False]


def test_string_lists_fast_path_empty_lists_and_slices() -> None:
    cells = ['["a","b"]', "[]", None, '[""]', '["x", "y"]', "[]", '["", ""]', None, "[]"]
    arr = pa.array(cells)
    target = LIST_OF_STRINGS
    expected = [None if c is None else json.loads(c) for c in cells]
    out, bad = parse_json_cells(arr, target)
    assert out.to_pylist() == expected and not any(bad.to_pylist())
    out, _ = parse_json_cells(arr.slice(1, 6), target)
    assert out.to_pylist() == expected[1:7]


@pytest.mark.parametrize(
    ("target", "cells"),
    [
        (pa.int64(), ["1", " 2 ", "", None, "x", "99999999999999999999"]),
        (pa.bool_(), ["true", "no", "maybe", None, "Y"]),
        (pa.date32(), ["2024-01-02", "2024-13-01", None, "yesterday"]),
        (pa.timestamp("us", "UTC"), ["2024-01-02T03:04:05Z", "2024-01-02 03:04", "2024-01-02", "soon", None]),
        (LIST_OF_STRINGS, ['["a", "b"]', "[]", '[""]', "[1]", '["x\\"y"]', None, "not json"]),
    ],
    ids=["int", "bool", "date", "timestamp", "list"],
)
def test_repeated_values_convert_once_with_the_same_result(
    target: pa.DataType, cells: list[str | None]
) -> None:
    """A column whose values repeat is converted on its distinct values: same cells, same failures."""
    repeated = pa.array(cells * 400)  # >= 1024 rows, a handful of distinct values
    assert convert.values_repeat(repeated) and not convert.values_repeat(
        pa.array([str(i) for i in range(2048)])
    )
    one_by_one = pa.concat_arrays([conform(pa.array(cells), target, "f")[0]] * 400)
    out, violations = conform(repeated, target, "f")
    assert out.equals(one_by_one)
    direct_out, direct_bad = convert.from_string(repeated, target)
    assert out.equals(direct_out)
    bad = violations[0].mask if violations else pa.array([False] * len(repeated))
    assert bad.equals(direct_bad)
