"""Errors with stable codes: tests match the code, users read the message."""

from __future__ import annotations

import json
from typing import Any, overload


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


_UNSET: Any = object()


class AppError(Exception):
    """An application error: a message for people and `data` for the client's code.

    `data` reaches the client as the error's `.data` (`errorData` on the wire),
    exactly the value given; it must be a Reactor value (a `datetime` in it is
    refused with an error naming where). Spellings::

        AppError("Task not found")                         # data is the message
        AppError("Task not found", data={"code": "NotFound"})
        AppError(message="Task not found", data={"code": "NotFound"})
        AppError({"code": "NotFound"})                     # message from the data
        AppError({"code": "NotFound"}, "Task not found")   # data first, as Convex writes it

    With two positional arguments the string one is the message; when both are
    strings the first is.
    """

    @overload
    def __init__(self, message: str, /, *, data: Any = ...) -> None: ...

    @overload
    def __init__(self, message: str, data: Any, /) -> None: ...

    @overload
    def __init__(self, *, message: str | None = ..., data: Any = ...) -> None: ...

    @overload
    def __init__(self, data: Any, message: str | None = ..., /) -> None: ...

    def __init__(self, first: Any = _UNSET, second: Any = _UNSET, *,
                 message: str | None = None, data: Any = _UNSET) -> None:
        positional = [value for value in (first, second) if value is not _UNSET]
        if positional and (message is not None or data is not _UNSET) and len(positional) > 1:
            raise TypeError("AppError: pass message and data either by position or by keyword")
        if len(positional) == 2:
            if isinstance(first, str):
                message, data = first, second
            else:
                data, message = first, second
        elif len(positional) == 1:
            if isinstance(first, str) and message is None:
                message = first
                if data is _UNSET:
                    data = first
            elif data is _UNSET:
                data = first
            else:
                raise TypeError("AppError: data was given twice")
        if data is _UNSET:
            data = message
        if message is None:
            message = _describe(data)
        if not isinstance(message, str):
            raise TypeError(f"AppError: message must be a string, got {type(message).__name__}")
        super().__init__(message)
        self.data = data

    @property
    def message(self) -> str:
        return str(self.args[0])


def _describe(data: Any) -> str:
    """The default message of an `AppError`: its data as JSON, or a generic phrase."""
    if data is None:
        return "Application error"
    try:
        return json.dumps(data, sort_keys=True)
    except (TypeError, ValueError):
        return "Application error"
