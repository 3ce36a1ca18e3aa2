"""The writer's in-memory vector indexes (vector_matrix.py), loaded in the background
(sqlite_index_loads.py). There is no second engine to answer a vector search: one
issued while its index loads waits for the load, which reads the index once from a
snapshot and then replays the writes and prunes made meanwhile, so it answers exactly
what an index loaded before the store opened would."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

from reactor.storage import sqlite_vectors, vector_entries
from reactor.storage.base import VectorWrite
from reactor.storage.sqlite_index_loads import IndexLoads

if TYPE_CHECKING:
    # numpy is imported on first use (vector_entries.py).
    from reactor.storage.vector_matrix import VectorMatrix


class VectorIndexes(IndexLoads["VectorMatrix"]):
    """The vector indexes of the process holding the writer, kept in step with its
    writes and prunes."""

    def read(self, conn: sqlite3.Connection, index_id: str, stopped: Callable[[], bool]
             ) -> VectorMatrix | None:
        return sqlite_vectors.load_index(conn, index_id, stopped)

    def written(self, seq: int, writes: Iterable[tuple[int, VectorWrite, bytes | None]]
                ) -> None:
        """Transaction `seq` stored these (ts, write, encoded vector or None)."""
        per_index: dict[str, list[tuple[int, VectorWrite, bytes | None]]] = {}
        for write in writes:
            per_index.setdefault(write[1].index_id, []).append(write)
        for index_id, changes in per_index.items():
            self.change(index_id, seq, partial(_write, changes))

    def pruned(self, seq: int, horizon_ts: int) -> None:
        """Transaction `seq` deleted the entries that ended at or before `horizon_ts`."""
        self.change_all(seq, partial(_prune, horizon_ts))


def _write(changes: list[tuple[int, VectorWrite, bytes | None]], matrix: VectorMatrix | None
           ) -> VectorMatrix | None:
    for ts, write, data in changes:
        matrix = vector_entries.put(matrix, write.doc_id, ts, data, write.filters)
    return matrix


def _prune(horizon_ts: int, matrix: VectorMatrix | None) -> VectorMatrix | None:
    if matrix is not None:
        matrix.prune(horizon_ts)
    return matrix
