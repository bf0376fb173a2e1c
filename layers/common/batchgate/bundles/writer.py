"""Writing a ``.bgbundle`` as a stream: parts first, ``bundle.json`` last.

:class:`BundleWriter` writes into any binary sink with ``write`` (and ``flush``): a local file,
or a non-seekable stream such as a multipart-upload sink. ``zipfile`` writes each entry's sizes
and CRC-32 after its data (a data descriptor) when it cannot seek back, so nothing is buffered
beyond what the Parquet writer holds for the part it is encoding. Each part is encoded with zstd
straight into its zip entry (stored: Parquet is compressed already), hashed on the way.

A writer that fails or is abandoned before :meth:`BundleWriter.close` leaves a zip without
``bundle.json``, which no reader accepts.
"""

from __future__ import annotations

import contextlib
import hashlib
import zipfile
from collections.abc import Iterable, Sequence
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from batchgate.bundles.errors import SCHEMA, BundleError
from batchgate.bundles.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    BundleDataset,
    BundleFile,
    BundleSource,
    Manifest,
    parse_manifest,
    part_path,
)
from batchgate.core.models import DatasetSchema, DatasetTags
from batchgate.core.schema import LINEAGE_COLUMNS, arrow_schema

# Row groups of about 8 MiB of Arrow data (at most 128 Ki rows): Parquet's writer holds a row
# group's pages while it tries dictionary encoding, so this bounds the memory a part costs to
# write and to read (measured: 128 Ki rows of 136 B took 65 MB to write, 32 Ki rows 23 MB).
ROW_GROUP_ROWS = 128 * 1024
ROW_GROUP_BYTES = 8 << 20
_FILE_MODE = 0o644 << 16


class _HashingSink:
    """What the Parquet writer writes to: counts and hashes the bytes on their way into the entry.
    It answers ``tell`` itself (the Parquet writer needs positions; a zip entry cannot tell)."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.sha256, self.bytes, self.closed = target, hashlib.sha256(), 0, False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha256.update(view)
        self.target.write(view)
        self.bytes += len(view)
        return len(view)

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:  # the entry is closed by the writer, after the Parquet footer
        self.closed = True


class _Dataset:
    def __init__(self, entry: BundleDataset) -> None:
        self.entry = entry
        self.arrow = arrow_schema(entry.schema_, lineage=False)


class BundleWriter:
    """``BundleWriter(sink, bundle_id, source)``; ``add_dataset`` each dataset, ``add_part`` its
    rows part by part, then ``close()`` (or use it as a context manager)."""

    def __init__(
        self,
        sink: IO[bytes] | Any,
        bundle_id: str,
        source: BundleSource,
        *,
        row_group_rows: int = ROW_GROUP_ROWS,
        row_group_bytes: int = ROW_GROUP_BYTES,
        compression: str = "zstd",
    ) -> None:
        self._zip = zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self.bundle_id, self.source = bundle_id, source
        self.row_group_rows, self.row_group_bytes = row_group_rows, row_group_bytes
        self.compression = compression
        self._datasets: dict[str, _Dataset] = {}
        self._done = False
        # Entries carry the export's time (zip's DOS clock starts in 1980).
        t = source.exported_at.timetuple()
        self._date_time = (max(t.tm_year, 1980), t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- datasets and parts ------------------------------------------------------------------
    def add_dataset(
        self,
        source_id: str,
        name: str,
        schema: DatasetSchema,
        tags: DatasetTags | None = None,
        *,
        as_of_batch: str | None = None,
        source_batches: Sequence[str] = (),
    ) -> None:
        """Declare a dataset; its parts follow with :meth:`add_part` (none: it has no rows)."""
        self._open()
        for d in self._datasets.values():
            if source_id == d.entry.source_id or name == d.entry.name:
                raise ValueError(f"the bundle already holds a dataset {source_id!r} / {name!r}")
        entry = BundleDataset(
            source_id=source_id,
            name=name,
            schema_=schema,
            tags=tags or DatasetTags(),
            rows=0,
            as_of_batch=as_of_batch,
            source_batches=list(source_batches),
        )
        self._datasets[source_id] = _Dataset(entry)

    def add_part(
        self, dataset_source_id: str, data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]
    ) -> BundleFile:
        """Encode ``data`` as the dataset's next Parquet part and stream it into the bundle.

        Columns are taken in the schema's order and cast to its Arrow types; the lineage columns
        (``_batch_id`` …) are dropped, any other column the schema lacks is refused. Memory: the
        rows handed in, plus one row group being encoded."""
        self._open()
        ds = self._datasets.get(dataset_source_id)
        if ds is None:
            raise KeyError(f"no dataset {dataset_source_id!r}: add_dataset it first")
        path = part_path(dataset_source_id, len(ds.entry.files))
        info = zipfile.ZipInfo(path, date_time=self._date_time)
        info.compress_type, info.external_attr = zipfile.ZIP_STORED, _FILE_MODE
        rows = 0
        try:
            with self._zip.open(info, mode="w", force_zip64=True) as entry:
                sink = _HashingSink(entry)
                with pq.ParquetWriter(sink, ds.arrow, compression=self.compression) as parquet:
                    for table in _tables(data, self.row_group_rows):
                        table = _conform(table, ds.arrow, path)
                        parquet.write_table(table, row_group_size=self._group_rows(table))
                        rows += table.num_rows
        except BaseException:
            self.abort()
            raise
        part = BundleFile(path=path, rows=rows, bytes=sink.bytes, sha256=sink.sha256.hexdigest())
        ds.entry.files.append(part)
        ds.entry.rows += rows
        return part

    def _group_rows(self, table: pa.Table) -> int:
        """Rows a row group of ``table`` holds: about ``row_group_bytes``, ``row_group_rows`` at most."""
        if table.num_rows == 0:
            return self.row_group_rows
        by_bytes = self.row_group_bytes * table.num_rows // max(table.nbytes, 1)
        return max(1, min(self.row_group_rows, by_bytes))

    # -- the end ------------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        """The manifest of what has been written so far (validated as a reader would)."""
        built = Manifest(
            format_version=FORMAT_VERSION,
            bundle_id=self.bundle_id,
            source=self.source,
            datasets=[d.entry for d in self._datasets.values()],
        )
        return parse_manifest(built.to_json())

    def close(self) -> Manifest:
        """Write ``bundle.json`` (last) and finish the zip; the sink is left open, flushed."""
        self._open()
        manifest = self.manifest()
        info = zipfile.ZipInfo(MANIFEST_NAME, date_time=self._date_time)
        info.compress_type, info.external_attr = zipfile.ZIP_STORED, _FILE_MODE
        try:
            self._zip.writestr(info, manifest.to_json())
        finally:
            self._done = True
            self._zip.close()
        return manifest

    def abort(self) -> None:
        """Finish the zip without a manifest: what was written can never pass as a bundle."""
        if not self._done:
            self._done = True
            with contextlib.suppress(OSError, ValueError):  # a failed sink takes no more writes
                self._zip.close()

    def _open(self) -> None:
        if self._done:
            raise ValueError("the bundle is closed")


def _tables(data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch], rows: int) -> Iterable[pa.Table]:
    """The data as tables of about ``rows`` rows or more (record batches are gathered up to it)."""
    if isinstance(data, pa.Table):
        yield data
        return
    if isinstance(data, pa.RecordBatch):
        yield pa.Table.from_batches([data])
        return
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in data:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _conform(table: pa.Table, want: pa.Schema, path: str) -> pa.Table:
    """``table`` with the schema's columns in its order and types; lineage columns dropped."""
    extra = [n for n in table.column_names if n not in want.names and n not in LINEAGE_COLUMNS]
    if extra:
        raise BundleError(SCHEMA, path, f"column {extra[0]} is not in the dataset's schema")
    missing = [n for n in want.names if n not in table.column_names]
    if missing:
        raise BundleError(SCHEMA, path, f"the rows have no column {missing[0]}")
    table = table.select(want.names)
    if table.schema.equals(want, check_metadata=False):
        return table
    try:
        return table.cast(want)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise BundleError(SCHEMA, path, f"the rows do not fit the dataset's schema ({exc})") from None
