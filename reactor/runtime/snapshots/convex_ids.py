"""Convex document ids, so an export's `_id`s are ones `npx convex import` decodes.

A Convex id is the base32 text (alphabet `0123456789abcdefghjkmnpqrstvwxyz`, 5-bit
groups most significant first, no padding) of: the table number as a varint (7 bits
a byte, low bits first, high bit set on all but the last byte; never 0), 16 bytes of
internal id, and a 2-byte footer, the Fletcher-16 (modulo 256) sum of what precedes
it, little-endian. The table numbers are the ones the snapshot's
`_tables/documents.jsonl` gives each table.

A Reactor id is 16 random bytes, the table's hash and a checksum; its Convex form
keeps the 16 random bytes as the internal id, so Reactor's importer turns it back
into the very same Reactor id (from the table number and `_tables`), and nothing has
to be remembered per document.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, Final

from reactor.values.ids import ALPHABET

INTERNAL_ID_BYTES: Final = 16
_TO_RFC4648: Final = bytes.maketrans(ALPHABET.encode(), b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_FROM_RFC4648: Final = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())


def _varint(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def fletcher16(data: bytes) -> int:
    """Fletcher-16 with modulus 256, as Convex's id footer uses it."""
    low = high = 0
    for byte in data:
        low = (low + byte) & 0xFF
        high = (high + low) & 0xFF
    return (high << 8) | low


def _base32(raw: bytes) -> str:
    length = (len(raw) * 8 + 4) // 5
    return base64.b32encode(raw).translate(_FROM_RFC4648).decode("ascii")[:length]


def encode_convex_id(table_number: int, internal_id: bytes) -> str:
    """The Convex id of document `internal_id` in the table numbered `table_number`."""
    if not 0 < table_number < 2 ** 32:
        raise ValueError(f"encode_convex_id: table number must be in 1..2**32-1, got"
                         f" {table_number}")
    if len(internal_id) != INTERNAL_ID_BYTES:
        raise ValueError(f"encode_convex_id: internal id must be {INTERNAL_ID_BYTES} bytes,"
                         f" got {len(internal_id)}")
    body = _varint(table_number) + internal_id
    return _base32(body + fletcher16(body).to_bytes(2, "little"))


def decode_convex_id(text: str) -> tuple[int, bytes] | None:
    """(table number, internal id) of a well-formed Convex id; None for anything else."""
    if not 31 <= len(text) <= 37 or not all(char in ALPHABET for char in text):
        return None
    padded = text.encode("ascii").translate(_TO_RFC4648)
    try:
        raw = base64.b32decode(padded + b"=" * (-len(padded) % 8))
    except binascii.Error:
        return None
    number = shift = position = 0
    while True:
        if position >= 5 or position >= len(raw):
            return None
        byte = raw[position]
        number |= (byte & 0x7F) << shift
        shift += 7
        position += 1
        if byte < 0x80:
            break
    end = position + INTERNAL_ID_BYTES
    if number == 0 or len(raw) != end + 2:
        return None
    if int.from_bytes(raw[end:], "little") != fletcher16(raw[:end]):
        return None
    internal = raw[position:end]
    # One spelling per id: trailing bits past the last byte must be zero.
    if encode_convex_id(number, internal) != text:
        return None
    return number, internal


def rewrite_strings(value: Any, convert: Callable[[str], str]) -> Any:
    """`value` with every string in it (list items and object values, at any depth;
    not object keys) passed through `convert`: how ids are rewritten in a document."""
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, list):
        return [rewrite_strings(item, convert) for item in value]
    if isinstance(value, dict):
        return {key: rewrite_strings(item, convert) for key, item in value.items()}
    return value
