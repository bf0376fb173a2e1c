"""Stable error codes of the validation engine, and what they mean in AEP's vocabulary.

Row errors fail one record; the record lands in the failed-records file and counts in
``failedRecordCount``. File errors stop the file; the records counted before the error keep their
outcome (``input = output + failed`` still holds) and the batch fails on the file error.

======================  ==================================  ======================================
code                    AEP nearest name                    meaning
======================  ==================================  ======================================
BG-ROW-REQUIRED         MISSING_REQUIRED_FIELD (1401)       a required field is absent or null
BG-ROW-TYPE             TYPE_MISMATCH / INVALID_VALUE       a value cannot be converted to the type
BG-ROW-ENUM             ENUM_MISMATCH                       a value is not one of the enum values
BG-ROW-PATTERN          PATTERN_MISMATCH                    a string does not match ``pattern``
BG-ROW-RANGE            RANGE_VIOLATION (minimum/maximum)   a number is below minimum / above max
BG-ROW-LENGTH           MAX_LENGTH_EXCEEDED                 a string is longer than ``maxLength``
BG-ROW-CORRUPT          _corrupt_record / MALFORMED_ROW     a record cannot be parsed at all
BG-ROW-ENCODING         INVALID_ENCODING                    a record holds bytes invalid in charset
BG-ROW-TOO-LARGE        RECORD_TOO_LARGE                    a record is longer than the block size
BG-FILE-EMPTY           EMPTY_FILE                          no bytes (or only whitespace) to read
BG-FILE-UNREADABLE      INVALID_FILE / FILE_UNREADABLE      not a file of the declared format
BG-FILE-HEADER          INVALID_CSV_HEADER                  CSV header empty, duplicated or unknown
BG-FILE-COMPRESSION     UNSUPPORTED_COMPRESSION             unknown compression / broken gzip
BG-FILE-ENCODING        INVALID_ENCODING                    non-UTF-8 charset cannot be decoded
BG-FILE-SCHEMA          (none)                              the dataset's schema cannot be run (a
                                                            pattern RE2 refuses, stored before
                                                            such patterns were refused)
BG-FILE-EXTRA-COLUMNS   (none)                              columns the schema lacks, refused by
                                                            extraColumns 'freeze', or 'evolve'
                                                            cannot type them
BG-WARN-EXTRA-COLUMNS   (none; a warning)                   columns the schema lacks, dropped
                                                            (extraColumns 'discard')
======================  ==================================  ======================================
"""

from __future__ import annotations

from typing import Final

ROW_REQUIRED: Final = "BG-ROW-REQUIRED"
ROW_TYPE: Final = "BG-ROW-TYPE"
ROW_ENUM: Final = "BG-ROW-ENUM"
ROW_PATTERN: Final = "BG-ROW-PATTERN"
ROW_RANGE: Final = "BG-ROW-RANGE"
ROW_LENGTH: Final = "BG-ROW-LENGTH"
ROW_CORRUPT: Final = "BG-ROW-CORRUPT"
ROW_ENCODING: Final = "BG-ROW-ENCODING"
ROW_TOO_LARGE: Final = "BG-ROW-TOO-LARGE"

FILE_EMPTY: Final = "BG-FILE-EMPTY"
FILE_UNREADABLE: Final = "BG-FILE-UNREADABLE"
FILE_HEADER: Final = "BG-FILE-HEADER"
FILE_COMPRESSION: Final = "BG-FILE-COMPRESSION"
FILE_ENCODING: Final = "BG-FILE-ENCODING"
FILE_SCHEMA: Final = "BG-FILE-SCHEMA"
FILE_EXTRA_COLUMNS: Final = "BG-FILE-EXTRA-COLUMNS"


class FileError(Exception):
    """Raised inside a reader when the file as a whole cannot be read further."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
