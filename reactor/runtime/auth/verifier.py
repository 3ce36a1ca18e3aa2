"""Checking a user's JWT against the trusted providers and turning it into an identity."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from reactor.runtime.auth.errors import AuthConfigError, AuthenticationError
from reactor.runtime.auth.identity import identity_from_claims
from reactor.runtime.auth.issuer import BuiltinIssuer
from reactor.runtime.auth.jwks import RemoteJwks
from reactor.runtime.auth.keys import Algorithm, JwksUrl, VerifyKey
from reactor.runtime.auth.providers import AuthConfig

LEEWAY_SECONDS = 5.0
MAX_TOKEN_BYTES = 16 * 1024
_REQUIRED_CLAIMS = ["iss", "sub", "exp"]


@dataclass(frozen=True)
class _Trusted:
    """One issuer's pinned algorithm, accepted audiences and where its keys come from."""

    issuer: str
    algorithm: Algorithm
    audience: tuple[str, ...] | None
    static_keys: tuple[VerifyKey, ...]
    remote: RemoteJwks | None
    # Why the provider's keys could not be loaded (its tokens are refused), or "".
    broken: str = ""

    async def keys(self, kid: str | None) -> tuple[VerifyKey, ...]:
        return await self.remote.keys(kid) if self.remote is not None else self.static_keys


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _invalid(message: str) -> AuthenticationError:
    """A token that cannot be accepted as it is (Convex's code for it)."""
    return AuthenticationError(message, code="InvalidAuthHeader")


def _malformed(reason: object) -> AuthenticationError:
    return _invalid(f"malformed token: {reason}")


class TokenVerifier:
    """Verifies tokens from the configured providers and from the built-in issuer.

    `iss` is read unverified only to choose the provider; the token is then
    verified with that provider's pinned algorithm and keys, so a token can never
    pick its own algorithm (no `alg: none`, no HS256 signed with a public key).
    """

    def __init__(
        self,
        config: AuthConfig,
        builtin_issuer: BuiltinIssuer | None = None,
        *,
        leeway: float = LEEWAY_SECONDS,
        jwks_ttl: float = 600.0,
        jwks_min_refetch_interval: float = 5.0,
    ) -> None:
        self.leeway = leeway
        self._trusted: dict[str, _Trusted] = {}
        for provider in config.providers:
            remote = None
            if isinstance(provider.key, JwksUrl):
                remote = RemoteJwks(
                    provider.key.url,
                    provider.algorithm,
                    ttl=jwks_ttl,
                    min_refetch_interval=jwks_min_refetch_interval,
                )
            self._trusted[provider.issuer] = _Trusted(
                provider.issuer,
                provider.algorithm,
                provider.audience,
                config.static_keys.get(provider.issuer, ()),
                remote,
                config.broken.get(provider.issuer, ""),
            )
        if builtin_issuer is not None:
            issuer = builtin_issuer.issuer_url
            if issuer in self._trusted:
                raise AuthConfigError(
                    f"issuer {issuer!r} is the built-in issuer and cannot also be configured"
                )
            self._trusted[issuer] = _Trusted(
                issuer,
                builtin_issuer.algorithm,
                (builtin_issuer.audience,),
                (VerifyKey(builtin_issuer.kid, builtin_issuer.public_key),),
                None,
            )

    @property
    def trusted_issuers(self) -> list[str]:
        return sorted(self._trusted)

    async def verify(self, token: str) -> dict[str, Any]:
        """The identity a valid token carries, or `AuthenticationError` saying why not."""
        if not isinstance(token, str) or not token:
            raise _malformed("expected a non-empty JWT string")
        if len(token) > MAX_TOKEN_BYTES:
            raise _malformed(f"{len(token)} bytes is more than the {MAX_TOKEN_BYTES} allowed")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as e:
            raise _malformed(e) from None
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise _malformed("the header has no `alg`")
        if alg.lower() == "none":
            raise _invalid("unsigned tokens (alg: none) are refused")
        kid: str | None = header.get("kid")  # get_unverified_header checked it is a string
        issuer = unverified.get("iss")
        if not isinstance(issuer, str):
            raise _malformed("the token has no `iss` claim")
        trusted = self._trusted.get(issuer)
        if trusted is None:
            raise self._no_provider(f"issuer {issuer!r}")
        if alg != trusted.algorithm:
            raise _invalid(
                f"algorithm {alg} is not allowed for issuer {issuer!r}, "
                f"which signs with {trusted.algorithm} only"
            )
        claims = await self._check(token, kid, trusted, unverified)
        return identity_from_claims(claims)

    async def _check(
        self, token: str, kid: str | None, trusted: _Trusted, unverified: dict[str, Any]
    ) -> dict[str, Any]:
        """Verify signature and claims with each candidate key until one signature holds."""
        if trusted.broken:
            raise _invalid(f"the keys of issuer {trusted.issuer!r} could not be loaded:"
                           f" {trusted.broken}")
        keys = await trusted.keys(kid)
        if kid is None and len({k.kid for k in keys}) > 1:
            raise _invalid(f"the token has no `kid` header, and issuer {trusted.issuer!r} has"
                           f" {len(keys)} keys: the token must name the one that signed it")
        candidates = [k for k in keys if kid is None or k.kid in (None, kid)]
        if not candidates:
            known = ", ".join(sorted(repr(k.kid) for k in keys))
            raise _invalid(
                f"no key with kid {kid!r} for issuer {trusted.issuer!r} (known: {known})"
            )
        for candidate in candidates:
            try:
                return jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[trusted.algorithm],
                    audience=trusted.audience,
                    issuer=trusted.issuer,
                    leeway=self.leeway,
                    options={
                        "require": _REQUIRED_CLAIMS,
                        "verify_aud": trusted.audience is not None,
                    },
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as e:
                raise self._explain(e, trusted, unverified) from None
        raise _invalid(
            f"bad signature: the token was not signed by a key of issuer {trusted.issuer!r}"
        )

    def _no_provider(self, what: str) -> AuthenticationError:
        """No configured provider takes this token: Convex's code, and the providers."""
        listed = "; ".join(
            f"issuer {t.issuer!r} (application ID "
            f"{', '.join(repr(a) for a in t.audience) if t.audience else 'any'})"
            for t in sorted(self._trusted.values(), key=lambda t: t.issuer))
        return AuthenticationError(f"no auth provider matches the token's {what}; the"
                                   f" configured providers: {listed or 'none'}",
                                   code="NoAuthProvider")

    def _explain(
        self, error: jwt.PyJWTError, trusted: _Trusted, claims: dict[str, Any]
    ) -> AuthenticationError:
        """Turn PyJWT's refusal into a message saying what was expected and what came."""
        now = time.time()
        match error:
            case jwt.ExpiredSignatureError():
                ago = _duration(now - float(claims["exp"]))
                return _invalid(f"token expired {ago} ago")
            case jwt.ImmatureSignatureError():
                future = [
                    name
                    for name in ("nbf", "iat")
                    if isinstance(claims.get(name), int | float) and claims[name] > now
                ]
                claim = future[0] if future else "nbf"
                wait = _duration(float(claims.get(claim, now)) - now)
                return _invalid(f"token is not valid yet: `{claim}` is {wait} away")
            case jwt.MissingRequiredClaimError():
                wanted = list(trusted.audience or ())
                expected = f"; expected one of {wanted}" if error.claim == "aud" else ""
                return _invalid(f"token has no `{error.claim}` claim{expected}")
            case jwt.InvalidAudienceError():
                return self._no_provider(f"issuer {trusted.issuer!r} with audience"
                                         f" {claims.get('aud')!r}")
            case jwt.InvalidAlgorithmError() | jwt.InvalidKeyError():
                return _invalid(
                    f"algorithm not allowed for issuer {trusted.issuer!r}: {error}"
                )
            case _:
                return _invalid(f"invalid token: {error}")
