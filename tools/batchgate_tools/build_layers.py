"""Build the Lambda layers for python3.12 / x86_64 without Docker, strip them, check their size.

    python -m batchgate_tools.build_layers --out build/layers [--report] [--json PATH]
        both layers into OUT/dependencies/python and OUT/common/python, then the size of each
        layer and of each function of template.yaml with its layers; exits 1 if one exceeds
        Lambda's 250 MB unzipped limit or if a safety check fails.
    python -m batchgate_tools.build_layers --layer dependencies|common --into DIR
    python -m batchgate_tools.build_layers --function SRC --into DIR
        what the SAM ``BuildMethod: makefile`` targets run: one layer into DIR/python, or one
        function's code into DIR. The install and strip rules live here only, so `sam build`,
        `make layers` and the deploy tests produce the same bytes.

The dependency layer is installed by pip from manylinux wheels for CPython 3.12 (never from the
build machine's own Python), then stripped of what the Lambda runtime never loads. Every strip
rule carries its reason; where the reason could stop being true, a guard fails the build (a kept
module importing what was removed, a shared library whose ``DT_NEEDED`` is gone, ...), and the
package's own imports are checked against the stripped layer (``check_imports``).

This module runs on the build machine only; it is left out of the common layer.
"""

from __future__ import annotations

import argparse
import ast
import filecmp
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "layers" / "dependencies" / "requirements.txt"
PACKAGE_SRC = ROOT / "layers" / "common" / "batchgate"
TEMPLATE = ROOT / "template.yaml"
DEFAULT_JSON = ROOT / "build" / "layer-sizes.json"

# Lambda's quota: function code plus all its layers, unzipped. 250 MiB, in bytes.
LAMBDA_UNZIPPED_LIMIT = 262_144_000

# The runtime of template.yaml (Globals: python3.12, x86_64, Amazon Linux 2023 whose glibc is
# 2.34): pyarrow's wheels are manylinux_2_28, the small C extensions often manylinux2014.
PIP_TARGET_ARGS = (
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
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

# Libraries the manylinux policy lets wheels take from the system; every other DT_NEEDED entry of
# a kept shared object must be a file in the layer.
SYSTEM_LIBS = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libutil.so.1",
        "libresolv.so.2",
        "libnsl.so.1",
        "libcrypt.so.1",
        "libstdc++.so.6",
        "libgcc_s.so.1",
        "ld-linux-x86-64.so.2",
        "libz.so.1",
    }
)

JUNK_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


class BuildError(Exception):
    """The layers cannot be built, or a built layer is not safe to deploy."""


# ---------------------------------------------------------------------------------- file sizes
def tree_bytes(path: Path) -> int:
    """Unzipped size as Lambda counts it: the bytes of every regular file."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            p = Path(dirpath, name)
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def count_files(path: Path) -> int:
    return sum(len(files) for _d, _s, files in os.walk(path))


def _remove(path: Path) -> tuple[int, int]:
    """Delete a file or tree; return (bytes, files) removed."""
    if not path.exists() and not path.is_symlink():
        return 0, 0
    if path.is_dir() and not path.is_symlink():
        size, files = tree_bytes(path), count_files(path)
        shutil.rmtree(path)
        return size, files
    size = 0 if path.is_symlink() else path.stat().st_size
    path.unlink()
    return size, 1


# ---------------------------------------------------------------------------------- ELF DT_NEEDED
def elf_needed(path: Path) -> list[str] | None:
    """DT_NEEDED entries of a 64-bit little-endian ELF shared object; None if ``path`` is not one.

    Parsed here rather than with ``readelf`` so the safety check needs nothing but Python.
    """
    with path.open("rb") as fh:
        head = fh.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return None
        data = head + fh.read()
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    for sh_name, sh_type, _fl, _addr, offset, size, link, _info, _align, entsize in sections:
        del sh_name
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab_offset = sections[link][4]
        for pos in range(offset, offset + size, entsize or 16):
            tag, value = struct.unpack_from("<qQ", data, pos)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab_offset + value)
                needed.append(data[strtab_offset + value : end].decode())
    return needed


def shared_objects(root: Path) -> Iterator[Path]:
    for p in root.rglob("*.so*"):
        if p.is_file() and not p.is_symlink() and re.search(r"\.so(\.\d+)*$", p.name):
            yield p


def check_needed_closure(root: Path) -> list[str]:
    """Every DT_NEEDED of every kept shared object is a system library or a file in the layer."""
    present = {p.name for p in root.rglob("*") if p.is_file()}
    problems = []
    for so in shared_objects(root):
        for lib in elf_needed(so) or []:
            if lib not in SYSTEM_LIBS and lib not in present:
                problems.append(f"{so.relative_to(root)} needs {lib}, which is not in the layer")
    return problems


# ---------------------------------------------------------------------------------- source scan
def python_sources(root: Path) -> Iterator[Path]:
    for p in root.rglob("*.py"):
        if not (JUNK_DIRS & set(p.parts)):
            yield p


def sources_matching(root: Path, pattern: re.Pattern[str]) -> list[Path]:
    return [
        p for p in python_sources(root) if pattern.search(p.read_text(encoding="utf-8", errors="replace"))
    ]


# ---------------------------------------------------------------------------------- strip rules
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
            size, files = _remove(path)
            result.bytes += size
            result.files += files
        results.append(result)
    _prune_empty_dirs(root)
    problems = [p for rule in rules for p in rule.guard(root)]
    problems += check_needed_closure(root)
    if problems:
        raise BuildError("the stripped dependency layer is not safe:\n  " + "\n  ".join(problems))
    return results


def _prune_empty_dirs(root: Path) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda w: -len(w[0])):
        p = Path(dirpath)
        if p != root and not any(p.iterdir()):
            p.rmdir()


# ---------------------------------------------------------------------------------- layers
@dataclass
class LayerBuild:
    name: str
    path: Path  # the layer root: what Lambda unpacks into /opt
    bytes: int = 0
    installed_bytes: int = 0
    files: int = 0
    stripped: list[StripResult] = field(default_factory=list)
    distributions: dict[str, str] = field(default_factory=dict)


def pip_cache_dir() -> str:
    return os.environ.get("PIP_CACHE_DIR") or str(ROOT / "build" / "pip-cache")


def build_dependencies(into: Path, requirements: Path = REQUIREMENTS) -> LayerBuild:
    """pip-install manylinux wheels for CPython 3.12 into ``into/python`` and strip them."""
    target = into / "python"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        # Byte-code compiled by the build machine's Python is useless to 3.12.
        "--no-compile",
        "--cache-dir",
        pip_cache_dir(),
        *PIP_TARGET_ARGS,
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"pip failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    layer = LayerBuild("dependencies", into, installed_bytes=tree_bytes(target))
    layer.stripped = strip_layer(target, requirements)
    layer.bytes = tree_bytes(into)
    layer.files = count_files(into)
    layer.distributions = installed_distributions(target)
    return layer


def installed_distributions(target: Path) -> dict[str, str]:
    dists = {}
    for info in sorted(target.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].rpartition("-")
        dists[name] = version
    return dists


def _copy_filter() -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in JUNK_DIRS or n.endswith((".pyc", ".pyo"))}

    return ignore


def build_common(into: Path, src: Path = PACKAGE_SRC) -> LayerBuild:
    """Copy the batchgate package as it is into ``into/python/batchgate``: everything in that folder
    is what Lambda runs (the CLI, the local stack and this builder live in ``batchgate_tools``)."""
    target = into / "python" / "batchgate"
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, target, ignore=_copy_filter())
    layer = LayerBuild("common", into, installed_bytes=_tree_bytes_filtered(src), bytes=tree_bytes(into))
    layer.files = count_files(into)
    return layer


FUNCTION_EXCLUDE = frozenset({"Makefile", "requirements.txt", "tests"})


def build_function(src: Path, into: Path) -> int:
    """Copy a function's code (its handler module and siblings) into ``into``; return its bytes."""
    into.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        if entry.name in FUNCTION_EXCLUDE or entry.name in JUNK_DIRS or entry.suffix in (".pyc", ".pyo"):
            continue
        dest = into / entry.name
        if entry.is_dir():
            shutil.copytree(entry, dest, dirs_exist_ok=True, ignore=_copy_filter())
        else:
            shutil.copy2(entry, dest)
    return function_bytes(src)


def function_bytes(src: Path) -> int:
    total = 0
    for entry in src.iterdir() if src.is_dir() else []:
        if entry.name in FUNCTION_EXCLUDE or entry.name in JUNK_DIRS or entry.suffix in (".pyc", ".pyo"):
            continue
        total += tree_bytes(entry) if entry.is_file() else _tree_bytes_filtered(entry)
    return total


def _tree_bytes_filtered(path: Path) -> int:
    total = 0
    for dirpath, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in JUNK_DIRS]
        total += sum(Path(dirpath, f).stat().st_size for f in files if not f.endswith((".pyc", ".pyo")))
    return total


# ---------------------------------------------------------------------------------- import check
@dataclass
class ImportUse:
    module: str  # the imported name, absolute (``from a import b`` gives ``a.b``)
    base: str  # the module that must exist (``a`` for ``from a import b``)
    source: Path
    line: int
    top_level: bool  # executed at import time (not inside a def, TYPE_CHECKING or try/ImportError)


def _imports(path: Path, package: str | None) -> Iterator[ImportUse]:
    """Every import in a module, resolved to absolute names (``from a import b`` gives ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def names(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
        if isinstance(node, ast.Import):
            return [(a.name, a.name) for a in node.names]
        base = node.module or ""
        if node.level:
            if package is None:
                return []  # a relative import in a handler folder: local to the function
            parts = package.split(".")
            base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
        return [(base if a.name == "*" else f"{base}.{a.name}", base) for a in node.names]

    def visit(body: Iterable[ast.AST], top: bool) -> Iterator[ImportUse]:
        for child in body:
            if isinstance(child, ast.Import | ast.ImportFrom):
                for name, base in names(child):
                    yield ImportUse(name, base, path, child.lineno, top)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(ast.iter_child_nodes(child), False)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from visit(child.orelse, top)  # the body only runs under a type checker
            elif isinstance(child, ast.Try) and any(
                h.type is not None and re.search(r"ImportError|ModuleNotFoundError", ast.unparse(h.type))
                for h in child.handlers
            ):
                yield from visit(ast.iter_child_nodes(child), False)  # guarded: an optional import
            else:
                yield from visit(ast.iter_child_nodes(child), top)

    yield from visit(tree.body, True)


def _module_package(path: Path, pkg_root: Path) -> str:
    """The package a module's relative imports resolve against (``a/b/c.py`` and ``a/b/__init__.py``: a.b)."""
    return ".".join(path.relative_to(pkg_root.parent).with_suffix("").parts[:-1])


@dataclass
class ImportReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Shipped modules no handler reaches that import what Lambda lacks (laptop-only features):
    # harmless while nothing imports them; the deploy tests import every other module.
    unimportable: list[str] = field(default_factory=list)


def _resolve(name: str, modules: dict[str, Path]) -> list[str]:
    """The package modules an import executes: the longest known prefix and its parent packages."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return [".".join(parts[:k]) for k in range(1, n + 1) if ".".join(parts[:k]) in modules]
    return []


def check_imports(common_pkg: Path, dependency_root: Path, function_dirs: Iterable[Path]) -> ImportReport:
    """What the deployed code imports must be deployed: stdlib, the layers, or the runtime's SDK.

    Starting from the handlers, the package's import graph is followed. A missing import that runs
    at cold start (module level, in a module the handlers import at module level) is an error: the
    function would not start. One on a path that runs later (inside a function) is a warning. A
    shipped module no handler reaches may import laptop-only libraries: it is listed, not an error.
    """
    available = set(sys.stdlib_module_names) | {"batchgate", *RUNTIME_SDK, "awslambdaric"}
    for entry in dependency_root.iterdir():
        if entry.name.endswith((".dist-info", ".libs")) or entry.name in JUNK_DIRS:
            continue
        available.add(entry.name.split(".", 1)[0])
    modules: dict[str, Path] = {}
    for p in python_sources(common_pkg):
        parts = p.relative_to(common_pkg.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    # Folders without __init__.py import as namespace packages: `import a.ns` and `from a.ns import
    # mod` work, `from a.ns import name` does not.
    namespaces = {
        ".".join(d.relative_to(common_pkg.parent).parts)
        for d in [common_pkg, *common_pkg.rglob("*")]
        if d.is_dir()
        and not (JUNK_DIRS & set(d.parts))
        and ".".join(d.relative_to(common_pkg.parent).parts) not in modules
    }
    uses: dict[str, list[ImportUse]] = {
        m: list(_imports(p, _module_package(p, common_pkg))) for m, p in modules.items()
    }
    handlers: dict[str, list[ImportUse]] = {}
    for fdir in function_dirs:
        for p in python_sources(fdir):
            if "tests" not in p.relative_to(fdir).parts:
                handlers[_rel(p)] = list(_imports(p, None))

    def reach(only_top_level: bool) -> set[str]:
        seen: set[str] = set()
        todo = [u for us in handlers.values() for u in us if u.top_level or not only_top_level]
        while todo:
            use = todo.pop()
            for mod in _resolve(use.module, modules):
                if mod not in seen:
                    seen.add(mod)
                    todo += [u for u in uses[mod] if u.top_level or not only_top_level]
        return seen

    cold_start, any_path = reach(True), reach(False)
    report = ImportReport()
    sources = [*handlers.items(), *((m, uses[m]) for m in sorted(modules))]
    for where, module_uses in sources:
        is_handler = where in handlers
        label = where if is_handler else _rel(modules[where])
        for use in module_uses:
            top = use.module.split(".", 1)[0]
            if any(use.module == m or use.module.startswith(m + ".") for m in STRIPPED_MODULES):
                problem = f"{label}:{use.line} imports {use.module}, which the dependency layer strips"
            elif top not in available:
                problem = f"{label}:{use.line} imports {top}, which is in neither layer nor the runtime"
            elif (
                top == "batchgate"
                and use.base not in modules
                and use.module not in modules
                and not (use.module == use.base and use.base in namespaces)
            ):
                problem = f"{label}:{use.line} imports {use.base}, which is not a module of the package (no such file, or a folder without __init__.py)"
            else:
                continue
            if use.top_level and (is_handler or where in cold_start):
                report.errors.append(problem)
            elif is_handler or where in any_path:
                report.warnings.append(problem + " (fails if that code path runs on Lambda)")
            else:
                report.warnings.append(problem + " (no handler imports this module)")
                if use.top_level and where not in report.unimportable:
                    report.unimportable.append(where)
    return report


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------- template
@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: str
    layers: list[str]  # layer folder names under layers/, e.g. ["dependencies", "common"]


def template_functions(template: Path = TEMPLATE) -> list[FunctionSpec]:
    from batchgate_tools.template import load_template  # PyYAML: build machine only

    t = load_template(template)
    resources: dict[str, Any] = t.get("Resources") or {}
    layer_dirs = {
        lid: Path(str(r["Properties"]["ContentUri"])).name
        for lid, r in resources.items()
        if r.get("Type") == "AWS::Serverless::LayerVersion"
    }
    global_layers = ((t.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    specs = []
    for lid, r in resources.items():
        if r.get("Type") != "AWS::Serverless::Function":
            continue
        props = r.get("Properties") or {}
        # SAM appends a function's own Layers to the Globals list.
        refs = [*global_layers, *(props.get("Layers") or [])]
        names = [layer_dirs.get(ref["Ref"], str(ref)) if isinstance(ref, dict) else str(ref) for ref in refs]
        specs.append(FunctionSpec(lid, str(props.get("CodeUri", "")), names))
    return specs


# ---------------------------------------------------------------------------------- report
def size_report(out: Path, layers: list[LayerBuild], imports: ImportReport) -> dict[str, Any]:
    sizes = {layer.name: layer.bytes for layer in layers}
    functions = {}
    warnings = list(imports.warnings)
    for spec in template_functions():
        code = ROOT / spec.code_uri
        code_bytes = function_bytes(code)
        missing = [n for n in spec.layers if n not in sizes]
        if missing:
            warnings.append(f"{spec.logical_id}: layers {missing} are not built here, not counted")
        if not (code / "app.py").exists():
            warnings.append(f"{spec.logical_id}: {spec.code_uri} has no app.py yet")
        total = code_bytes + sum(sizes.get(n, 0) for n in spec.layers)
        functions[spec.logical_id] = {
            "code_uri": spec.code_uri,
            "code_bytes": code_bytes,
            "layers": spec.layers,
            "total_bytes": total,
            "headroom_bytes": LAMBDA_UNZIPPED_LIMIT - total,
            "fits": total <= LAMBDA_UNZIPPED_LIMIT,
        }
    return {
        "limit_bytes": LAMBDA_UNZIPPED_LIMIT,
        "out": str(out),
        "layers": {
            layer.name: {
                "bytes": layer.bytes,
                "before_strip_bytes": layer.installed_bytes,
                "files": layer.files,
                "stripped": [r.__dict__ for r in layer.stripped],
            }
            for layer in layers
        },
        "functions": functions,
        "distributions": next((la.distributions for la in layers if la.name == "dependencies"), {}),
        "runtime_sdk_floor": RUNTIME_SDK_FLOOR,
        "import_errors": imports.errors,
        "unimportable_on_lambda": imports.unimportable,
        "warnings": warnings,
        "ok": all(f["fits"] for f in functions.values()) and not imports.errors,
    }


def _mib(n: int) -> str:
    return f"{n / 2**20:8.1f} MiB"


def format_report(report: dict[str, Any]) -> str:
    lines = [f"Lambda limit (function + layers, unzipped): {_mib(report['limit_bytes'])}", "", "layers:"]
    for name, layer in report["layers"].items():
        lines.append(
            f"  {name:<14}{_mib(layer['bytes'])}   (before stripping {_mib(layer['before_strip_bytes'])})"
        )
        for r in layer["stripped"]:
            lines.append(f"      - {r['rule']:<20}{_mib(r['bytes'])}  {r['files']:>5} files   {r['reason']}")
    lines += ["", "functions (code + layers):"]
    for lid, f in report["functions"].items():
        flag = "ok" if f["fits"] else "TOO BIG"
        lines.append(
            f"  {lid:<26}{_mib(f['total_bytes'])}  code {f['code_bytes']:>9,} B  "
            f"headroom {_mib(f['headroom_bytes'])}  {flag}"
        )
    for e in report["import_errors"]:
        lines.append(f"ERROR   {e}")
    for w in report["warnings"]:
        lines.append(f"warning {w}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- entry points
def build_all(out: Path) -> dict[str, Any]:
    deps = build_dependencies(out / "dependencies")
    common = build_common(out / "common")
    imports = check_imports(
        common.path / "python" / "batchgate",
        deps.path / "python",
        [ROOT / s.code_uri for s in template_functions()],
    )
    return size_report(out, [deps, common], imports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m batchgate_tools.build_layers",
        description="Build the Lambda layers and check their size.",
    )
    parser.add_argument("--out", type=Path, help="build both layers under OUT and check sizes")
    parser.add_argument("--report", action="store_true", help="print the sizes and write them as JSON")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"JSON report path ({_rel(DEFAULT_JSON)})"
    )
    parser.add_argument(
        "--layer", choices=["dependencies", "common"], help="build one layer into INTO/python"
    )
    parser.add_argument("--function", type=Path, help="copy one function's code into INTO")
    parser.add_argument("--into", type=Path, help="target of --layer / --function (SAM's $ARTIFACTS_DIR)")
    args = parser.parse_args(argv)
    try:
        if args.layer or args.function:
            if not args.into:
                parser.error("--layer and --function need --into")
            if args.layer == "dependencies":
                layer = build_dependencies(args.into)
                print(
                    f"dependencies layer: {_mib(layer.bytes)} (before stripping {_mib(layer.installed_bytes)})"
                )
            elif args.layer == "common":
                build_common(args.into)
            else:
                build_function(args.function, args.into)
            return 0
        out = args.out or ROOT / "build" / "layers"
        report = build_all(out.resolve())
    except BuildError as exc:
        print(f"build_layers: {exc}", file=sys.stderr)
        return 1
    if args.report:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(format_report(report))
        print(f"\nwritten to {_rel(args.json)}")
    if not report["ok"]:
        if not args.report:
            print(format_report(report), file=sys.stderr)
        print(
            "build_layers: a function does not fit in Lambda's limit or imports what is not deployed",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
