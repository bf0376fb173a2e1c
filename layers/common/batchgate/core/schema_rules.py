"""What a schema must satisfy to be accepted for a dataset, beyond its model's own checks.

These run when a schema is accepted (creating a dataset), not when a stored one is read back, so
tightening a rule never makes an existing dataset unreadable.

Patterns run in linear time: they are compiled with RE2, the engine the validators run them with
(through Arrow), which refuses constructs that can backtrack without bound (look-arounds,
back-references, possessive quantifiers) and names the one it refuses.
"""

from __future__ import annotations

from batchgate.core import limits
from batchgate.core.models import DatasetSchema, ItemSchema, SchemaError, SchemaField


def check_new_schema(schema: DatasetSchema) -> None:
    """Raise SchemaError (or a limit's InvalidRequest) naming what makes ``schema`` unacceptable."""
    limits.SCHEMA_BYTES.check(len(schema.model_dump_json(by_alias=True, exclude_none=True)), "the schema")
    count = 0
    for path, node, depth in _walk(schema.fields, "", 1):
        count += 1
        limits.SCHEMA_DEPTH.check(depth, f"the nesting of {path}")
        if isinstance(node, SchemaField):
            if node.enum is not None:
                limits.ENUM_VALUES.check(len(node.enum), f"the enum of {path}")
            if node.pattern is not None:
                limits.PATTERN_LENGTH.check(len(node.pattern), f"the pattern of {path}")
                _check_linear(path, node.pattern)
    limits.SCHEMA_FIELDS.check(count, "the schema's field count")


def _walk(
    fields: list[SchemaField], prefix: str, depth: int
) -> list[tuple[str, SchemaField | ItemSchema, int]]:
    out: list[tuple[str, SchemaField | ItemSchema, int]] = []
    for f in fields:
        path = f"{prefix}{f.name}"
        out.append((path, f, depth))
        out.extend(_children(f, path, depth))
    return out


def _children(
    node: SchemaField | ItemSchema, path: str, depth: int
) -> list[tuple[str, SchemaField | ItemSchema, int]]:
    out: list[tuple[str, SchemaField | ItemSchema, int]] = []
    if node.fields:
        out.extend(_walk(node.fields, f"{path}.", depth + 1))
    if node.items is not None:
        out.append((f"{path}[]", node.items, depth + 1))
        out.extend(_children(node.items, f"{path}[]", depth + 1))
    return out


def _check_linear(path: str, pattern: str) -> None:
    # Imported here: Arrow (and its RE2) is only needed when a schema has a pattern.
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        reason = str(exc).removeprefix("Invalid regular expression: ")
        raise SchemaError(
            path,
            f"pattern {pattern!r} cannot be run in linear time ({reason}); patterns are RE2 syntax: "
            "no look-arounds, back-references or possessive quantifiers",
        ) from exc
