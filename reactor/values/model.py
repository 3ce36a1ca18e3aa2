"""The Reactor value model: `Int64`, `MISSING`, canonical values and their limits."""

from __future__ import annotations

import datetime
import inspect
import math
import re
from typing import Any, Final, TypeAlias

from reactor.errors import InvalidValueError

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
MAX_SAFE_INTEGER: Final = 2**53
MAX_NESTING: Final = 16
MAX_ARRAY_ITEMS: Final = 8192
MAX_OBJECT_FIELDS: Final = 1024
MAX_FIELD_NAME_CHARS: Final = 1024
MAX_DOCUMENT_BYTES: Final = 1 << 20
MAX_TOP_LEVEL_NAME_CHARS: Final = 64
SYSTEM_FIELDS: Final = frozenset({"_id", "_creationTime"})

IDENTIFIER_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PRINTABLE_ASCII_RE: Final = re.compile(r"[\x20-\x7e]*")


def _int64_result(result: Any) -> Any:
    """Keep integer arithmetic on `Int64` in int64, so read-modify-write keeps the type."""
    if isinstance(result, int) and not isinstance(result, bool):
        return Int64(result)
    return result


class Int64(int):
    """A signed 64-bit integer value (a plain `int` means float64, as in JavaScript).

    Integer arithmetic with another int returns an `Int64` (and raises on overflow);
    mixing with a float gives a float, as for `int`.
    """

    __slots__ = ()

    def __new__(cls, value: Any = 0) -> Int64:
        number = int(value)
        if not INT64_MIN <= number <= INT64_MAX:
            raise InvalidValueError(
                f"Int64({number}) is outside the signed 64-bit range [{INT64_MIN}, {INT64_MAX}]"
            )
        return super().__new__(cls, number)

    def __repr__(self) -> str:
        return f"Int64({int(self)})"

    def __str__(self) -> str:
        return int.__repr__(self)

    def __add__(self, other: Any) -> Any:
        return _int64_result(int.__add__(self, other))

    def __radd__(self, other: Any) -> Any:
        return _int64_result(int.__radd__(self, other))

    def __sub__(self, other: Any) -> Any:
        return _int64_result(int.__sub__(self, other))

    def __rsub__(self, other: Any) -> Any:
        return _int64_result(int.__rsub__(self, other))

    def __mul__(self, other: Any) -> Any:
        return _int64_result(int.__mul__(self, other))

    def __rmul__(self, other: Any) -> Any:
        return _int64_result(int.__rmul__(self, other))

    def __floordiv__(self, other: Any) -> Any:
        return _int64_result(int.__floordiv__(self, other))

    def __rfloordiv__(self, other: Any) -> Any:
        return _int64_result(int.__rfloordiv__(self, other))

    def __mod__(self, other: Any) -> Any:
        return _int64_result(int.__mod__(self, other))

    def __rmod__(self, other: Any) -> Any:
        return _int64_result(int.__rmod__(self, other))

    def __pow__(self, other: Any, modulo: Any = None) -> Any:
        return _int64_result(int.__pow__(self, other, modulo))

    def __neg__(self) -> Int64:
        return Int64(-int(self))

    def __pos__(self) -> Int64:
        return self

    def __abs__(self) -> Int64:
        return Int64(abs(int(self)))


class _Missing:
    """The type of `MISSING`: an absent field, which sorts before `None`."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
Missing: TypeAlias = _Missing

Value: TypeAlias = (
    bool | float | Int64 | str | bytes | list["Value"] | dict[str, "Value"] | None
)


def type_name(value: Any) -> str:
    """Name a value's Reactor type for messages (Python type name if it is not one)."""
    if value is None:
        return "null"
    if value is MISSING:
        return "missing"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def child_path(path: str, field: str) -> str:
    """The path of an object field: `a.b` for identifiers, `a["x y"]` otherwise."""
    if IDENTIFIER_RE.fullmatch(field):
        return f"{path}.{field}"
    escaped = field.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{escaped}"]'


def check_field_name(name: Any, path: str) -> None:
    """Nested field names: `str`, printable ASCII, not starting with `$`, <= 1024 chars."""
    if not isinstance(name, str):
        raise InvalidValueError(
            f"{path}: object keys must be strings, got {type(name).__name__} {name!r}"
        )
    if name.startswith("$"):
        raise InvalidValueError(
            f"{child_path(path, name)}: field names may not start with '$'"
        )
    if len(name) > MAX_FIELD_NAME_CHARS:
        raise InvalidValueError(
            f"{path}: field name of {len(name)} characters is longer than "
            f"{MAX_FIELD_NAME_CHARS}"
        )
    if not _PRINTABLE_ASCII_RE.fullmatch(name):
        raise InvalidValueError(
            f"{path}: field name {name!r} must be printable ASCII (characters 32-126)"
        )


def check_string(value: str, path: str) -> None:
    """Strings must be encodable as UTF-8 (no lone surrogates)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidValueError(
                f"{path}: string is not valid Unicode (lone surrogate at index {exc.start})"
            ) from None


def check_container(size: int, is_array: bool, depth: int, path: str) -> None:
    """Shared nesting and size limits for arrays and objects."""
    if depth > MAX_NESTING:
        raise InvalidValueError(f"{path}: value is nested deeper than {MAX_NESTING} levels")
    if is_array and size > MAX_ARRAY_ITEMS:
        raise InvalidValueError(
            f"{path}: array has {size} items, more than the limit of {MAX_ARRAY_ITEMS}"
        )
    if not is_array and size > MAX_OBJECT_FIELDS:
        raise InvalidValueError(
            f"{path}: object has {size} fields, more than the limit of {MAX_OBJECT_FIELDS}"
        )


def canonicalize(value: Any, path: str = "value") -> Value:
    """Check `value` is a Reactor value and return its canonical form.

    Plain ints become floats (exactly, or refused beyond 2**53); `Int64` stays.
    """
    return canonicalize_at(value, path, 1)


def canonicalize_at(value: Any, path: str, depth: int) -> Value:
    """`canonicalize` for a value found `depth` containers deep (1 at the top)."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        check_string(value, path)
        return value if type(value) is str else str.__str__(value)
    if isinstance(value, float):
        return value if type(value) is float else float.__float__(value)
    if isinstance(value, Int64):
        return value
    if isinstance(value, int):
        return int_to_float(value, path)
    if isinstance(value, list):
        check_container(len(value), True, depth, path)
        return [canonicalize_at(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        check_container(len(value), False, depth, path)
        result: dict[str, Value] = {}
        for key, item in value.items():
            check_field_name(key, path)
            result[str.__str__(key)] = canonicalize_at(item, child_path(path, key), depth + 1)
        return result
    if isinstance(value, bytes):
        return value if type(value) is bytes else bytes(value)
    raise InvalidValueError(f"{path}: {_not_a_value(value)}")


def int_to_float(value: int, path: str) -> float:
    """A plain Python int is a float64 and must be exactly representable as one."""
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise InvalidValueError(
            f"{path}: integer {value} does not fit a float64 exactly (|x| > 2**53); "
            f"use v.int64() in the validator or Int64({value}) to store it as an int64"
        )
    return float(value)


def _not_a_value(value: Any) -> str:
    if value is MISSING:
        return "MISSING is not a value (leave the field out instead)"
    if isinstance(value, tuple):
        return "tuple is not a Reactor value; use a list"
    if isinstance(value, (set, frozenset)):
        return f"{type(value).__name__} is not a Reactor value; use a list"
    if inspect.iscoroutine(value) or inspect.isawaitable(value):
        return f"{type(value).__name__} is not a Reactor value: did you forget `await`?"
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        return (f"{type(value).__name__} is not a Reactor value; convert it first (a time to"
                " milliseconds since the epoch or an ISO string, a duration to seconds)")
    return (
        f"{type(value).__name__} is not a Reactor value (expected None, bool, float, "
        "int, Int64, str, bytes, list or dict)"
    )


def value_size(value: Any) -> int:
    """Approximate encoded size in bytes, the measure every byte limit uses."""
    if value is None or value is True or value is False:
        return 1
    if isinstance(value, (int, float)):
        return 9
    if isinstance(value, str):
        return 2 + (len(value) if value.isascii() else len(value.encode("utf-8", "replace")))
    if isinstance(value, bytes):
        return 2 + len(value)
    if isinstance(value, list):
        return 2 + sum(value_size(item) for item in value)
    if isinstance(value, dict):
        return 2 + sum(len(key) + 1 + value_size(item) for key, item in value.items())
    return 0


def check_document(doc: dict[str, Any], path: str = "document") -> int:
    """Document limits: top-level names, reserved `_` names and the 1 MiB size cap.
    Returns the document's size (`value_size`), which writers count against their limits."""
    if not isinstance(doc, dict):
        raise InvalidValueError(f"{path}: a document must be an object, got {type_name(doc)}")
    for name in doc:
        if not isinstance(name, str):
            raise InvalidValueError(
                f"{path}: field names must be strings, got {type(name).__name__} {name!r}"
            )
        if len(name) > MAX_TOP_LEVEL_NAME_CHARS or not IDENTIFIER_RE.fullmatch(name):
            raise InvalidValueError(
                f"{path}: top-level field name {name!r} must match [A-Za-z_][A-Za-z0-9_]* "
                f"and be at most {MAX_TOP_LEVEL_NAME_CHARS} characters"
            )
        if name.startswith("_") and name not in SYSTEM_FIELDS:
            raise InvalidValueError(
                f"{path}.{name}: field names starting with '_' are reserved for system fields"
            )
    size = value_size(doc)
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidValueError(
            f"{path}: document is {size} bytes, more than the limit of {MAX_DOCUMENT_BYTES}"
        )
    return size


def is_negative_zero(value: float) -> bool:
    """-0.0 is a distinct float64 on the wire and in the order."""
    return value == 0.0 and math.copysign(1.0, value) < 0
