"""The deployment's admin key: a random secret kept in the data directory."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from reactor.runtime.auth.errors import AuthConfigError
from reactor.runtime.auth.secret_files import auth_dir, read_or_create

ADMIN_KEY_FILE = "admin_key"
PREFIX = "reactor_admin_"


class AdminKey:
    """Holds the admin key and checks candidates against it in constant time."""

    def __init__(self, value: str) -> None:
        self.value = value

    @classmethod
    def load_or_create(cls, data_dir: str | Path) -> AdminKey:
        """Read `<data_dir>/auth/admin_key`, creating a fresh random key (mode 0600) once."""
        path = auth_dir(data_dir) / ADMIN_KEY_FILE
        raw = read_or_create(path, lambda: (PREFIX + secrets.token_urlsafe(32) + "\n").encode())
        value = raw.decode("utf-8", errors="replace").strip()
        if not value:
            raise AuthConfigError(f"{path}: the admin key file is empty; delete it for a new key")
        return cls(value)

    def check(self, candidate: str | None) -> bool:
        """Whether `candidate` is the admin key, without leaking how much of it matched."""
        if not isinstance(candidate, str):
            return False
        return hmac.compare_digest(candidate.encode("utf-8"), self.value.encode("utf-8"))

    def __repr__(self) -> str:
        return "AdminKey(<hidden>)"
