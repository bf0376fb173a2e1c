"""Random bytes and mutated valid files: nothing escapes, and every record is accounted for."""

import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.validation.helpers import csv_bytes, good_record, good_table, parquet_bytes, row, run

SEEDS = {
    "json": b"".join(json.dumps(good_record(i)).encode() + b"\n" for i in range(6)),
    "csv": csv_bytes([row(i) for i in range(6)]),
    "parquet": parquet_bytes(good_table(6)),
}
FORMATS: dict[str, dict[str, Any]] = {
    "json": {"format": "json"},
    "mjson": {"format": "json", "isMultiLineJson": True},
    "csv": {"format": "csv"},
    "parquet": {"format": "parquet"},
}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == "insert":
            data[pos:pos] = draw(
                st.binary(min_size=1, max_size=8) | st.sampled_from([b"\n", b'"', b",", b"{", b"\r\n"])
            )
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 60))]
    return bytes(data)


def inputs() -> st.SearchStrategy[tuple[str, bytes, bool]]:
    random_bytes = st.tuples(st.sampled_from(list(FORMATS)), st.binary(max_size=300), st.booleans())
    mutations = st.sampled_from(["json", "csv", "parquet"]).flatmap(
        lambda f: st.tuples(st.just(f), mutated(SEEDS[f]), st.booleans())
    )
    return random_bytes | mutations


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_no_exception_escapes_and_records_are_conserved(case: tuple[str, bytes, bool]) -> None:
    fmt, data, gzipped = case
    if gzipped and fmt != "parquet":
        data = gzip.compress(data)
    with tempfile.TemporaryDirectory() as tmp:
        # run() asserts input = output + failed, staged rows = output, failed lines = failed.
        out = run(
            Path(tmp),
            data,
            FORMATS[fmt],
            block_size=256,
            compression="gzip" if gzipped and fmt != "parquet" else None,
        )
    assert out.result.file_error is None or out.result.file_error.code.startswith("BG-FILE-")
