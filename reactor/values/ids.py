"""Document ids: base32 strings that carry their table's hash and a checksum.

A new id's 16 "random" bytes begin with the time it was made (milliseconds since the
Unix epoch, 6 bytes, big-endian) and end with 10 random bytes (80 bits: as hard to
guess as any id needs to be). The spelling keeps byte order, so a table's new ids sort
after its older ones, and storage keyed by id (the documents' primary key, the `by_id`
index) appends near its right edge: a batch of inserts dirties one or two B-tree leaves
there instead of a random leaf each, which SQLite writes to the WAL and the checkpoint
copies again. What the prefix tells, the document's `_creationTime` says already.
Nothing reads it back: an id is valid whatever its 16 bytes are, as ids made before
the prefix, and imported ones, are.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import time
from typing import Any, Final

ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
RANDOM_BYTES: Final = 16
# The time prefix of a new id's random part (see the module docstring).
TIME_BYTES: Final = 6
_TIME_MASK: Final = (1 << TIME_BYTES * 8) - 1
TABLE_HASH_BYTES: Final = 4
CHECKSUM_BYTES: Final = 2
_RAW_BYTES: Final = RANDOM_BYTES + TABLE_HASH_BYTES + CHECKSUM_BYTES
_RAW_BITS: Final = _RAW_BYTES * 8
ID_LENGTH: Final = -(-_RAW_BITS // 5)
_PAD_BITS: Final = ID_LENGTH * 5 - _RAW_BITS
_DIGITS: Final = {char: index for index, char in enumerate(ALPHABET)}


@functools.lru_cache(maxsize=4096)
def table_hash(table: str) -> bytes:
    """The 4 bytes that tie an id to its table name."""
    return hashlib.blake2b(table.encode("utf-8"), digest_size=TABLE_HASH_BYTES).digest()


def _checksum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=CHECKSUM_BYTES, person=b"reactor-id").digest()


# RFC 4648 base32 spells the same 5-bit groups (zero-padded at the end) in its own
# alphabet; translating its output is our encoding (new_ids encodes many ids at once so).
_FROM_RFC4648: Final = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())
# One id at a time, base64.b32encode's Python loop costs more than the rest of an id:
# the id read as one number, spelled two characters (10 bits) per table look-up.
_PAIRS: Final = tuple(first + second for first in ALPHABET for second in ALPHABET)
_PAIR_SHIFTS: Final = tuple(range(ID_LENGTH * 5 - 10, -1, -10))


def _encode(raw: bytes) -> str:
    number = int.from_bytes(raw, "big") << _PAD_BITS
    return "".join([_PAIRS[(number >> shift) & 0x3FF] for shift in _PAIR_SHIFTS])


def _time_prefix() -> bytes:
    return (time.time_ns() // 1_000_000 & _TIME_MASK).to_bytes(TIME_BYTES, "big")


def new_id(table: str) -> str:
    """A fresh id for a document of `table`: the time, then random bytes."""
    body = _time_prefix() + os.urandom(RANDOM_BYTES - TIME_BYTES) + table_hash(table)
    return _encode(body + _checksum(body))


def new_ids(table: str, count: int) -> list[str]:
    """`count` fresh ids for `table`, from one read of the random source (a bulk import
    makes ids by the thousand; a system call each costs more than the rest of an id)."""
    tail = RANDOM_BYTES - TIME_BYTES
    random = os.urandom(tail * count)
    prefix, suffix = _time_prefix(), table_hash(table)
    # Each raw id padded with zero bytes to a whole number of 5-byte base32 groups
    # encodes to the same leading characters as alone, so one call encodes them all.
    padding = bytes(-_RAW_BYTES % 5)
    raws = []
    for start in range(0, tail * count, tail):
        body = prefix + random[start:start + tail] + suffix
        raws.append(body + _checksum(body) + padding)
    text = base64.b32encode(b"".join(raws)).translate(_FROM_RFC4648).decode("ascii")
    width = (_RAW_BYTES + len(padding)) // 5 * 8
    return [text[start:start + ID_LENGTH] for start in range(0, len(text), width)]


def id_table_hash(value: Any) -> bytes | None:
    """The table hash inside an id, or None if `value` is not a well-formed id."""
    raw = _decode_raw(value)
    return None if raw is None else raw[RANDOM_BYTES:RANDOM_BYTES + TABLE_HASH_BYTES]


def _decode_raw(value: Any) -> bytes | None:
    """The checksummed bytes of a well-formed id, without the checksum; else None."""
    if not isinstance(value, str) or len(value) != ID_LENGTH:
        return None
    number = 0
    for char in value:
        digit = _DIGITS.get(char)
        if digit is None:
            return None
        number = (number << 5) | digit
    if number & ((1 << _PAD_BITS) - 1):
        return None
    raw = (number >> _PAD_BITS).to_bytes(_RAW_BYTES, "big")
    body, checksum = raw[:-CHECKSUM_BYTES], raw[-CHECKSUM_BYTES:]
    if _checksum(body) != checksum:
        return None
    return body


def id_parts(value: Any) -> tuple[bytes, bytes] | None:
    """(random bytes, table hash) of a well-formed id, from one decoding; else None."""
    raw = _decode_raw(value)
    if raw is None:
        return None
    return raw[:RANDOM_BYTES], raw[RANDOM_BYTES:RANDOM_BYTES + TABLE_HASH_BYTES]


def id_random_bytes(value: Any) -> bytes | None:
    """The 16 random bytes of a well-formed id, or None: what stays the same when an id
    is written in another system's form (the table is carried separately there)."""
    raw = _decode_raw(value)
    return None if raw is None else raw[:RANDOM_BYTES]


def id_from_random_bytes(table: str, random: bytes) -> str:
    """The id of `table` whose random part is `random` (the inverse of id_random_bytes)."""
    if len(random) != RANDOM_BYTES:
        raise ValueError(f"id_from_random_bytes: expected {RANDOM_BYTES} bytes, got"
                         f" {len(random)}")
    body = random + table_hash(table)
    return _encode(body + _checksum(body))


def is_id_for(table: str, value: Any) -> bool:
    """Whether `value` is a well-formed id of a document in `table`."""
    return id_table_hash(value) == table_hash(table)
