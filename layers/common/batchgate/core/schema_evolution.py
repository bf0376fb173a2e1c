"""How a dataset's schema may change once rows have landed under it.

A change is allowed when every row already stored still satisfies the new schema and every reader
of the old one still reads the table:

* a new **optional** column (top level, or inside an object) — old rows read it as null;
* ``required`` relaxed (``true`` → ``false``);
* constraints relaxed: enum values added, a pattern dropped, ``maxLength`` raised or dropped,
  ``minimum`` lowered, ``maximum`` raised, or either dropped;
* ``allowNonFinite`` turned on;
* a type widened the way Iceberg allows (int → long, float → double, wider decimals). batchgate's
  types are already the wide ones (``integer`` is a long, ``number`` a double), so no type change
  is a widening here, and every type change is refused.

Everything else is refused naming the field and why (:class:`SchemaConflict`, a 409): a removed or
renamed column, a new required column, a narrowed type or constraint, a changed array item type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batchgate.core.errors import Conflict
from batchgate.core.models import DatasetSchema, ItemSchema, SchemaField


class SchemaConflict(Conflict):
    code = "BG-409-SCHEMA-CHANGE"


@dataclass
class Evolution:
    """What a new schema changes. ``added`` are the new columns' paths (``a``, ``obj.child``),
    which the table needs; the rest only changes the rules rows are checked against."""

    added: list[tuple[str, SchemaField]] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.added and not self.relaxed


def evolve(old: DatasetSchema, new: DatasetSchema) -> Evolution:
    """The changes from ``old`` to ``new``; ``SchemaConflict`` naming the first refused one."""
    out = Evolution()
    _fields(old.fields, new.fields, "", out)
    return out


def _fields(old: list[SchemaField], new: list[SchemaField], prefix: str, out: Evolution) -> None:
    by_name = {f.name: f for f in new}
    for before in old:
        path = f"{prefix}{before.name}"
        after = by_name.pop(before.name, None)
        if after is None:
            raise SchemaConflict(
                f"{path}: removing a column is refused (rows hold it); make it optional instead"
            )
        _field(before, after, path, out)
    for after in by_name.values():
        path = f"{prefix}{after.name}"
        if after.required:
            raise SchemaConflict(
                f"{path}: a new column must be optional: the rows already landed have no value for it"
            )
        out.added.append((path, after))


def _field(before: SchemaField, after: SchemaField, path: str, out: Evolution) -> None:
    if before.type != after.type:
        raise SchemaConflict(
            f"{path}: changing type {before.type} to {after.type} is refused: not a widening Iceberg allows"
        )
    if after.required and not before.required:
        raise SchemaConflict(f"{path}: making a column required is refused: landed rows may lack it")
    if before.required and not after.required:
        out.relaxed.append(f"{path}: no longer required")
    if bool(before.identity) != bool(after.identity):
        raise SchemaConflict(f"{path}: the upsert identity cannot change")
    _constraints(before, after, path, out)
    if before.type == "object":
        _fields(before.fields or [], after.fields or [], f"{path}.", out)
    elif before.type == "array":
        _items(before.items, after.items, f"{path}[]")


def _constraints(before: SchemaField, after: SchemaField, path: str, out: Evolution) -> None:
    if before.enum is not None:
        if after.enum is None:
            out.relaxed.append(f"{path}: enum dropped")
        elif not set(map(repr, before.enum)) <= set(map(repr, after.enum)):
            gone = [v for v in before.enum if repr(v) not in set(map(repr, after.enum))]
            raise SchemaConflict(
                f"{path}: removing enum values {gone!r} is refused: landed rows may hold them"
            )
        elif len(after.enum) > len(before.enum):
            out.relaxed.append(f"{path}: enum values added")
    elif after.enum is not None:
        raise SchemaConflict(f"{path}: adding an enum is refused: landed rows may hold other values")
    if after.pattern != before.pattern:
        if after.pattern is not None:
            raise SchemaConflict(f"{path}: a new or changed pattern is refused: landed rows may not match it")
        out.relaxed.append(f"{path}: pattern dropped")
    for name, wider in (("max_length", _higher), ("maximum", _higher), ("minimum", _lower)):
        old_value, new_value = getattr(before, name), getattr(after, name)
        if old_value == new_value:
            continue
        if not wider(old_value, new_value):
            raise SchemaConflict(
                f"{path}: narrowing {name} from {_show(old_value)} to {_show(new_value)} is refused"
            )
        out.relaxed.append(f"{path}: {name} {_show(old_value)} → {_show(new_value)}")
    if bool(before.allow_non_finite) and not after.allow_non_finite:
        raise SchemaConflict(
            f"{path}: turning allowNonFinite off is refused: landed rows may hold NaN or Infinity"
        )
    if after.allow_non_finite and not before.allow_non_finite:
        out.relaxed.append(f"{path}: allows NaN and Infinity")


def _show(bound: float | None) -> str:
    return "none" if bound is None else f"{bound:g}"


def _higher(old: float | None, new: float | None) -> bool:
    """An upper bound relaxed: dropped, or raised."""
    return new is None or (old is not None and new > old)


def _lower(old: float | None, new: float | None) -> bool:
    """A lower bound relaxed: dropped, or lowered."""
    return new is None or (old is not None and new < old)


def _items(before: ItemSchema | None, after: ItemSchema | None, path: str) -> None:
    if before is None or after is None or before.type != after.type:
        raise SchemaConflict(f"{path}: the array's item type cannot change")
    if before.type == "object":
        mine = Evolution()
        _fields(before.fields or [], after.fields or [], f"{path}.", mine)
        if mine.added:
            raise SchemaConflict(f"{path}: adding fields to objects inside arrays is not supported")
