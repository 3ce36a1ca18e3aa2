"""Password sign-up and sign-in for apps: see `PasswordAuth` and docs/guide/auth.md."""

from reactor.runtime.auth.password import (
    MAX_EMAIL_CHARS,
    AuthMail,
    Limit,
    Limits,
    PasswordAuth,
    UserStore,
    bounded,
    normalize_email,
)
from reactor.runtime.auth.password_data import (
    CREDENTIALS,
    PENDING,
    SESSIONS,
    credential_for,
    delete_credentials,
    password_tables,
    prune_pending,
    session_user,
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
    "SESSIONS",
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
    "session_user",
    "verify_password",
    "verify_password_async",
]
