"""``batchgate bundles show FILE``: the bundle's source and datasets, then verified or why not."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from batchgate.bundles import BundleReader
from batchgate_tools.cli import main
from tests.unit.bundles.helpers import write_bundle

PART = "data/ds-people/part-00001.parquet"


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return write_bundle()[0]


def _flipped(bundle: bytes) -> bytes:
    with BundleReader(io.BytesIO(bundle)) as r:
        window = r.window(r.zip.getinfo(PART))
        at = window._start + 100
    damaged = bytearray(bundle)
    damaged[at] ^= 0xFF
    return bytes(damaged)


def test_show_prints_the_source_and_each_dataset_then_verified(
    bundle: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "b.bgbundle"
    path.write_bytes(bundle)
    assert main(["bundles", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "bundle    bundle-1" in out and "source    local / prod" in out
    assert "exported  2026-05-01 12:00:00Z" in out
    lines = out.splitlines()
    people = next(line for line in lines if line.startswith("people "))
    assert people.split()[:5] == ["people", "ds-people", "5", "3510", "3"]
    assert next(line for line in lines if line.startswith("orders ")).split()[-1] == "b7"
    assert "(3 datasets)" in out and lines[-1] == "verified"

    assert main(["bundles", "show", str(path), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["verified"] is True and body["bundleId"] == "bundle-1"
    assert [d["rows"] for d in body["datasets"]] == [3510, 705, 0]


def test_show_of_a_damaged_bundle_prints_the_error_with_its_code_and_exits_2(
    bundle: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "damaged.bgbundle"
    path.write_bytes(_flipped(bundle))
    assert main(["bundles", "show", str(path)]) == 2
    captured = capsys.readouterr()
    assert "people" in captured.out and "verified" not in captured.out  # the manifest still shows
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"error BG-400-BUNDLE-CHECKSUM: {PART}: sha256 is ")

    assert main(["bundles", "show", str(path), "--json"]) == 2
    body = json.loads(capsys.readouterr().out)
    assert body["verified"] is False
    assert body["error"]["code"] == "BG-400-BUNDLE-CHECKSUM" and body["error"]["entry"] == PART


def test_show_of_a_truncated_or_missing_file_is_one_line_and_exit_2(
    bundle: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.bgbundle"
    path.write_bytes(bundle[: len(bundle) // 3])
    assert main(["bundles", "show", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error BG-400-BUNDLE-CORRUPT: not a readable zip")
    assert main(["bundles", "show", str(tmp_path / "absent.bgbundle")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No such file" in err
