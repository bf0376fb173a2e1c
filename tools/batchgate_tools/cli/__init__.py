"""The ``batchgate`` command. Each group of subcommands lives in its own module and registers here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

# Modules that define ``register(subparsers)``; each added subparser sets ``func=callable(args) -> int``.
COMMAND_MODULES: tuple[str, ...] = (
    "batchgate_tools.cli.local_commands",
    "batchgate_tools.cli.api_commands",
    "batchgate_tools.cli.job_commands",
    "batchgate_tools.cli.feed_commands",
    "batchgate_tools.cli.lake_commands",
    "batchgate_tools.cli.bundle_commands",
)

EPILOG = """Each command's --help names the environment variables it reads. The API commands
(datasets, batches, ingest, jobs, query) read BATCHGATE_URL, BATCHGATE_API_KEY, BATCHGATE_TOKEN,
BATCHGATE_ORG and BATCHGATE_SANDBOX, and use the running `batchgate up`'s key when none is set.
Deploying to AWS: docs/deploy.md."""


def version() -> str:
    try:
        return metadata.version("batchgate")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchgate",
        description="Batch ingestion into Iceberg, AEP-style.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"batchgate {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
