"""Building the identity a function sees from a verified token's claims."""

from __future__ import annotations

from typing import Any

# OpenID Connect standard claims, renamed the way the official client's
# `UserIdentity` names them.
_STANDARD_CLAIMS = {
    "name": "name",
    "given_name": "givenName",
    "family_name": "familyName",
    "nickname": "nickname",
    "preferred_username": "preferredUsername",
    "profile": "profileUrl",
    "picture": "pictureUrl",
    "email": "email",
    "email_verified": "emailVerified",
    "gender": "gender",
    "birthdate": "birthday",
    "zoneinfo": "timezone",
    "locale": "language",
    "phone_number": "phoneNumber",
    "phone_number_verified": "phoneNumberVerified",
    "address": "address",
    "updated_at": "updatedAt",
}

# Registered JWT claims describe the token itself, not the user.
_TOKEN_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
_CORE_FIELDS = frozenset({"subject", "issuer", "tokenIdentifier"})


def identity_from_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The identity dict for verified claims: subject, issuer, tokenIdentifier, the rest."""
    issuer = str(claims["iss"])
    subject = str(claims["sub"])
    identity: dict[str, Any] = {
        "subject": subject,
        "issuer": issuer,
        "tokenIdentifier": f"{issuer}|{subject}",
    }
    for claim, value in claims.items():
        if claim in _TOKEN_CLAIMS or value is None:
            continue
        name = _STANDARD_CLAIMS.get(claim, claim)
        if name in _CORE_FIELDS:
            continue  # a custom claim must not pass itself off as another user
        if name == "updatedAt" and isinstance(value, int | float) and not isinstance(value, bool):
            # The client types updatedAt as a string; OIDC sends epoch seconds.
            value = str(int(value))
        identity[name] = value
    return identity
