"""Validators of single values: string, number, int64, boolean, null, bytes, any, id, literal."""

from __future__ import annotations

from typing import Any

from reactor.errors import InvalidValueError, SchemaError, ValidationError
from reactor.values.ids import is_id_for
from reactor.values.model import (
    INT64_MAX,
    INT64_MIN,
    MAX_SAFE_INTEGER,
    Int64,
    Value,
    canonicalize,
    canonicalize_at,
    check_string,
)
from reactor.values.order import compare, type_rank
from reactor.values.render import render_literal, short_repr
from reactor.values.validator_base import SimpleValidator, Validator
from reactor.values.wire import to_wire


class StringValidator(SimpleValidator):
    name = "string"

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, str):
            raise self.fail(value, path)
        check_string(value, path)
        return str.__str__(value)


class NumberValidator(SimpleValidator):
    """float64: a plain int is accepted and becomes a float; bool and Int64 are not numbers."""

    name = "number"

    def check(self, value: Any, path: str, depth: int) -> Value:
        if isinstance(value, float):
            return float.__float__(value)
        if not isinstance(value, int) or isinstance(value, (bool, Int64)):
            raise self.fail(value, path)
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValidationError(
                f"{path}: expected number, got {short_repr(value)} (beyond 2**53 an integer "
                "is not exact as a float64; use v.int64())"
            )
        return float(value)


class Int64Validator(SimpleValidator):
    """int64: any int in the signed 64-bit range becomes an `Int64`; floats are refused."""

    name = "int64"

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(value, path)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValidationError(
                f"{path}: expected int64, got {short_repr(value)} (outside the signed "
                "64-bit range)"
            )
        return value if isinstance(value, Int64) else Int64(value)


class IntegerValidator(SimpleValidator):
    """A parameter annotated `int`: a whole number within ±2**53, handed over as an `int`.

    Clients send numbers as float64 (`10` from JavaScript arrives as `10.0`), so
    `int` accepts any whole float64, and a bigint or `Int64` in that range too;
    `10.5`, booleans and strings are refused. Declare `Int64` for the int64 type.
    """

    name = "integer"

    def check(self, value: Any, path: str, depth: int) -> Value:
        whole = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, float) and value.is_integer():
            whole = True
        if not whole:
            raise self.fail(value, path)
        number = int(value)
        if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            raise ValidationError(f"{path}: expected integer, got {short_repr(value)} (beyond"
                                  " 2**53; annotate Int64 for 64-bit integers)")
        return number

    def to_json(self) -> dict[str, Any]:
        return {"type": "number"}


class BooleanValidator(SimpleValidator):
    name = "boolean"

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, bool):
            raise self.fail(value, path)
        return value


class NullValidator(SimpleValidator):
    name = "null"

    def check(self, value: Any, path: str, depth: int) -> Value:
        if value is not None:
            raise self.fail(value, path)
        return None


class BytesValidator(SimpleValidator):
    name = "bytes"

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, bytes):
            raise self.fail(value, path)
        return bytes(value)


class AnyValidator(SimpleValidator):
    name = "any"

    def check(self, value: Any, path: str, depth: int) -> Value:
        return canonicalize_at(value, path, depth)


class IdValidator(Validator):
    """A document id of one table (the table is checked from the id itself)."""

    def __init__(self, table: str) -> None:
        if not isinstance(table, str) or not table:
            raise SchemaError(f"v.id(): expected a table name, got {short_repr(table)}")
        self.table = table

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, str) or not is_id_for(self.table, value):
            raise self.fail(value, path)
        return str.__str__(value)

    def describe(self) -> str:
        return f'Id<"{self.table}">'

    def to_json(self) -> dict[str, Any]:
        return {"type": "id", "tableName": self.table}


class LiteralValidator(Validator):
    """One exact value; a literal number never matches an `Int64` nor the reverse."""

    def __init__(self, value: Any) -> None:
        if not isinstance(value, (str, bool, int, float)):
            raise SchemaError(
                f"v.literal(): expected a string, number, Int64 or boolean, got "
                f"{short_repr(value)}"
            )
        try:
            self.value = canonicalize(value, "v.literal()")
        except InvalidValueError as exc:
            raise SchemaError(exc.message) from None

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, (str, bool, int, float)):
            raise self.fail(value, path)
        try:
            candidate = canonicalize(value, path)
        except InvalidValueError:
            raise self.fail(value, path) from None
        if type_rank(candidate) != type_rank(self.value) or compare(candidate, self.value):
            raise self.fail(value, path)
        return self.value

    def describe(self) -> str:
        return render_literal(self.value)

    def to_json(self) -> dict[str, Any]:
        return {"type": "literal", "value": to_wire(self.value)}
