"""Consistent copies of the SQLite file while it is in use, and checking a copy.

`VACUUM INTO` reads one snapshot (one read transaction in WAL mode) and writes a
compact, self-contained database: it runs beside the server's writer without
blocking it, and the copy holds exactly the commits made before it started.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from reactor.errors import StorageError
from reactor.storage.sqlite_schema import DB_NAME


def database_file(data_dir: Path) -> Path:
    """Where the database of a data directory lives."""
    return Path(data_dir) / DB_NAME


def copy_database(source: Path, dest: Path) -> None:
    """Write a consistent copy of the database `source` to the new file `dest`, fsynced.

    Safe beside a running server: the copy only reads, and sees one snapshot.
    """
    if not source.is_file():
        raise StorageError(f"{source}: no database to copy", code="BackupSourceMissing")
    try:
        conn = sqlite3.connect(source, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"{source}: cannot open the database: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("VACUUM INTO ?", (str(dest),))
    except sqlite3.Error as exc:
        raise StorageError(f"{source}: cannot copy the database to {dest}: {exc}",
                           code="BackupFailed") from exc
    finally:
        conn.close()
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def integrity_problems(path: Path) -> list[str]:
    """What `PRAGMA integrity_check` finds wrong with the database at `path` (none: [])."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [f"cannot open: {exc}"]
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as exc:
        return [str(exc)]
    finally:
        conn.close()
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found
