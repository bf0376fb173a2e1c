"""moto's server at the cost AWS charges: ranges, checksums, clients and items (issue 18).

**Ranged reads** of S3 objects cost the range, not the object.

moto 5 answers ``GET`` with ``Range: bytes=a-b`` by reading the whole object out of its spooled
buffer, copying it, and slicing (``S3Response._handle_range_header``); ``UploadPartCopy`` with a
byte range does the same. A validator reads a 1 GiB file in 16 MiB ranges, so each read copied
the whole GiB: 64 reads, ~64 GiB of copying, most of the 131 s the 1 GiB drop took (issue 18).
AWS charges a range by its bytes; so does the local stack with these patches.

How: while one of the two patched calls runs on a thread, ``FakeKey.value`` answers a
:class:`RangeView` of the key's buffer instead of its bytes; moto's own code then takes
``len(view)`` and ``view[begin:end + 1]``, which seeks and reads only the range. The view is
handed out only when moto will slice it (one satisfiable byte range, no ``partNumber``), so
everything else — whole-object GETs, HEAD, checksums — sees moto's unchanged behaviour.

**aws-chunked bodies** are decoded in linear time. The SDKs send an upload's body as
``aws-chunked`` when they add a trailing checksum (boto3's and the C++ SDK's default); moto
joined the chunks with ``bytes +=``, copying the body so far at every chunk: quadratic in the
part's size, ~1.5 s of the AWS process's CPU for one 2M-row file's staged Parquet.

**Multipart checksums** are computed part by part. moto builds a completed upload's full-object
checksum (CRC64NVME, the SDKs' default) by concatenating every part into one more copy of the
object and hashing that; :func:`_checksum_parts_as_they_come` folds each part into a running
checksum instead (the same value: CRC and SHA state carry over; a COMPOSITE checksum is moto's own).

A completed upload's parts are read once and joined in one copy (moto read each twice and grew
a bytearray part by part, then copied it).

**One SDK client per service** for Step Functions' service integrations: moto's ASL interpreter
built a new boto3 client for every task state it ran (``boto_client_for``), ~0.1 CPU-s of
loading botocore's JSON models each time, for a client whose settings never change (its
``state_credentials`` argument is ignored). The drop of a 2M-row file ran ~10 task states.
Likewise moto's request router listed its own package directory on every request
(``list_of_moto_modules``, to tell a service name from a host name): listed once here.

**A key's first ETag is read under the key's lock.** moto computes a key's MD5 lazily, seeking
its shared buffer to 0 and reading it without the lock its other readers (``value``, and the
ranged reads above) take: an event's validator reading the object while the Mirror asked for
its ETag could read another offset's bytes, or the ETag could be wrong.

**Item writes.** DynamoDB's conditional writes are atomic in AWS; moto checks a condition and then writes, so two
requests on two server threads can both pass ``version = :v`` and both write. In one process the
API answered one request at a time and hid it; with the API in several workers two SYNCs of one
feed both started. :func:`apply` makes moto's item writes take one lock, as one item's writes are
serialised in DynamoDB.

Applied by the local stack's AWS process (``aws_process``); moto's in-process ``mock_aws`` used by
the unit tests is left as moto ships it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from typing import Any

_scope = threading.local()
_applied = False


class RangeView:
    """A read-only window on a moto key's buffer: ``len()`` and slicing with step 1."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.contentsize)

    def __getitem__(self, item: slice) -> bytes:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("a RangeView only slices with step 1")
        start, stop, _ = item.indices(len(self))
        if stop <= start:
            return b""
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(start)
            data: bytes = buffer.read(stop - start)
            return data


def single_range(header: str | None) -> tuple[int | None, int | None] | None:
    """``(begin, end)`` of a ``bytes=`` header that moto will slice, else None (moto's own rules)."""
    if not header or "=" not in header:
        return None
    unit, spec = header.split("=", 1)
    if unit.strip() != "bytes" or "," in spec or "-" not in spec:
        return None
    first, _, last = spec.partition("-")
    try:
        begin = int(first) if first.strip() else None
        end = int(last) if last.strip() else None
    except ValueError:
        return None
    if begin is None and end is None:
        return None
    if begin is not None and end is not None and begin > end:
        return None  # moto treats it as a request for the whole object
    return begin, end


def _lazy() -> bool:
    return bool(getattr(_scope, "lazy", False))


@contextlib.contextmanager
def _values_as_views() -> Iterator[None]:
    """While moto runs a call that will slice a key's value, on this thread, ``value`` is a view."""
    _scope.lazy = True
    try:
        yield
    finally:
        _scope.lazy = False


def apply() -> None:
    """Patch moto's S3 model and response in this process (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.s3.models import FakeKey, S3Backend
    from moto.s3.responses import S3Response

    original_value = FakeKey.value

    def value(self: Any) -> Any:
        if _lazy():
            return RangeView(self)
        return original_value.fget(self)  # type: ignore[attr-defined]

    FakeKey.value = property(value, original_value.fset)  # type: ignore[attr-defined,method-assign,assignment]

    original_get_object = S3Response.get_object

    def get_object(self: Any) -> Any:
        if self._get_int_param("partNumber") or single_range(self.headers.get("range")) is None:
            return original_get_object(self)
        with _values_as_views():
            return original_get_object(self)

    S3Response.get_object = get_object  # type: ignore[method-assign]

    original_part_copy = S3Backend.upload_part_copy

    def upload_part_copy(self: Any, *args: Any, **kwargs: Any) -> Any:
        start_byte = kwargs.get("start_byte", args[6] if len(args) > 6 else None)
        if start_byte is None:
            return original_part_copy(self, *args, **kwargs)
        with _values_as_views():
            return original_part_copy(self, *args, **kwargs)

    S3Backend.upload_part_copy = upload_part_copy  # type: ignore[method-assign]
    _serialise_item_writes()
    S3Response._handle_encoded_body = _decode_aws_chunked  # type: ignore[method-assign]
    _checksum_parts_as_they_come()
    _complete_with_one_copy()
    _etag_under_the_keys_lock()
    _one_client_per_service()
    _list_moto_modules_once()
    _applied = True


_ITEM_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def _serialise_item_writes() -> None:
    import functools

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in _ITEM_WRITES:
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))


def _decode_aws_chunked(self: Any, body: Any) -> bytes:
    """moto's ``S3Response._handle_encoded_body``, joining the chunks once at the end: each chunk
    is ``{hex size}\r\n{data}\r\n``, a zero size ends the data (the trailer after it is ignored)."""
    if not body:
        return b""
    stream = io.BytesIO(body) if isinstance(body, bytes) else body
    chunks = []
    size = int(stream.readline().strip(), 16)
    while size > 0:
        chunks.append(stream.read(size))
        stream.readline()
        size = int(stream.readline().strip(), 16)
    return b"".join(chunks)


class RunningChecksum:
    """A full-object checksum fed part by part: what moto's ``compute_checksum`` gives the whole."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._crc = 0
        self._hash: Any = None
        if algorithm == "SHA1":
            self._hash = hashlib.sha1(usedforsecurity=False)
        elif algorithm not in ("CRC32", "CRC32C", "CRC64NVME"):
            self._hash = hashlib.sha256(usedforsecurity=False)  # moto's fallback for the rest

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        else:
            self._crc = _CRC[self.algorithm](data, self._crc)

    def digest(self) -> bytes:
        if self._hash is not None:
            return bytes(self._hash.digest())
        width = 8 if self.algorithm == "CRC64NVME" and _has_crt() else 4
        return self._crc.to_bytes(width, "big")


def _crc32c(data: bytes, previous: int) -> int:
    # moto uses the optional crc32c package, or plain CRC32 without it: the same choice here.
    try:
        import crc32c
    except ImportError:
        return binascii.crc32(data, previous)
    return int(crc32c.crc32c(data, value=previous))


def _crc64nvme(data: bytes, previous: int) -> int:
    if not _has_crt():
        return binascii.crc32(data, previous)  # moto's fallback without awscrt
    from awscrt import checksums

    return int(checksums.crc64nvme(data, previous))


def _has_crt() -> bool:
    from moto.core.compat import HAS_CRT

    return bool(HAS_CRT)


_CRC: dict[str, Callable[[bytes, int], int]] = {
    "CRC32": binascii.crc32,
    "CRC32C": _crc32c,
    "CRC64NVME": _crc64nvme,
}


def _checksum_parts_as_they_come() -> None:
    from moto.s3.models import MultipartChecksumBuilder

    original_add, original_build = MultipartChecksumBuilder.addPart, MultipartChecksumBuilder.build

    def add_part(self: Any, part: bytes) -> None:
        if self.checksum_type == "COMPOSITE":
            original_add(self, part)
            return
        if not hasattr(self, "running"):
            self.running = RunningChecksum(self.checksum_algorithm)
        self.running.update(part)
        self.part_count += 1

    def build(self: Any) -> tuple[str, str, int] | None:
        if self.checksum_type == "COMPOSITE" or not hasattr(self, "running"):
            result: tuple[str, str, int] | None = original_build(self)
            return result
        return (self.checksum_type, base64.b64encode(self.running.digest()).decode(), 1)

    MultipartChecksumBuilder.addPart = add_part  # type: ignore[method-assign]
    MultipartChecksumBuilder.build = build  # type: ignore[method-assign]


def _complete_with_one_copy() -> None:
    """``FakeMultipart.complete`` reading each part once and joining them in one copy; moto reads
    each part's bytes twice and grows a bytearray part by part, then copies it into bytes."""
    import moto.s3.models as models
    from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML

    def complete(
        self: Any, body: Iterator[tuple[int, str]]
    ) -> tuple[bytes, str, tuple[str, str, int] | None]:
        checksum_builder = models.MultipartChecksumBuilder(
            self.metadata.get("x-amz-checksum-algorithm"), self.metadata.get("x-amz-checksum-type")
        )
        values: list[bytes] = []
        md5s = bytearray()
        last = None
        for pn, etag in body:
            part = self.parts.get(pn)
            part_etag = None
            if part is not None:
                part_etag = part.etag.replace('"', "")
                etag = etag.replace('"', "")
            if part is None or part_etag != etag:
                raise InvalidPart()
            if last is not None and last.contentsize < models.S3_UPLOAD_PART_MIN_SIZE:
                raise EntityTooSmall()
            md5s.extend(bytes.fromhex(part_etag))
            value = part.value
            values.append(value)
            checksum_builder.addPart(value)
            last = part
        if not values:
            raise MalformedXML
        full_etag = models.md5_hash()
        full_etag.update(bytes(md5s))
        return b"".join(values), f"{full_etag.hexdigest()}-{len(values)}", checksum_builder.build()

    models.FakeMultipart.complete = complete  # type: ignore[method-assign]


def _etag_under_the_keys_lock() -> None:
    from moto.s3.models import FakeKey

    original = FakeKey.etag

    def etag(self: Any) -> str:
        if self._etag is None:  # computing it reads the shared buffer: as every reader, locked
            with self.lock:
                return str(original.fget(self))  # type: ignore[attr-defined]
        return str(original.fget(self))  # type: ignore[attr-defined]

    FakeKey.etag = property(etag)  # type: ignore[assignment,method-assign]


# The ASL interpreter's modules that bind ``boto_client_for`` by name when imported.
_CLIENT_USERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
)


def _one_client_per_service() -> None:
    import importlib

    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto ignores state_credentials (fixed keys "ak"/"sk"), so (region, service) is the key.
        with lock:
            client = clients.get((region, service))
            if client is None:
                client = clients[(region, service)] = original(region, service, state_credentials)
            return client

    boto_client.boto_client_for = boto_client_for
    for name in _CLIENT_USERS:
        module = importlib.import_module(name)
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def warm_clients(region: str, services: tuple[str, ...] = ("sqs",)) -> None:
    """Build the Step Functions interpreter's clients ahead of its first task state (the stack's
    task states all send to SQS; the botocore models loaded on the way serve the others too)."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    for service in services:
        boto_client.boto_client_for(region, service)


def _list_moto_modules_once() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)
