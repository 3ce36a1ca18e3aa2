"""Index changes of a schema change, inside one SQLite write transaction (see change_indexes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from reactor.errors import StorageError
from reactor.storage import sqlite_search, sqlite_vectors, vector_entries
from reactor.storage.base import IndexBuild, SearchBuild, VectorBuild
from reactor.values.keys import key_after

# Documents read (and entries written) per step: memory stays bounded by this,
# however large the table.
BATCH = 500

_DELETE_INDEX = "DELETE FROM index_entries WHERE index_id = ?"
_INSERT_ENTRY = """
    INSERT INTO index_entries (index_id, key, ts, deleted, doc_id) VALUES (?, ?, ?, 0, ?)
"""

Decode = Callable[[bytes, str], dict[str, Any]]


def _documents(conn: sqlite3.Connection, scan_sql: str, source: str, ts: int,
               decode: Decode) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The documents of the `source` index at `ts`, one batch of (id, document) at a time."""
    lo = b""
    while True:
        params = {"index_id": source, "lo": lo, "ts": ts, "limit": BATCH}
        rows = conn.execute(scan_sql, params).fetchall()
        batch = []
        for _, doc_id, value in rows:
            if value is None:
                raise StorageError(f"index {source!r} has a live entry for document"
                                   f" {doc_id!r} at ts {ts}, but the document does not"
                                   " exist then")
            batch.append((doc_id, decode(value, doc_id)))
        yield batch
        if len(rows) < BATCH:
            return
        lo = key_after(bytes(rows[-1][0]))


def change_indexes(conn: sqlite3.Connection, scan_sql: str, ts: int, builds: list[IndexBuild],
                   dropped: list[str], decode: Decode, search_builds: Sequence[SearchBuild],
                   search_dropped: Sequence[str], known_search_tables: set[str],
                   vector_builds: Sequence[VectorBuild] = (),
                   vector_dropped: Sequence[str] = (),
                   ) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """Drop, then fill, in the caller's transaction; `scan_sql` is the storage's ascending,
    open-ended live-entry scan. Returns (documents read, entries written) per built
    index, and the FTS5 tables created."""
    for index_id in dict.fromkeys([*dropped, *(build.index_id for build in builds)]):
        conn.execute(_DELETE_INDEX, (index_id,))
    rebuilt = [*search_dropped, *(build.index_id for build in search_builds)]
    for index_id in dict.fromkeys(rebuilt):
        sqlite_search.drop_index(conn, index_id)
    known = known_search_tables - {sqlite_search.fts_table(index_id) for index_id in rebuilt}
    counts: dict[str, tuple[int, int]] = {}
    for build in builds:
        read = 0
        for batch in _documents(conn, scan_sql, build.source_index_id, ts, decode):
            conn.executemany(_INSERT_ENTRY, [(build.index_id, build.key_for(doc), ts, doc_id)
                                             for doc_id, doc in batch])
            read += len(batch)
        counts[build.index_id] = (read, read)
    created: set[str] = set()
    for search in search_builds:
        read = written = 0
        for batch in _documents(conn, scan_sql, search.source_index_id, ts, decode):
            entries = [(ts, entry) for entry in map(search.entry_for, (d for _, d in batch))
                       if entry.terms is not None]
            created |= sqlite_search.write_entries(conn, entries, known | created)
            read += len(batch)
            written += len(entries)
        counts[search.index_id] = (read, written)
    for index_id in dict.fromkeys([*vector_dropped, *(b.index_id for b in vector_builds)]):
        sqlite_vectors.drop_index(conn, index_id)
    for vectors in vector_builds:
        read = written = 0
        for batch in _documents(conn, scan_sql, vectors.source_index_id, ts, decode):
            found = [entry for entry in map(vectors.entry_for, (d for _, d in batch))
                     if entry.vector is not None]
            sqlite_vectors.write_entries(conn, [(ts, entry, vector_entries.encode(entry.vector))
                                                for entry in found if entry.vector is not None])
            read += len(batch)
            written += len(found)
        counts[vectors.index_id] = (read, written)
    return counts, created
