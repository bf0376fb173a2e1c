"""What the SDK and the CLI decide about local files before they are sent: the batch's format
from the names, unique names within a batch, and the progress an ingest reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batchgate.core.file_names import format_for_name


@dataclass(frozen=True)
class Progress:
    """What ``ingest`` is doing: ``phase`` is upload | complete | wait | done; bytes count the
    whole ingest's files."""

    phase: str
    done_bytes: int
    total_bytes: int
    file: str | None = None
    status: str | None = None


ProgressFn = Callable[[Progress], None]


def infer_format(files: list[Path]) -> str:
    formats = {format_for_name(f.name)[0] for f in files}
    if None in formats:
        unknown = [f.name for f in files if format_for_name(f.name)[0] is None]
        raise ValueError(f"cannot tell the format of {unknown[:3]}; pass fmt= / --format")
    if len(formats) > 1:
        raise ValueError(f"files mix formats {sorted(f for f in formats if f)}; a batch has one format")
    return str(formats.pop())


def unique_names(files: list[Path]) -> list[str]:
    """File names within a batch must be unique: ``a/x.json`` and ``b/x.json`` become
    ``x.json`` and ``x-2.json``."""
    seen: dict[str, int] = {}
    out = []
    for f in files:
        name = f.name
        if name in seen:
            seen[name] += 1
            stem, dot, suffix = name.partition(".")
            name = f"{stem}-{seen[f.name]}{dot}{suffix}"
        else:
            seen[name] = 1
        out.append(name)
    return out
