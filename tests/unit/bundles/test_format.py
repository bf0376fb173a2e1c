"""The .bgbundle format: written as a stream, read back equal, and every kind of damage refused
with its code and the entry it concerns."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from batchgate.bundles import BundleError, BundleReader, BundleWriter, verify
from batchgate.bundles.manifest import SUPPORTED_VERSIONS
from batchgate.core.errors import InvalidRequest
from batchgate.core.schema import arrow_schema
from tests.unit.bundles.helpers import (
    ORDERS,
    PEOPLE,
    SOURCE,
    file_entry,
    orders,
    parquet_bytes,
    people,
    rebuild,
    write_bundle,
)

PART = "data/ds-people/part-00001.parquet"


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return write_bundle()[0]


def refused(raw: bytes) -> BundleError:
    with pytest.raises(BundleError) as caught:
        verify(io.BytesIO(raw))
    assert isinstance(caught.value, InvalidRequest) and caught.value.status == 400
    return caught.value


class NonSeekableSink:
    """A write-only stream, as a multipart upload is: seek and tell raise, as on a pipe."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.seeks = 0

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        self.seeks += 1
        raise io.UnsupportedOperation("tell")

    def seek(self, *args: Any) -> int:
        self.seeks += 1
        raise io.UnsupportedOperation("seek")


# -- round trip -------------------------------------------------------------------------------
def test_two_datasets_in_several_parts_verify_and_read_back_equal(bundle: bytes) -> None:
    manifest = verify(io.BytesIO(bundle))
    assert manifest.bundle_id == "bundle-1" and manifest.format_version == 1
    assert (manifest.source.org, manifest.source.sandbox) == ("local", "prod")
    people_ds, orders_ds, empty = manifest.datasets
    assert [f.rows for f in people_ds.files] == [1500, 2000, 10] and people_ds.rows == 3510
    assert [f.path for f in orders_ds.files] == [
        "data/ds-orders/part-00000.parquet",
        "data/ds-orders/part-00001.parquet",
    ]
    assert people_ds.schema_ == PEOPLE and people_ds.tags.identity == ["id"]
    assert people_ds.source_batches == ["b1"] and orders_ds.as_of_batch == "b7"
    assert empty.rows == 0 and empty.files == []
    with BundleReader(io.BytesIO(bundle)) as reader:
        got = pa.Table.from_batches(list(reader.iter_batches("ds-people")))
        want = pa.concat_tables([people(0, 1500), people(1500, 2000), people(3500, 10)]).drop_columns(
            ["_batch_id"]
        )
        assert got.equals(want)
        assert pa.Table.from_batches(list(reader.iter_batches("ds-orders"))).equals(
            pa.concat_tables([orders(700), orders(5)])
        )
        # every part is encoded with zstd, stored in the zip, and its hash is of its bytes
        for f in manifest.files.values():
            info = reader.zip.getinfo(f.path)
            assert info.compress_type == zipfile.ZIP_STORED
            data = reader.zip.read(f.path)
            assert (len(data), hashlib.sha256(data).hexdigest()) == (f.bytes, f.sha256)
            column = reader.parquet(f.path).metadata.row_group(0).column(0)
            assert column.compression == "ZSTD"
        assert reader.entries()[-1].filename == "bundle.json"  # the manifest is written last


def test_the_manifest_holds_the_api_shapes_and_nothing_else(bundle: bytes) -> None:
    doc = json.loads(zipfile.ZipFile(io.BytesIO(bundle)).read("bundle.json"))
    assert set(doc) == {"formatVersion", "bundleId", "source", "datasets"}
    assert set(doc["source"]) == {"org", "sandbox", "exportedAt"}
    assert doc["source"]["exportedAt"] == "2026-05-01T12:00:00Z"
    ds = doc["datasets"][0]
    assert set(ds) == {"sourceId", "name", "schema", "tags", "rows", "sourceBatches", "files"}
    # the schema as the API shows it (camelCase, no nulls)
    assert ds["schema"] == PEOPLE.model_dump(by_alias=True, exclude_none=True)
    assert set(ds["files"][0]) == {"path", "rows", "bytes", "sha256"}


def test_a_non_seekable_sink_gets_a_valid_bundle(bundle: bytes) -> None:
    sink = NonSeekableSink()
    write_bundle(sink)
    raw = b"".join(sink.chunks)
    manifest = verify(io.BytesIO(raw))
    assert manifest.datasets[0].rows == 3510
    # the same rows and parts as through a seekable sink: only the zip's framing differs
    assert manifest.files == verify(io.BytesIO(bundle)).files
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        assert z.testzip() is None
        assert all(i.flag_bits & 0x08 for i in z.infolist())  # sizes after the data


def test_a_pyarrow_random_access_file_is_a_source(bundle: bytes, tmp_path: Path) -> None:
    path = tmp_path / "b.bgbundle"
    path.write_bytes(bundle)
    with pafs.LocalFileSystem().open_input_file(str(path)) as f:
        assert verify(f).datasets[1].rows == 705
    assert verify(path).bundle_id == "bundle-1"  # and a path


def test_a_bundle_of_zero_rows_verifies() -> None:
    out = io.BytesIO()
    with BundleWriter(out, "empty", SOURCE) as w:
        w.add_dataset("a", "no-parts", ORDERS)
        w.add_dataset("b", "an-empty-part", PEOPLE)
        w.add_part("b", arrow_schema(PEOPLE, lineage=False).empty_table())
        w.add_part("b", iter([]))
    manifest = verify(io.BytesIO(out.getvalue()))
    assert [d.rows for d in manifest.datasets] == [0, 0]
    assert [f.rows for f in manifest.datasets[1].files] == [0, 0]


def test_the_writer_casts_to_the_schema_and_refuses_columns_it_lacks() -> None:
    out = io.BytesIO()
    w = BundleWriter(out, "cast", SOURCE)
    w.add_dataset("o", "orders", ORDERS)
    small = (
        orders(3)
        .set_column(2, "paid", pa.array([1, 0, 1], pa.int8()))
        .cast(pa.schema([("order", pa.large_string()), ("day", pa.date32()), ("paid", pa.int8())]))
    )
    with pytest.raises(BundleError) as caught:
        w.add_part("o", small.append_column("note", pa.array(["x"] * 3)))
    assert caught.value.code == "BG-400-BUNDLE-SCHEMA" and "column note" in caught.value.message
    # a failed part aborts the bundle: what was written has no manifest and is refused whole
    with pytest.raises(ValueError, match="closed"):
        w.add_part("o", orders(1))
    assert refused(out.getvalue()).code == "BG-400-BUNDLE-MANIFEST"

    out = io.BytesIO()
    with BundleWriter(out, "cast", SOURCE) as w:
        w.add_dataset("o", "orders", ORDERS)
        w.add_part("o", orders(3).cast(
            pa.schema([("order", pa.large_string()), ("day", pa.date32()), ("paid", pa.bool_())])
        ))  # fmt: skip
    with BundleReader(io.BytesIO(out.getvalue())) as r:
        assert pa.Table.from_batches(list(r.iter_batches("o"))).equals(orders(3))


def test_two_datasets_of_one_name_are_refused_by_the_writer() -> None:
    w = BundleWriter(io.BytesIO(), "dup", SOURCE)
    w.add_dataset("a", "people", PEOPLE)
    with pytest.raises(ValueError, match="already holds"):
        w.add_dataset("b", "people", PEOPLE)


# -- damage -----------------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_a_truncated_zip_is_corrupt(bundle: bytes, keep: float) -> None:
    error = refused(bundle[: int(len(bundle) * keep)])
    assert error.code == "BG-400-BUNDLE-CORRUPT" and "zip" in error.message


def test_not_a_zip_is_corrupt() -> None:
    assert refused(b"PAR1 not a bundle").code == "BG-400-BUNDLE-CORRUPT"


def test_a_flipped_byte_inside_a_part_is_a_checksum_mismatch_naming_the_part(bundle: bytes) -> None:
    with BundleReader(io.BytesIO(bundle)) as r:
        window = r.window(r.zip.getinfo(PART))
        at = window._start + window.size() // 2
    damaged = bytearray(bundle)
    damaged[at] ^= 0x01
    error = refused(bytes(damaged))
    assert error.code == "BG-400-BUNDLE-CHECKSUM" and error.entry == PART
    assert error.message.startswith(f"{PART}: sha256 is ")


def test_an_unknown_format_version_is_refused_naming_it_and_the_known_ones(bundle: bytes) -> None:
    def future(doc: dict[str, Any]) -> None:
        doc["formatVersion"] = 2
        doc["somethingNew"] = {"x": 1}  # a newer format may hold anything: the version speaks first

    error = refused(rebuild(bundle, manifest=future))
    assert error.code == "BG-400-BUNDLE-VERSION" and error.entry == "bundle.json"
    assert "formatVersion 2" in error.message and f"reads {SUPPORTED_VERSIONS[0]}" in error.message

    def text(doc: dict[str, Any]) -> None:
        doc["formatVersion"] = "1"

    assert refused(rebuild(bundle, manifest=text)).code == "BG-400-BUNDLE-VERSION"


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d.pop("bundleId"), "bundleId"),
        (lambda d: d.update(secretToken="x"), "secretToken"),  # unknown keys: a new version
        (lambda d: d["datasets"][0]["files"][0].update(path="../etc/passwd"), "part-NNNNN"),
        (lambda d: d["datasets"][0].update(rows=1), "rows is 1"),
        (lambda d: d["datasets"][1].update(name="people"), "name 'people'"),
        (lambda d: d["source"].update(exportedAt="yesterday"), "exportedAt"),
    ],
)
def test_an_invalid_manifest_is_refused_saying_what(bundle: bytes, edit: Any, words: str) -> None:
    error = refused(rebuild(bundle, manifest=edit))
    assert error.code == "BG-400-BUNDLE-MANIFEST" and words in error.message


def test_a_missing_or_unparseable_manifest_is_refused(bundle: bytes) -> None:
    assert "missing" in refused(rebuild(bundle, drop=("bundle.json",))).message
    error = refused(rebuild(bundle, replace={"bundle.json": b"{not json"}))
    assert error.code == "BG-400-BUNDLE-MANIFEST" and "not JSON" in error.message


def test_a_manifest_naming_a_missing_file_is_refused(bundle: bytes) -> None:
    error = refused(rebuild(bundle, drop=(PART,)))
    assert error.code == "BG-400-BUNDLE-ENTRY" and error.entry == PART and "missing" in error.message


@pytest.mark.parametrize("extra", ["data/ds-people/part-00009.parquet", "notes.txt"])
def test_an_entry_the_manifest_does_not_name_is_refused(bundle: bytes, extra: str) -> None:
    error = refused(rebuild(bundle, add={extra: parquet_bytes(orders(1))}))
    assert error.code == "BG-400-BUNDLE-ENTRY" and error.entry == extra and "not named" in error.message


def _swap_part(bundle: bytes, path: str, data: bytes, rows: int) -> bytes:
    """Replace a part and make bundle.json agree with its bytes, so only its content is wrong."""

    def agree(doc: dict[str, Any]) -> None:
        f = file_entry(doc, path)
        for ds in doc["datasets"]:
            if f in ds["files"]:
                ds["rows"] += rows - f["rows"]
        f.update(rows=rows, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    return rebuild(bundle, replace={path: data}, manifest=agree)


def test_a_part_whose_schema_differs_from_the_manifest_is_refused(bundle: bytes) -> None:
    other = orders(4).set_column(2, "paid", pa.array(["yes", "no", "yes", "no"]))
    error = refused(_swap_part(bundle, "data/ds-orders/part-00000.parquet", parquet_bytes(other), 4))
    assert error.code == "BG-400-BUNDLE-SCHEMA" and error.entry == "data/ds-orders/part-00000.parquet"
    assert "column paid is string, the dataset's schema says bool" in error.message
    # lineage columns are not part of a bundle's parts
    lineage = orders(4).append_column("_batch_id", pa.array(["b"] * 4))
    error = refused(_swap_part(bundle, "data/ds-orders/part-00000.parquet", parquet_bytes(lineage), 4))
    assert error.code == "BG-400-BUNDLE-SCHEMA" and "_batch_id" in error.message


def test_a_part_that_is_not_parquet_or_counts_other_rows_is_refused(bundle: bytes) -> None:
    error = refused(_swap_part(bundle, PART, b"this is not parquet at all", 2000))
    assert error.code == "BG-400-BUNDLE-CORRUPT" and error.entry == PART and "Parquet" in error.message
    error = refused(_swap_part(bundle, "data/ds-orders/part-00001.parquet", parquet_bytes(orders(6)), 5))
    assert error.code == "BG-400-BUNDLE-ROWS" and "holds 6 rows, bundle.json says 5" in error.message


def test_a_byte_count_or_a_compressed_part_is_refused(bundle: bytes) -> None:
    def longer(doc: dict[str, Any]) -> None:
        file_entry(doc, PART)["bytes"] += 1

    error = refused(rebuild(bundle, manifest=longer))
    assert error.code == "BG-400-BUNDLE-CHECKSUM" and "bytes" in error.message
    error = refused(rebuild(bundle, compress=(PART,)))
    assert error.code == "BG-400-BUNDLE-CORRUPT" and "compressed" in error.message
