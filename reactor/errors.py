"""Errors with stable codes: tests match the code, users read the message."""

from __future__ import annotations

import json
from typing import Any


class ReactorError(Exception):
    """Base of every error Reactor raises on purpose.

    `code` is a stable ScreamingCamel identifier (documented in docs/guide/errors.md);
    the message says what was expected, what came and where.
    """

    code: str = "InternalError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def public_message(self) -> str:
        """What a client may read: the message, unless it is for the server log only."""
        return self.message


class ValidationError(ReactorError):
    """A value did not match its validator; the message carries the path."""

    code = "ValidationError"


class InvalidValueError(ReactorError):
    """A value is not a Reactor value or breaks a size/shape limit."""

    code = "InvalidValue"


class SchemaError(ReactorError):
    """The schema itself is malformed, or a write violates it."""

    code = "SchemaError"


class LimitExceededError(ReactorError):
    """A per-transaction or per-request limit was crossed."""

    code = "LimitExceeded"


class ConflictError(ReactorError):
    """A mutation's reads were overwritten by a concurrent commit (after retries).

    `ts` is that commit's timestamp: a re-run must wait until it is visible.
    """

    code = "OptimisticConcurrency"

    def __init__(self, message: str, *, ts: int = 0) -> None:
        super().__init__(message)
        self.ts = ts


class NotFoundError(ReactorError):
    """A function, table, index or document that was named does not exist."""

    code = "NotFound"


class StorageError(ReactorError):
    """The storage layer failed (disk, lock, corruption).

    `message` is for the server log and may name files and quote SQLite; clients
    see only `public` (by default a sentence that names nothing of the server).
    """

    code = "StorageError"

    def __init__(self, message: str, *, code: str | None = None,
                 public: str | None = None) -> None:
        super().__init__(message, code=code)
        self.public = public

    @property
    def public_message(self) -> str:
        if self.public is not None:
            return self.public
        return (f"{self.code}: the server could not read or write its data"
                " (the details are in the server log)")


class AppError(Exception):
    """An application error carrying JSON data to the client (`errorData`).

    Raise it from a function: the client receives `message` as the error message
    and `data` as the error's `.data`.
    """

    def __init__(self, data: Any = None, message: str | None = None) -> None:
        if message is None:
            message = data if isinstance(data, str) else _describe(data)
        super().__init__(message)
        self.data = data


def _describe(data: Any) -> str:
    """The default message of an `AppError`: its data as JSON, or a generic phrase."""
    if data is None:
        return "Application error"
    try:
        return json.dumps(data, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return repr(data)
