"""The repository's root, the error every build step raises, and file sizes and tree walking.

Sizes are counted as Lambda counts them (the bytes of every regular file, unzipped).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

# tools/batchgate_tools/layerbuild/files.py: three folders up is the repository.
ROOT = Path(__file__).resolve().parents[3]

# Caches of the build machine's tools: never copied, counted or scanned.
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


def remove_path(path: Path) -> tuple[int, int]:
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


def tree_bytes_filtered(path: Path) -> int:
    """``tree_bytes`` without the build machine's caches and byte-code (what a copy leaves out)."""
    total = 0
    for dirpath, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in JUNK_DIRS]
        total += sum(Path(dirpath, f).stat().st_size for f in files if not f.endswith((".pyc", ".pyo")))
    return total


def prune_empty_dirs(root: Path) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda w: -len(w[0])):
        p = Path(dirpath)
        if p != root and not any(p.iterdir()):
            p.rmdir()


# ---------------------------------------------------------------------------------- source scan
def python_sources(root: Path) -> Iterator[Path]:
    for p in root.rglob("*.py"):
        if not (JUNK_DIRS & set(p.parts)):
            yield p


def sources_matching(root: Path, pattern: re.Pattern[str]) -> list[Path]:
    return [
        p for p in python_sources(root) if pattern.search(p.read_text(encoding="utf-8", errors="replace"))
    ]


def rel_to_root(path: Path) -> str:
    """``path`` relative to the repository if it is inside it (for messages), else as it is."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
