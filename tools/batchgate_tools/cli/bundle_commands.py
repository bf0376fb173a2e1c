"""``batchgate bundles …``: portable bundles (docs/bundles.md).

``bundles show FILE`` reads a ``.bgbundle`` locally (no server, no key): it prints where the bundle
comes from and each dataset (name, rows, files, bytes), verifies it whole (zip, manifest, version,
every sha256, every Parquet part against its schema) and ends with ``verified``, exit 0; or with
the one-line error and its code on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from batchgate.bundles import BundleError, BundleReader, Manifest
from batchgate.bundles.verify import verify_open
from batchgate_tools.cli import output
from batchgate_tools.cli.api_commands import _parser
from batchgate_tools.cli.connection import EXIT_ERROR, guard

EXIT_OK = 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bd = _parser(
        sub, "bundles", env="", help="portable bundles: datasets and their rows in one .bgbundle file",
        description="Portable bundles (docs/bundles.md).",
    ).add_subparsers(dest="bundles_command", required=True)  # fmt: skip
    show = _parser(
        bd, "show", env="",
        help="read and verify a .bgbundle locally: its source, its datasets, verified or why not",
        description="Reads the file only (no server, no key). Exit codes: 0 verified, 2 damaged or unreadable.",
    )  # fmt: skip
    show.add_argument("file", metavar="FILE", help="the .bgbundle file")
    show.add_argument("--json", action="store_true", help="print the manifest and the verdict as JSON")
    show.set_defaults(func=cmd_show)


@guard
def cmd_show(args: argparse.Namespace) -> int:
    try:
        with BundleReader(args.file) as reader:
            manifest = reader.manifest
            try:
                verify_open(reader)
                error = None
            except BundleError as exc:
                error = exc
    except BundleError as exc:  # not even a manifest to show
        if args.json:
            print(output.as_json({"verified": False, "error": _error(exc)}))
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        body: dict[str, Any] = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["verified"] = error is None
        if error is not None:
            body["error"] = _error(error)
        print(output.as_json(body))
    else:
        print(describe(manifest))
        if error is None:
            print("\nverified")
    if error is not None:
        print(f"error {error.code}: {error.message}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _error(exc: BundleError) -> dict[str, str]:
    return {"code": exc.code, "entry": exc.entry, "message": exc.message}


def describe(m: Manifest) -> str:
    head = output.fields(
        [
            ("bundle", m.bundle_id),
            ("format", m.format_version),
            ("source", f"{m.source.org} / {m.source.sandbox}"),
            ("exported", m.source.exported_at.strftime("%Y-%m-%d %H:%M:%SZ")),
        ]
    )
    rows = [
        [d.name, d.source_id, len(d.schema_.fields), d.rows, len(d.files), sum(f.bytes for f in d.files),
         d.as_of_batch]
        for d in m.datasets
    ]  # fmt: skip
    header = ["DATASET", "SOURCE ID", "FIELDS", "ROWS", "FILES", "BYTES", "AS OF BATCH"]
    return head + "\n\n" + output.table(header, rows) + f"\n({len(rows)} datasets)"
