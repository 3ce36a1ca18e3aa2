"""Password sign-up and sign-in for apps: see `PasswordAuth` and docs/guide/auth.md."""

from reactor.runtime.auth.password import (
    CREDENTIALS,
    MAX_EMAIL_CHARS,
    PENDING,
    AuthMail,
    Limit,
    Limits,
    PasswordAuth,
    UserStore,
    bounded,
    credential_for,
    delete_credentials,
    normalize_email,
    password_tables,
    prune_pending,
)
from reactor.runtime.auth.password_hash import (
    OWASP_SCRYPT,
    ScryptParams,
    Verdict,
    hash_password,
    hash_password_async,
    verify_password,
    verify_password_async,
)
from reactor.runtime.client import client_address

__all__ = [
    "CREDENTIALS",
    "MAX_EMAIL_CHARS",
    "OWASP_SCRYPT",
    "PENDING",
    "AuthMail",
    "Limit",
    "Limits",
    "PasswordAuth",
    "ScryptParams",
    "UserStore",
    "Verdict",
    "bounded",
    "client_address",
    "credential_for",
    "delete_credentials",
    "hash_password",
    "hash_password_async",
    "normalize_email",
    "password_tables",
    "prune_pending",
    "verify_password",
    "verify_password_async",
]
