from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchgate.api.services.downloads import RangeNotSatisfiable, decode_file_id, encode_file_id, parse_range
from batchgate.api.services.file_upload.chunks import (
    Chunk,
    check_coverage,
    group_into_parts,
    parse_content_range,
)
from batchgate.api.services.file_upload.common import check_media_type
from batchgate.aws.executions import execution_arn
from batchgate.core import keys
from batchgate.core.errors import InvalidRequest


def chunks(*ranges: tuple[int, int], total: int | None = None) -> list[Chunk]:
    return [Chunk(a, b, total, f"k{a}") for a, b in ranges]


def test_content_range() -> None:
    assert parse_content_range("bytes 0-9/100", 10) == (0, 9, 100)
    assert parse_content_range("bytes 10-19/*", 10) == (10, 19, None)
    assert parse_content_range("bytes 10-19", 10) == (10, 19, None), "AEP's guide sends no total"
    for bad, n in (
        ("bytes 0-9/100", 9),
        ("bytes 9-0/100", 10),
        ("bytes=0-9/100", 10),
        (None, 1),
        ("bytes 95-104/100", 10),
    ):
        with pytest.raises(InvalidRequest):
            parse_content_range(bad, n)


def test_coverage_ok_and_problems() -> None:
    assert check_coverage(chunks((10, 19), (0, 9), total=20)) == 20
    assert check_coverage(chunks((0, 4))) == 5
    with pytest.raises(InvalidRequest, match="no chunks"):
        check_coverage([])
    with pytest.raises(InvalidRequest, match=r"gap: bytes 5-9 are missing.*overlap: bytes 12-14"):
        check_coverage(chunks((0, 4), (10, 14), (12, 20)))
    with pytest.raises(InvalidRequest, match="announce a total of 5"):
        check_coverage(chunks((0, 9), total=5))


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_plan_parts_covers_every_byte_once_in_order_with_legal_sizes(sizes: list[int]) -> None:
    offset, cs = 0, []
    for n in sizes:
        cs.append(Chunk(offset, offset + n - 1, None, f"k{offset}"))
        offset += n
    parts = group_into_parts(cs, min_part=10, target=16)
    flat = [(c.start + first, c.start + last) for part in parts for c, first, last in part]
    assert flat[0][0] == 0 and flat[-1][1] == offset - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(flat))
    part_sizes = [sum(last - first + 1 for _, first, last in part) for part in parts]
    assert all(s >= 10 for s in part_sizes[:-1])  # S3's rule: only the last part may be small
    assert all(s <= 16 + 40 for s in part_sizes)  # bounded buffer


def test_big_chunk_at_part_start_is_copied_whole() -> None:
    parts = group_into_parts(chunks((0, 99), (100, 104), (105, 109)), min_part=50, target=60)
    assert parts[0] == [(parts[0][0][0], 0, 99)] and len(parts) == 2


def test_media_type() -> None:
    check_media_type("application/octet-stream")
    check_media_type("Application/Octet-Stream; charset=binary")
    for bad in (None, "", "application/json", "application/x-www-form-urlencoded"):
        with pytest.raises(Exception, match="octet-stream"):
            check_media_type(bad)


def test_ranges() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=5-", 10) == (5, 9)
    assert parse_range("bytes=-4", 10) == (6, 9)
    assert parse_range("bytes=-40", 10) == (0, 9)
    assert parse_range("bytes=8-100", 10) == (8, 9)
    for bad in ("bytes=10-", "bytes=5-2", "bytes=0-1,3-4", "items=0-1", "bytes=-0", "bytes=-"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(bad, 10)


@given(
    st.text(min_size=1, max_size=30),
    st.sampled_from(["upload", "failed"]),
    st.text(min_size=1, max_size=300),
    st.integers(min_value=0, max_value=10_000),
)
def test_file_ids_round_trip(batch: str, kind: str, name: str, part: int) -> None:
    fid = encode_file_id(batch, kind, name, part)
    assert "/" not in fid and decode_file_id(fid) == (batch, kind, name, part)


def test_execution_arn_is_what_start_execution_returns() -> None:
    sm = "arn:aws:states:us-east-1:123456789012:stateMachine:bg-complete"
    assert (
        execution_arn(sm, "complete-b1")
        == "arn:aws:states:us-east-1:123456789012:execution:bg-complete:complete-b1"
    )


def test_one_table_identifier_serves_the_api_and_the_lake() -> None:
    """The API records the identifier a dataset's table gets and the lake creates it: one rule
    (core.keys), and what it makes is a Glue-safe, collision-free name."""
    from batchgate.lake import tables

    assert tables.table_identifier is keys.table_identifier
    made = set()
    for org, sandbox, ds in (
        ("acme", "prod", "abc123"),
        ("Acme-Corp", "Dev.1", "DS-9"),
        ("acme_corp", "dev_1", "ds_9"),
        ("a" * 200, "p", "x"),
    ):
        namespace, table = keys.table_identifier(org, sandbox, ds).split(".")
        assert re.fullmatch(r"[a-z0-9_]{1,255}", namespace) and re.fullmatch(r"[a-z0-9_]{1,255}", table)
        made.add((namespace, table))
    assert len(made) == 4, "names that differ only in case or punctuation must not share a table"
