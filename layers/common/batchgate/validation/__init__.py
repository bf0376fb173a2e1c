"""The validation engine: uploaded JSON / CSV / Parquet files → staged Parquet + failed records.

Public API::

    validate_file(fs=..., source_path=..., dataset=..., input_format=..., batch_id=...,
                  file_name=..., staged_dir=..., failed_dir=..., ...) -> FileResult
    plan_parts(fs, path, input_format, size, part_bytes) -> list[dict]   # kwargs for validate_file
    merge_results(parts) -> FileResult

Error codes and their AEP equivalents: :mod:`batchgate.validation.codes`. One engine checks every
format (:mod:`.engine`, :mod:`.convert`); readers differ (:mod:`.csv_reader`, :mod:`.jsonl_reader`,
:mod:`.json_document_reader`, :mod:`.parquet_reader`), picked for a file, a byte range or row
groups in :mod:`.file_chunks`; :mod:`.runner` takes a file through them; outputs are in
:mod:`.outputs`; splitting and merging parts in :mod:`.parts`.

Decisions, in one place (details in each module):

* ``input = output + failed`` for every file and part, asserted before a result is returned.
* Row numbers: CSV and JSON Lines — the 1-based physical line where the record starts (the CSV
  header is line 1); multi-line JSON — the line where the object starts; Parquet — the 0-based
  row index in the file. Parts number rows file-wide (``first_line`` from :func:`plan_parts`).
* Fields a file has that the schema does not follow the dataset's ``extraColumns`` policy
  (:mod:`.extra_columns`: discard and warn, freeze, evolve); a CSV whose header names no schema
  field at all is a file error.
* File errors (zero bytes, not Parquet, bad header, bad compression, undecodable charset) never
  raise: ``FileResult.file_error`` is set, records read before it keep their outcome (so an
  unopenable file counts 0/0/0). Missing objects and I/O failures raise, for the caller to retry.
* Memory is bounded by ``block_size`` (about twice it per block in flight, a few blocks in flight:
  one being parsed ahead in a thread, one being checked, one being written as Parquet).
"""

from batchgate.validation.codes import FileError
from batchgate.validation.parts import land_nothing, plan_parts
from batchgate.validation.result import FileResult, merge_results
from batchgate.validation.runner import validate_file

__all__ = ["FileError", "FileResult", "land_nothing", "merge_results", "plan_parts", "validate_file"]
