"""``batchgate bundles …``: portable bundles (docs/bundles.md).

``bundles export ID… -o FILE`` exports datasets (their definitions, and their rows unless
``--no-data``) from the key's sandbox, waits for the bundle and downloads it; ``bundles import
FILE`` imports one into the key's sandbox (``--sandbox`` picks another of the key's) and waits for
it: exit 0 imported, 2 failed (the errors on stderr).
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
from batchgate_tools.cli.api_commands import _parser, connection_options
from batchgate_tools.cli.connection import EXIT_ERROR, CliError, api_client, guard

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

    conn = connection_options()
    waits = argparse.ArgumentParser(add_help=False)
    waits.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait (default 1800)")
    waits.add_argument("--json", action="store_true", help="print the export's or import's JSON")
    ex = _parser(
        bd, "export", parents=[conn, waits],
        help="export datasets into a .bgbundle file (definitions and rows)",
        description="Starts an export in the key's sandbox, waits until the bundle is ready and downloads it.",
    )  # fmt: skip
    ex.add_argument("datasets", metavar="ID", nargs="+", help="a dataset id; several for one bundle")
    ex.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the .bgbundle")
    ex.add_argument("--as-of-batch", metavar="B", help="the rows as they were when batch B landed")
    ex.add_argument("--no-data", action="store_true", help="the datasets' definitions only, no rows")
    ex.set_defaults(func=cmd_export)
    im = _parser(
        bd, "import", parents=[conn, waits],
        help="import a .bgbundle into the key's sandbox (datasets matched by name)",
        description="Uploads the file, waits for the import and prints its datasets; exit 2 when it failed.",
    )  # fmt: skip
    im.add_argument("file", metavar="FILE", help="the .bgbundle file")
    im.set_defaults(func=cmd_import)


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


@guard
def cmd_export(args: argparse.Namespace) -> int:
    client = api_client(args)
    export_id = client.export_bundle(
        args.datasets, include_data=not args.no_data, as_of_batch=args.as_of_batch
    )
    done = client.wait_bundle(export_id, args.timeout)
    if done["status"] != "ready":
        return _failed(done, args.json)
    size = client.download_bundle(export_id, args.output)
    if args.json:
        print(output.as_json(done))
    else:
        print(_datasets(done))
        print(f"\nexport {export_id}: {size} bytes written to {args.output}")
    return EXIT_OK


@guard
def cmd_import(args: argparse.Namespace) -> int:
    client = api_client(args)
    try:
        import_id = client.import_bundle(args.file)
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror or exc}") from exc
    done = client.wait_bundle(import_id, args.timeout)
    if done["status"] != "imported":
        return _failed(done, args.json)
    if args.json:
        print(output.as_json(done))
    else:
        print(_datasets(done))
        again = (
            f" (imported before by {done['duplicateOf']}: nothing changed)" if done.get("duplicateOf") else ""
        )
        print(f"\nimport {import_id}: imported{again}")
    return EXIT_OK


def _datasets(record: dict[str, Any]) -> str:
    rows = [
        [d["name"], d.get("sourceId", ""), d.get("id") or "", d.get("rows", 0), d.get("batchId") or "",
         "created" if d.get("created") else "evolved" if d.get("evolved") else ""]
        for d in record["datasets"]
    ]  # fmt: skip
    header = ["DATASET", "SOURCE ID", "ID", "ROWS", "BATCH", ""]
    return output.table(header, rows) + f"\n({len(rows)} datasets)"


def _failed(record: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(output.as_json(record))
    first = (
        record["errors"][0] if record.get("errors") else {"code": "BG-BUNDLE", "message": record["message"]}
    )
    print(f"error {first['code']}: {first['message']}", file=sys.stderr)
    for more in record.get("errors", [])[1:5]:
        print(f"  {more['code']}: {more['message']}", file=sys.stderr)
    if record.get("message") and record["message"] != first["message"]:
        print(f"  {record['message']}", file=sys.stderr)
    return EXIT_ERROR


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
