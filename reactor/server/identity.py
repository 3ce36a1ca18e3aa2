"""Who a request acts for: a verified user, an admin, or nobody."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from reactor.runtime.auth import AdminKey, AuthenticationError, TokenVerifier
from reactor.server import protocol as p


@dataclass(frozen=True, slots=True)
class Caller:
    """`identity` is what `ctx.auth.get_user_identity()` returns; admins may call internals."""

    identity: dict[str, Any] | None = None
    admin: bool = False


class Authenticator:
    """Turns tokens (WebSocket `Authenticate`, HTTP `Authorization`) into a `Caller`."""

    def __init__(self, verifier: TokenVerifier, admin_key: AdminKey) -> None:
        self.verifier = verifier
        self.admin_key = admin_key

    async def from_message(self, message: p.Authenticate) -> Caller:
        if message.tokenType == "None":
            return Caller()
        if message.tokenType == "Admin":
            return self._admin(message.value, message.impersonating)
        return Caller(await self.verifier.verify(message.value or ""))

    async def from_header(self, header: str | None) -> Caller:
        """`Bearer <jwt>` for a user, `Convex <key>` for an admin, nothing for anonymous."""
        if not header:
            return Caller()
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return Caller(await self.verifier.verify(value))
        if scheme.lower() == "convex":
            key, _, acting_as = value.partition(":")
            return self._admin(key, _decode_acting_as(acting_as) if acting_as else None)
        raise AuthenticationError(f"unsupported Authorization scheme {scheme!r}:"
                                  " expected `Bearer <token>` or `Convex <admin key>`")

    def _admin(self, key: str | None, impersonating: dict[str, Any] | None) -> Caller:
        if not self.admin_key.check(key):
            raise AuthenticationError("the admin key is not valid for this deployment")
        identity = None
        if impersonating:
            subject = str(impersonating.get("subject", ""))
            issuer = str(impersonating.get("issuer", "admin"))
            identity = {**impersonating, "subject": subject, "issuer": issuer,
                        "tokenIdentifier": f"{issuer}|{subject}"}
        return Caller(identity, admin=True)


def _decode_acting_as(encoded: str) -> dict[str, Any]:
    """The identity an admin acts as over HTTP: base64 of its JSON."""
    try:
        identity = json.loads(base64.b64decode(encoded))
    except (binascii.Error, ValueError):
        raise AuthenticationError("malformed acting-as identity after the admin key") from None
    if not isinstance(identity, dict):
        raise AuthenticationError("the acting-as identity must be a JSON object")
    return identity
