"""Memory stays bounded by the block size, whatever the file holds (measured in a child process)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
import pyarrow.fs as pafs
from batchgate.core.models import InputFormat
from tests.unit.validation.helpers import make_dataset
from batchgate.validation import validate_file

def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

before = hwm_mb()
r = validate_file(fs=pafs.LocalFileSystem(), source_path=sys.argv[1], dataset=make_dataset(),
                  input_format=InputFormat(format=sys.argv[2]), batch_id="b", file_name="f",
                  staged_dir=sys.argv[3] + "/s", failed_dir=sys.argv[3] + "/f", block_size=1 << 20)
print(r.input_record_count, r.output_record_count, r.failed_record_count, before, hwm_mb())
"""


def _run(tmp_path: Path, path: Path, fmt: str) -> tuple[list[int], float]:
    """(counts, peak RSS growth in MB) of validating ``path`` in a fresh process, 1 MB blocks."""
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), fmt, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={"PYTHONPATH": f"{root}:{root / 'layers' / 'common'}:{root / 'tools'}", "PATH": "/usr/bin:/bin"},
    )
    *counts, before, after = out.stdout.split()
    return [int(c) for c in counts], float(after) - float(before)


def _jsonl_with_line(path: Path, line_mb: int) -> None:
    good = json.dumps({"id": "1", "email": "a@b"}).encode() + b"\n"
    with open(path, "wb") as f:
        f.write(good)
        f.write(b'{"id": "2", "email": "')
        for _ in range(line_mb):
            f.write(b"x" * (1 << 20))
        f.write(b'"}\n')
        f.write(good)


def _csv(path: Path, copies: int) -> None:
    with open(path, "w") as f:
        f.write("id,email,age\n")
        line = "".join(f"u{i},u{i}@x.io,{i % 100}\n" for i in range(10_000))
        for _ in range(copies):
            f.write(line)


# Peak RSS includes one-time costs (Arrow's code pages, thread pools, a Parquet row group): what
# must hold is that it does not grow with the size of the input. Each test compares a small and a
# large input read with the same 1 MB blocks.


def test_a_128_mb_line_costs_no_more_memory_than_a_2_mb_one(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    _jsonl_with_line(small, 2)
    _jsonl_with_line(large, 128)
    counts_small, grew_small = _run(tmp_path, small, "json")
    counts_large, grew_large = _run(tmp_path, large, "json")
    assert counts_small == counts_large == [3, 2, 1]
    assert grew_large - grew_small < 48, f"{grew_small:.0f} MB vs {grew_large:.0f} MB"


def test_csv_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    _csv(small, 30)  # 300k rows, ~8 MB: already a few row groups and blocks (the steady state)
    _csv(large, 300)  # 3M rows, ~78 MB: kept in memory, it would add 200 MB or more
    counts_small, grew_small = _run(tmp_path, small, "csv")
    counts_large, grew_large = _run(tmp_path, large, "csv")
    assert counts_small == [300_000, 300_000, 0] and counts_large == [3_000_000, 3_000_000, 0]
    # Allocators keep what they freed in varying amounts: allow for that noise, not for growth.
    assert grew_large - grew_small < 96, f"{grew_small:.0f} MB vs {grew_large:.0f} MB"
