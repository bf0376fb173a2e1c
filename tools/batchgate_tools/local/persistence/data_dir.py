"""The data dir's format marker (``data_dir/format.json``) and the error every part of the mirror raises."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

FORMAT_VERSION = 1


class PersistenceError(RuntimeError):
    """Mirroring a write to disk failed; the client gets a 500 so it does not trust the write."""


def check_format(data_dir: Path) -> None:
    """Refuse a data dir written in another format; mark a new one with this format."""
    marker = data_dir / "format.json"
    if marker.exists():
        version = json.loads(marker.read_bytes()).get("version")
        if version != FORMAT_VERSION:
            raise PersistenceError(
                f"{data_dir} holds data format {version}; this batchgate reads {FORMAT_VERSION}"
            )
    else:
        tmp = marker.with_name(f".format.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps({"version": FORMAT_VERSION}))
        os.replace(tmp, marker)  # never a half-written marker, even if killed right here
