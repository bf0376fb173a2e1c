"""What a run of an ingest-s3 or ingest-http job would ingest: the new objects under the job's
prefix (not yet in its ledger), or the URL's file fetched with a conditional GET. Each returns the
sources (bucket, key, ETag, size, name) and a note for the run's step."""

from __future__ import annotations

import fnmatch
import posixpath
from typing import Any
from urllib.parse import urlsplit

from batchgate.aws.job_store import Claim, JobStore
from batchgate.aws.objects import Objects
from batchgate.core import keys
from batchgate.core.errors import InvalidRequest
from batchgate.core.file_names import check_file_name, format_for_name
from batchgate.core.limits import BATCH_FILES
from batchgate.jobs.http_fetch import fetch_to_s3
from batchgate.jobs.models import Job


def run_file_key(job: Job, run_id: str, name: str) -> str:
    """Where a run keeps one of its object lists (``sources``, ``claimed``, ``validators``, ``sync``)."""
    return f"{keys.job_run_prefix(job.org, job.sandbox, job.id, run_id)}{name}.json"


def list_new(store: JobStore, job: Job, run_id: str) -> tuple[list[dict[str, Any]], str]:
    a = job.attributes
    bucket, prefix, pattern, fmt = a["bucket"], a.get("prefix", ""), a.get("pattern", "*"), a["format"]
    source = Objects(bucket)
    if problem := source.bucket_problem():
        raise InvalidRequest(f"source {problem}", code="BG-400-JOB-SOURCE")
    listed, wrong_suffix, empty = [], [], []
    for o in source.objects_under(prefix):
        relative = o.key[len(prefix) :]
        if o.key.endswith("/") or not fnmatch.fnmatchcase(relative, pattern):
            continue
        if format_for_name(o.key)[0] != fmt:
            wrong_suffix.append(o.key)
        elif o.size == 0:
            empty.append(o)
        else:
            listed.append(o)
    ledger = store.claims(job, [(o.key, o.etag) for o in listed + empty])
    for o in empty:
        if (o.key, o.etag) not in ledger:
            # Recorded so a later run does not list it again; written anew it has another ETag.
            store.claim(job, o.key, o.etag, run_id=run_id, batch_id="")
            store.settle_claim(job, Claim(o.key, o.etag, run_id, "", "claimed"), "skipped-empty")
    new = [o for o in listed if (c := ledger.get((o.key, o.etag))) is None or c.run_id == run_id]
    new.sort(key=lambda o: o.key)
    notes = []
    if len(new) > BATCH_FILES.value:
        notes.append(f"{len(new) - BATCH_FILES.value} more new file(s) left for the next run")
        new = new[: BATCH_FILES.value]
    if wrong_suffix:
        notes.append(
            f"{len(wrong_suffix)} object(s) without a .{fmt} suffix not ingested: {wrong_suffix[:3]}"
        )
    if fresh_empty := [o.key for o in empty if (o.key, o.etag) not in ledger]:
        notes.append(f"{len(fresh_empty)} empty object(s) not ingested: {fresh_empty[:3]}")
    sources = [
        {"bucket": bucket, "key": o.key, "etag": o.etag, "size": o.size, "name": o.key[len(prefix) :]}
        for o in new
    ]
    if notes:
        notes.insert(0, f"{len(sources)} new file(s)")
    return sources, "; ".join(notes)


def fetch_new(objects: Objects, store: JobStore, job: Job, run_id: str) -> tuple[list[dict[str, Any]], str]:
    a = job.attributes
    name = a.get("fileName") or posixpath.basename(urlsplit(a["url"]).path) or f"download.{a['format']}"
    check_file_name(name)
    key = f"{keys.job_run_prefix(job.org, job.sandbox, job.id, run_id)}{name}"
    fetched = fetch_to_s3(a["url"], objects, key, store.http_validators(job))
    if fetched is None:
        return [], "not modified since the last run (conditional GET answered 304)"
    if fetched.size == 0:
        return [], "the server sent an empty file: nothing ingested"
    source = {
        "bucket": objects.bucket,
        "key": key,
        "etag": fetched.etag,
        "size": fetched.size,
        "name": name,
    }
    objects.put_json(run_file_key(job, run_id, "validators"), fetched.validators)
    return [source], ""
