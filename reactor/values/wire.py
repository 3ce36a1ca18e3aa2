"""Convex JSON: values to and from their wire form (protocol.md section 2)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from typing import Any

import orjson

from reactor.errors import InvalidValueError
from reactor.values.model import (
    MAX_SAFE_INTEGER,
    Int64,
    Value,
    check_container,
    check_field_name,
    check_string,
    child_path,
    type_name,
)

_INT64 = struct.Struct("<q")
_FLOAT64 = struct.Struct("<d")
_B64_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: Any, path: str) -> bytes:
    """Standard base64; `-`/`_` and missing padding are accepted too."""
    if not isinstance(text, str) or not text.isascii():
        raise InvalidValueError(f"{path}: expected a base64 string, got {type_name(text)}")
    raw = text.encode("ascii").translate(_B64_URLSAFE).rstrip(b"=")
    raw += b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValueError(f"{path}: {text!r} is not valid base64") from None


def _float_needs_tag(value: float) -> bool:
    return not math.isfinite(value) or (value == 0.0 and math.copysign(1.0, value) < 0)


def to_wire(value: Any) -> Any:
    """Encode a value as convex JSON (a structure orjson can serialize)."""
    if value is None or value is True or value is False or isinstance(value, str):
        return value
    if isinstance(value, float):
        if _float_needs_tag(value):
            return {"$float": _b64encode(_FLOAT64.pack(value))}
        return value if type(value) is float else float(value)
    if isinstance(value, Int64):
        return {"$integer": _b64encode(_INT64.pack(value))}
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return int(value)
        return {"$integer": _b64encode(_INT64.pack(Int64(value)))}
    if isinstance(value, bytes):
        return {"$bytes": _b64encode(value)}
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            check_field_name(key, "value")
            result[key] = to_wire(item)
        return result
    raise InvalidValueError(f"value: {type_name(value)} cannot be sent as convex JSON")


def from_wire(data: Any, path: str = "value") -> Value:
    """Decode convex JSON (as parsed by a JSON parser) into a canonical value.

    JSON numbers are float64 whatever their spelling; limits and field names are
    checked as by `canonicalize`.
    """
    return _from_wire(data, path, 1)


def _from_wire(data: Any, path: str, depth: int) -> Value:
    if data is None or data is True or data is False:
        return data
    if isinstance(data, str):
        check_string(data, path)
        return data
    if isinstance(data, (int, float)):
        return float(data)
    if isinstance(data, list):
        check_container(len(data), True, depth, path)
        return [_from_wire(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(data)]
    if isinstance(data, dict):
        if any(isinstance(key, str) and key.startswith("$") for key in data):
            return _decode_tagged(data, path)
        check_container(len(data), False, depth, path)
        result: dict[str, Value] = {}
        for key, item in data.items():
            check_field_name(key, path)
            kind = type(item)
            # The common fields (a float, an ASCII string) need no path: they cannot fail.
            if kind is float or (kind is str and item.isascii()):
                result[key] = item
            else:
                result[key] = _from_wire(item, child_path(path, key), depth + 1)
        return result
    raise InvalidValueError(f"{path}: {type(data).__name__} is not a JSON value")


def _decode_tagged(data: dict[str, Any], path: str) -> Value:
    """The single-key `$integer`, `$float` and `$bytes` forms; any other `$` key is invalid."""
    if len(data) == 1:
        ((tag, payload),) = data.items()
        if tag == "$bytes":
            return _b64decode(payload, f"{path}.$bytes")
        if tag == "$integer":
            raw = _b64decode(payload, f"{path}.$integer")
            if len(raw) != 8:
                raise InvalidValueError(
                    f"{path}.$integer: expected 8 bytes of int64, got {len(raw)}"
                )
            return Int64(_INT64.unpack(raw)[0])
        if tag == "$float":
            raw = _b64decode(payload, f"{path}.$float")
            if len(raw) != 8:
                raise InvalidValueError(
                    f"{path}.$float: expected 8 bytes of float64, got {len(raw)}"
                )
            return float(_FLOAT64.unpack(raw)[0])
    keys = ", ".join(sorted(str(key) for key in data))
    raise InvalidValueError(
        f"{path}: object with keys {keys} is not a value: field names may not start "
        "with '$' (only {\"$integer\"}, {\"$float\"} and {\"$bytes\"} are special)"
    )


def dumps(value: Any) -> bytes:
    """Serialize a value as convex JSON bytes.

    orjson's result keeps an allocation of at least 4 KiB whatever its length; a
    copy is exactly as long, which matters for encodings that are kept (query keys,
    cached results: one pair per live subscription).
    """
    try:
        return bytes(memoryview(orjson.dumps(to_wire(value))))
    except orjson.JSONEncodeError as exc:
        raise InvalidValueError(f"value: cannot be encoded as JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Value:
    """Parse convex JSON bytes into a canonical value."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # orjson refuses numbers that overflow a double (1e400); JSON.parse gives
        # Infinity, so retry those with the standard parser.
        try:
            parsed = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise InvalidValueError(f"value: invalid JSON: {exc}") from None
    return from_wire(parsed)
