"""Password hashes: scrypt with a random salt, in a self-describing string.

The cost follows OWASP's current guidance for scrypt (N=2^17, r=8, p=1): about
half a second of CPU and 128 MiB of memory per hash, on purpose. That is why
hashing runs in worker threads (`hash_password_async`, `verify_password_async`),
never on the event loop, and in a pool of its own with `MAX_CONCURRENT_HASHES`
threads: a burst of sign-ins queues there instead of taking every core and
gigabytes of memory, and without holding up the threads other work uses
(`asyncio.to_thread`).
A hash records its own parameters, so hashes made with older, cheaper ones still
verify and are reported as needing an upgrade.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

T = TypeVar("T")
SALT_BYTES: Final = 16
KEY_BYTES: Final = 32
PREFIX: Final = "scrypt"
MAX_CONCURRENT_HASHES: Final = 2
# Hashes claiming more than this are refused rather than computed (a stored value
# should never ask for gigabytes).
_MAX_N: Final = 2**20
_hashers = ThreadPoolExecutor(MAX_CONCURRENT_HASHES, thread_name_prefix="reactor-scrypt")


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt's cost parameters; the defaults are OWASP's recommendation."""

    n: int = 2**17
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        """The memory scrypt needs (128 * n * r bytes) plus headroom; OpenSSL's default
        limit of 32 MiB is below what N=2^17 takes."""
        return 128 * self.n * self.r * self.p + 16 * 1024 * 1024


OWASP_SCRYPT: Final = ScryptParams()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of checking a password: whether it matched, and whether its stored
    hash should be replaced by one with the current parameters."""

    ok: bool
    needs_upgrade: bool = False


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=params.n, r=params.r, p=params.p,
                          maxmem=params.maxmem, dklen=KEY_BYTES)


def hash_password(password: str, params: ScryptParams = OWASP_SCRYPT) -> str:
    """`scrypt$n$r$p$<salt>$<key>` (base64) for a fresh random salt. Blocks: CPU-bound."""
    salt = os.urandom(SALT_BYTES)
    key = _derive(password, salt, params)
    encoded = [base64.b64encode(part).decode("ascii") for part in (salt, key)]
    return "$".join([PREFIX, str(params.n), str(params.r), str(params.p), *encoded])


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != PREFIX:
        return None
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5],
                                                                               validate=True)
    except (ValueError, binascii.Error):
        return None
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16):
        return None
    return ScryptParams(n, r, p), salt, key


def verify_password(password: str, stored: str,
                    params: ScryptParams = OWASP_SCRYPT) -> Verdict:
    """Whether `password` matches `stored` (constant-time compare); a match made with
    weaker parameters than `params` needs an upgrade. Blocks: CPU-bound."""
    parsed = _parse(stored)
    if parsed is None:
        return Verdict(False)
    used, salt, key = parsed
    if not hmac.compare_digest(_derive(password, salt, used), key):
        return Verdict(False)
    weaker = (used.n, used.r, used.p) < (params.n, params.r, params.p)
    return Verdict(True, needs_upgrade=weaker or len(salt) < SALT_BYTES)


@functools.cache
def decoy_hash(params: ScryptParams = OWASP_SCRYPT) -> str:
    """A hash to check against when the email is unknown: a miss costs as much as a hit."""
    return hash_password("decoy password for unknown emails", params)


async def _in_pool(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hashers, fn, *args)


async def hash_password_async(password: str, params: ScryptParams = OWASP_SCRYPT) -> str:
    """`hash_password` in a hashing thread, so the event loop keeps serving."""
    return await _in_pool(hash_password, password, params)


async def verify_password_async(password: str, stored: str | None,
                                params: ScryptParams = OWASP_SCRYPT) -> Verdict:
    """`verify_password` in a hashing thread; `stored=None` checks the decoy (same cost,
    never a match) so that an unknown account answers as slowly as a known one."""
    if stored is None:
        await _in_pool(_check_decoy, password, params)
        return Verdict(False)
    return await _in_pool(verify_password, password, stored, params)


def _check_decoy(password: str, params: ScryptParams) -> None:
    verify_password(password, decoy_hash(params), params)
