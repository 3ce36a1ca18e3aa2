"""Password hashes: scrypt with a random salt, in a self-describing string.

Hashing is deliberately slow CPU work: call these from an action through
`asyncio.to_thread`, never from a query or mutation (they have a 1 s budget).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from typing import Final

SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
KEY_BYTES: Final = 32
_PREFIX: Final = "scrypt"


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$<salt>$<key>` (base64) for a fresh random salt."""
    salt = os.urandom(SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    encoded = [base64.b64encode(part).decode("ascii") for part in (salt, key)]
    return "$".join([_PREFIX, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), *encoded])


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash made by `hash_password` (constant-time compare)."""
    prefix, n, r, p, salt, key = stored.split("$")
    if prefix != _PREFIX:
        return False
    candidate = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(key))


@functools.cache
def decoy_hash() -> str:
    """A hash to check against when the email is unknown: a miss costs as much as a hit."""
    return hash_password("decoy password for unknown emails")
