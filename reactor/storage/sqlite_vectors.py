"""Vector indexes in SQLite: entries persisted in `vector_entries`, searched in memory.

The table is the durable copy (written in the commit's own SQLite transaction,
so a crash leaves it consistent with the documents); the matrices of
vector_matrix.py are loaded from it when the store opens and then kept in step
with every write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reactor.storage.base import VectorWrite

if TYPE_CHECKING:
    from reactor.storage.vector_matrix import VectorMatrix

# Current entries end at the largest int64 (as in vector_matrix.py).
LIVE = 2**63 - 1

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


def encode(vector: list[float]) -> bytes:
    """float32, little-endian as numpy lays it out. numpy is imported on first use, so an
    app without vector indexes never pays for loading it."""
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def write_entries(conn: sqlite3.Connection,
                  writes: Iterable[tuple[int, VectorWrite, bytes | None]]) -> None:
    for ts, write, data in writes:
        conn.execute(_END_CURRENT, (ts, write.index_id, write.doc_id, LIVE))
        if data is not None:
            conn.execute(_INSERT, (write.index_id, write.doc_id, ts, LIVE, data,
                                   " ".join(write.filters)))


def apply(matrices: dict[str, VectorMatrix], index_id: str, doc_id: str, ts: int,
          data: bytes | None, filters: list[str], end: int = LIVE) -> None:
    """Bring the in-memory matrix of `index_id` in step with one entry change."""
    matrix = matrices.get(index_id)
    if matrix is None:
        if data is None:
            return
        from reactor.storage.vector_matrix import VectorMatrix

        matrix = matrices[index_id] = VectorMatrix(len(data) // 4, len(filters))
    matrix.put(doc_id, ts, data, filters, end)


def load(rows: Iterable[tuple[str, str, int, int, bytes, str]]) -> dict[str, VectorMatrix]:
    matrices: dict[str, VectorMatrix] = {}
    for index_id, doc_id, ts, end, data, filters in rows:
        apply(matrices, index_id, doc_id, ts, bytes(data), filters.split(), end)
    return matrices


def load_index(conn: sqlite3.Connection, index_id: str) -> list[Any]:
    """Every stored entry of one vector index, for `load` (after a rebuild)."""
    return conn.execute(LOAD_ALL_OF_INDEX, (index_id,)).fetchall()


def prune_entries(conn: sqlite3.Connection, horizon_ts: int) -> int:
    return conn.execute(_PRUNE, (horizon_ts,)).rowcount


def drop_index(conn: sqlite3.Connection, index_id: str) -> None:
    conn.execute("DELETE FROM vector_entries WHERE index_id = ?", (index_id,))
