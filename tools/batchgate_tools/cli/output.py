"""What the CLI prints: tables for people, JSON for scripts (``--json``)."""

from __future__ import annotations

import json
import time
from typing import Any


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def table(header: list[str], rows: list[list[Any]]) -> str:
    """Columns padded to their widest cell, a rule under the header; empty cells for None."""
    cells = [header, *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fields(pairs: list[tuple[str, Any]]) -> str:
    """``name  value`` lines, names aligned, for one object."""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {'' if v is None else v}" for k, v in pairs)


def when(ms: int | None) -> str:
    return "" if not ms else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ms / 1000))


def datasets_table(found: dict[str, Any]) -> str:
    rows = [
        [
            ds_id,
            ds.get("name"),
            len((ds.get("schema") or {}).get("fields") or []),
            "yes" if (ds.get("tags") or {}).get("isUpsert") else "",
            when(ds.get("created")),
        ]
        for ds_id, ds in found.items()
    ]
    return table(["ID", "NAME", "FIELDS", "UPSERT", "CREATED"], rows) + f"\n({len(rows)} datasets)"


def dataset_details(ds: dict[str, Any]) -> str:
    tags = ds.get("tags") or {}
    head = fields(
        [
            ("id", ds.get("id")),
            ("name", ds.get("name")),
            ("org / sandbox", f"{ds.get('imsOrg')} / {ds.get('sandboxName')}"),
            ("table", ds.get("table")),
            (
                "upsert",
                f"yes, identity {', '.join(tags.get('identity') or [])}" if tags.get("isUpsert") else "no",
            ),
            ("extra columns", ds.get("extraColumns")),
            ("created", when(ds.get("created"))),
            ("updated", when(ds.get("updated"))),
        ]
    )
    rules = ("enum", "pattern", "minimum", "maximum", "maxLength", "format")
    rows = [
        [
            f.get("name"),
            f.get("type") + (f"<{f['items'].get('type')}>" if isinstance(f.get("items"), dict) else ""),
            "yes" if f.get("required") else "",
            "; ".join(f"{r}={f[r]}" for r in rules if f.get(r) is not None),
        ]
        for f in (ds.get("schema") or {}).get("fields") or []
    ]
    return head + "\n\n" + table(["FIELD", "TYPE", "REQUIRED", "RULES"], rows)


def batches_table(found: dict[str, Any]) -> str:
    rows = []
    for b in found.values():
        m = b.get("metrics") or {}
        rows.append(
            [
                b["id"],
                b["status"],
                when(b.get("created")),
                (b.get("relatedObjects") or [{}])[0].get("id"),
                m.get("inputFileCount", 0),
                m.get("outputRecordCount", 0),
                m.get("failedRecordCount", 0),
            ]
        )
    header = ["ID", "STATUS", "CREATED", "DATASET", "FILES", "ROWS", "FAILED"]
    return table(header, rows) + f"\n({len(rows)} batches)"


def batch_details(b: dict[str, Any]) -> str:
    m = b.get("metrics") or {}
    fmt = b.get("inputFormat") or {}
    head = fields(
        [
            ("id", b.get("id")),
            ("status", b.get("status")),
            ("dataset", (b.get("relatedObjects") or [{}])[0].get("id")),
            ("format", fmt.get("format")),
            ("created", f"{when(b.get('created'))} by {b.get('createdUser')}"),
            ("updated", when(b.get("updated"))),
            ("files", m.get("inputFileCount", 0)),
            ("bytes", m.get("inputByteSize", 0)),
            ("records in", m.get("inputRecordCount", 0)),
            ("ingested", m.get("outputRecordCount", 0)),
            ("failed", m.get("failedRecordCount", 0)),
            ("snapshot", b.get("snapshotId")),
            ("replaced by", b.get("successor")),
        ]
    )
    errors = b.get("errors") or []
    if not errors:
        return head
    rows = [
        [e.get("code"), e.get("file"), e.get("row"), e.get("field"), e.get("description")] for e in errors
    ]
    return head + "\n\n" + table(["ERROR", "FILE", "ROW", "FIELD", "DESCRIPTION"], rows)
