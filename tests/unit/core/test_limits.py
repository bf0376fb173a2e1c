"""The limits users read about (docs/api.md) are the limits the code enforces."""

from __future__ import annotations

import re
from pathlib import Path

from batchgate.core import limits

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def test_the_documented_table_is_the_module() -> None:
    section = DOC.read_text(encoding="utf-8").split("## Limits", 1)[1].split("\n## ", 1)[0]
    documented = {
        m.group(1): int(m.group(2).replace(",", ""))
        for m in re.finditer(r"^\| `(max\w+)` \| ([\d,]+) ", section, re.M)
    }
    assert documented == {limit.name: limit.value for limit in limits.ALL}


def test_names_are_unique_and_each_says_why() -> None:
    assert len({limit.name for limit in limits.ALL}) == len(limits.ALL)
    assert all(limit.why and limit.unit and limit.value > 0 for limit in limits.ALL)
