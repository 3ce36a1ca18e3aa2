"""The total order over values, across types (missing < null < int64 < ... < object)."""

from __future__ import annotations

import math
from typing import Any

from reactor.errors import InvalidValueError
from reactor.values.model import MISSING, Int64, int_to_float, type_name

RANK_MISSING = 0
RANK_NULL = 1
RANK_INT64 = 2
RANK_FLOAT64 = 3
RANK_BOOLEAN = 4
RANK_STRING = 5
RANK_BYTES = 6
RANK_ARRAY = 7
RANK_OBJECT = 8


def type_rank(value: Any) -> int:
    """Position of a value's type in the cross-type order (a plain int counts as float64)."""
    if value is MISSING:
        return RANK_MISSING
    if value is None:
        return RANK_NULL
    if isinstance(value, bool):
        return RANK_BOOLEAN
    if isinstance(value, Int64):
        return RANK_INT64
    if isinstance(value, (float, int)):
        return RANK_FLOAT64
    if isinstance(value, str):
        return RANK_STRING
    if isinstance(value, bytes):
        return RANK_BYTES
    if isinstance(value, list):
        return RANK_ARRAY
    if isinstance(value, dict):
        return RANK_OBJECT
    raise InvalidValueError(f"value: {type_name(value)} has no place in the value order")


def as_float(value: float | int) -> float:
    """A plain int in a comparison is a float64, as everywhere else."""
    return value if isinstance(value, float) else int_to_float(value, "value")


def _float_key(value: float) -> tuple[int, float, float]:
    # NaN sorts after +inf and all NaNs are equal; -0.0 sorts just before 0.0.
    if math.isnan(value):
        return (1, 0.0, 0.0)
    return (0, value, math.copysign(1.0, value))


def _sign(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 as `a` sorts before, with or after `b`."""
    rank_a, rank_b = type_rank(a), type_rank(b)
    if rank_a != rank_b:
        return _sign(rank_a, rank_b)
    if rank_a in (RANK_MISSING, RANK_NULL):
        return 0
    if rank_a == RANK_FLOAT64:
        return _sign(_float_key(as_float(a)), _float_key(as_float(b)))
    if rank_a in (RANK_INT64, RANK_BOOLEAN, RANK_STRING, RANK_BYTES):
        return _sign(a, b)
    if rank_a == RANK_ARRAY:
        return compare_sequences(a, b)
    return _compare_objects(a, b)


def compare_sequences(a: Any, b: Any) -> int:
    """Lexicographic order of two sequences of values; a proper prefix sorts first."""
    for item_a, item_b in zip(a, b, strict=False):
        result = compare(item_a, item_b)
        if result:
            return result
    return _sign(len(a), len(b))


def _compare_objects(a: dict[str, Any], b: dict[str, Any]) -> int:
    """Objects compare as their (key, value) pairs sorted by key."""
    for key_a, key_b in zip(sorted(a), sorted(b), strict=False):
        if key_a != key_b:
            return _sign(key_a, key_b)
        result = compare(a[key_a], b[key_b])
        if result:
            return result
    return _sign(len(a), len(b))
