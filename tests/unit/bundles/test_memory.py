"""Writing and verifying a ~200 MB bundle keeps peak RSS bounded by about one part, not the
bundle (each measured in a fresh process with ``resource.getrusage``; the figures are printed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PARTS = 10
ROWS = 200_000  # ~21 MB of zstd Parquet a part: random base64 text and random integers

WRITE = """
import base64, io, json, os, resource, sys
from datetime import UTC, datetime
import pyarrow as pa
from batchgate.bundles import BundleSource, BundleWriter
from batchgate.core.models import DatasetSchema

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

class Pipe(io.RawIOBase):  # a non-seekable sink over a file, as an upload stream is
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)

rows, parts = int(sys.argv[2]), int(sys.argv[3])
text = base64.b64encode(os.urandom(rows * 96))
table = pa.table({
    "n": pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(os.urandom(8 * rows))]),
    "s": pa.StringArray.from_buffers(
        rows, pa.array(range(0, rows * 128 + 1, 128), pa.int32()).buffers()[1], pa.py_buffer(text)),
})
del text
schema = DatasetSchema.model_validate({"fields": [{"name": "n", "type": "integer"}, {"name": "s", "type": "string"}]})
source = BundleSource(org="o", sandbox="s", exported_at=datetime.now(UTC))
# One-time costs first (Arrow's and Parquet's code pages, allocator arenas, zstd): a small bundle.
with BundleWriter(io.BytesIO(), "warm", source) as w:
    w.add_dataset("d", "big", schema)
    w.add_part("d", table.slice(0, 1000))
before = peak_mb()  # the baseline: imports, one-time costs and the caller's rows
with open(sys.argv[1], "wb") as f, BundleWriter(Pipe(f), "big", source) as w:
    w.add_dataset("d", "big", schema)
    sizes = [w.add_part("d", table).bytes for _ in range(parts)]
print(json.dumps({"before": before, "peak": peak_mb(), "part": max(sizes) / 2**20,
                  "bundle": os.path.getsize(sys.argv[1]) / 2**20}))
"""

VERIFY = """
import io, json, resource, sys
from datetime import UTC, datetime
import pyarrow as pa
from batchgate.bundles import BundleSource, BundleWriter, verify
from batchgate.core.models import DatasetSchema

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

# One-time costs first: verify a small bundle of the same columns.
schema = DatasetSchema.model_validate({"fields": [{"name": "n", "type": "integer"}, {"name": "s", "type": "string"}]})
small = io.BytesIO()
with BundleWriter(small, "warm", BundleSource(org="o", sandbox="s", exported_at=datetime.now(UTC))) as w:
    w.add_dataset("d", "small", schema)
    w.add_part("d", pa.table({"n": list(range(1000)), "s": ["x" * 128] * 1000}))
verify(io.BytesIO(small.getvalue()))
before = peak_mb()
with open(sys.argv[1], "rb") as f:
    m = verify(f)
print(json.dumps({"before": before, "peak": peak_mb(), "rows": m.datasets[0].rows}))
"""


def _run(script: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'common'}", "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


@pytest.mark.slow
def test_a_200_mb_bundle_is_written_and_verified_in_about_one_part_of_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.bgbundle"
    written = _run(WRITE, str(path), str(ROWS), str(PARTS))
    checked = _run(VERIFY, str(path))
    part, bundle = written["part"], written["bundle"]
    grew_writing = written["peak"] - written["before"]
    grew_verifying = checked["peak"] - checked["before"]
    print(
        f"\nbundle {bundle:.0f} MB in {PARTS} parts of {part:.1f} MB: peak RSS grew {grew_writing:.0f} MB "
        f"writing (over {written['before']:.0f} MB: imports and the caller's rows) and "
        f"{grew_verifying:.0f} MB verifying (over {checked['before']:.0f} MB)"
    )
    assert bundle > 190
    assert checked["rows"] == ROWS * PARTS
    assert grew_writing < 3 * part, f"writing grew {grew_writing:.0f} MB; a part is {part:.0f} MB"
    assert grew_verifying < 3 * part, f"verifying grew {grew_verifying:.0f} MB; a part is {part:.0f} MB"
