"""`with_index`'s range builder: `q.eq(...).gte(...).lt(...)` as a byte range of index keys."""

from __future__ import annotations

from typing import Any, Literal

from reactor.schema import IndexDefinition, TableDefinition
from reactor.transactions.query_terminals import QueryError
from reactor.values import (
    Int64,
    Int64Validator,
    ObjectValidator,
    OptionalValidator,
    canonicalize,
    encode_key,
    prefix_end,
)

Bound = tuple[Literal["gt", "gte"], Any] | None
UpperBound = tuple[Literal["lt", "lte"], Any] | None


class IndexRange:
    """`q.eq(...).gte(...).lt(...)` as handed to `with_index`'s lambda.

    Equalities must come first and follow the index's field order; then at most
    one lower and one upper bound on the next field.
    """

    def __init__(self, table: TableDefinition, index: IndexDefinition) -> None:
        self._table = table
        self._index = index
        self._eq: list[Any] = []
        self._range_field: str | None = None
        self._lower: Bound = None
        self._upper: UpperBound = None

    def _next_field(self, op: str, field: str) -> str:
        fields = self._index.fields
        position = len(self._eq)
        if position >= len(fields):
            raise QueryError(f"index {self._index.name} has only {len(fields)} fields;"
                             f" cannot add {op}({field!r})")
        expected = fields[position]
        if field != expected:
            raise QueryError(f"index {self._index.name} on ({', '.join(fields)}):"
                             f" {op}({field!r}) must name {expected!r} next")
        return field

    def _value(self, field: str, value: Any) -> Any:
        if declared_int64(self._table, field) and type(value) is int:
            return Int64(value)
        return canonicalize(value, f"with_index({self._index.name}).{field}")

    def eq(self, field: str, value: Any) -> IndexRange:
        """Documents whose `field` equals `value`; fields in the index's order, first."""
        if self._range_field is not None:
            raise QueryError(f"eq({field!r}) after a range bound: equalities come first")
        self._eq.append(self._value(self._next_field("eq", field), value))
        return self

    def _bound(self, op: str, field: str, value: Any) -> Any:
        if self._range_field is None:
            self._range_field = self._next_field(op, field)
        elif field != self._range_field:
            raise QueryError(f"{op}({field!r}): bounds must all be on {self._range_field!r}")
        return self._value(field, value)

    def gt(self, field: str, value: Any) -> IndexRange:
        """Lower bound `field > value` on the field after the equalities."""
        self._set_lower(("gt", self._bound("gt", field, value)))
        return self

    def gte(self, field: str, value: Any) -> IndexRange:
        """Lower bound `field >= value` on the field after the equalities."""
        self._set_lower(("gte", self._bound("gte", field, value)))
        return self

    def lt(self, field: str, value: Any) -> IndexRange:
        """Upper bound `field < value` on the field after the equalities."""
        self._set_upper(("lt", self._bound("lt", field, value)))
        return self

    def lte(self, field: str, value: Any) -> IndexRange:
        """Upper bound `field <= value` on the field after the equalities."""
        self._set_upper(("lte", self._bound("lte", field, value)))
        return self

    def _set_lower(self, bound: Bound) -> None:
        if self._lower is not None:
            raise QueryError("only one lower bound (gt/gte) is allowed")
        self._lower = bound

    def _set_upper(self, bound: UpperBound) -> None:
        if self._upper is not None:
            raise QueryError("only one upper bound (lt/lte) is allowed")
        self._upper = bound

    def key_range(self) -> tuple[bytes, bytes | None]:
        """The half-open byte range `[start, end)` of index keys this describes."""
        prefix = encode_key(self._eq)
        start: bytes = prefix
        end = prefix_end(prefix)
        if self._lower is not None:
            lower, value = self._lower
            bound = encode_key([*self._eq, value])
            start = bound if lower == "gte" else _after_prefix(bound)
        if self._upper is not None:
            upper, value = self._upper
            bound = encode_key([*self._eq, value])
            end = bound if upper == "lt" else prefix_end(bound)
        return start, end


def declared_int64(table: TableDefinition, field: str) -> bool:
    """Whether the schema declares `field` (a dotted path) as `v.int64()`."""
    validator: Any = table.validator
    for part in field.split("."):
        if isinstance(validator, OptionalValidator):
            validator = validator.inner
        if not isinstance(validator, ObjectValidator) or part not in validator.fields:
            return False
        validator = validator.fields[part]
    if isinstance(validator, OptionalValidator):
        validator = validator.inner
    return isinstance(validator, Int64Validator)


def _after_prefix(prefix: bytes) -> bytes:
    end = prefix_end(prefix)
    return end if end is not None else prefix + b"\xff" * 16
