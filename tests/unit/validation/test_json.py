import gzip
import json
from collections.abc import Sequence
from pathlib import Path

from batchgate.validation import codes
from tests.unit.validation.helpers import good_record, make_dataset, run

JSONL = {"format": "json"}


def jsonl(records: Sequence[object]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_happy_path_jsonl(tmp_path: Path) -> None:
    out = run(tmp_path, jsonl([good_record(i) for i in range(50)]), JSONL)
    assert (out.result.input_record_count, out.result.output_record_count) == (50, 50)
    assert out.result.failed_path is None and out.result.file_error is None
    row = out.staged[0]
    assert row["address"] == {"city": "Paris", "zip": "75001"} and row["tags"] == ["a", "b"]
    assert row["_batch_id"] == "batch-1" and row["_source_file"] == "input.dat"
    assert out.staged_rows == list(range(1, 51))
    assert str(row["born"]) == "1990-01-02" and row["seen"].isoformat() == "2024-05-01T10:00:00+00:00"


def test_malformed_lines_are_row_errors_and_parsing_goes_on(tmp_path: Path) -> None:
    lines = [
        json.dumps(good_record(0)),
        '{"id": "x", broken',
        "[1, 2]",
        json.dumps(good_record(3)),
        "",
        "   ",
        json.dumps(good_record(6)) + json.dumps(good_record(7)),
    ]
    out = run(tmp_path, "\n".join(lines).encode() + b"\n", JSONL)
    assert out.staged_rows == [1, 4]
    assert out.failed_rows == [2, 3, 7]
    assert all(f["_errors"][0]["code"] == codes.ROW_CORRUPT for f in out.failed)
    assert out.failed[0]["_corrupt_record"] == '{"id": "x", broken'
    assert "JSON object" in out.failed[1]["_errors"][0]["message"]


def test_wrong_types_are_field_errors(tmp_path: Path) -> None:
    bad = good_record(1) | {"age": "abc", "active": "yes", "tags": [1], "score": 2}
    out = run(tmp_path, jsonl([good_record(0), bad, good_record(2) | {"age": 7.0}]), JSONL)
    assert out.staged_rows == [1, 3]
    assert out.staged[1]["age"] == 7  # an integral number is an integer
    fields = {e["field"] for e in out.failed[0]["_errors"]}
    assert fields == {"age", "active", "tags[]"}
    assert out.failed[0]["_values"]["age"] == "abc"
    assert out.result.errors[0].row == 2 and out.result.errors[0].code == codes.ROW_TYPE


def test_bad_dates_and_timestamps(tmp_path: Path) -> None:
    recs = [
        good_record(0) | {"born": "1990-13-45"},
        good_record(1) | {"seen": "yesterday"},
        good_record(2) | {"seen": "2024-05-01 10:00:00"},
        good_record(3) | {"seen": "2024-05-01"},
    ]
    out = run(tmp_path, jsonl(recs), JSONL)
    assert out.failed_rows == [1, 2]
    assert [e["field"] for f in out.failed for e in f["_errors"]] == ["born", "seen"]
    assert out.staged[0]["seen"].isoformat() == "2024-05-01T10:00:00+00:00"  # zone-less = UTC


def test_zero_byte_and_whitespace_files(tmp_path: Path) -> None:
    out = run(tmp_path, b"", JSONL)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_EMPTY
    assert out.result.input_record_count == 0
    out = run(tmp_path, b"\n  \n\n", JSONL)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_EMPTY


def test_invalid_utf8_line(tmp_path: Path) -> None:
    data = jsonl([good_record(0)]) + b'{"id": "\xff\xfe", "email": "a@b"}\n' + jsonl([good_record(2)])
    out = run(tmp_path, data, JSONL)
    assert out.failed_rows == [2] and out.codes() == {codes.ROW_ENCODING}
    assert out.staged_rows == [1, 3]


def test_bom_and_crlf(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + jsonl([good_record(0), good_record(1)]).replace(b"\n", b"\r\n")
    out = run(tmp_path, data, JSONL)
    assert out.result.output_record_count == 2 and out.result.failed_record_count == 0


def test_huge_line_is_a_row_error_with_bounded_memory(tmp_path: Path) -> None:
    huge = b'{"id": "big", "email": "' + b"x" * (50 << 20) + b'"}\n'
    data = jsonl([good_record(0)]) + huge + jsonl([good_record(2)])
    out = run(tmp_path, data, JSONL, block_size=1 << 20)
    assert out.staged_rows == [1, 3]
    assert out.failed_rows == [2] and out.codes() == {codes.ROW_TOO_LARGE}
    assert len(out.failed[0]["_corrupt_record"]) <= 1024


def test_huge_single_line_without_newline(tmp_path: Path) -> None:
    out = run(tmp_path, b'{"a": "' + b"y" * (3 << 20), JSONL, block_size=1 << 20)
    assert (out.result.input_record_count, out.result.failed_record_count) == (1, 1)
    assert out.codes() == {codes.ROW_TOO_LARGE}


def test_gzip_and_corrupted_gzip(tmp_path: Path) -> None:
    body = jsonl([good_record(i) for i in range(100)])
    out = run(tmp_path, gzip.compress(body), JSONL, compression="gzip")
    assert out.result.output_record_count == 100 and out.result.file_error is None
    # Two members, as `cat a.gz b.gz` makes.
    out = run(tmp_path, gzip.compress(body) + gzip.compress(body), JSONL, compression="gzip")
    assert out.result.output_record_count == 200
    broken = gzip.compress(body)
    out = run(tmp_path, broken[: len(broken) // 2], JSONL, compression="gzip")
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_COMPRESSION
    out = run(tmp_path, body, JSONL, compression="gzip")  # not gzip at all
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_COMPRESSION
    out = run(tmp_path, body, JSONL, compression="zip")
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_COMPRESSION
    assert out.result.input_record_count == 0


def test_many_bad_lines_across_blocks(tmp_path: Path) -> None:
    recs: list[object] = []
    for i in range(3000):
        recs.append(good_record(i) if i % 7 else good_record(i) | {"age": "x"})
    out = run(tmp_path, jsonl(recs), JSONL, block_size=64 << 10)
    expected_bad = [i + 1 for i in range(3000) if i % 7 == 0]
    assert out.failed_rows == expected_bad
    assert out.staged_rows == [i + 1 for i in range(3000) if i % 7]


def test_multi_line_json_forms(tmp_path: Path) -> None:
    recs = [good_record(i) for i in range(3)]
    pretty_array = json.dumps(recs, indent=2).encode()
    out = run(tmp_path, pretty_array, {"format": "json", "isMultiLineJson": True})
    assert out.result.output_record_count == 3
    assert out.staged_rows[0] == 2  # the first object starts on line 2, after "["
    concatenated = b"\n".join(json.dumps(r, indent=1).encode() for r in recs)
    out = run(tmp_path, concatenated, {"format": "json", "isMultiLineJson": True})
    assert out.result.output_record_count == 3 and out.staged_rows[0] == 1
    single = json.dumps(recs[0], indent=4).encode()
    out = run(tmp_path, single, {"format": "json", "isMultiLineJson": True})
    assert out.result.output_record_count == 1
    out = run(tmp_path, b"[]", {"format": "json", "isMultiLineJson": True})
    assert out.result.input_record_count == 0 and out.result.file_error is None


def test_multi_line_json_errors(tmp_path: Path) -> None:
    recs = [good_record(0), good_record(1) | {"age": -1}, 5]
    out = run(tmp_path, json.dumps(recs, indent=2).encode(), {"format": "json", "isMultiLineJson": True})
    assert (out.result.output_record_count, out.result.failed_record_count) == (1, 2)
    assert out.codes() == {codes.ROW_RANGE, codes.ROW_CORRUPT}
    broken = json.dumps(recs[:2], indent=2).encode()[:-30] + b" oops ]"
    out = run(tmp_path, broken, {"format": "json", "isMultiLineJson": True})
    assert out.result.output_record_count == 1 and out.result.failed_record_count == 1
    assert out.codes() == {codes.ROW_CORRUPT}


def test_extra_fields_are_ignored(tmp_path: Path) -> None:
    out = run(tmp_path, jsonl([good_record(0) | {"unknown": {"deep": [1, "x"]}}]), JSONL)
    assert out.result.output_record_count == 1 and "unknown" not in out.staged[0]


def test_nested_array_of_objects(tmp_path: Path) -> None:
    ds = make_dataset(
        [
            {"name": "id", "type": "string"},
            {
                "name": "items",
                "type": "array",
                "items": {
                    "type": "object",
                    "fields": [
                        {"name": "sku", "type": "string", "required": True},
                        {"name": "qty", "type": "integer"},
                    ],
                },
            },
        ]
    )
    recs = [
        {"id": "1", "items": [{"sku": "a", "qty": 1}]},
        {"id": "2", "items": [{"qty": 2}]},
        {"id": "3", "items": [{"sku": "b", "qty": "many"}]},
    ]
    out = run(tmp_path, jsonl(recs), JSONL, dataset=ds)
    assert out.staged_rows == [1]
    assert [(f["_row"], f["_errors"][0]["field"], f["_errors"][0]["code"]) for f in out.failed] == [
        (2, "items[].sku", codes.ROW_REQUIRED),
        (3, "items[].qty", codes.ROW_TYPE),
    ]


def test_a_lone_surrogate_is_a_row_error_not_a_file_error(tmp_path: Path) -> None:
    """JSON text can spell a lone UTF-16 surrogate (\\udc00), which is no Unicode character: that
    record fails alone (BG-ROW-ENCODING) and the other 10,000 land."""
    lines = [json.dumps(good_record(i)) for i in range(10_000)]
    lines.insert(5_000, '{"id": "\\udc00x", "email": "a@b.io"}')
    lines.append('{"id": "ok", "email": "\\ud83d\\ude00@b.io"}')  # a pair is one character: fine
    out = run(tmp_path, ("\n".join(lines) + "\n").encode(), JSONL)
    r = out.result
    assert r.file_error is None
    assert (r.input_record_count, r.output_record_count, r.failed_record_count) == (10_002, 10_001, 1)
    [failed] = out.failed
    assert failed["_row"] == 5_001 and failed["_errors"][0]["code"] == codes.ROW_ENCODING
    assert "\\udc00" in failed["_errors"][0]["message"] and failed["_corrupt_record"].startswith('{"id"')


def test_a_lone_surrogate_in_a_multi_line_document(tmp_path: Path) -> None:
    objects = [json.dumps(good_record(i), indent=1) for i in range(50)]
    objects.insert(10, '{"id": "x", "email": "a@b.io", "tags": ["\\ud800"]}')
    out = run(tmp_path, ("[" + ",\n".join(objects) + "]").encode(), {**JSONL, "isMultiLineJson": True})
    r = out.result
    assert r.file_error is None
    assert (r.input_record_count, r.output_record_count, r.failed_record_count) == (51, 50, 1)
    assert out.failed[0]["_errors"][0]["code"] == codes.ROW_ENCODING


def test_a_truncated_gzip_lands_nothing_and_says_so_row_by_row(tmp_path: Path) -> None:
    """The rows read before a file-level error used to be counted as output (10,012 of them)
    although the batch failed and nothing landed: now they are failed records, with the error."""
    body = jsonl([good_record(i) for i in range(40_000)])
    broken = gzip.compress(body)
    out = run(tmp_path, broken[: len(broken) // 2], JSONL, compression="gzip", block_size=64 << 10)
    r = out.result
    assert r.file_error is not None and r.file_error.code == codes.FILE_COMPRESSION
    assert r.input_record_count > 1_000, "some records were read before the damage"
    assert r.output_record_count == 0 and r.staged_paths == [] and out.staged == []
    assert r.failed_record_count == r.input_record_count == len(out.failed)
    first = out.failed[0]
    assert first["_row"] == 1 and first["_values"]["id"] == good_record(0)["id"]
    assert first["_errors"][0]["code"] == codes.FILE_COMPRESSION
