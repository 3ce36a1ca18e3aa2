"""Index-key bytes: an encoding of value tuples whose bytewise order is the value order."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from reactor.errors import InvalidValueError
from reactor.values.model import MISSING, Int64, Missing, Value
from reactor.values.order import as_float

# One tag byte per type, increasing in the cross-type order. 0x00 is kept free:
# it terminates arrays and objects, so a shorter container sorts first.
TAG_MISSING = 0x10
TAG_NULL = 0x20
TAG_INT64 = 0x30
TAG_FLOAT64 = 0x40
TAG_FALSE = 0x50
TAG_TRUE = 0x51
TAG_STRING = 0x60
TAG_BYTES = 0x70
TAG_ARRAY = 0x80
TAG_OBJECT = 0x90
END = 0x00

_U64 = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_SIGN_BIT = 1 << 63
_ALL_BITS = (1 << 64) - 1
_CANONICAL_NAN = 0x7FF8000000000000
# Strings and bytes: 0x00 inside is escaped as 00 FF, the end is 00 01.
_ESCAPED_ZERO = b"\x00\xff"
_STRING_END = b"\x00\x01"


def encode_key(parts: Sequence[Any]) -> bytes:
    """Encode a tuple of values (and `MISSING`) so that bytes order equals value order.

    Each part is self-delimiting, so a tuple sorts after every proper prefix of it.
    """
    out = bytearray()
    for part in parts:
        _encode(part, out)
    return bytes(out)


def _escaped(data: bytes) -> bytes:
    return data.replace(b"\x00", _ESCAPED_ZERO) + _STRING_END


def _float_bits(value: float) -> int:
    if math.isnan(value):
        return _CANONICAL_NAN ^ _SIGN_BIT
    bits: int = _U64.unpack(_F64.pack(value))[0]
    # Negative floats: flip all bits (larger magnitude sorts first); others: set the sign bit.
    return bits ^ _ALL_BITS if bits & _SIGN_BIT else bits ^ _SIGN_BIT


def _encode(value: Any, out: bytearray) -> None:
    kind = type(value)
    if kind is str:  # the common cases first: every key has strings and floats
        out.append(TAG_STRING)
        out += _escaped(value.encode("utf-8"))
    elif kind is float:
        out.append(TAG_FLOAT64)
        out += _U64.pack(_float_bits(value))
    elif value is MISSING:
        out.append(TAG_MISSING)
    elif value is None:
        out.append(TAG_NULL)
    elif value is True:
        out.append(TAG_TRUE)
    elif value is False:
        out.append(TAG_FALSE)
    elif isinstance(value, Int64):
        out.append(TAG_INT64)
        out += _U64.pack(int(value) + _SIGN_BIT)
    elif isinstance(value, (float, int)):
        out.append(TAG_FLOAT64)
        out += _U64.pack(_float_bits(as_float(value)))
    elif isinstance(value, str):
        out.append(TAG_STRING)
        out += _escaped(value.encode("utf-8"))
    elif isinstance(value, bytes):
        out.append(TAG_BYTES)
        out += _escaped(value)
    elif isinstance(value, list):
        out.append(TAG_ARRAY)
        for item in value:
            _encode(item, out)
        out.append(END)
    elif isinstance(value, dict):
        out.append(TAG_OBJECT)
        for key in sorted(value):
            _encode(key, out)
            _encode(value[key], out)
        out.append(END)
    else:
        raise InvalidValueError(f"value: {type(value).__name__} cannot be part of an index key")


def decode_key(data: bytes) -> list[Value | Missing]:
    """Invert `encode_key` (NaNs come back as the one canonical NaN)."""
    parts: list[Value | Missing] = []
    pos = 0
    while pos < len(data):
        value, pos = _decode(data, pos)
        parts.append(value)
    return parts


def _malformed(pos: int) -> InvalidValueError:
    return InvalidValueError(f"index key: malformed at byte {pos}")


def _decode_escaped(data: bytes, pos: int) -> tuple[bytes, int]:
    chunks: list[bytes] = []
    while True:
        zero = data.find(b"\x00", pos)
        if zero < 0 or zero + 1 >= len(data):
            raise _malformed(pos)
        chunks.append(data[pos:zero])
        marker = data[zero + 1]
        if marker == 0x01:
            return b"\x00".join(chunks), zero + 2
        if marker != 0xFF:
            raise _malformed(zero + 1)
        pos = zero + 2


def _decode_fixed(data: bytes, pos: int) -> int:
    if pos + 8 > len(data):
        raise _malformed(pos)
    word: int = _U64.unpack_from(data, pos)[0]
    return word


def _decode(data: bytes, pos: int) -> tuple[Any, int]:
    tag = data[pos]
    pos += 1
    if tag == TAG_MISSING:
        return MISSING, pos
    if tag == TAG_NULL:
        return None, pos
    if tag in (TAG_TRUE, TAG_FALSE):
        return tag == TAG_TRUE, pos
    if tag == TAG_INT64:
        return Int64(_decode_fixed(data, pos) - _SIGN_BIT), pos + 8
    if tag == TAG_FLOAT64:
        bits = _decode_fixed(data, pos)
        bits = bits ^ _SIGN_BIT if bits & _SIGN_BIT else bits ^ _ALL_BITS
        return _F64.unpack(_U64.pack(bits))[0], pos + 8
    if tag == TAG_STRING:
        raw, pos = _decode_escaped(data, pos)
        try:
            return raw.decode("utf-8"), pos
        except UnicodeDecodeError:
            raise _malformed(pos) from None
    if tag == TAG_BYTES:
        return _decode_escaped(data, pos)
    if tag == TAG_ARRAY:
        items: list[Any] = []
        while _peek(data, pos) != END:
            item, pos = _decode(data, pos)
            items.append(item)
        return items, pos + 1
    if tag == TAG_OBJECT:
        fields: dict[str, Any] = {}
        while _peek(data, pos) != END:
            key, pos = _decode(data, pos)
            if not isinstance(key, str):
                raise _malformed(pos)
            fields[key], pos = _decode(data, pos)
        return fields, pos + 1
    raise _malformed(pos - 1)


def _peek(data: bytes, pos: int) -> int:
    if pos >= len(data):
        raise _malformed(pos)
    return data[pos]


def key_after(key: bytes) -> bytes:
    """The smallest key strictly greater than `key` (for exclusive lower bounds)."""
    return key + b"\x00"


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix`; None if unbounded."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])
