"""Verification keys: HS256 secrets, PEM public keys and JWKS documents, filtered by algorithm."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from reactor.runtime.auth.errors import AuthConfigError

MIN_HS256_SECRET_BYTES = 32
MIN_RSA_BITS = 2048

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class Algorithm(StrEnum):
    """The signature algorithms a provider can pin."""

    HS256 = "HS256"
    RS256 = "RS256"
    ES256 = "ES256"


@dataclass(frozen=True)
class SecretEnv:
    """An HS256 shared secret, read from this environment variable."""

    name: str


@dataclass(frozen=True)
class PublicKeyPem:
    """One public key in PEM form."""

    pem: str


@dataclass(frozen=True)
class JwksFile:
    """A JWKS document on disk; a relative path is relative to the app directory."""

    path: str


@dataclass(frozen=True)
class JwksUrl:
    """A JWKS document fetched over HTTP(S), cached, refetched on an unknown `kid`."""

    url: str


KeySpec = SecretEnv | PublicKeyPem | JwksFile | JwksUrl


@dataclass(frozen=True)
class VerifyKey:
    """One key a token may be checked with; `kid=None` matches any `kid`."""

    kid: str | None
    key: bytes | PublicKey


def _check_public_key(key: object, algorithm: str, what: str) -> PublicKey:
    """Refuse a key that cannot serve `algorithm`: each provider pins one key type."""
    if algorithm == "RS256":
        if not isinstance(key, rsa.RSAPublicKey):
            raise AuthConfigError(f"{what}: RS256 needs an RSA public key, got {_kind(key)}")
        if key.key_size < MIN_RSA_BITS:
            raise AuthConfigError(
                f"{what}: RSA key is {key.key_size} bits; at least {MIN_RSA_BITS} are required"
            )
        return key
    if algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise AuthConfigError(f"{what}: ES256 needs a P-256 public key, got {_kind(key)}")
        return key
    raise AuthConfigError(f"{what}: {algorithm} does not use a public key")


def _kind(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC key on {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return "an RSA key"
    return type(key).__name__


def public_key_from_pem(pem: str, algorithm: str) -> PublicKey:
    """Parse a PEM public key and check it fits `algorithm`."""
    try:
        key = load_pem_public_key(pem.encode("utf-8"))
    except ValueError as e:
        raise AuthConfigError(f"public_key_pem is not a PEM public key: {e}") from None
    return _check_public_key(key, algorithm, "public_key_pem")


def _jwk_matches(jwk: dict[str, Any], algorithm: str) -> bool:
    """Whether a JWK is meant for signatures with exactly `algorithm`."""
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", algorithm) != algorithm:
        return False
    if algorithm == "RS256":
        return jwk.get("kty") == "RSA"
    return jwk.get("kty") == "EC" and jwk.get("crv") == "P-256"


def keys_from_jwks(jwks: object, algorithm: str, source: str) -> tuple[VerifyKey, ...]:
    """The `algorithm` keys of a JWKS document; keys of other types are skipped."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise AuthConfigError(f'{source}: expected a JWKS object {{"keys": [...]}}')
    found: list[VerifyKey] = []
    for index, jwk in enumerate(jwks["keys"]):
        if not isinstance(jwk, dict) or not _jwk_matches(jwk, algorithm):
            continue
        parser = RSAAlgorithm if algorithm == "RS256" else ECAlgorithm
        try:
            key: Any = parser.from_jwk(jwk)
        except Exception as e:
            raise AuthConfigError(f"{source}: keys[{index}] is not a valid JWK: {e}") from None
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            key = key.public_key()  # a JWKS that leaked private parts still verifies
        kid = jwk.get("kid")
        found.append(
            VerifyKey(
                kid if isinstance(kid, str) else None,
                _check_public_key(key, algorithm, f"{source}: keys[{index}]"),
            )
        )
    if not found:
        raise AuthConfigError(f"{source}: holds no {algorithm} signing keys")
    return tuple(found)


def _hs256_secret(name: str) -> bytes:
    value = os.environ.get(name)
    if value is None:
        raise AuthConfigError(f"environment variable {name} (the HS256 secret) is not set")
    secret = value.encode("utf-8")
    if len(secret) < MIN_HS256_SECRET_BYTES:
        raise AuthConfigError(
            f"the HS256 secret in {name} is {len(secret)} bytes; "
            f"at least {MIN_HS256_SECRET_BYTES} are required"
        )
    return secret


def _jwks_file(path: Path, algorithm: str) -> tuple[VerifyKey, ...]:
    try:
        document = json.loads(path.read_text("utf-8"))
    except OSError as e:
        raise AuthConfigError(f"jwks_file {path}: cannot be read: {e.strerror}") from None
    except ValueError as e:
        raise AuthConfigError(f"jwks_file {path}: not JSON: {e}") from None
    return keys_from_jwks(document, algorithm, f"jwks_file {path}")


def resolve_static_keys(
    spec: KeySpec, algorithm: Algorithm, base_dir: Path
) -> tuple[VerifyKey, ...]:
    """Load the keys a spec names without the network; a JWKS URL yields none here."""
    if (algorithm == Algorithm.HS256) != isinstance(spec, SecretEnv):
        raise AuthConfigError(f"{algorithm} cannot be used with {type(spec).__name__}")
    match spec:
        case SecretEnv(name):
            return (VerifyKey(None, _hs256_secret(name)),)
        case PublicKeyPem(pem):
            return (VerifyKey(None, public_key_from_pem(pem, algorithm)),)
        case JwksFile(path):
            return _jwks_file(base_dir / path, algorithm)
        case JwksUrl():
            return ()
