"""The SQLite file format: connection settings, the tables of the multi-version store,
and opening the writer's connection on them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from reactor.errors import StorageError
from reactor.storage.sqlite_checkpoint import WRITER_AUTOCHECKPOINT_PAGES

Durability = Literal["full", "normal"]

DB_NAME = "reactor.sqlite3"
FORMAT_VERSION = 1

# Negative cache_size is KiB: 32 MiB of page cache per connection.
_COMMON_PRAGMAS = """
PRAGMA foreign_keys = OFF;
PRAGMA cache_size = -32768;
PRAGMA busy_timeout = 10000;
PRAGMA temp_store = MEMORY;
"""

# Revisions are keyed by (id, ts) so the newest revision <= a snapshot is one
# B-tree seek. The `*_by_ts` indexes let pruning walk revisions in commit order
# from a persisted watermark, visiting each one once. `search_entries` says when
# each row of a full-text index's FTS5 table is visible (see sqlite_search.py);
# `vector_entries` is the durable copy of the vector indexes (sqlite_vectors.py).
TABLES = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    table_name TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    value BLOB,
    PRIMARY KEY (doc_id, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_ts ON documents (ts, doc_id);
CREATE TABLE IF NOT EXISTS index_entries (
    index_id TEXT NOT NULL,
    key BLOB NOT NULL,
    ts INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (index_id, key, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS index_entries_by_ts ON index_entries (ts, index_id, key);
CREATE TABLE IF NOT EXISTS globals (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mutation_outcomes (
    session_id TEXT NOT NULL,
    request_id REAL NOT NULL,
    ts INTEGER NOT NULL,
    recorded_ms REAL NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (session_id, request_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mutation_outcomes_by_recorded ON mutation_outcomes (recorded_ms);
CREATE TABLE IF NOT EXISTS search_entries (
    entry_id INTEGER PRIMARY KEY,
    index_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    end_ts INTEGER NOT NULL,
    creation REAL NOT NULL,
    tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS search_entries_current ON search_entries (index_id, doc_id, end_ts);
CREATE INDEX IF NOT EXISTS search_entries_by_end ON search_entries (end_ts);
CREATE TABLE IF NOT EXISTS vector_entries (
    entry_id INTEGER PRIMARY KEY,
    index_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    end_ts INTEGER NOT NULL,
    vector BLOB NOT NULL,
    filters TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vector_entries_current ON vector_entries (index_id, doc_id, end_ts);
CREATE INDEX IF NOT EXISTS vector_entries_by_end ON vector_entries (end_ts);
CREATE TABLE IF NOT EXISTS prune_watermarks (
    target TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    id TEXT NOT NULL,
    key BLOB NOT NULL
) WITHOUT ROWID;
"""


def synchronous_level(durability: Durability) -> str:
    """SQLite's `synchronous` for a durability: FULL fsyncs the WAL at every commit."""
    return {"full": "FULL", "normal": "NORMAL"}[durability]


def writer_pragmas(durability: Durability) -> str:
    """Settings of the one connection that writes: WAL, and fsync per commit when full."""
    synchronous = synchronous_level(durability)
    return f"PRAGMA journal_mode = WAL;\nPRAGMA synchronous = {synchronous};\n{_COMMON_PRAGMAS}"


def reader_pragmas() -> str:
    """Settings of the read connections, which must never write."""
    return f"{_COMMON_PRAGMAS}PRAGMA query_only = ON;\n"


def open_writer(db_path: Path, durability: Durability) -> sqlite3.Connection:
    """On the writer thread: connect, set durability, create or check the tables."""
    try:
        conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(f"{db_path}: cannot open the database: {exc}") from exc
    try:
        conn.executescript(writer_pragmas(durability))
        # The checkpointer thread does most of the copying (sqlite_checkpoint.py).
        conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, FORMAT_VERSION):
            raise StorageError(
                f"{db_path}: storage format {version} is not supported "
                f"(this version of Reactor reads format {FORMAT_VERSION})"
            )
        conn.executescript(f"{TABLES}PRAGMA user_version = {FORMAT_VERSION};")
    except sqlite3.Error as exc:
        conn.close()
        raise StorageError(f"{db_path}: cannot create tables: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn
