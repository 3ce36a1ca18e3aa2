"""SQLite failures as `StorageError`s: the full text for the server log, a plain sentence
for clients (which must never see a server path or SQLite's own message)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from reactor.errors import StorageError

# Primary result codes (the low byte of an extended code), from sqlite3.h.
SQLITE_FULL = 13
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26


def storage_failure(db_path: Path, action: str, exc: BaseException, *,
                    writing: bool) -> StorageError:
    """The error to raise for `exc`, which happened while doing `action` on `db_path`."""
    detail = f"{db_path}: {action} failed: {exc}"
    primary = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if primary == SQLITE_FULL or getattr(exc, "errno", None) == errno.ENOSPC:
        return StorageError(detail, code="StorageFull", public=(
            "StorageFull: the server could not write the data: its disk is full"))
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB):
        code = "StorageCorrupt"
    elif primary == SQLITE_IOERR or isinstance(exc, OSError):
        code = "StorageIOError"
    else:
        code = "StorageError"
    verb = "write" if writing else "read"
    return StorageError(detail, code=code, public=(
        f"{code}: the server could not {verb} the data (the details are in the server log)"))


def is_storage_exception(exc: BaseException) -> bool:
    """Whether `exc` is a failure of the database or the disk (not of the caller)."""
    return isinstance(exc, sqlite3.Error | OSError)
