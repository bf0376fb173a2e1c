"""The constraint engine: one set of checks for every format, run on whole Arrow tables.

Input is a table already conformed to the dataset's Arrow types (see :mod:`.convert`); output is a
list of :class:`~batchgate.validation.convert.Violation` — one boolean mask per (field, rule) —
computed with ``pyarrow.compute``: no Python loop over rows. Rules, in the order they are checked:

* ``required`` — the value is absent or null (``BG-ROW-REQUIRED``). A required child of an object
  is only required when the object itself is present; a required child of an array item is checked
  for every item.
* ``enum`` (``BG-ROW-ENUM``), ``pattern`` (``BG-ROW-PATTERN``, RE2 *search* semantics as in JSON
  Schema; RE2 runs in linear time, and a dataset whose pattern RE2 refuses is refused when it is
  created — one stored before that rule fails its files with ``BG-FILE-SCHEMA``, never runs a
  backtracking engine),
  ``minimum``/``maximum`` (``BG-ROW-RANGE``, inclusive), a finite value in a ``number`` field
  (``BG-ROW-TYPE``: NaN, ±Infinity and literals beyond a double's range such as ``1e999`` are
  refused unless the field says ``allowNonFinite``; array items of type number always), ``maxLength`` (``BG-ROW-LENGTH``, counted
  in Unicode code points as JSON Schema does).
* Null values are never checked against enum/pattern/range/length: null is only ``required``'s
  business.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from batchgate.core.models import DatasetSchema, ItemSchema, SchemaField
from batchgate.core.schema import arrow_type
from batchgate.validation import codes
from batchgate.validation.codes import FileError
from batchgate.validation.convert import Violation, arange, one_array

NON_FINITE = (
    "value is not a finite number (NaN, Infinity or out of range); allowNonFinite on the field accepts it"
)


@dataclass(frozen=True)
class _Rule:
    """A precompiled check on one field path."""

    field: SchemaField
    path: str
    value_set: pa.Array | None


class Checker:
    """Precompiled constraint checks for one dataset schema; reusable across blocks and files."""

    def __init__(self, schema: DatasetSchema, *, required_at_commit: frozenset[str] = frozenset()) -> None:
        """``required_at_commit``: top-level columns whose ``required`` an upsert checks on the
        stored row when the batch lands (see :mod:`batchgate.core.upsert_rules`), not here."""
        self.schema = schema
        self.required_at_commit = required_at_commit
        self._rules: dict[str, _Rule] = {}
        for f in schema.fields:
            self._compile(f, f.name)

    def _compile(self, f: SchemaField, path: str) -> None:
        value_set = None
        if f.enum is not None:
            target = arrow_type(f)
            try:
                value_set = pa.array(f.enum).cast(target)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                # Enum literals of another JSON type than the field (e.g. "1" for an integer) can
                # never match a converted value; keep those that can.
                value_set = pa.array([v for v in f.enum if _castable(v, target)], target)
        if f.pattern is not None:
            try:
                pc.match_substring_regex(pa.array([""]), f.pattern)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise FileError(
                    codes.FILE_SCHEMA,
                    f"the dataset's pattern {f.pattern!r} on {path} cannot run in linear time ({exc}); "
                    "change the dataset's schema",
                ) from exc
        self._rules[path] = _Rule(f, path, value_set)
        for child in f.fields or []:
            self._compile(child, f"{path}.{child.name}")
        if f.items is not None and f.items.type == "object":
            for child in f.items.fields or []:
                self._compile(child, f"{path}[].{child.name}")

    def check(self, table: pa.Table) -> list[Violation]:
        """Every violated rule of every row of ``table`` (conformed to the dataset schema)."""
        out: list[Violation] = []
        for f in self.schema.fields:
            if f.name in self.required_at_commit:
                f = f.model_copy(update={"required": False})
            self._check_field(f, f.name, one_array(table.column(f.name)), present=None, out=out)
        return out

    def _check_field(
        self,
        f: SchemaField,
        path: str,
        arr: pa.Array,
        present: pa.Array | None,
        out: list[Violation],
    ) -> None:
        """``present``: where the enclosing object exists (None at top level = every row)."""
        if f.required:
            missing = arr.is_null()
            if present is not None:
                missing = pc.and_(missing, present)
            if pc.any(missing).as_py():
                out.append(Violation(path, codes.ROW_REQUIRED, missing, "required field is missing or null"))
        if arr.null_count == len(arr):
            return
        rule = self._rules[path]
        if rule.value_set is not None:
            bad = _true(pc.invert(pc.is_in(arr, value_set=rule.value_set)), arr)
            self._add(out, path, codes.ROW_ENUM, bad, f"value is not one of {f.enum!r}", arr)
        if f.pattern is not None:
            matched = pc.match_substring_regex(arr, f.pattern)
            bad = _true(pc.invert(matched), arr)
            self._add(out, path, codes.ROW_PATTERN, bad, f"value does not match pattern {f.pattern!r}", arr)
        if f.type == "number" and not f.allow_non_finite:
            bad = _true(pc.invert(pc.is_finite(arr)), arr)
            self._add(out, path, codes.ROW_TYPE, bad, NON_FINITE, arr)
        if f.minimum is not None:
            bad = _true(pc.less(arr, _bound(f.minimum, arr.type)), arr)
            self._add(out, path, codes.ROW_RANGE, bad, f"value is below minimum {f.minimum:g}", arr)
        if f.maximum is not None:
            bad = _true(pc.greater(arr, _bound(f.maximum, arr.type)), arr)
            self._add(out, path, codes.ROW_RANGE, bad, f"value is above maximum {f.maximum:g}", arr)
        if f.max_length is not None and (longer := _longer_in_bytes(arr, f.max_length)) is not None:
            # Characters are counted only where the bytes exceed maxLength (usually a few values).
            long = pc.greater(pc.utf8_length(arr.filter(longer)), f.max_length)
            bad = _true(pc.replace_with_mask(longer, longer, long), arr)
            self._add(
                out, path, codes.ROW_LENGTH, bad, f"value is longer than {f.max_length} characters", arr
            )
        if f.type == "object":
            flat = arr.flatten()
            here = arr.is_valid()
            if present is not None:
                here = pc.and_(here, present)
            for i, child in enumerate(f.fields or []):
                self._check_field(child, f"{path}.{child.name}", flat[i], here, out)
        elif f.type == "array" and f.items is not None:
            self._check_items(f.items, path, arr, out)

    def _check_items(self, items: ItemSchema, path: str, arr: pa.Array, out: list[Violation]) -> None:
        """Checks on array items run on the flattened items, then map back to their rows."""
        if items.type not in ("object", "number") or (items.type == "object" and not items.fields):
            return
        values = pc.list_flatten(arr)
        if len(values) == 0:
            return
        inner: list[Violation] = []
        if items.type == "number":
            bad = _true(pc.invert(pc.is_finite(values)), values)
            self._add(inner, f"{path}[]", codes.ROW_TYPE, bad, NON_FINITE, values)
        else:
            flat = values.flatten()
            for i, child in enumerate(items.fields or []):
                self._check_field(child, f"{path}[].{child.name}", flat[i], values.is_valid(), inner)
        if inner:
            parents = pc.list_parent_indices(arr)
            row_ids = arange(0, len(arr))
            for v in inner:
                out.append(Violation(v.field, v.code, pc.is_in(row_ids, parents.filter(v.mask)), v.message))

    @staticmethod
    def _add(
        out: list[Violation], path: str, code: str, bad: pa.Array, message: str, values: pa.Array
    ) -> None:
        if pc.any(bad).as_py():
            out.append(Violation(path, code, bad, message, values))


def _true(mask: pa.Array, arr: pa.Array) -> pa.BooleanArray:
    """``mask`` where ``arr`` holds a value; false (never null) elsewhere."""
    return pc.and_(pc.fill_null(mask, False), arr.is_valid())


def _longer_in_bytes(arr: pa.Array, max_length: int) -> pa.BooleanArray | None:
    """Where a value of ``arr`` has more than ``max_length`` bytes (false for nulls), or None
    when none has. A UTF-8 value has at least as many bytes as code points, and byte lengths
    come from the offsets alone, while counting code points reads every byte: only the values
    this marks can hold more than ``max_length`` code points."""
    lengths = pc.binary_length(arr)
    longest = pc.max(lengths).as_py()
    if longest is None or longest <= max_length:
        return None
    return pc.fill_null(pc.greater(lengths, max_length), False)


def _bound(value: float, t: pa.DataType) -> pa.Scalar:
    """A range bound as the scalar to compare ``t`` values with: a double, or, for integers and
    an integral bound below 2**53 in magnitude, an integer (the same answers: such a bound is
    exact as a double, and an integer beyond 2**53 lies beyond it either way), which spares
    converting the whole column to doubles."""
    if pa.types.is_signed_integer(t) and float(value).is_integer() and abs(value) < 2**53:
        return pa.scalar(int(value), pa.int64())
    return pa.scalar(value, pa.float64())


def _castable(value: object, target: pa.DataType) -> bool:
    try:
        pa.array([value]).cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    return True


def failed_mask(n: int, violations: list[Violation]) -> pa.BooleanArray:
    """Rows that break at least one rule."""
    mask = pa.nulls(n, pa.bool_()).fill_null(False)
    for v in violations:
        mask = pc.or_(mask, v.mask)
    return mask
