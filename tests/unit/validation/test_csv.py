import gzip
from pathlib import Path

from batchgate.validation import codes
from tests.unit.validation.helpers import CSV_HEADER, PROFILE_FIELDS, csv_bytes, make_dataset, row, run

CSV = {"format": "csv"}
HEADER = CSV_HEADER


def test_happy_path_csv(tmp_path: Path) -> None:
    out = run(tmp_path, csv_bytes([row(i) for i in range(20)]), CSV)
    assert out.result.output_record_count == 20 and out.result.failed_path is None
    first = out.staged[0]
    assert first["address"] == {"city": "Paris", "zip": "75001"} and first["tags"] == ["a", "b"]
    assert first["age"] == 20 and first["active"] is True and first["score"] == 1.5
    assert out.staged_rows == list(range(2, 22))  # the header is line 1


def test_wrong_types_enum_pattern_range_length(tmp_path: Path) -> None:
    rows = [
        row(0, age="abc"),
        row(1, tier="platinum"),
        row(2, email="nope"),
        row(3, age="151"),
        row(4, email="a" * 40 + "@x.io"),
        row(5, active="maybe"),
        row(6, born="2024-02-30"),
        row(7, tags='"[1,"'),
        row(8, score="1e3"),
        row(9, age="-1"),
    ]
    out = run(tmp_path, csv_bytes(rows), CSV)
    got = {(f["_row"], e["field"], e["code"]) for f in out.failed for e in f["_errors"]}
    assert got == {
        (2, "age", codes.ROW_TYPE),
        (3, "tier", codes.ROW_ENUM),
        (4, "email", codes.ROW_PATTERN),
        (5, "age", codes.ROW_RANGE),
        (6, "email", codes.ROW_LENGTH),
        (7, "active", codes.ROW_TYPE),
        (8, "born", codes.ROW_TYPE),
        (9, "tags", codes.ROW_TYPE),
        (11, "age", codes.ROW_RANGE),
    }
    assert out.staged_rows == [10]
    assert out.failed[0]["_values"]["age"] == "abc"


def test_ragged_rows_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    rows = [row(0), "u1,short", "", row(2, id='"multi\nline"'), row(3) + ",extra", "", "", row(4)]
    out = run(tmp_path, csv_bytes(rows), CSV)
    assert out.staged_rows == [2, 5, 10]
    assert out.staged[1]["id"] == "multi\nline"
    assert out.failed_rows == [3, 7]
    assert out.codes() == {codes.ROW_CORRUPT}
    assert out.failed[0]["_corrupt_record"] == "u1,short"


def test_crlf_line_endings(tmp_path: Path) -> None:
    out = run(tmp_path, csv_bytes([row(0), row(1, age="x"), row(2)], nl="\r\n"), CSV)
    assert out.staged_rows == [2, 4] and out.failed_rows == [3]
    assert out.staged[0]["tags"] == ["a", "b"] and out.staged[1]["id"] == "u2"


def test_empty_header_only_and_zero_byte(tmp_path: Path) -> None:
    out = run(tmp_path, b"", CSV)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_EMPTY
    out = run(tmp_path, b"\n\nu1,x\n", CSV)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_HEADER
    out = run(tmp_path, (HEADER + "\n").encode(), CSV)
    assert out.result.file_error is None and out.result.input_record_count == 0
    out = run(tmp_path, b"foo,bar\n1,2\n", CSV)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_HEADER
    out = run(tmp_path, b"id,id\n1,2\n", CSV)
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_HEADER


def test_missing_required_column_and_extra_columns(tmp_path: Path) -> None:
    out = run(tmp_path, b"id,other\nu1,zzz\nu2,yyy\n", CSV)
    assert out.result.failed_record_count == 2
    assert {e["field"] for f in out.failed for e in f["_errors"]} == {"email"}


def test_null_marker(tmp_path: Path) -> None:
    fmt = {"format": "csv", "nullMarker": "NULL"}
    data = b"id,email,age,tier\nu1,a@b,NULL,NULL\nNULL,a@b,,gold\nu3,a@b,3,\n"
    out = run(tmp_path, data, fmt)
    assert out.staged_rows == [2] and out.staged[0]["age"] is None and out.staged[0]["tier"] is None
    assert [(f["_row"], f["_errors"][0]["code"]) for f in out.failed] == [
        (3, codes.ROW_REQUIRED),
        (4, codes.ROW_ENUM),
    ]  # "" is a value (not null) with a marker


def test_delimiter_quote_escape_no_header(tmp_path: Path) -> None:
    fmt = {"format": "csv", "delimiter": ";", "quote": "'", "escape": "\\", "header": False}
    data = b"u1;'a@b';3;gold\nu2;'it\\'s@x';4;silver\n"
    ds = make_dataset(PROFILE_FIELDS[:4])  # without a header, columns follow the schema's order
    out = run(tmp_path, data, fmt, dataset=ds)
    assert out.result.output_record_count == 2 and out.staged[1]["email"] == "it's@x"


def test_latin1_charset_and_invalid_utf8(tmp_path: Path) -> None:
    data = "id,email\nu1,josé@exemple.fr\n".encode("latin-1")
    out = run(tmp_path, data, {"format": "csv", "charset": "ISO-8859-1"})
    assert out.staged[0]["email"] == "josé@exemple.fr"
    out = run(tmp_path, data, CSV)  # the same bytes read as UTF-8: a row error
    assert out.failed_rows == [2] and out.codes() == {codes.ROW_ENCODING}
    out = run(tmp_path, "id,email\nu1,a@b\n".encode("utf-16"), {"format": "csv", "charset": "UTF-16"})
    assert out.result.output_record_count == 1
    out = run(tmp_path, b"id,email\nu1,a@b\n\xff\xfe\x00", {"format": "csv", "charset": "UTF-16"})
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_ENCODING


def test_bom_and_gzip(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + csv_bytes([row(0), row(1)])
    out = run(tmp_path, data, CSV)
    assert out.result.output_record_count == 2
    out = run(tmp_path, gzip.compress(data), CSV, compression="gzip")
    assert out.result.output_record_count == 2
    out = run(tmp_path, gzip.compress(data)[:-12] + b"garbage!!!!!", CSV, compression="gzip")
    assert out.result.file_error is not None and out.result.file_error.code == codes.FILE_COMPRESSION


def test_huge_line_and_unbalanced_quote(tmp_path: Path) -> None:
    huge = "u9," + "x" * (5 << 20)
    out = run(tmp_path, csv_bytes([row(0), huge, row(2)]), CSV, block_size=1 << 20)
    assert out.staged_rows == [2, 4] and out.failed_rows == [3] and out.codes() == {codes.ROW_TOO_LARGE}
    out = run(tmp_path, csv_bytes([row(0), 'u1,"unclosed', row(2)]), CSV)
    assert out.result.failed_record_count >= 1 and out.staged_rows[0] == 2


def test_many_rows_across_blocks_keep_line_numbers(tmp_path: Path) -> None:
    rows = []
    for i in range(4000):
        if i % 500 == 7:
            rows.append(row(i, id=f'"q{i}\nx"'))
        elif i % 300 == 5:
            rows.append(row(i, age="bad"))
        else:
            rows.append(row(i))
        if i % 900 == 3:
            rows.append("")
    out = run(tmp_path, csv_bytes(rows), CSV, block_size=32 << 10)
    text = csv_bytes(rows).decode()
    # Independent line count: where each id appears in the text.
    for r in out.staged[::97] + [{"id": f["_values"]["id"], "_source_row": f["_row"]} for f in out.failed]:
        pos = text.index(
            ('"' if r["id"].startswith("q") else "") + r["id"] + ("" if "\n" in r["id"] else ",")
        )
        assert text.count("\n", 0, pos) + 1 == r["_source_row"]
    assert out.result.failed_record_count == len([i for i in range(4000) if i % 300 == 5 and i % 500 != 7])


def test_zone_less_timestamps_booleans_and_object_as_json(tmp_path: Path) -> None:
    data = (
        b"id,email,seen,active,address\n"
        b'u1,a@b,2024-05-01 10:00:00,yes,"{""city"": ""Paris"", ""zip"": ""75001""}"\n'
        b'u2,a@b,2024-05-01T12:00:00+02:00,N,"{""zip"": ""1""}"\n'
        b"u3,a@b,2024-05-01,TRUE,\n"
    )
    out = run(tmp_path, data, CSV)
    assert [r["seen"].isoformat() for r in out.staged] == [
        "2024-05-01T10:00:00+00:00",
        "2024-05-01T00:00:00+00:00",
    ]
    assert [r["active"] for r in out.staged] == [True, True]
    assert out.staged[0]["address"] == {"city": "Paris", "zip": "75001"} and out.staged[1]["address"] is None
    # Row 3 converts fine ("+02:00" and "N") but its address lacks the required city.
    assert out.failed_rows == [3]
    assert [(e["field"], e["code"]) for e in out.failed[0]["_errors"]] == [
        ("address.city", codes.ROW_REQUIRED)
    ]
