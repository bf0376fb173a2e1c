"""Where things live: every S3 key, DynamoDB key and Iceberg identifier is built here and nowhere
else, so the validators, the API, the workflow and the local stack agree on the layout.

S3 (one upload bucket):
  uploads/{format}/{org}/{sandbox}/{datasetId}/{batchId}/{name}
                                                        files uploaded through the API; the
                                                        batch's format leads the key so S3 prefix
                                                        filters route it to its validator whatever
                                                        the file's name
  inbox/{org}/{sandbox}/{datasetId}/{name}              bucket drop (auto-ingest)
  chunks/{org}/{sandbox}/{batchId}/{name}/{first}-{last}-t{total}
                                                        AEP chunks until the file's COMPLETE; outside
                                                        uploads/, so no validator sees them
  staged/{org}/{sandbox}/{datasetId}/{batchId}/...      validated rows as Parquet
  failed/{org}/{sandbox}/{datasetId}/{batchId}/...      failed-records reports (JSON Lines)
  work/{org}/{sandbox}/{batchId}/{digest}/part-N.json   a large file's part results (validate-large)
  drops/{org}/{sandbox}/{datasetId}/{batchId}/{name}   a drop's version, copied when the key
                                                        was overwritten before its event came
  warehouse/...                                         Iceberg tables
DynamoDB (one table, pk/sk, tenant-prefixed):
  {org}#{sandbox}#BATCH#{id}   / BATCH          the batch
  {org}#{sandbox}#BATCH#{id}   / FILE#{name}    one item per file (no hot counter on the batch)
  {org}#{sandbox}#DATASET#{id} / DATASET        the dataset
  {org}#{sandbox}#DATASET#{id} / DELETED        a deleted dataset's tombstone, until GC removed its files
  {org}#{sandbox}#SCHEMA#{id}  / SCHEMA         a schema of the tenant's registry
  {org}#{sandbox}#JOB#{id}     / JOB            a scheduled job (and / HTTP: its source's validators)
  {org}#{sandbox}#JOBNAME#{n}  / JOBNAME        a job's name, unique in its tenant
  {org}#{sandbox}#RUN#{id}     / RUN            one run of a job, with its steps
  {org}#{sandbox}#LEDGER#{job} / {etag}#{key}   an object an ingest-s3 job claimed or ingested
  APIKEY#{keyId}               / APIKEY         an API key (secret hashed; role, sandboxes)
  index gsi1: {tenant}#DATASETS (datasets), {tenant}#SCHEMAS (the registry), {org}#KEYS (keys) and
              {tenant}#DS#{datasetId} (batches by dataset)
  index gsi2: STATUS#{status} (batches by status and last change: GC, sweeps, recovery),
              DATASETS#DELETED (tombstones for the GC sweep) and RUNS#{status} (runs, for recovery)
  index gsi3: {tenant}#BATCHES (batches by tenant and creation time) and {tenant}#JOB#{id}#RUNS
Iceberg: namespace {prefix}_{org}_{sandbox} (prefix bg unless the stack sets another), table
  ds_{datasetId}, sanitised to what Glue accepts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import cast

from batchgate.core.errors import InvalidRequest
from batchgate.core.file_names import format_for_name
from batchgate.core.models import Batch, BatchStatus, Format

INBOX = "inbox/"
UPLOADS = "uploads/"
FORMATS: tuple[Format, ...] = ("json", "csv", "parquet")


# -- S3 -------------------------------------------------------------------------------------
def upload_key(fmt: str, org: str, sandbox: str, dataset_id: str, batch_id: str, name: str) -> str:
    return f"{upload_prefix(fmt, org, sandbox, dataset_id, batch_id)}{name}"


def upload_prefix(fmt: str, org: str, sandbox: str, dataset_id: str, batch_id: str) -> str:
    return f"{UPLOADS}{fmt}/{org}/{sandbox}/{dataset_id}/{batch_id}/"


def batch_upload_prefix(batch: Batch) -> str:
    return upload_prefix(batch.input_format.format, batch.org, batch.sandbox, batch.dataset_id, batch.id)


def staged_prefix(org: str, sandbox: str, dataset_id: str, batch_id: str) -> str:
    return f"staged/{org}/{sandbox}/{dataset_id}/{batch_id}/"


def failed_prefix(org: str, sandbox: str, dataset_id: str, batch_id: str) -> str:
    return f"failed/{org}/{sandbox}/{dataset_id}/{batch_id}/"


def batch_staged_prefix(batch: Batch) -> str:
    return staged_prefix(batch.org, batch.sandbox, batch.dataset_id, batch.id)


def batch_failed_prefix(batch: Batch) -> str:
    return failed_prefix(batch.org, batch.sandbox, batch.dataset_id, batch.id)


def dataset_data_prefixes(org: str, sandbox: str, dataset_id: str) -> list[str]:
    """Every prefix under which a dataset's batches keep files (the table's own are elsewhere)."""
    return [
        *(f"{UPLOADS}{fmt}/{org}/{sandbox}/{dataset_id}/" for fmt in FORMATS),
        f"staged/{org}/{sandbox}/{dataset_id}/",
        f"failed/{org}/{sandbox}/{dataset_id}/",
        f"drops/{org}/{sandbox}/{dataset_id}/",
    ]


def chunk_prefix(org: str, sandbox: str, batch_id: str, name: str) -> str:
    """Chunks live outside uploads/, so no S3 notification routes them to a validator."""
    return f"chunks/{org}/{sandbox}/{batch_id}/{name}/"


# {first}-{last}-t{total|x}: the listing alone describes every chunk (no HEAD per chunk).
_CHUNK_NAME = re.compile(r"^(\d{20})-(\d{20})-t(\d+|x)$")


def chunk_key(prefix: str, first: int, last: int, total: int | None) -> str:
    return f"{prefix}{first:020d}-{last:020d}-t{'x' if total is None else total}"


def parse_chunk_key(prefix: str, key: str) -> tuple[int, int, int | None] | None:
    """(first, last, total) of a chunk key under ``prefix``; None for a key that is not a chunk
    of this file (a chunk of another file whose name extends this one, "a" vs "a/b")."""
    m = _CHUNK_NAME.match(key[len(prefix) :]) if key.startswith(prefix) else None
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), None if m.group(3) == "x" else int(m.group(3))


def part_result_key(org: str, sandbox: str, batch_id: str, name: str, sequencer: str, part: int) -> str:
    """Where one part of a large file leaves its validation result (validate-large)."""
    digest = hashlib.sha256(f"{name}\0{sequencer}".encode()).hexdigest()[:24]
    return f"work/{org}/{sandbox}/{batch_id}/{digest}/part-{part:05d}.json"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def fs_path(bucket: str, key: str) -> str:
    """A key as pyarrow's S3 filesystem spells it."""
    return f"{bucket}/{key}"


def drop_copy_prefix(org: str, sandbox: str, dataset_id: str, batch_id: str) -> str:
    """Where a bucket drop's older version is copied to be read (pyarrow reads keys, not
    versions): outside inbox/ and uploads/, so no notification fires."""
    return f"drops/{org}/{sandbox}/{dataset_id}/{batch_id}/"


def inbox_batch_id(key: str, version: str) -> str:
    """A bucket drop's batch id, derived from the object version (S3's ``versionId``; the ETag in
    a bucket without versioning), so a repeated event of that version finds its batch and a
    deliberate re-upload, a new version even of the same bytes, is a new batch."""
    return "inbox-" + hashlib.sha256(f"{key}\0{version}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ObjectRef:
    """What an object key under uploads/ or inbox/ says about its tenant, dataset and batch."""

    kind: str  # "uploads" | "inbox"
    fmt: Format | None  # from the key for uploads/, from the suffix for inbox/ (None: unknown)
    org: str
    sandbox: str
    dataset_id: str
    batch_id: str | None
    name: str


def parse_object_key(key: str) -> ObjectRef:
    parts = key.split("/")
    if parts[0] == "uploads" and len(parts) >= 7 and parts[1] in FORMATS:
        fmt = cast(Format, parts[1])
        return ObjectRef("uploads", fmt, parts[2], parts[3], parts[4], parts[5], "/".join(parts[6:]))
    if parts[0] == "inbox" and len(parts) >= 5:
        name = "/".join(parts[4:])
        return ObjectRef("inbox", format_for_name(name)[0], parts[1], parts[2], parts[3], None, name)
    raise InvalidRequest(f"object key {key!r} is not under uploads/ or inbox/ in the expected shape")


# -- DynamoDB -------------------------------------------------------------------------------
BATCH_SK = "BATCH"
DATASET_SK = "DATASET"
API_KEY_SK = "APIKEY"
FILE_SK_PREFIX = "FILE#"
# The task token of a completion waiting for the batch's files (workflow/complete.py, await_files).
WAITER_SK = "WAITER"


def tenant(org: str, sandbox: str) -> str:
    return f"{org}#{sandbox}"


def batch_pk(org: str, sandbox: str, batch_id: str) -> str:
    return f"{tenant(org, sandbox)}#BATCH#{batch_id}"


def dataset_pk(org: str, sandbox: str, dataset_id: str) -> str:
    return f"{tenant(org, sandbox)}#DATASET#{dataset_id}"


SCHEMA_SK = "SCHEMA"
DATASET_TOMBSTONE_SK = "DELETED"
# gsi2 partition of deleted datasets whose files the GC sweep has still to remove.
DELETED_DATASETS = "DATASETS#DELETED"


def schema_pk(org: str, sandbox: str, schema_id: str) -> str:
    return f"{tenant(org, sandbox)}#SCHEMA#{schema_id}"


def schemas_of_tenant(org: str, sandbox: str) -> str:
    """gsi1 partition of a tenant's registered schemas."""
    return f"{tenant(org, sandbox)}#SCHEMAS"


def file_sk(name: str) -> str:
    return f"{FILE_SK_PREFIX}{name}"


def api_key_pk(key_id: str) -> str:
    return f"APIKEY#{key_id}"


def keys_of_org(org: str) -> str:
    """gsi1 partition of an org's API keys (a key may use several of the org's sandboxes)."""
    return f"{org}#KEYS"


def datasets_of_tenant(org: str, sandbox: str) -> str:
    """gsi1 partition of a tenant's datasets."""
    return f"{tenant(org, sandbox)}#DATASETS"


def batches_of_dataset(org: str, sandbox: str, dataset_id: str) -> str:
    """gsi1 partition of a dataset's batches."""
    return f"{tenant(org, sandbox)}#DS#{dataset_id}"


def batches_in_status(status: BatchStatus) -> str:
    """gsi2 partition of every tenant's batches in one status."""
    return f"STATUS#{status}"


def batches_of_tenant(org: str, sandbox: str) -> str:
    """gsi3 partition of a tenant's batches."""
    return f"{tenant(org, sandbox)}#BATCHES"


def time_order(epoch_ms: int, *rest: str) -> str:
    """A sort key that orders by time (zero-padded milliseconds), ties broken by ``rest``."""
    return "#".join([f"{epoch_ms:015d}", *rest])


# -- Iceberg --------------------------------------------------------------------------------
_INVALID_NAME = re.compile(r"[^a-z0-9_]")
# Glue caps database and table names at 255 characters; keep well inside it.
_MAX_NAME_PART = 120


def _sanitise(value: str) -> str:
    """Lowercase ``[a-z0-9_]``; a sanitisation that loses information appends a short hash of the
    original, so two tenants whose names differ only in punctuation or case never collide."""
    clean = _INVALID_NAME.sub("_", value.lower())[:_MAX_NAME_PART]
    if clean != value:
        clean = f"{clean}_{hashlib.sha256(value.encode()).hexdigest()[:6]}"
    return clean


def namespace_for(org: str, sandbox: str, prefix: str = "bg") -> str:
    """The Iceberg namespace (Glue database) of one tenant. ``prefix`` is the deployment's
    (template.yaml's GlueDatabasePrefix): Glue databases are per account and region, so two stages
    there keep their tenants' databases apart by it."""
    return f"{prefix}_{_sanitise(org)}_{_sanitise(sandbox)}"


def table_identifier(org: str, sandbox: str, dataset_id: str, prefix: str = "bg") -> str:
    """``namespace.table`` for a dataset; what ``Dataset.table`` holds. Deterministic."""
    return f"{namespace_for(org, sandbox, prefix)}.ds_{_sanitise(dataset_id)}"


# -- Step Functions ------------------------------------------------------------------------
def execution_name(action: str, batch_id: str, *, version: int | None = None, suffix: str = "") -> str:
    """``complete-{id}`` / ``abort-{id}`` / ``revert-{id}-v{version}``: one name per attempt, so a
    repeated action finds its run instead of starting a second one (names stay taken for 90
    days; an attempt that may legitimately run again carries the batch version it started from).
    At most 80 characters, Step Functions' limit."""
    name = f"{action.lower()}-{batch_id}" + (f"-v{version}" if version is not None else "")
    return (name + suffix)[:80]


# -- jobs (seed 001) ---------------------------------------------------------------------------
JOB_SK = "JOB"
JOB_NAME_SK = "JOBNAME"
JOB_HTTP_SK = "HTTP"
RUN_SK = "RUN"


def job_pk(org: str, sandbox: str, job_id: str) -> str:
    return f"{tenant(org, sandbox)}#JOB#{job_id}"


def job_name_pk(org: str, sandbox: str, name: str) -> str:
    return f"{tenant(org, sandbox)}#JOBNAME#{name}"


def jobs_of_tenant(org: str, sandbox: str) -> str:
    """gsi1 partition of a tenant's jobs."""
    return f"{tenant(org, sandbox)}#JOBS"


def jobs_in_status(status: str) -> str:
    """gsi2 partition of every tenant's active jobs (the local stack puts their schedules back
    after a restart); inactive jobs are not indexed."""
    return f"JOBS#{status}"


def run_pk(org: str, sandbox: str, run_id: str) -> str:
    return f"{tenant(org, sandbox)}#RUN#{run_id}"


def runs_of_tenant(org: str, sandbox: str) -> str:
    """gsi1 partition of a tenant's runs, newest first."""
    return f"{tenant(org, sandbox)}#RUNS"


def runs_of_job(org: str, sandbox: str, job_id: str) -> str:
    """gsi3 partition of one job's runs."""
    return f"{tenant(org, sandbox)}#JOB#{job_id}#RUNS"


def runs_in_status(status: str) -> str:
    """gsi2 partition of every tenant's runs in a status (restart recovery)."""
    return f"RUNS#{status}"


def ledger_pk(org: str, sandbox: str, job_id: str) -> str:
    return f"{tenant(org, sandbox)}#LEDGER#{job_id}"


def ledger_sk(etag: str, key: str) -> str:
    return f"{etag}#{key}"


def job_run_prefix(org: str, sandbox: str, job_id: str, run_id: str) -> str:
    """Where a run keeps its object lists and (ingest-http) the fetched file: never under
    uploads/, so no S3 notification routes them to a validator."""
    return f"jobs/{org}/{sandbox}/{job_id}/{run_id}/"


# -- export feeds (seed 002) --------------------------------------------------------------------
FEED_SK = "FEED"
SYNC_SK = "SYNC"
ITEM_SK_PREFIX = "ITEM#"


def feed_pk(org: str, sandbox: str, feed_id: str) -> str:
    return f"{tenant(org, sandbox)}#FEED#{feed_id}"


def feeds_of_tenant(org: str, sandbox: str) -> str:
    """gsi1 partition of a tenant's feeds."""
    return f"{tenant(org, sandbox)}#FEEDS"


def sync_pk(org: str, sandbox: str, sync_id: str) -> str:
    """A sync, and its items (sk ``ITEM#{number}``) beside it."""
    return f"{tenant(org, sandbox)}#SYNC#{sync_id}"


def item_sk(number: int) -> str:
    return f"{ITEM_SK_PREFIX}{number:08d}"


def syncs_of_feed(org: str, sandbox: str, feed_id: str) -> str:
    """gsi3 partition of one feed's syncs, newest first."""
    return f"{tenant(org, sandbox)}#FEED#{feed_id}#SYNCS"


def syncs_in_status(status: str) -> str:
    """gsi2 partition of every tenant's syncs in a status (restart recovery)."""
    return f"SYNCS#{status}"


def feed_sync_prefix(org: str, sandbox: str, feed_id: str, sync_id: str) -> str:
    """Where a sync keeps its plan, its change files and its items' payloads."""
    return f"feeds/{org}/{sandbox}/{feed_id}/{sync_id}/"


# -- portable bundles (seed 000) ----------------------------------------------------------------
BUNDLE_SK = "BUNDLE"
BUNDLES = "bundles/"


def bundle_pk(org: str, sandbox: str, record_id: str) -> str:
    """An export or an import of a bundle."""
    return f"{tenant(org, sandbox)}#BUNDLE#{record_id}"


def bundles_of_tenant(org: str, sandbox: str) -> str:
    """gsi1 partition of a tenant's exports and imports, newest first."""
    return f"{tenant(org, sandbox)}#BUNDLES"


def bundles_in_status(status: str) -> str:
    """gsi2 partition of every tenant's exports and imports in a status (restart recovery)."""
    return f"BUNDLES#{status}"


def bundle_claim_pk(org: str, sandbox: str, bundle_id: str) -> str:
    """Which import of this sandbox took the bundle with this manifest ``bundleId``: an import is
    idempotent by it."""
    return f"{tenant(org, sandbox)}#BUNDLEID#{bundle_id}"


def bundle_prefix(org: str, sandbox: str, record_id: str) -> str:
    """Where an export writes its bundle and an API import keeps the bytes it was sent: never
    under uploads/ or inbox/, so no S3 notification routes them to a validator."""
    return f"{BUNDLES}{org}/{sandbox}/{record_id}/"


def bundle_upload_key(org: str, sandbox: str, upload_id: str) -> str:
    """Where a presigned upload of a bundle to import puts it."""
    return f"{BUNDLES}{org}/{sandbox}/uploads/{upload_id}.bgbundle"


BUNDLE_DROP_FOLDER = "_bundles"
BUNDLE_SUFFIX = ".bgbundle"


def bundle_drop_import_id(key: str, version: str) -> str:
    """The import a bundle dropped at ``inbox/{org}/{sandbox}/_bundles/`` starts: derived from the
    object version, so a repeated event (or the GC's sweep) finds the import it started."""
    return "bundle-" + hashlib.sha256(f"{key}\0{version}".encode()).hexdigest()[:24]
