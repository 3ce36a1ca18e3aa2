"""Vector indexes in SQLite: entries persisted in `vector_entries`, searched in memory.

The table is the durable copy (written in the commit's own SQLite transaction,
so a crash leaves it consistent with the documents); the matrices of
vector_matrix.py are loaded from it (vector_entries.py) when the store opens and then kept in step
with every write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from reactor.storage.base import VectorWrite
from reactor.storage.vector_entries import LIVE

_END_CURRENT = """
    UPDATE vector_entries SET end_ts = ? WHERE index_id = ? AND doc_id = ? AND end_ts = ?
"""
_INSERT = """
    INSERT INTO vector_entries (index_id, doc_id, ts, end_ts, vector, filters)
    VALUES (?, ?, ?, ?, ?, ?)
"""
LOAD = """
    SELECT index_id, doc_id, ts, end_ts, vector, filters FROM vector_entries ORDER BY entry_id
"""
LOAD_INDEX = """
    SELECT index_id, doc_id, ts, end_ts, vector, filters FROM vector_entries
    WHERE index_id = ? AND ts <= ? AND end_ts > ? ORDER BY entry_id
"""
LOAD_ALL_OF_INDEX = """
    SELECT index_id, doc_id, ts, end_ts, vector, filters FROM vector_entries
    WHERE index_id = ? ORDER BY entry_id
"""
_PRUNE = "DELETE FROM vector_entries WHERE end_ts <= ?"


def write_entries(conn: sqlite3.Connection,
                  writes: Iterable[tuple[int, VectorWrite, bytes | None]]) -> None:
    for ts, write, data in writes:
        conn.execute(_END_CURRENT, (ts, write.index_id, write.doc_id, LIVE))
        if data is not None:
            conn.execute(_INSERT, (write.index_id, write.doc_id, ts, LIVE, data,
                                   " ".join(write.filters)))


def load_index(conn: sqlite3.Connection, index_id: str) -> list[Any]:
    """Every stored entry of one vector index, for `load` (after a rebuild)."""
    return conn.execute(LOAD_ALL_OF_INDEX, (index_id,)).fetchall()


def prune_entries(conn: sqlite3.Connection, horizon_ts: int) -> int:
    return conn.execute(_PRUNE, (horizon_ts,)).rowcount


def drop_index(conn: sqlite3.Connection, index_id: str) -> None:
    conn.execute("DELETE FROM vector_entries WHERE index_id = ?", (index_id,))
