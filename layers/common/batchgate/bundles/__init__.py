"""Portable bundles (docs/bundles.md): the ``.bgbundle`` format, its streaming writer, its reader
and its verifier (no AWS in these: the sinks and sources are file-like objects the caller opens);
exports and imports as recorded (``records``) and started (``start``)."""

from batchgate.bundles.errors import BundleError
from batchgate.bundles.manifest import (
    FORMAT_VERSION,
    SUPPORTED_VERSIONS,
    BundleDataset,
    BundleFile,
    BundleSource,
    Manifest,
    parse_manifest,
)
from batchgate.bundles.reader import BundleReader
from batchgate.bundles.verify import verify
from batchgate.bundles.writer import BundleWriter

__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_VERSIONS",
    "BundleDataset",
    "BundleError",
    "BundleFile",
    "BundleReader",
    "BundleSource",
    "BundleWriter",
    "Manifest",
    "parse_manifest",
    "verify",
]
