"""Upload tokens and signed file URLs: HMACs with a key kept in the data directory.

An upload token carries its expiry, a nonce (recorded when used, so it works
once) and a tag of the identity that asked for it (for per-identity upload
rates); a signed URL carries its expiry. Both are checked without a database
read; only a token's use is stored (`_upload_tokens`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactor.errors import ReactorError
from reactor.runtime.auth.secret_files import auth_dir, read_or_create

KEY_FILE = "storage.key"
_VERSION = 1
_PAYLOAD = struct.Struct(">BQ12s8s")
_MAC_BYTES = 16


class UploadTokenError(ReactorError):
    """A token that cannot be used: malformed or forged, expired, or used already."""

    code = "InvalidUploadToken"


class FileUrlError(ReactorError):
    """A file URL whose signature is missing, wrong or expired."""

    code = "InvalidFileUrl"


@dataclass(frozen=True, slots=True)
class UploadToken:
    expires_ms: int
    nonce: str
    # Who asked for the URL (a short hash), or "" for an anonymous caller.
    identity_tag: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def identity_tag(identity: dict[str, Any] | None) -> bytes:
    """8 bytes naming the caller (its tokenIdentifier), zeros when anonymous."""
    if not identity:
        return bytes(8)
    name = str(identity.get("tokenIdentifier") or identity.get("subject") or "")
    return hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()


class FileSigner:
    """Mints and checks upload tokens and URL signatures with one secret key."""

    def __init__(self, key: bytes) -> None:
        self._upload_key = hmac.new(key, b"reactor upload token", hashlib.sha256).digest()
        self._url_key = hmac.new(key, b"reactor file url", hashlib.sha256).digest()

    @classmethod
    def load_or_create(cls, data_dir: Path) -> FileSigner:
        """The key in `<data_dir>/auth/storage.key`, made on first use."""
        return cls(read_or_create(auth_dir(data_dir) / KEY_FILE, lambda: os.urandom(32)))

    def upload_token(self, expires_ms: float, identity: dict[str, Any] | None) -> str:
        payload = _PAYLOAD.pack(_VERSION, int(expires_ms), os.urandom(12), identity_tag(identity))
        mac = hmac.new(self._upload_key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return _b64(payload + mac)

    def check_upload_token(self, token: str | None, now_ms: float) -> UploadToken:
        """The token's content; raises `UploadTokenError` for a bad or expired token."""
        if not token:
            raise UploadTokenError("upload URL has no token: use the URL returned by"
                                   " ctx.storage.generate_upload_url() unchanged")
        try:
            raw = _unb64(token)
        except (binascii.Error, ValueError):
            raw = b""
        payload, mac = raw[:_PAYLOAD.size], raw[_PAYLOAD.size:]
        expected = hmac.new(self._upload_key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if len(raw) != _PAYLOAD.size + _MAC_BYTES or not hmac.compare_digest(mac, expected):
            raise UploadTokenError("upload token is not valid (altered, truncated, or from"
                                   " another deployment)")
        version, expires_ms, nonce, tag = _PAYLOAD.unpack(payload)
        if version != _VERSION:
            raise UploadTokenError(f"upload token version {version} is not supported")
        if now_ms >= expires_ms:
            raise UploadTokenError("upload token expired: ask for a new upload URL",
                                   code="UploadTokenExpired")
        return UploadToken(expires_ms, nonce.hex(), tag.hex() if any(tag) else "")

    def url_signature(self, storage_id: str, expires_ms: int) -> str:
        message = f"{storage_id}:{expires_ms}".encode()
        return _b64(hmac.new(self._url_key, message, hashlib.sha256).digest()[:_MAC_BYTES])

    def check_url(self, storage_id: str, expires: str | None, signature: str | None,
                  now_ms: float) -> None:
        """Raises `FileUrlError` unless the signature fits and has not expired."""
        if expires is None or signature is None:
            raise FileUrlError("file URL is not signed: this deployment requires signed URLs"
                               " (ctx.storage.get_url(id, expires_in=...))",
                               code="SignedUrlRequired")
        if not expires.isdigit():
            raise FileUrlError(f"file URL: expires={expires!r} is not a time in ms")
        expected = self.url_signature(storage_id, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise FileUrlError("file URL signature does not match (altered URL?)")
        if now_ms >= int(expires):
            raise FileUrlError("file URL expired: ask for a new one", code="FileUrlExpired")
