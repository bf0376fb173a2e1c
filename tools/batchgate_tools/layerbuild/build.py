"""Building: pip installs the dependency layer (then strips it), copies the common package and
each function's code.

The dependency layer is installed by pip from manylinux wheels for CPython 3.12 (never from the
build machine's own Python).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from batchgate_tools.layerbuild.files import (
    JUNK_DIRS,
    ROOT,
    BuildError,
    count_files,
    tree_bytes,
    tree_bytes_filtered,
)
from batchgate_tools.layerbuild.strip import StripResult, strip_layer

REQUIREMENTS = ROOT / "layers" / "dependencies" / "requirements.txt"
PACKAGE_SRC = ROOT / "layers" / "common" / "batchgate"


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
    layer = LayerBuild("common", into, installed_bytes=tree_bytes_filtered(src), bytes=tree_bytes(into))
    layer.files = count_files(into)
    return layer


FUNCTION_EXCLUDE = frozenset({"Makefile", "requirements.txt", "tests"})


def _is_function_code(entry: Path) -> bool:
    """Whether an entry of a function folder is deployed (not its build files, tests or caches)."""
    return not (entry.name in FUNCTION_EXCLUDE or entry.name in JUNK_DIRS or entry.suffix in (".pyc", ".pyo"))


def build_function(src: Path, into: Path) -> int:
    """Copy a function's code (its handler module and siblings) into ``into``; return its bytes."""
    into.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        if not _is_function_code(entry):
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
        if not _is_function_code(entry):
            continue
        total += tree_bytes(entry) if entry.is_file() else tree_bytes_filtered(entry)
    return total
