"""The JSON encodings of documents in Convex exports and imports.

Snapshot zips (`generated_schema.jsonl` = `"uniform"`) use Convex's lossless
export JSON: an int64 is a bare JSON integer (`42`), a float64 a JSON number
with a fraction or exponent (`42.0`, `-0.0`, `1e300`), a non-finite float
`{"$float": base64 of its 8 little-endian bytes}`, bytes `{"$bytes": base64}`.
Single-table `.jsonl` / `.json` imports use the wire form (`convex_encoded_json`):
every JSON number is a float64 and an int64 is `{"$integer": base64}`.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import orjson

from reactor.errors import InvalidValueError
from reactor.values import Int64, Value, from_wire
from reactor.values.model import INT64_MAX, INT64_MIN

_FLOAT64 = struct.Struct("<d")


def to_export(value: Any) -> Any:
    """A value as lossless export JSON (a structure orjson writes as Convex does)."""
    if value is None or value is True or value is False or isinstance(value, str):
        return value
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, float | int):
        number = float(value)
        if math.isfinite(number):
            return number
        return {"$float": base64.b64encode(_FLOAT64.pack(number)).decode("ascii")}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [to_export(item) for item in value]
    if isinstance(value, dict):
        return {key: to_export(item) for key, item in value.items()}
    raise InvalidValueError(f"value: {type(value).__name__} cannot be exported")


def export_line(doc: dict[str, Any]) -> bytes:
    """One `documents.jsonl` line."""
    return orjson.dumps(to_export(doc)) + b"\n"


def from_export(data: Any, path: str) -> Value:
    """Decode lossless export JSON: bare integers are int64, other numbers float64."""
    if isinstance(data, bool) or data is None or isinstance(data, str | float):
        return from_wire(data, path)
    if isinstance(data, int):
        if not INT64_MIN <= data <= INT64_MAX:
            raise InvalidValueError(f"{path}: {data} is outside the int64 range")
        return Int64(data)
    if isinstance(data, list):
        return [from_export(item, f"{path}[{i}]") for i, item in enumerate(data)]
    if isinstance(data, dict):
        if any(isinstance(key, str) and key.startswith("$") for key in data):
            return from_wire(data, path)
        return {key: from_export(item, f"{path}.{key}") for key, item in data.items()}
    raise InvalidValueError(f"{path}: {type(data).__name__} is not a JSON value")
