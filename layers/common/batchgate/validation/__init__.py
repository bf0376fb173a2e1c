"""The validation engine: uploaded JSON / CSV / Parquet files → staged Parquet + failed records.

Public API::

    validate_file(fs=..., source_path=..., dataset=..., input_format=..., batch_id=...,
                  file_name=..., staged_dir=..., failed_dir=..., ...) -> FileResult
    plan_parts(fs, path, input_format, size, part_bytes) -> list[dict]   # kwargs for validate_file
    merge_results(parts) -> FileResult

Error codes and their AEP equivalents: :mod:`batchgate.validation.codes`. One engine checks every
format (:mod:`.engine`, :mod:`.convert`); readers differ (:mod:`.csv_reader`, :mod:`.json_reader`,
:mod:`.parquet_reader`); outputs are in :mod:`.outputs`.
"""

from batchgate.validation.codes import FileError
from batchgate.validation.parts import plan_parts
from batchgate.validation.result import FileResult, merge_results
from batchgate.validation.runner import validate_file

__all__ = ["FileError", "FileResult", "merge_results", "plan_parts", "validate_file"]
