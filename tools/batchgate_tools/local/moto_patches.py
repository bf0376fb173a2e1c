"""Ranged reads of S3 objects in moto at the cost of the range, not of the object.

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

DynamoDB's conditional writes are atomic in AWS; moto checks a condition and then writes, so two
requests on two server threads can both pass ``version = :v`` and both write. In one process the
API answered one request at a time and hid it; with the API in several workers two SYNCs of one
feed both started. :func:`apply` makes moto's item writes take one lock, as one item's writes are
serialised in DynamoDB.

Applied by the local stack's AWS process (``aws_process``); moto's in-process ``mock_aws`` used by
the unit tests is left as moto ships it.
"""

from __future__ import annotations

import threading
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
        _scope.lazy = True
        try:
            return original_get_object(self)
        finally:
            _scope.lazy = False

    S3Response.get_object = get_object  # type: ignore[method-assign]

    original_part_copy = S3Backend.upload_part_copy

    def upload_part_copy(self: Any, *args: Any, **kwargs: Any) -> Any:
        start_byte = kwargs.get("start_byte", args[6] if len(args) > 6 else None)
        if start_byte is None:
            return original_part_copy(self, *args, **kwargs)
        _scope.lazy = True
        try:
            return original_part_copy(self, *args, **kwargs)
        finally:
            _scope.lazy = False

    S3Backend.upload_part_copy = upload_part_copy  # type: ignore[method-assign]
    _serialise_item_writes()
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
