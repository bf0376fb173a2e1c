"""``Mirror``: the WSGI middleware around moto's app that writes each acknowledged write through to disk."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from batchgate_tools.local.persistence.data_dir import PersistenceError, check_format
from batchgate_tools.local.persistence.items import ItemStore, canonical_key, table_name
from batchgate_tools.local.persistence.objects import KeyChanged, ObjectStore
from batchgate_tools.local.persistence.requests import (
    DYNAMODB_MUTATIONS,
    DYNAMODB_PARTIQL,
    RESTORE_ENVIRON_KEY,
    S3Write,
    partition,
    read_body,
    s3_write,
    sigv4_credential,
    touched_items,
)
from batchgate_tools.local.persistence.restore import RestoreResult, restore

logger = logging.getLogger(__name__)

# How long one mirror keeps chasing a key that other writers keep replacing mid-copy.
_SUPERSEDED_PATIENCE = 30.0

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


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
        check_format(self.data_dir)
        self.fsync = fsync
        self._table_keys: dict[str, tuple[str, str | None]] = dict(table_keys or {})
        #: The S3 objects mirrored so far (``data_dir/s3``).
        self.objects = ObjectStore(self.data_dir / "s3", fsync)
        #: The DynamoDB items mirrored so far (``data_dir/dynamodb.sqlite``).
        self.items = ItemStore(self.data_dir / "dynamodb.sqlite", fsync)
        self._app: WSGIApp | None = None
        self._warned_partiql = False
        swept = self.objects.sweep()
        if swept:
            logger.info("data dir %s: removed %d files left by an interrupted write", self.data_dir, swept)

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
        if method in ("GET", "HEAD", "OPTIONS") or RESTORE_ENVIRON_KEY in environ:
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
        credential = sigv4_credential(environ, query)
        access_key, region, service = credential if credential else (None, "us-east-1", None)
        if target.startswith("DynamoDB_"):
            operation = target.split(".", 1)[-1]
            if operation in DYNAMODB_PARTIQL:
                self._warn_partiql()
                return None
            if operation not in DYNAMODB_MUTATIONS:
                return None
            try:
                body = json.loads(read_body(environ) or b"{}")
            except ValueError:
                return None  # moto answers a malformed body with a 400; nothing to mirror
            return lambda: self._mirror_dynamodb(environ, operation, body)
        # moto sends anything unsigned and unrecognised to S3; so do we.
        if target or (service is not None and service != "s3"):
            return None
        write = s3_write(environ, query, region, access_key)
        if write is None:
            return None
        return lambda: self._mirror_s3(write)

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

    def _mirror_s3(self, write: S3Write) -> None:
        from moto.s3.models import FakeKey, s3_backends

        backend = s3_backends[write.account][partition(write.region)]
        if write.bucket_deleted:
            if write.bucket not in backend.buckets:
                self.objects.drop_bucket(write.bucket)
            return
        bucket = backend.buckets.get(write.bucket)
        if write.bucket_created:
            if bucket is not None:
                self.objects.put_bucket(write.bucket, bucket.region_name)
            return
        for key_name in write.keys:
            with self.objects.lock_for(write.bucket, key_name):
                # Mirror what is current *now*, under the key's lock: whichever of two racing
                # writers mirrors last also reads last, so the disk ends on moto's final state.
                deadline = time.monotonic() + _SUPERSEDED_PATIENCE
                while True:
                    fake_key = bucket.keys.get(key_name) if bucket is not None else None
                    if not isinstance(fake_key, FakeKey):  # gone, or a delete marker on top
                        self.objects.delete_object(write.bucket, key_name)
                        break

                    def still_current(k: Any = fake_key, name: str = key_name) -> bool:
                        return not k.disposed and bucket.keys.get(name) is k  # type: ignore[union-attr]

                    try:
                        self.objects.put_object(write.bucket, bucket.region_name, fake_key, still_current)  # type: ignore[union-attr]
                        break
                    except KeyChanged:
                        # Superseded mid-copy by a newer write: copy that one instead (its own
                        # mirror will too, after us; this keeps our 2xx honest meanwhile).
                        if time.monotonic() > deadline:
                            raise PersistenceError(
                                f"s3://{write.bucket}/{key_name} kept changing while being saved"
                            ) from None

    # -- DynamoDB --------------------------------------------------------------------------------

    def _mirror_dynamodb(self, environ: dict[str, Any], operation: str, body: Mapping[str, Any]) -> None:
        if operation == "DeleteTable":
            table = table_name(body["TableName"])
            with self.items.lock:
                self.items.drop_table(table)
            self._table_keys.pop(table, None)
            return
        touched = touched_items(operation, body, lambda table, item: self._key_of(environ, table, item))
        by_table: dict[str, dict[str, dict[str, Any]]] = {}
        for table, key in touched:
            by_table.setdefault(table, {})[canonical_key(key)] = key
        # Read-then-write under one lock: the last mirror to write is the last to have read.
        with self.items.lock:
            upserts: list[tuple[str, str, str]] = []
            deletes: list[tuple[str, str]] = []
            for table, keys in by_table.items():
                name = table_name(table)
                hash_attr, range_attr = self._key_attrs(environ, table)
                found = self._batch_get(environ, table, list(keys.values()))
                present = set()
                for item in found:
                    key = {a: item[a] for a in (hash_attr, range_attr) if a is not None}
                    pk = canonical_key(key)
                    present.add(pk)
                    upserts.append((name, pk, json.dumps(item, sort_keys=True, separators=(",", ":"))))
                deletes.extend((name, pk) for pk in keys if pk not in present)
            self.items.apply(upserts, deletes)

    def _key_of(self, environ: dict[str, Any], table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        hash_attr, range_attr = self._key_attrs(environ, table)
        return {a: item[a] for a in (hash_attr, range_attr) if a is not None}

    def _key_attrs(self, environ: dict[str, Any], table: str) -> tuple[str, str | None]:
        name = table_name(table)
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
        with self.items.lock:
            self.items.db.execute("DELETE FROM items")
        shutil.rmtree(self.objects.root, ignore_errors=True)

    def close(self) -> None:
        """Close the SQLite connection. The Mirror must no longer serve requests."""
        self.items.close()

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
        return restore(
            self.items,
            self.objects,
            endpoint,
            region=region,
            create_buckets=create_buckets,
            max_concurrency=max_concurrency,
            data_dir=self.data_dir,
        )
