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
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, quote, unquote

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Requests carrying this header are not mirrored: ``restore`` sets it on its own writes, which
#: would otherwise rewrite every file it has just read.
RESTORE_HEADER = "x-batchgate-restore"
_RESTORE_ENVIRON_KEY = "HTTP_X_BATCHGATE_RESTORE"

_COPY_CHUNK = 4 * 1024 * 1024
# How long one mirror keeps chasing a key that other writers keep replacing mid-copy.
_SUPERSEDED_PATIENCE = 30.0
_DYNAMODB_MUTATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "DeleteTable"}
)
_DYNAMODB_PARTIQL = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})
# Query parameters that do not make an S3 request a sub-resource call (?tagging, ?acl, ...).
_S3_PLAIN_PARAMS = frozenset({"x-id", "versionid", "awsaccesskeyid", "signature", "expires"})
# Object headers moto keeps in FakeKey.metadata, as put_object arguments.
_S3_HEADER_ARGS = {
    "content-type": "ContentType",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
    "content-disposition": "ContentDisposition",
    "cache-control": "CacheControl",
    "expires": "Expires",
}
_LOCK_STRIPES = 64

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class PersistenceError(RuntimeError):
    """Mirroring a write to disk failed; the client gets a 500 so it does not trust the write."""


@dataclass
class RestoreResult:
    """What ``Mirror.restore`` loaded back."""

    items: int = 0
    objects: int = 0
    object_bytes: int = 0
    buckets_created: list[str] = field(default_factory=list)
    #: Tables with mirrored items that the server does not have; their items stay on disk.
    tables_missing: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """True when anything was restored (the stack then runs its recovery)."""
        return bool(self.items or self.objects)


# ---------------------------------------------------------------------------------------------
# Request classification
# ---------------------------------------------------------------------------------------------


def _credential(environ: Mapping[str, Any], query: Mapping[str, list[str]]) -> tuple[str, str, str] | None:
    """(access key, region, service) from a SigV4 ``Authorization`` header or presigned query."""
    scope = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("AWS4-"):
        for part in auth.split(" ", 1)[-1].split(","):
            name, _, value = part.strip().partition("=")
            if name == "Credential":
                scope = value
                break
    elif "X-Amz-Credential" in query:
        scope = query["X-Amz-Credential"][0]
    if scope is None:
        return None
    parts = scope.split("/")
    if len(parts) != 5:
        return None
    return parts[0], parts[2], parts[3].lower()


def _account_id(environ: Mapping[str, Any], access_key: str | None) -> str:
    """The account moto files this request under (same precedence as moto's BaseResponse)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if header := environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return str(header)
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key or "AKIAEXAMPLE")


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body and put it back for moto. Only for small control-plane bodies."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    body: bytes = stream.read(int(length)) if length.isdigit() else stream.read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


@dataclass(frozen=True)
class _S3Write:
    account: str
    region: str
    bucket: str
    keys: tuple[str, ...] = ()
    bucket_created: bool = False
    bucket_deleted: bool = False


def _s3_request(environ: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) of an S3 request, parsed the way moto parses it (path or virtual-host style)."""
    from moto.core.request import Request
    from moto.s3.responses import S3Response
    from moto.s3.utils import bucket_name_from_url

    request = Request(environ, populate_request=False, shallow=True)
    path = unquote(request.raw_path)
    if S3Response.subdomain_based_buckets(request):
        return bucket_name_from_url(request.url) or "", path[1:]
    parts = path.split("/")
    return (parts[1] if len(parts) > 1 else ""), "/".join(parts[2:])


def _deleted_keys(body: bytes) -> tuple[str, ...]:
    """Keys named in a DeleteObjects body (``<Delete><Object><Key>``), namespace or not."""
    root = ET.fromstring(body)  # a local client's request, which moto parses too
    keys = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Key":
            keys.append(element.text or "")
    return tuple(keys)


# ---------------------------------------------------------------------------------------------
# S3 object store
# ---------------------------------------------------------------------------------------------


def _encode_name(key: str) -> str:
    """A file name for an S3 key: percent-encoded, never hidden, never longer than 200 bytes.

    quote() never emits "%%", so the hashed form of long keys cannot collide with a short one;
    the record holds the real key either way.
    """
    name = quote(key, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if not name or len(name) > 200:
        name = "%%" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return name


class _KeyChanged(Exception):
    """The key was replaced or disposed while its bytes were copied: copy the new current one."""


def _copy_key_bytes(key: Any, out: IO[bytes]) -> int:
    """Copy a moto FakeKey's bytes to ``out`` with memory bounded by max(5 MB, one chunk).

    Never uses ``key.value`` (a full copy) and never moves the shared buffer's file position
    without ``key.lock`` (moto's own readers seek it): a rolled-over buffer is read with
    ``os.pread`` at explicit offsets, an in-memory one (at most moto's 5 MB spool size) with
    ``getvalue()``.
    """
    buffer = key._value_buffer
    inner = getattr(buffer, "_file", None)
    size = int(key.size)
    if getattr(buffer, "_rolled", False) and inner is not None and hasattr(os, "pread"):
        try:
            fd = inner.fileno()
            offset = 0
            while offset < size:
                chunk = os.pread(fd, min(_COPY_CHUNK, size - offset), offset)
                if not chunk:
                    break
                out.write(chunk)
                offset += len(chunk)
        except (OSError, ValueError) as exc:  # closed by a concurrent overwrite
            raise _KeyChanged from exc
        if offset != size:
            raise _KeyChanged
        return size
    if isinstance(inner, io.BytesIO):
        try:
            data = inner.getvalue()
        except ValueError as exc:
            raise _KeyChanged from exc
        out.write(data)
        return len(data)
    # Unknown buffer shape (another moto version): the slow, locked path.
    copied = 0
    with key.lock:
        buffer.seek(0)
        while chunk := buffer.read(_COPY_CHUNK):
            out.write(chunk)
            copied += len(chunk)
    return copied


class _ObjectStore:
    def __init__(self, root: Path, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def lock_for(self, bucket: str, key: str) -> threading.Lock:
        digest = hashlib.blake2b(f"{bucket}\0{key}".encode("utf-8", "surrogatepass"), digest_size=4).digest()
        return self._locks[int.from_bytes(digest, "big") % _LOCK_STRIPES]

    def bucket_dir(self, bucket: str) -> Path:
        return self.root / quote(bucket, safe="")

    def _ensure_dirs(self, bucket: str) -> Path:
        directory = self.bucket_dir(bucket)
        for sub in ("objects", "blobs", "tmp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        return directory

    def _sync_file(self, handle: IO[bytes]) -> None:
        handle.flush()
        if self.fsync:
            os.fsync(handle.fileno())

    def _sync_dir(self, directory: Path) -> None:
        if self.fsync and hasattr(os, "O_DIRECTORY"):
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _write_json(self, directory: Path, target: Path, payload: Mapping[str, Any]) -> None:
        tmp = directory / "tmp" / f"{uuid.uuid4().hex}.json"
        with open(tmp, "wb") as handle:
            handle.write(json.dumps(payload, sort_keys=True).encode())
            self._sync_file(handle)
        os.replace(tmp, target)
        self._sync_dir(target.parent)

    def put_bucket(self, bucket: str, region: str) -> None:
        directory = self._ensure_dirs(bucket)
        target = directory / "bucket.json"
        if not target.exists():
            self._write_json(directory, target, {"name": bucket, "region": region})

    def drop_bucket(self, bucket: str) -> None:
        directory = self.bucket_dir(bucket)
        if directory.exists():
            # Rename first so a crash mid-rmtree cannot leave a half-deleted bucket that restores.
            doomed = self.root / f".deleted-{uuid.uuid4().hex}"
            os.replace(directory, doomed)
            self._sync_dir(self.root)
            shutil.rmtree(doomed, ignore_errors=True)

    def _record_path(self, bucket: str, key: str) -> Path:
        return self.bucket_dir(bucket) / "objects" / f"{_encode_name(key)}.json"

    def _read_record(self, path: Path) -> dict[str, Any] | None:
        try:
            with open(path, "rb") as handle:
                record: dict[str, Any] = json.load(handle)
                return record
        except FileNotFoundError:
            return None

    def put_object(self, bucket: str, region: str, fake_key: Any, still_current: Callable[[], bool]) -> None:
        """Commit ``fake_key``'s bytes and headers as the current object (caller holds the key lock).

        ``still_current`` is asked after the bytes are written and before the commit: if the key
        was replaced or disposed meanwhile, its buffer may have been closed (or its descriptor
        reused) mid-copy, so nothing is committed and ``_KeyChanged`` is raised.
        """
        directory = self._ensure_dirs(bucket)
        if not (directory / "bucket.json").exists():
            self._write_json(directory, directory / "bucket.json", {"name": bucket, "region": region})
        blob_name = uuid.uuid4().hex
        blob = directory / "blobs" / blob_name
        try:
            with open(blob, "wb") as handle:
                try:
                    size = _copy_key_bytes(fake_key, handle)
                    record = {
                        "key": fake_key.name,
                        "blob": blob_name,
                        "size": size,
                        "etag": fake_key.etag.strip('"'),  # may read the buffer if moto has not yet
                        "last_modified": fake_key.last_modified.isoformat(),
                        "headers": {str(k): str(v) for k, v in fake_key.metadata.items()},
                    }
                except ValueError as exc:  # "I/O operation on closed file": disposed under us
                    raise _KeyChanged from exc
                self._sync_file(handle)
            if not still_current():
                raise _KeyChanged
            target = self._record_path(bucket, fake_key.name)
            previous = self._read_record(target)
            self._write_json(directory, target, record)
        except BaseException:
            blob.unlink(missing_ok=True)
            raise
        if previous is not None and previous.get("blob") != blob_name:
            (directory / "blobs" / str(previous["blob"])).unlink(missing_ok=True)

    def delete_object(self, bucket: str, key: str) -> None:
        target = self._record_path(bucket, key)
        previous = self._read_record(target)
        if previous is None:
            return
        target.unlink(missing_ok=True)  # the commit point of a delete
        self._sync_dir(target.parent)
        (self.bucket_dir(bucket) / "blobs" / str(previous["blob"])).unlink(missing_ok=True)

    def buckets(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        if not self.root.exists():
            return
        for directory in sorted(self.root.iterdir()):
            meta = directory / "bucket.json"
            if directory.is_dir() and meta.exists():
                yield directory, json.loads(meta.read_bytes())

    def records(self, directory: Path) -> Iterator[dict[str, Any]]:
        objects = directory / "objects"
        if not objects.exists():
            return
        for path in sorted(objects.iterdir()):
            record = self._read_record(path)
            if record is not None:
                yield record

    def sweep(self) -> int:
        """Delete temp files and blobs no record points at (left by a crash). Run with no writers."""
        removed = 0
        if not self.root.exists():
            return 0
        for doomed in self.root.glob(".deleted-*"):
            shutil.rmtree(doomed, ignore_errors=True)
        for directory, _ in self.buckets():
            for tmp in (directory / "tmp").glob("*"):
                tmp.unlink(missing_ok=True)
                removed += 1
            live = {str(r["blob"]) for r in self.records(directory)}
            blobs = directory / "blobs"
            for blob in blobs.iterdir() if blobs.exists() else ():
                if blob.name not in live:
                    blob.unlink(missing_ok=True)
                    removed += 1
        return removed


# ---------------------------------------------------------------------------------------------
# DynamoDB item store
# ---------------------------------------------------------------------------------------------


def _canonical_value(value: Mapping[str, Any]) -> Any:
    """A key attribute value in a form where equal DynamoDB keys compare equal ("1.0" == "1")."""
    (kind, raw), *_ = value.items()
    if kind == "N":
        try:
            return {"N": str(Decimal(raw).normalize())}
        except InvalidOperation:
            return {"N": raw}
    return {kind: raw}


def _canonical_key(key: Mapping[str, Any]) -> str:
    return json.dumps({k: _canonical_value(v) for k, v in key.items()}, sort_keys=True, separators=(",", ":"))


def _table_name(name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:") and ":table/" in name_or_arn:
        return name_or_arn.split(":table/", 1)[1].split("/", 1)[0]
    return name_or_arn


class _ItemStore:
    def __init__(self, path: Path, fsync: bool) -> None:
        self.lock = threading.Lock()
        # One connection shared by the server's threads, serialised by self.lock.
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction is in the WAL file (the OS has it), which
        # survives the process being killed; FULL also fsyncs it, which survives a power cut.
        self.db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS items (tbl TEXT NOT NULL, pk TEXT NOT NULL, item TEXT NOT NULL,"
            " PRIMARY KEY (tbl, pk)) WITHOUT ROWID"
        )

    def apply(self, upserts: list[tuple[str, str, str]], deletes: list[tuple[str, str]]) -> None:
        with contextlib.closing(self.db.cursor()) as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                cursor.executemany("INSERT OR REPLACE INTO items (tbl, pk, item) VALUES (?, ?, ?)", upserts)
                cursor.executemany("DELETE FROM items WHERE tbl = ? AND pk = ?", deletes)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise

    def drop_table(self, table: str) -> None:
        self.db.execute("DELETE FROM items WHERE tbl = ?", (table,))

    def tables(self) -> list[str]:
        with self.lock:
            return [row[0] for row in self.db.execute("SELECT DISTINCT tbl FROM items ORDER BY tbl")]

    def items(self, table: str) -> Iterator[dict[str, Any]]:
        """Items of ``table`` in key order, read in pages so the lock is never held for long."""
        last = ""
        while True:
            with self.lock:
                rows = self.db.execute(
                    "SELECT pk, item FROM items WHERE tbl = ? AND pk > ? ORDER BY pk LIMIT 500", (table, last)
                ).fetchall()
            if not rows:
                return
            for _, item in rows:
                yield json.loads(item)
            last = rows[-1][0]

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _wire_to_boto(value: Any) -> Any:
    """DynamoDB wire JSON (binary as base64 text) to what boto3's low-level client takes (bytes)."""
    (kind, raw), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64decode(raw)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in raw]}
    if kind == "M":
        return {"M": {k: _wire_to_boto(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [_wire_to_boto(v) for v in raw]}
    return {kind: raw}


# ---------------------------------------------------------------------------------------------
# The middleware
# ---------------------------------------------------------------------------------------------


class Mirror:
    """WSGI middleware that mirrors moto's S3 objects and DynamoDB items into ``data_dir``.

    Contract:
    - Wrap moto's app with ``mirror.wrap(app)`` (``EmbeddedAws(middleware=mirror.wrap)``).
    - After a mutating S3/DynamoDB request that moto answered with 2xx (or 5xx: moto can fail
      after changing state), the current state of every object / item it touched is on disk
      before the response is sent. If that fails after a 2xx the client gets a 500 instead (the
      write is then in memory but not durable, and the client knows).
    - Mirrored: S3 PutObject, CopyObject, CompleteMultipartUpload, DeleteObject, DeleteObjects,
      CreateBucket, DeleteBucket; DynamoDB PutItem, UpdateItem, DeleteItem, BatchWriteItem,
      TransactWriteItems, DeleteTable. Not mirrored: everything else (see the docs).
    - GET/HEAD/OPTIONS go straight to moto: the iterable moto returns is returned as is.
    - ``table_keys`` maps table name -> (hash attribute, range attribute or None); tables not in
      it are asked for their key schema (DescribeTable, in-process) on first use.
    - ``fsync=True`` fsyncs every file, directory and SQLite commit (power-cut durable); the
      default is durable against the server process dying, not the machine.
    - Constructing a Mirror sweeps what an earlier crash left half-written; construct it before
      the server starts serving.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        table_keys: Mapping[str, tuple[str, str | None]] | None = None,
        *,
        fsync: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._check_format()
        self.fsync = fsync
        self._table_keys: dict[str, tuple[str, str | None]] = dict(table_keys or {})
        self._objects = _ObjectStore(self.data_dir / "s3", fsync)
        self._items = _ItemStore(self.data_dir / "dynamodb.sqlite", fsync)
        self._app: WSGIApp | None = None
        self._warned_partiql = False
        swept = self._objects.sweep()
        if swept:
            logger.info("data dir %s: removed %d files left by an interrupted write", self.data_dir, swept)

    def _check_format(self) -> None:
        marker = self.data_dir / "format.json"
        if marker.exists():
            version = json.loads(marker.read_bytes()).get("version")
            if version != FORMAT_VERSION:
                raise PersistenceError(
                    f"{self.data_dir} holds data format {version}; this batchgate reads {FORMAT_VERSION}"
                )
        else:
            tmp = marker.with_name(f".format.{uuid.uuid4().hex}.tmp")
            tmp.write_text(json.dumps({"version": FORMAT_VERSION}))
            os.replace(tmp, marker)  # never a half-written marker, even if killed right here

    # -- WSGI ------------------------------------------------------------------------------------

    def wrap(self, app: WSGIApp) -> Mirror:
        """Bind the app to mirror (moto's) and return the middleware to serve."""
        self._app = app
        return self

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        app = self._app
        if app is None:
            raise RuntimeError("Mirror.wrap(app) was not called")
        method = environ.get("REQUEST_METHOD", "GET")
        # The cheap path: reads (incl. streamed GETs of big objects) are never touched.
        if method in ("GET", "HEAD", "OPTIONS") or _RESTORE_ENVIRON_KEY in environ:
            return app(environ, start_response)
        plan = self._plan(environ)
        if plan is None:
            return app(environ, start_response)
        return self._call_and_mirror(app, environ, start_response, plan)

    def _plan(self, environ: dict[str, Any]) -> Callable[[], None] | None:
        """What to mirror after this request succeeds, or None. May read a small body."""
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return None
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        credential = _credential(environ, query)
        access_key, region, service = credential if credential else (None, "us-east-1", None)
        if target.startswith("DynamoDB_"):
            operation = target.split(".", 1)[-1]
            if operation in _DYNAMODB_PARTIQL:
                self._warn_partiql()
                return None
            if operation not in _DYNAMODB_MUTATIONS:
                return None
            try:
                body = json.loads(_read_body(environ) or b"{}")
            except ValueError:
                return None  # moto answers a malformed body with a 400; nothing to mirror
            return lambda: self._mirror_dynamodb(environ, operation, body)
        # moto sends anything unsigned and unrecognised to S3; so do we.
        if target or (service is not None and service != "s3"):
            return None
        write = self._s3_plan(environ, query, region, access_key)
        if write is None:
            return None
        return lambda: self._mirror_s3(write)

    def _s3_plan(
        self, environ: dict[str, Any], query: dict[str, list[str]], region: str, access_key: str | None
    ) -> _S3Write | None:
        method = environ["REQUEST_METHOD"]
        bucket, key = _s3_request(environ)
        if not bucket:
            return None
        params = {name.lower() for name in query if not name.lower().startswith("x-amz-")}
        subresources = params - _S3_PLAIN_PARAMS
        account = _account_id(environ, access_key)
        if not key:
            if method == "PUT" and not subresources:
                return _S3Write(account, region, bucket, bucket_created=True)
            if method == "DELETE" and not subresources:
                return _S3Write(account, region, bucket, bucket_deleted=True)
            if method == "POST" and "delete" in subresources:
                try:
                    keys = _deleted_keys(_read_body(environ))
                except ET.ParseError:
                    return None  # moto answers MalformedXML; nothing to mirror
                return _S3Write(account, region, bucket, keys=keys)
            return None
        if method == "POST":
            # CompleteMultipartUpload; ?uploads (initiate), ?restore, ?select change no bytes.
            return _S3Write(account, region, bucket, keys=(key,)) if subresources == {"uploadid"} else None
        if method in ("PUT", "DELETE"):
            # PutObject / CopyObject / DeleteObject; parts, aborts, ?tagging, ?acl... are skipped.
            return _S3Write(account, region, bucket, keys=(key,)) if not subresources else None
        return None

    def _call_and_mirror(
        self, app: WSGIApp, environ: dict[str, Any], start_response: StartResponse, mirror: Callable[[], None]
    ) -> Iterable[bytes]:
        captured: list[tuple[Any, ...]] = []
        early: list[bytes] = []

        def deferred_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [(status, headers, exc_info)]
            return early.append  # the legacy write() callable; moto's Flask app never uses it

        result = app(environ, deferred_start_response)
        if not captured:  # a lazy app starts the response on first iteration: run it now
            result = list(result)
        status, headers, exc_info = captured[0]
        # 2xx: the write happened. 5xx: moto may have failed *after* changing its state (it is
        # not safe under concurrent overwrites of one S3 key), so mirror what is there now too.
        # 4xx: refused before any change.
        if status[:1] in ("2", "5"):
            try:
                mirror()
            except Exception as exc:
                logger.exception(
                    "could not persist %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
                )
                if status[:1] == "2":
                    if hasattr(result, "close"):
                        result.close()
                    return self._error(environ, start_response, exc)
        start_response(status, headers, exc_info)
        if early:
            return [*early, *result]
        return result

    @staticmethod
    def _error(environ: dict[str, Any], start_response: StartResponse, exc: Exception) -> list[bytes]:
        message = f"batchgate could not persist this write to its data dir: {exc}"
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            body = json.dumps(
                {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": message}
            ).encode()
            content_type = "application/x-amz-json-1.0"
        else:
            root = ET.Element("Error")
            ET.SubElement(root, "Code").text = "InternalError"
            ET.SubElement(root, "Message").text = message
            body = ET.tostring(root, xml_declaration=True, encoding="utf-8")
            content_type = "application/xml"
        start_response(
            "500 Internal Server Error", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _warn_partiql(self) -> None:
        if not self._warned_partiql:
            self._warned_partiql = True
            logger.warning("PartiQL writes (ExecuteStatement, ...) are not persisted to the data dir")

    # -- S3 --------------------------------------------------------------------------------------

    def _mirror_s3(self, write: _S3Write) -> None:
        from moto.s3.models import FakeKey, s3_backends

        backend = s3_backends[write.account][_partition(write.region)]
        if write.bucket_deleted:
            if write.bucket not in backend.buckets:
                self._objects.drop_bucket(write.bucket)
            return
        bucket = backend.buckets.get(write.bucket)
        if write.bucket_created:
            if bucket is not None:
                self._objects.put_bucket(write.bucket, bucket.region_name)
            return
        for key_name in write.keys:
            with self._objects.lock_for(write.bucket, key_name):
                # Mirror what is current *now*, under the key's lock: whichever of two racing
                # writers mirrors last also reads last, so the disk ends on moto's final state.
                deadline = time.monotonic() + _SUPERSEDED_PATIENCE
                while True:
                    fake_key = bucket.keys.get(key_name) if bucket is not None else None
                    if not isinstance(fake_key, FakeKey):  # gone, or a delete marker on top
                        self._objects.delete_object(write.bucket, key_name)
                        break

                    def still_current(k: Any = fake_key, name: str = key_name) -> bool:
                        return not k.disposed and bucket.keys.get(name) is k  # type: ignore[union-attr]

                    try:
                        self._objects.put_object(write.bucket, bucket.region_name, fake_key, still_current)  # type: ignore[union-attr]
                        break
                    except _KeyChanged:
                        # Superseded mid-copy by a newer write: copy that one instead (its own
                        # mirror will too, after us; this keeps our 2xx honest meanwhile).
                        if time.monotonic() > deadline:
                            raise PersistenceError(
                                f"s3://{write.bucket}/{key_name} kept changing while being saved"
                            ) from None

    # -- DynamoDB --------------------------------------------------------------------------------

    def _mirror_dynamodb(self, environ: dict[str, Any], operation: str, body: Mapping[str, Any]) -> None:
        if operation == "DeleteTable":
            table = _table_name(body["TableName"])
            with self._items.lock:
                self._items.drop_table(table)
            self._table_keys.pop(table, None)
            return
        touched: list[tuple[str, dict[str, Any]]] = []  # (table, key)
        if operation == "PutItem":
            touched.append((body["TableName"], self._key_of(environ, body["TableName"], body["Item"])))
        elif operation in ("UpdateItem", "DeleteItem"):
            touched.append((body["TableName"], body["Key"]))
        elif operation == "BatchWriteItem":
            for table, requests in body.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        touched.append((table, self._key_of(environ, table, request["PutRequest"]["Item"])))
                    elif "DeleteRequest" in request:
                        touched.append((table, request["DeleteRequest"]["Key"]))
        elif operation == "TransactWriteItems":
            for entry in body.get("TransactItems", []):
                if "Put" in entry:
                    put = entry["Put"]
                    touched.append((put["TableName"], self._key_of(environ, put["TableName"], put["Item"])))
                for kind in ("Update", "Delete"):
                    if kind in entry:
                        touched.append((entry[kind]["TableName"], entry[kind]["Key"]))
        by_table: dict[str, dict[str, dict[str, Any]]] = {}
        for table, key in touched:
            by_table.setdefault(table, {})[_canonical_key(key)] = key
        # Read-then-write under one lock: the last mirror to write is the last to have read.
        with self._items.lock:
            upserts: list[tuple[str, str, str]] = []
            deletes: list[tuple[str, str]] = []
            for table, keys in by_table.items():
                name = _table_name(table)
                hash_attr, range_attr = self._key_attrs(environ, table)
                found = self._batch_get(environ, table, list(keys.values()))
                present = set()
                for item in found:
                    key = {a: item[a] for a in (hash_attr, range_attr) if a is not None}
                    pk = _canonical_key(key)
                    present.add(pk)
                    upserts.append((name, pk, json.dumps(item, sort_keys=True, separators=(",", ":"))))
                deletes.extend((name, pk) for pk in keys if pk not in present)
            self._items.apply(upserts, deletes)

    def _key_of(self, environ: dict[str, Any], table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        hash_attr, range_attr = self._key_attrs(environ, table)
        return {a: item[a] for a in (hash_attr, range_attr) if a is not None}

    def _key_attrs(self, environ: dict[str, Any], table: str) -> tuple[str, str | None]:
        name = _table_name(table)
        if name not in self._table_keys:
            schema = self._dynamodb(environ, "DescribeTable", {"TableName": table})["Table"]["KeySchema"]
            roles = {entry["KeyType"]: entry["AttributeName"] for entry in schema}
            self._table_keys[name] = (roles["HASH"], roles.get("RANGE"))
        return self._table_keys[name]

    def _batch_get(
        self, environ: dict[str, Any], table: str, keys: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                "RequestItems": {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            }
            while request["RequestItems"]:
                response = self._dynamodb(environ, "BatchGetItem", request)
                items.extend(response.get("Responses", {}).get(table, []))
                request = {"RequestItems": response.get("UnprocessedKeys") or {}}
        return items

    def _dynamodb(
        self, environ: dict[str, Any], operation: str, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Call moto's DynamoDB in-process (no socket), as the client of ``environ`` would."""
        from werkzeug.test import EnvironBuilder

        assert self._app is not None
        headers = {
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
        }
        for header in ("HTTP_AUTHORIZATION", "HTTP_X_MOTO_ACCOUNT_ID", "HTTP_HOST"):
            if header in environ:
                headers[header[5:].replace("_", "-").title()] = environ[header]
        builder = EnvironBuilder(
            method="POST", path="/", headers=list(headers.items()), data=json.dumps(payload).encode()
        )
        try:
            inner = builder.get_environ()
        finally:
            builder.close()
        status: list[str] = []

        def start_response(s: str, h: list[tuple[str, str]], e: Any = None) -> Callable[[bytes], None]:
            status.append(s)
            return lambda _: None

        result = self._app(inner, start_response)
        try:
            raw = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if not status or not status[0].startswith("200"):
            raise PersistenceError(f"DynamoDB {operation} for the mirror failed: {status} {raw[:300]!r}")
        answer: dict[str, Any] = json.loads(raw)
        return answer

    # -- maintenance -----------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget everything mirrored (objects and items). The server's state is untouched."""
        with self._items.lock:
            self._items.db.execute("DELETE FROM items")
        shutil.rmtree(self._objects.root, ignore_errors=True)

    def close(self) -> None:
        """Close the SQLite connection. The Mirror must no longer serve requests."""
        self._items.close()

    # -- restore ---------------------------------------------------------------------------------

    def restore(
        self,
        endpoint: str,
        *,
        region: str,
        create_buckets: bool = True,
        max_concurrency: int = 4,
    ) -> RestoreResult:
        """Load every mirrored item and object into the server at ``endpoint``; return the counts.

        Call it once the (empty) tables and buckets exist and before S3 notifications are
        configured and clients are let in: restored objects then raise no ObjectCreated events,
        and no client write can be overwritten by an older mirrored one. Items go in with
        BatchWriteItem (25 a call, unprocessed ones retried) exactly as stored; objects are
        streamed from disk with their content type, user metadata and standard headers. Buckets
        that were mirrored but do not exist are created (plain, in their recorded region) when
        ``create_buckets``; items of missing tables are skipped and reported, not deleted.
        Restore requests carry ``x-batchgate-restore`` so this Mirror does not rewrite them.
        """
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
        from botocore.exceptions import ClientError

        session = boto3.session.Session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            region_name=region,
        )
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"})

        def mark_restore(request: Any, **_: Any) -> None:
            request.headers[RESTORE_HEADER] = "1"

        dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=config)
        s3 = session.client("s3", endpoint_url=endpoint, config=config)
        for client in (dynamodb, s3):
            client.meta.events.register("before-sign", mark_restore)
        result = RestoreResult()

        existing: set[str] = set()
        for page in dynamodb.get_paginator("list_tables").paginate():
            existing.update(page.get("TableNames", []))
        for table in self._items.tables():
            if table not in existing:
                result.tables_missing.append(table)
                logger.warning("data dir has items for table %s, which does not exist: not restored", table)
                continue
            batch: list[dict[str, Any]] = []
            for item in self._items.items(table):
                batch.append({"PutRequest": {"Item": {k: _wire_to_boto(v) for k, v in item.items()}}})
                if len(batch) == 25:
                    result.items += self._write_batch(dynamodb, table, batch)
                    batch = []
            if batch:
                result.items += self._write_batch(dynamodb, table, batch)

        # One part for anything up to 64 MB: a single PUT keeps a plain MD5 ETag, and moto holds
        # every object in memory anyway; larger ones go up in 64 MB parts.
        transfer = TransferConfig(
            multipart_threshold=64 * 1024 * 1024,
            multipart_chunksize=64 * 1024 * 1024,
            max_concurrency=max_concurrency,
        )
        for directory, meta in self._objects.buckets():
            bucket = str(meta["name"])
            try:
                s3.head_bucket(Bucket=bucket)
            except ClientError:
                if not create_buckets:
                    raise
                bucket_region = str(meta.get("region") or region)
                kwargs: dict[str, Any] = {"Bucket": bucket}
                if bucket_region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": bucket_region}
                s3.create_bucket(**kwargs)
                result.buckets_created.append(bucket)
            for record in self._objects.records(directory):
                blob = directory / "blobs" / str(record["blob"])
                s3.upload_file(str(blob), bucket, record["key"], ExtraArgs=_put_args(record), Config=transfer)
                result.objects += 1
                result.object_bytes += int(record["size"])
        logger.info(
            "restored %d items and %d objects (%d bytes) from %s",
            result.items,
            result.objects,
            result.object_bytes,
            self.data_dir,
        )
        return result

    @staticmethod
    def _write_batch(client: Any, table: str, batch: list[dict[str, Any]]) -> int:
        pending: dict[str, Any] = {table: batch}
        for _attempt in range(20):
            response = client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return len(batch)
        raise PersistenceError(f"restoring {table}: items stayed unprocessed")


def _put_args(record: Mapping[str, Any]) -> dict[str, Any]:
    """upload_file ExtraArgs reproducing the stored object's headers and user metadata."""
    args: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for name, value in record.get("headers", {}).items():
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            metadata[name[len("x-amz-meta-") :]] = value
        elif lower == "expires":
            with contextlib.suppress(TypeError, ValueError):
                args["Expires"] = parsedate_to_datetime(value)
        elif lower in _S3_HEADER_ARGS:
            args[_S3_HEADER_ARGS[lower]] = value
    if metadata:
        args["Metadata"] = metadata
    return args
