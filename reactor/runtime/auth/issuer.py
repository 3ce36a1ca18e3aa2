"""The built-in token issuer: an ES256 key in the data directory that signs user tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from reactor.runtime.auth.errors import AuthConfigError
from reactor.runtime.auth.keys import Algorithm
from reactor.runtime.auth.secret_files import auth_dir, read_or_create

KEY_FILE = "issuer_key.pem"
AUDIENCE = "reactor"
DEFAULT_EXPIRES_IN = 30 * 24 * 3600.0
_RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "iat", "exp", "nbf"})


def _new_private_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint: a `kid` that follows from the key itself."""
    members = {name: public_jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class BuiltinIssuer:
    """Signs tokens for `issuer_url` with audience "reactor"; the verifier trusts it always."""

    algorithm = Algorithm.ES256
    audience = AUDIENCE

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, issuer_url: str) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise AuthConfigError(f"the issuer key must be on P-256, got {private_key.curve.name}")
        self.issuer_url = issuer_url
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self._public_jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.public_key, as_dict=True)
        self.kid = _thumbprint(self._public_jwk)

    @classmethod
    def load_or_create(cls, data_dir: str | Path, issuer_url: str = "reactor") -> BuiltinIssuer:
        """Use `<data_dir>/auth/issuer_key.pem`, generating it (mode 0600) on first start."""
        path = auth_dir(data_dir) / KEY_FILE
        pem = read_or_create(path, _new_private_key_pem)
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as e:
            raise AuthConfigError(
                f"{path}: not a usable private key ({e}); deleting it makes a new key "
                "and invalidates every token issued so far"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise AuthConfigError(f"{path}: expected an EC P-256 private key")
        return cls(key, issuer_url)

    def issue_token(
        self,
        subject: str,
        claims: dict[str, Any] | None = None,
        expires_in: float = DEFAULT_EXPIRES_IN,
    ) -> str:
        """A signed JWT for `subject`; `claims` adds profile or custom claims."""
        extra = dict(claims or {})
        reserved = sorted(_RESERVED_CLAIMS & extra.keys())
        if reserved:
            raise ValueError(f"claims {reserved} are set by the issuer and cannot be given")
        if not isinstance(subject, str) or not subject:
            raise ValueError(f"subject must be a non-empty string, got {subject!r}")
        now = int(time.time())
        payload = {
            **extra,
            "iss": self.issuer_url,
            "sub": subject,
            "aud": self.audience,
            "iat": now,
            "exp": now + int(expires_in),
        }
        return jwt.encode(
            payload, self._private_key, algorithm=self.algorithm, headers={"kid": self.kid}
        )

    def jwks(self) -> dict[str, Any]:
        """The public JWKS served at `/.well-known/jwks.json`."""
        return {"keys": [{**self._public_jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}]}
