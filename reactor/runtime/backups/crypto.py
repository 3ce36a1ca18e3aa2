"""Passphrase encryption of a backup as a stream: scrypt for the key, AES-GCM per chunk.

The file is a header (magic, salt, scrypt cost) then chunks of at most `CHUNK`
plaintext bytes, each sealed with AES-GCM under a nonce made from its position.
The header, the position and a last-chunk flag are authenticated with each
chunk, so a chunk cannot be moved, dropped or appended, and a file cut short
(no sealed last chunk) is an error rather than a shorter backup.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from reactor.errors import ReactorError

MAGIC = b"RXBKENC1"
SALT_BYTES = 16
# scrypt cost 2**15, r=8: about 32 MiB and a few tenths of a second per key.
LOG2_N = 15
CHUNK = 1024 * 1024
_HEADER = struct.Struct(">8s16sB")
_FRAME = struct.Struct(">IB")
TAG_BYTES = 16


class BackupDecryptError(ReactorError):
    code = "BackupDecryptFailed"


def _key(passphrase: str, salt: bytes, log2_n: int) -> bytes:
    if not passphrase:
        raise ReactorError("backup passphrase: expected a non-empty passphrase",
                           code="BackupPassphraseMissing")
    kdf = Scrypt(salt=salt, length=32, n=2 ** log2_n, r=8, p=1)
    return kdf.derive(passphrase.encode("utf-8"))


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def is_encrypted(head: bytes) -> bool:
    """Whether a file starting with `head` is an encrypted backup."""
    return head.startswith(MAGIC)


class EncryptingWriter:
    """A write-only file object: what is written goes to `raw` sealed, chunk by chunk."""

    def __init__(self, raw: BinaryIO, passphrase: str) -> None:
        salt = os.urandom(SALT_BYTES)
        self._header = _HEADER.pack(MAGIC, salt, LOG2_N)
        self._aead = AESGCM(_key(passphrase, salt, LOG2_N))
        self._raw = raw
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        raw.write(self._header)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        frame = _FRAME.pack(len(chunk), int(last))
        aad = self._header + self._index.to_bytes(8, "big") + frame
        self._raw.write(frame)
        self._raw.write(self._aead.encrypt(_nonce(self._index), chunk, aad))
        self._index += 1

    def close(self) -> None:
        """Seal what is left as the last chunk (the raw file stays open)."""
        if not self._closed:
            self._closed = True
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()

    def flush(self) -> None:
        self._raw.flush()


class DecryptingReader:
    """A read-only file object giving the plaintext of an encrypted backup."""

    def __init__(self, raw: BinaryIO, passphrase: str | None, name: str) -> None:
        self._name = name
        header = raw.read(_HEADER.size)
        if len(header) < _HEADER.size or not is_encrypted(header):
            raise BackupDecryptError(f"{name}: not an encrypted backup (bad header)")
        if not passphrase:
            raise ReactorError(f"{name} is encrypted: give its passphrase with"
                               " --passphrase-file FILE or REACTOR_BACKUP_PASSPHRASE",
                               code="BackupPassphraseMissing")
        _, salt, log2_n = _HEADER.unpack(header)
        self._header = header
        self._aead = AESGCM(_key(passphrase, salt, log2_n))
        self._raw = raw
        self._buffer = b""
        self._index = 0
        self._done = False

    def _next(self) -> None:
        frame = self._raw.read(_FRAME.size)
        if len(frame) < _FRAME.size:
            raise BackupDecryptError(f"{self._name}: the file is cut short (no final chunk)")
        size, last = _FRAME.unpack(frame)
        if size > CHUNK:
            raise BackupDecryptError(f"{self._name}: chunk {self._index} is malformed")
        sealed = self._raw.read(size + TAG_BYTES)
        aad = self._header + self._index.to_bytes(8, "big") + frame
        try:
            self._buffer = self._aead.decrypt(_nonce(self._index), sealed, aad)
        except InvalidTag:
            raise BackupDecryptError(
                f"{self._name}: chunk {self._index} does not decrypt: wrong passphrase,"
                " or the file was changed or damaged") from None
        self._index += 1
        if last:
            if self._raw.read(1):
                raise BackupDecryptError(f"{self._name}: data after the final chunk")
            self._done = True

    def read(self, size: int = -1) -> bytes:
        parts = []
        wanted = size
        while wanted != 0:
            if not self._buffer:
                if self._done:
                    break
                self._next()
                continue
            take = len(self._buffer) if wanted < 0 else min(wanted, len(self._buffer))
            parts.append(self._buffer[:take])
            self._buffer = self._buffer[take:]
            if wanted > 0:
                wanted -= take
        return b"".join(parts)
