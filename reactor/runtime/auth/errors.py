"""Errors of the auth package: a refused token, and a broken auth configuration."""

from __future__ import annotations

from reactor.errors import ReactorError


class AuthenticationError(ReactorError):
    """A token was refused; the message says why, for the client's AuthError."""

    code = "AuthError"


class AuthConfigError(ReactorError):
    """`auth_config.py`, a provider's key material or the issuer's key file is unusable."""

    code = "AuthConfig"
