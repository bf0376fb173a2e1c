"""The validator's own staged Parquet (dictionary encoding only where values repeat) is registered
in place, with column metrics for data columns as well as for ``_batch_id``."""

from __future__ import annotations

from batchgate.core.models import InputFormat
from batchgate.lake.promote import promote
from batchgate.validation import validate_file
from tests.integration.lake.helpers import Lake, rows_of


def test_validator_staged_file_is_registered_in_place_with_metrics(lake: Lake) -> None:
    ds = lake.dataset()
    n = 3000
    lines = ["id,email,age,seen,born,address.city,tags"]
    lines += [
        f"u{i:05d},u{i}@x.org,{i % 90},2026-01-02T03:04:05Z,2000-01-{1 + i % 28:02d},{['Oslo', 'Rome'][i % 2]},"
        f'"[""t{i % 3}""]"'
        for i in range(n)
    ]
    base = f"{lake.fs_root}/in/{ds.id}"
    if lake.kind == "file":
        lake.fs.create_dir(base, recursive=True)
    with lake.fs.open_output_stream(f"{base}/people.csv") as f:
        f.write(("\n".join(lines) + "\n").encode())

    result = validate_file(
        fs=lake.fs,
        source_path=f"{base}/people.csv",
        dataset=ds,
        input_format=InputFormat(format="csv"),
        batch_id="B1",
        file_name="people.csv",
        staged_dir=f"{lake.fs_root}/staged/{ds.id}/B1",
        failed_dir=f"{lake.fs_root}/failed/{ds.id}/B1",
    )
    assert (result.output_record_count, result.failed_record_count) == (n, 0)
    uris = [p.replace(lake.fs_root, lake.root, 1) for p in result.staged_paths]

    promoted = promote(lake.catalog, ds, "B1", uris)

    assert (promoted.rows_added, promoted.bytes_rewritten) == (n, 0)
    table = lake.catalog.load_table(ds.table)
    files = [t.file for t in table.scan().plan_files()]
    assert sorted(f.file_path for f in files) == sorted(uris)
    schema = table.schema()
    for column in ("id", "age", "_batch_id", "_source_row"):
        field_id = schema.find_field(column).field_id
        assert all(field_id in (f.lower_bounds or {}) and field_id in (f.upper_bounds or {}) for f in files)
    got = rows_of(lake, ds)
    assert len(got) == n and {r["_batch_id"] for r in got} == {"B1"}
    first = min(got, key=lambda r: r["_source_row"])
    assert first["id"] == "u00000" and first["_source_row"] == 2 and first["tags"] == ["t0"]
