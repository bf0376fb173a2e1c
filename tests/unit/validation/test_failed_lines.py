"""Failed-records lines built column-wise say what the per-row Python path says."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from batchgate.validation import failed_records
from batchgate.validation.convert import Violation
from batchgate.validation.failed_lines import json_text, quote, table_lines
from tests.unit.validation.helpers import mixed_csv, mixed_jsonl, run

TRICKY = [
    'say "hi"',
    "back\\slash",
    "new\nline\r\ttab\b\f",
    "é ü 日本 🙂",
    "",
    None,
    "x" * 200,
]


@pytest.mark.parametrize(
    "arr",
    [
        pa.array(TRICKY, pa.string()),
        pa.array([1, -2, None, 2**62], pa.int64()),
        pa.array([1.0, -0.0, 1.5, 1e-05, 1e15, 1e16, None, 0.1], pa.float64()),
        pa.array([True, False, None]),
        pa.array([b"bytes", None, "é".encode()], pa.binary()),
        pa.array([{"city": 'P"aris', "zip": None}, None, {"city": None, "zip": "1"}]),
        pa.array([["a", "b\\"], [], None, [None]], pa.list_(pa.string())),
        pa.array([[{"k": 1}], [{"k": None}, None], []], pa.list_(pa.struct([("k", pa.int64())]))),
        pa.array([None, None], pa.null()),
        pa.array(["a", "b", "a"]).dictionary_encode(),
    ],
    ids=["strings", "ints", "floats", "bools", "binary", "struct", "lists", "list-of-struct", "null", "dict"],
)
def test_json_text_is_what_json_dumps_writes(arr: pa.Array) -> None:
    expected = [
        json.dumps(v.decode() if isinstance(v, bytes) else v, ensure_ascii=False) for v in arr.to_pylist()
    ]
    assert json_text(arr).to_pylist() == expected


def test_temporal_values_are_strings() -> None:
    arr = pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), None], pa.timestamp("us", "UTC"))
    got = [json.loads(t) for t in json_text(arr).to_pylist()]
    assert got[1] is None and got[0].startswith("2024-01-02 03:04:05")


def _table_lines(values: pa.Array) -> Any:
    table = pa.table({"v": values})
    n = len(values)
    mask = pa.array([True] * n)
    violation = Violation("v", "BG-ROW-TYPE", mask, "bad", values)
    return table_lines(
        table, pa.array(range(1, n + 1), pa.int64()), pa.array(range(n), pa.int64()), [violation], "f", 5
    )


@pytest.mark.parametrize(
    "values",
    [
        pa.array(["ok", "\x01control"]),
        pa.array([b"\xff\xfe"], pa.binary()),
        pa.array([float("nan")]),
        pa.array([decimal.Decimal("1.5")]),
        pa.array([{"a": 1}], pa.map_(pa.string(), pa.int64())),
    ],
    ids=["control-char", "not-utf8", "nan", "decimal", "map"],
)
def test_values_it_cannot_render_hand_over_to_the_per_row_path(values: pa.Array) -> None:
    assert _table_lines(values) is None


def test_lines_have_the_failed_record_shape_and_the_first_errors() -> None:
    out = _table_lines(pa.array(["a" * 100, None, 'q"']))
    assert out is not None
    lines = [json.loads(line) for line in out.lines.to_pylist()]
    assert lines[0] == {
        "_corrupt_record": None,
        "_values": {"v": "a" * 100},
        "_errors": [{"code": "BG-ROW-TYPE", "message": f'bad (got "{"a" * 76}...)', "field": "v"}],
        "_filename": "f",
        "_row": 1,
    }
    assert lines[1]["_errors"][0]["message"] == "bad"  # a null is not shown
    assert lines[2]["_errors"][0]["message"] == 'bad (got "q\\"")'
    assert [e[0][2] for e in out.first_errors] == [line["_errors"][0]["message"] for line in lines]


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ({"format": "json"}, mixed_jsonl(3000)),
        ({"format": "csv"}, mixed_csv(3000)),
        # A control character in a failed row (485 % 97 == 0): that row's block takes the per-row
        # path, the other blocks not.
        ({"format": "csv"}, mixed_csv(3000).replace(b"u485,", b"u\x01485,", 1)),
    ],
    ids=["json", "csv", "csv-mixed-paths"],
)
def test_both_paths_write_the_same_failed_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: dict[str, str], data: bytes
) -> None:
    column_wise = run(tmp_path / "a", data, fmt, block_size=16 << 10, max_errors_kept=40)
    monkeypatch.setattr(failed_records, "table_lines", lambda *a, **k: None)
    per_row = run(tmp_path / "b", data, fmt, block_size=16 << 10, max_errors_kept=40)
    assert column_wise.result.failed_record_count > 50
    assert column_wise.failed == per_row.failed
    assert column_wise.result.errors == per_row.result.errors
    assert column_wise.staged == per_row.staged


def test_quote_of_a_slice_looks_at_its_own_bytes_only() -> None:
    arr = pa.array(['a"b', "plain", "text", "new\nline"])
    assert quote(arr.slice(1, 2)).to_pylist() == ['"plain"', '"text"']
    assert quote(arr.slice(2, 2)).to_pylist() == ['"text"', '"new\\nline"']
    assert quote(arr.slice(0, 1)).to_pylist() == ['"a\\"b"']


def test_a_message_with_a_control_character_hands_over_to_the_per_row_path() -> None:
    table = pa.table({"v": pa.array(["x"])})
    violation = Violation("v", "BG-ROW-PATTERN", pa.array([True]), "does not match '\x01'", table["v"])
    lines = table_lines(table, pa.array([1], pa.int64()), pa.array([0], pa.int64()), [violation], "f", 5)
    assert lines is None
    tab = Violation("v", "BG-ROW-PATTERN", pa.array([True]), 'no "tab\t" \\ here', table["v"].chunk(0))
    out = table_lines(table, pa.array([1], pa.int64()), pa.array([0], pa.int64()), [tab], "f", 5)
    assert out is not None
    line = json.loads(out.lines[0].as_py())
    assert line["_errors"][0]["message"] == 'no "tab\t" \\ here (got "x")'
    assert out.first_errors == [[("v", "BG-ROW-PATTERN", 'no "tab\t" \\ here (got "x")')]]


def test_quote_of_a_chunked_array_still_escapes() -> None:
    chunked = pa.chunked_array([pa.array(["plain"]), pa.array(['q"'])])
    assert quote(chunked).to_pylist() == ['"plain"', '"q\\""']  # type: ignore[arg-type]
