"""What is stripped from the installed dependency layer, why that is safe, and the guards.

Every strip rule carries its reason; where the reason could stop being true, a guard fails the
build (a kept module importing what was removed, a shared library whose ``DT_NEEDED`` is gone, ...).
"""

from __future__ import annotations

import filecmp
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from batchgate_tools.layerbuild.elf import check_needed_closure, elf_needed, shared_objects
from batchgate_tools.layerbuild.files import (
    BuildError,
    prune_empty_dirs,
    python_sources,
    remove_path,
    sources_matching,
)

# The python3.12 runtime ships boto3, botocore and s3transfer, and the urllib3 that its botocore
# was released with. aws-xray-sdk (powertools' tracer) pulls botocore and requests pulls urllib3 into
# the layer, where they would shadow the runtime's copies: a layer botocore next to the runtime's
# boto3 is an untested pair, and botocore 1.34 declares urllib3 < 2.1 while pip picks the newest.
# So these distributions are removed, unless requirements.txt names one explicitly (the way to
# bundle the SDK if the runtime's is ever too old).
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "urllib3")

# The oldest SDK we claim to run with: what aws-lambda-powertools declares as its floor. The deploy
# tests import the layer against exactly this boto3/botocore under python3.12.
RUNTIME_SDK_FLOOR = "1.34.32"

# Modules the strip rules remove: the package and the handlers must not import them either.
STRIPPED_MODULES = ("pyarrow.flight", "pyarrow._flight", "pyarrow.tests", "hive_metastore", "fb303")


@dataclass
class StripRule:
    """What to remove from the installed dependency layer, why that is safe, and a guard.

    ``select`` returns the paths to delete; ``guard`` runs after every rule has been applied and
    returns problems that make the build fail (the reason the rule is safe no longer holds).
    """

    name: str
    reason: str
    select: Callable[[Path], list[Path]]
    guard: Callable[[Path], list[str]] = lambda _root: []


def _glob_all(root: Path, *patterns: str) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(root.glob(pattern))
    return sorted(found)


def _distribution_files(root: Path, name: str) -> list[Path]:
    """The files pip recorded for an installed distribution, and its dist-info directory."""
    norm = re.sub(r"[-_.]+", "_", name).lower()
    paths: list[Path] = []
    for info in root.glob("*.dist-info"):
        dist = info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        if re.sub(r"[-_.]+", "_", dist).lower() != norm:
            continue
        record = info / "RECORD"
        if record.exists():
            for line in record.read_text(encoding="utf-8").splitlines():
                rel = line.split(",", 1)[0]
                if rel and not rel.startswith(".."):
                    paths.append(root / rel)
        paths.append(info)
    return paths


def _requested(requirements: Path) -> set[str]:
    names = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if m:
            names.add(re.sub(r"[-_.]+", "-", m.group(0)).lower())
    return names


def _import_guard(pattern: str, allowed: Iterable[str] = ()) -> Callable[[Path], list[str]]:
    """Fail if a kept module (other than ``allowed``, relative to the layer) matches ``pattern``."""
    regex = re.compile(pattern, re.MULTILINE)
    allow = set(allowed)

    def guard(root: Path) -> list[str]:
        return [
            f"{p.relative_to(root)} refers to stripped code ({pattern})"
            for p in sources_matching(root, regex)
            if str(p.relative_to(root)) not in allow
        ]

    return guard


def _absent_guard(*names: str) -> Callable[[Path], list[str]]:
    """Fail if one of ``names`` (a top-level module) is in the layer: the rule assumed it is not."""

    def guard(root: Path) -> list[str]:
        return [
            f"{n} is in the layer, so code stripped on the assumption that it is absent may be used"
            for n in names
            if (root / n).exists() or list(root.glob(f"{n}.*.so")) or (root / f"{n}.py").exists()
        ]

    return guard


def _linker_name_copies(root: Path) -> list[Path]:
    """``libX.so`` / ``libX.so.A.B.C`` files that are byte-copies of the soname ``libX.so.A``.

    Wheels cannot hold symlinks, so the linker names of a library arrive as full copies. Only the
    soname is ever opened (it is what DT_NEEDED records); a copy is dropped only if no shared
    object needs it and no Python file mentions its file name (``ctypes.CDLL`` style loading).
    """
    needed: set[str] = set()
    for so in shared_objects(root):
        needed.update(elf_needed(so) or [])
    copies = []
    for so in shared_objects(root):
        m = re.match(r"(lib.+?\.so)(?:\.\d+)*$", so.name)
        if not m or so.name in needed:
            continue
        for cand in sorted(so.parent.glob(m.group(1) + ".*")):
            if cand != so and cand.name in needed and filecmp.cmp(so, cand, shallow=False):
                copies.append(so)
                break
    mentioned: set[Path] = set()
    for src in python_sources(root):
        text = src.read_text(encoding="utf-8", errors="replace")
        mentioned.update(c for c in copies if c.name in text)
    return [c for c in copies if c not in mentioned]


def strip_rules(requirements: Path) -> list[StripRule]:
    requested = _requested(requirements)
    sdk = [d for d in RUNTIME_SDK if d not in requested]
    flight = r"pyarrow\.flight\b|pyarrow\._flight\b|from pyarrow import [^\n]*\bflight\b|from \.(_)?flight import|from \. import [^\n]*\b_?flight\b"
    return [
        StripRule(
            "runtime-sdk",
            "the python3.12 runtime provides boto3/botocore/s3transfer and the urllib3 its botocore "
            f"expects ({', '.join(sdk) or 'none removed: requirements.txt bundles them'})",
            lambda root: [p for d in sdk for p in _distribution_files(root, d)],
        ),
        StripRule(
            "bytecode",
            "__pycache__/*.pyc would be for the build machine's Python, not 3.12; Lambda ignores them",
            lambda root: _glob_all(root, "**/__pycache__", "**/*.pyc"),
        ),
        StripRule(
            "console-scripts",
            "bin/ holds entry-point scripts with the build machine's interpreter path; Lambda never runs them",
            lambda root: _glob_all(root, "bin"),
        ),
        StripRule(
            "test-suites",
            "packages' own test suites and test data are never imported by library code",
            lambda root: _glob_all(root, "*/tests", "pyarrow/conftest.py", "pyarrow/_pyarrow_cpp_tests*.so"),
            # Only top-level packages' tests/ go, so any `<top>.tests` import would be broken.
            _import_guard(r"^\s*(from|import)\s+\w+\.tests\b|_pyarrow_cpp_tests"),
        ),
        StripRule(
            "build-only",
            "C++ headers, Cython sources (.pyx/.pxd/.pxi) and static libraries (.a) are only used to "
            "compile extensions against pyarrow, never at run time",
            lambda root: _glob_all(
                root,
                "pyarrow/include",
                "pyarrow/includes",
                "pyarrow/src",
                "**/*.pyx",
                "**/*.pxd",
                "**/*.pxi",
                "**/*.a",
            ),
        ),
        StripRule(
            "linker-name-copies",
            "wheels cannot hold symlinks: libX.so and libX.so.A.B.C arrive as byte-copies of the "
            "soname libX.so.A, the only name the dynamic loader opens",
            _linker_name_copies,
        ),
        StripRule(
            "arrow-flight",
            "Arrow Flight (gRPC RPC, the largest library after libarrow) is only reached through pyarrow.flight, which nothing in "
            "the layer, the package or the functions imports",
            lambda root: _glob_all(
                root,
                "pyarrow/flight.py",
                "pyarrow/_flight.*.so",
                "pyarrow/libarrow_flight.so*",
                "pyarrow/libarrow_python_flight.so*",
            ),
            _import_guard(flight),
        ),
        StripRule(
            "hive-client",
            "pyiceberg vendors a Hive metastore Thrift client (hive_metastore, fb303) used only by "
            "pyiceberg.catalog.hive, which cannot import here anyway: it needs `thrift`, not in the layer",
            lambda root: _glob_all(root, "hive_metastore", "fb303"),
            lambda root: (
                _import_guard(
                    r"^\s*(from|import)\s+(hive_metastore|fb303)\b", allowed=["pyiceberg/catalog/hive.py"]
                )(root)
                + _absent_guard("thrift")(root)
            ),
        ),
        StripRule(
            "zstandard-cffi",
            "zstandard's CFFI backend is for PyPy; on CPython it imports backend_c, and _cffi needs "
            "`_cffi_backend` (cffi), which is not in the layer",
            lambda root: _glob_all(root, "zstandard/_cffi.*.so"),
            _absent_guard("_cffi_backend", "cffi"),
        ),
    ]


@dataclass
class StripResult:
    rule: str
    reason: str
    bytes: int = 0
    files: int = 0


def strip_layer(root: Path, requirements: Path) -> list[StripResult]:
    """Apply every strip rule to an installed layer, then run every guard and the ELF check."""
    rules = strip_rules(requirements)
    results = []
    for rule in rules:
        result = StripResult(rule.name, rule.reason)
        for path in rule.select(root):
            size, files = remove_path(path)
            result.bytes += size
            result.files += files
        results.append(result)
    prune_empty_dirs(root)
    problems = [p for rule in rules for p in rule.guard(root)]
    problems += check_needed_closure(root)
    if problems:
        raise BuildError("the stripped dependency layer is not safe:\n  " + "\n  ".join(problems))
    return results
