"""The execution log: one record per function call, in its own SQLite file.

`logs.sqlite3` sits beside `reactor.sqlite3` in the data directory but is a
separate database, so writing logs never takes the main database's write lock,
never adds to its fsyncs and never grows it. Logs are worth less than data: the
file runs with `synchronous=NORMAL` (a power loss may drop the last records; a
process crash does not), and old records are deleted by age and by size
(`prune`), with freed pages handed back to the file system
(`auto_vacuum=INCREMENTAL`), so the file stays near its size limit.

Public API (used by the runtime's recorder, the `reactor logs` command, the
admin endpoint `/api/admin/logs` and the dashboard):

- `ExecutionRecord`: one call — `path`, `kind` (`query` / `mutation` /
  `action`), `started_ms` (Unix ms), `duration_ms`, `status` (`success` /
  `failed`), `error` (the message its caller saw, without the request id line),
  `log_lines` (`"[LOG] text"`, `"[ERROR] text"`...), `request_id`, `caller`
  (the identity's subject, or None), `note` (`live`, `live, re-run` for
  subscription runs) and `id` (increasing; a cursor). `to_json()` / `from_json()`
  give its camelCase JSON form.
- `LogStore.open(data_dir)` opens (creating) the file for writing;
  `LogStore.open(data_dir, read_only=True)` reads it beside a running server
  (WAL: readers never block the writer), or returns a store with no records
  when the file does not exist yet.
- `store.query(LogFilter(...))`: records matching a filter — `after` (id
  cursor), `since_ms`, `path` (exact, or a module prefix ending in `:`),
  `status`, `text` (in the path, error or log lines), `limit`, `newest_first`.
  Reads are thread-safe; each takes a few milliseconds at most.
- `store.append(records)` (one transaction; `append_rows` takes `record.row()`
  tuples, what the recorder queues) and `store.prune(max_age_s,
  max_bytes)`: the recorder's; `store.last_id()`, `store.size_bytes()`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from reactor.storage.data_dir import create_private_file

LOG_FILE = "logs.sqlite3"
STATUSES = ("success", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_ms REAL NOT NULL,
    duration_ms REAL NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    log_lines TEXT NOT NULL,
    request_id TEXT NOT NULL,
    caller TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS executions_by_path ON executions (path, id);
CREATE INDEX IF NOT EXISTS executions_by_start ON executions (started_ms);
"""


# path, kind, started_ms, duration_ms, status, error, log_lines, request_id, caller, note:
# a plain tuple of atomic values, which the garbage collector stops tracking.
Row = tuple[str, str, float, float, str, str | None, tuple[str, ...], str, str | None, str]

_INSERT_BATCH = (
    "INSERT INTO executions (path, kind, started_ms, duration_ms, status, error, log_lines,"
    " request_id, caller, note) SELECT " + ", ".join(
        f"json_extract(value, '$[{i}]')" for i in range(10)) + " FROM json_each(?)")


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One function call, as the log keeps it."""

    path: str
    kind: str
    started_ms: float
    duration_ms: float
    status: str
    error: str | None = None
    log_lines: tuple[str, ...] = ()
    request_id: str = ""
    caller: str | None = None
    note: str = ""
    id: int = 0

    def row(self) -> Row:
        """The record as the tuple `LogStore.append_rows` writes (without its id)."""
        return (self.path, self.kind, self.started_ms, self.duration_ms, self.status,
                self.error, self.log_lines, self.request_id, self.caller, self.note)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "kind": self.kind,
                "startedMs": self.started_ms, "durationMs": self.duration_ms,
                "status": self.status, "error": self.error, "logLines": list(self.log_lines),
                "requestId": self.request_id, "caller": self.caller, "note": self.note}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutionRecord:
        return cls(path=data["path"], kind=data["kind"], started_ms=data["startedMs"],
                   duration_ms=data["durationMs"], status=data["status"], error=data["error"],
                   log_lines=tuple(data["logLines"]), request_id=data["requestId"],
                   caller=data["caller"], note=data.get("note", ""), id=data["id"])


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which records `LogStore.query` returns; every field left at its default matches all.

    Oldest first from `after` by default (a follower's cursor); `newest_first`
    returns the latest `limit` records, newest first (a listing's first page).
    """

    after: int = 0
    since_ms: float | None = None
    path: str | None = None
    status: str | None = None
    text: str | None = None
    limit: int = 100
    newest_first: bool = False
    kinds: tuple[str, ...] = field(default=())


def _record(row: sqlite3.Row) -> ExecutionRecord:
    return ExecutionRecord(path=row["path"], kind=row["kind"], started_ms=row["started_ms"],
                           duration_ms=row["duration_ms"], status=row["status"],
                           error=row["error"], log_lines=tuple(json.loads(row["log_lines"])),
                           request_id=row["request_id"], caller=row["caller"], note=row["note"],
                           id=row["id"])


class LogStore:
    """The execution log file of one data directory (see the module docstring)."""

    def __init__(self, connection: sqlite3.Connection | None, path: Path) -> None:
        self._connection = connection
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path, *, read_only: bool = False) -> LogStore:
        path = Path(data_dir) / LOG_FILE
        if read_only:
            if not path.exists():
                return cls(None, path)
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                         check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA busy_timeout = 5000")
        else:
            create_private_file(path)
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA busy_timeout = 5000")
            # Must precede the first table: it decides how the file frees pages.
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.executescript(_SCHEMA)
        connection.row_factory = sqlite3.Row
        return cls(connection, path)

    @property
    def available(self) -> bool:
        """False for a read-only store opened before the file existed (it reads as empty)."""
        return self._connection is not None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def append(self, records: Sequence[ExecutionRecord]) -> None:
        """Write `records` in one transaction (their `id` is assigned here)."""
        self.append_rows([record.row() for record in records])

    def append_rows(self, rows: Sequence[Row]) -> None:
        """`append` for rows made by `ExecutionRecord.row` (or built the same way)."""
        if not rows or self._connection is None:
            return
        # One statement for the whole batch: SQLite unpacks the rows from one JSON text
        # (orjson, in C), so the writer thread takes the GIL once per batch, not per row,
        # and the event loop sharing the process is interrupted less.
        payload = orjson.dumps(rows)
        with self._lock:
            self._connection.execute(_INSERT_BATCH, (payload,))

    def query(self, selection: LogFilter = LogFilter()) -> list[ExecutionRecord]:
        if self._connection is None:
            return []
        clauses = ["id > ?"]
        params: list[Any] = [selection.after]
        if selection.since_ms is not None:
            clauses.append("started_ms >= ?")
            params.append(selection.since_ms)
        if selection.path:
            if selection.path.endswith(":"):
                clauses.append("substr(path, 1, ?) = ?")
                params += [len(selection.path), selection.path]
            else:
                clauses.append("path = ?")
                params.append(selection.path)
        if selection.status:
            clauses.append("status = ?")
            params.append(selection.status)
        if selection.kinds:
            clauses.append(f"kind IN ({', '.join('?' * len(selection.kinds))})")
            params += list(selection.kinds)
        if selection.text:
            clauses.append("(instr(path, ?) > 0 OR instr(coalesce(error, ''), ?) > 0"
                           " OR instr(log_lines, ?) > 0)")
            params += [selection.text] * 3
        order = "DESC" if selection.newest_first else "ASC"
        sql = (f"SELECT * FROM executions WHERE {' AND '.join(clauses)}"
               f" ORDER BY id {order} LIMIT ?")
        params.append(max(0, selection.limit))
        with self._lock:
            rows = self._connection.execute(sql, params).fetchall()
        return [_record(row) for row in rows]

    def last_id(self) -> int:
        """The newest record's id (0 when empty): where a follower starts."""
        if self._connection is None:
            return 0
        with self._lock:
            row = self._connection.execute("SELECT max(id) FROM executions").fetchone()
        return int(row[0] or 0)

    def size_bytes(self) -> int:
        """Bytes the records take in the file (pages in use)."""
        if self._connection is None:
            return 0
        with self._lock:
            return self._used_bytes(self._connection)

    @staticmethod
    def _used_bytes(connection: sqlite3.Connection) -> int:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def prune(self, max_age_s: float, max_bytes: int, now_ms: float | None = None) -> int:
        """Delete records older than `max_age_s`, then the oldest until the records take
        at most `max_bytes`; give the freed pages back. Returns how many were deleted."""
        if self._connection is None:
            return 0
        now_ms = time.time() * 1000 if now_ms is None else now_ms
        deleted = 0
        with self._lock:
            connection = self._connection
            deleted += connection.execute("DELETE FROM executions WHERE started_ms < ?",
                                          (now_ms - max_age_s * 1000,)).rowcount
            while (used := self._used_bytes(connection)) > max_bytes:
                count = connection.execute("SELECT count(*) FROM executions").fetchone()[0]
                if count == 0:
                    break
                # The oldest share of rows that is over the limit, plus a tenth for slack.
                share = min(1.0, (used - max_bytes) / used + 0.1)
                batch = max(1, int(count * share))
                deleted += connection.execute(
                    "DELETE FROM executions WHERE id IN"
                    " (SELECT id FROM executions ORDER BY id LIMIT ?)", (batch,)).rowcount
            if deleted:
                # Each step of this statement frees one page: executescript runs it to the
                # end (execute would stop after the first).
                connection.executescript("PRAGMA incremental_vacuum;")
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted
