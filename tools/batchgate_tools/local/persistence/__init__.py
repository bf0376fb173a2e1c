"""Durable ``--data-dir`` for the embedded AWS: a write-through mirror of S3 objects and DynamoDB items.

moto keeps everything in memory. ``Mirror`` is a WSGI middleware around moto's app: after each
mutating S3 or DynamoDB request that moto answered with a 2xx (or a 5xx) it copies the *current*
state of what the request touched to ``data_dir`` before the response leaves the server, so a
client that got a 2xx has its write on disk (it survives ``kill -9`` of the server; with ``fsync=True`` also a power cut).
``Mirror.restore`` loads it back into a fresh server. Layout, reasons and limits:
docs/local-persistence.md.

On-disk layout (format version 1)::

    data_dir/format.json                        {"version": 1}
    data_dir/dynamodb.sqlite                    items(tbl, pk, item): DynamoDB JSON as GetItem returns it
    data_dir/s3/{bucket}/bucket.json            {"name", "region"}
    data_dir/s3/{bucket}/objects/{enc}.json     the commit record of one key: key, blob, size, etag, headers
    data_dir/s3/{bucket}/blobs/{uuid}           the bytes that record points at
    data_dir/s3/{bucket}/tmp/                   files being written (swept at start-up)

An object is committed by atomically replacing its record (``os.replace``); the blob it names is
written completely before that, and the blob it replaced is unlinked after. A crash at any point
leaves either the old or the new object, never a mix, plus at worst an orphan blob that the next
``Mirror`` sweeps.

Modules: ``requests`` (which requests mutate what), ``objects`` (the S3 object store), ``items``
(the DynamoDB item store), ``data_dir`` (the format marker and ``PersistenceError``), ``mirror``
(the middleware) and ``restore`` (loading a data dir back into a server).
"""

from batchgate_tools.local.persistence.data_dir import FORMAT_VERSION, PersistenceError
from batchgate_tools.local.persistence.mirror import Mirror
from batchgate_tools.local.persistence.requests import RESTORE_HEADER
from batchgate_tools.local.persistence.restore import RestoreResult

__all__ = ["FORMAT_VERSION", "RESTORE_HEADER", "Mirror", "PersistenceError", "RestoreResult"]
