"""Vector indexes in SQLite: entries persisted in `vector_entries`, searched in memory.

The table is the durable copy (written in the commit's own SQLite transaction,
so a crash leaves it consistent with the documents); the matrices of
vector_matrix.py are loaded from it in the background (sqlite_vector_indexes.py) when
the store opens and then kept in step with every write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from reactor.storage import vector_entries
from reactor.storage.base import VectorWrite
from reactor.storage.sqlite_index_loads import batches
from reactor.storage.vector_entries import LIVE

if TYPE_CHECKING:
    from reactor.storage.vector_matrix import VectorMatrix

_END_CURRENT = """
    UPDATE vector_entries SET end_ts = ? WHERE index_id = ? AND doc_id = ? AND end_ts = ?
"""
_INSERT = """
    INSERT INTO vector_entries (index_id, doc_id, ts, end_ts, vector, filters)
    VALUES (?, ?, ?, ?, ?, ?)
"""
LIST_INDEXES = "SELECT DISTINCT index_id FROM vector_entries"
LOAD_INDEX = """
    SELECT index_id, doc_id, ts, end_ts, vector, filters FROM vector_entries
    WHERE index_id = ? AND ts <= ? AND end_ts > ? ORDER BY entry_id
"""
# Every entry of one index in commit order, the order the matrix's rows were added in
# as the writes came. A scan in rowid order: through the index on `index_id` the rows
# would be sorted again, vectors and all.
_LOAD_ALL_OF_INDEX = """
    SELECT doc_id, ts, end_ts, vector, filters FROM vector_entries
    WHERE +index_id = ? ORDER BY entry_id
"""
_PRUNE = "DELETE FROM vector_entries WHERE end_ts <= ?"


def write_entries(conn: sqlite3.Connection,
                  writes: Iterable[tuple[int, VectorWrite, bytes | None]]) -> None:
    for ts, write, data in writes:
        conn.execute(_END_CURRENT, (ts, write.index_id, write.doc_id, LIVE))
        if data is not None:
            conn.execute(_INSERT, (write.index_id, write.doc_id, ts, LIVE, data,
                                   " ".join(write.filters)))


def load_index(conn: sqlite3.Connection, index_id: str, stopped: Callable[[], bool]
               ) -> VectorMatrix | None:
    """The stored entries of one index in memory (None if it has none), read in batches;
    raises `LoadStopped` (sqlite_index_loads.py) once `stopped()` says so."""
    matrix = None
    for batch in batches(conn.execute(_LOAD_ALL_OF_INDEX, (index_id,)), stopped):
        matrix = vector_entries.extend(matrix, batch)
    return matrix


def prune_entries(conn: sqlite3.Connection, horizon_ts: int) -> int:
    return conn.execute(_PRUNE, (horizon_ts,)).rowcount


def drop_index(conn: sqlite3.Connection, index_id: str) -> None:
    conn.execute("DELETE FROM vector_entries WHERE index_id = ?", (index_id,))
