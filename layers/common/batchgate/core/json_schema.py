"""JSON Schema documents as dataset schemas: most teams already describe their records in JSON
Schema, so a schema may be given that way anywhere one is accepted, and becomes the same fields.

The subset of draft 2020-12 that maps onto a dataset's columns:

========================================  ==============================================
JSON Schema                               field
========================================  ==============================================
``type: string`` (``format: date-time``)  ``string`` (``timestamp``; ``format: date``: ``date``)
``type: integer`` / ``number``            ``integer`` / ``number``
``type: boolean``                         ``boolean``
``type: object`` + ``properties``         ``object`` with ``fields`` (nested, recursively)
``type: array`` + ``items``               ``array`` with ``items``
``type: [T, "null"]``                     ``T`` (every column is nullable; ``required`` is the rule)
``required: [...]``                       ``required: true`` on those properties
``enum``, ``pattern``, ``minimum``,       the same constraints
``maximum``, ``maxLength``
``identity: true`` (batchgate keyword)    the upsert identity, as on a field
========================================  ==============================================

Annotations (``title``, ``description``, ``$schema``, ``$id``, ``examples``, ``default``,
``additionalProperties``) are accepted and not kept. Anything that would change what a record may
hold and has no column equivalent (``oneOf``, ``$ref``, ``patternProperties``, ``exclusiveMinimum``,
…) is refused with the keyword's path, rather than silently ignored.
"""

from __future__ import annotations

from typing import Any

from batchgate.core.models import SchemaError

_SCALARS = {"string", "integer", "number", "boolean"}
_ANNOTATIONS = frozenset(
    {"title", "description", "$schema", "$id", "$comment", "examples", "default", "additionalProperties",
     "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip
_KEPT = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "pattern",
        "minimum",
        "maximum",
        "maxLength",
        "format",
        "identity",
    }
)
_FORMATS = {"date-time": "timestamp", "date": "date"}


def is_json_schema(value: Any) -> bool:
    """A schema given as JSON Schema (``type: object`` with ``properties``), not as ``fields``."""
    return (
        isinstance(value, dict)
        and "fields" not in value
        and ("properties" in value or value.get("type") == "object")
    )


def to_fields(document: dict[str, Any]) -> dict[str, Any]:
    """``{"fields": [...]}`` for a JSON Schema document (an object schema); SchemaError naming the
    path of what cannot be mapped."""
    if _type(document, "schema") != "object":
        raise SchemaError("schema", "a JSON Schema for a dataset must be of type object")
    return {"fields": _properties(document, "")}


def _properties(node: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    _check_keywords(node, prefix or "schema")
    properties = node.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise SchemaError(prefix.rstrip(".") or "schema", "an object needs 'properties'")
    required = node.get("required") or []
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise SchemaError(f"{prefix}required", "must be a list of property names")
    unknown = sorted(set(required) - set(properties))
    if unknown:
        raise SchemaError(f"{prefix}required", f"names properties that do not exist: {', '.join(unknown)}")
    fields = []
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            raise SchemaError(f"{prefix}{name}", "a property must be a schema object")
        field = {"name": name, **_node(prop, f"{prefix}{name}")}
        if name in required:
            field["required"] = True
        fields.append(field)
    return fields


def _node(prop: dict[str, Any], path: str) -> dict[str, Any]:
    """One property (or array item) as a field's type and constraints, without its name."""
    _check_keywords(prop, path)
    kind = _type(prop, path)
    out: dict[str, Any] = {}
    if kind == "object":
        out = {"type": "object", "fields": _properties(prop, f"{path}.")}
    elif kind == "array":
        items = prop.get("items")
        if not isinstance(items, dict):
            raise SchemaError(path, "an array needs 'items' (one schema for every item)")
        item = _node(items, f"{path}[]")
        constraints = set(item) - {"type", "fields", "items"}
        if constraints:
            raise SchemaError(
                f"{path}[]", f"constraints on array items are not supported: {', '.join(sorted(constraints))}"
            )
        out = {"type": "array", "items": item}
    else:
        out = {"type": _FORMATS.get(str(prop.get("format")), kind) if kind == "string" else kind}
    for keyword in ("enum", "pattern", "minimum", "maximum", "maxLength"):
        if keyword in prop:
            out[keyword] = prop[keyword]
    if prop.get("identity") is True:
        out["identity"] = True
    return out


def _type(node: dict[str, Any], path: str) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1:
            raise SchemaError(path, f"type {kind} must be one type, optionally with 'null'")
        kind = kinds[0]
    if kind is None and "properties" in node:
        kind = "object"
    if kind not in (*_SCALARS, "object", "array"):
        raise SchemaError(
            path, f"type {kind!r} is not supported (string, integer, number, boolean, object, array)"
        )
    return str(kind)


def _check_keywords(node: dict[str, Any], path: str) -> None:
    # AEP's XDM documents carry "meta:*" annotations: accepted, not kept.
    unsupported = sorted(k for k in set(node) - _KEPT - _ANNOTATIONS if not k.startswith("meta:"))
    if unsupported:
        raise SchemaError(path, f"JSON Schema keyword(s) with no column equivalent: {', '.join(unsupported)}")
