"""Index changes of a schema change, inside one PostgreSQL transaction (see change_indexes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from reactor.storage import postgres_search, vector_entries
from reactor.storage import postgres_sql as sql
from reactor.storage.base import IndexBuild, SearchBuild, VectorBuild
from reactor.storage.codec import entry_document
from reactor.storage.postgres_schema import Conn
from reactor.values.keys import key_after

# Documents read (and entries written) per step: memory stays bounded by this.
BATCH = 500


async def _documents(conn: Conn, source: str, ts: int, where: str
                     ) -> AsyncIterator[list[tuple[str, dict[str, Any]]]]:
    """The documents of the `source` index at `ts`, one batch of (id, document) at a time."""
    lo = b""
    while True:
        rows = await conn.fetch(sql.SCAN["asc", False], source, lo, ts, BATCH)
        yield [(doc_id, entry_document(value, doc_id, where, source, ts))
               for _, doc_id, value in rows]
        if len(rows) < BATCH:
            return
        lo = key_after(bytes(rows[-1][0]))


async def change_indexes(conn: Conn, ts: int, builds: list[IndexBuild], dropped: list[str],
                         where: str, search_builds: Sequence[SearchBuild],
                         search_dropped: Sequence[str], vector_builds: Sequence[VectorBuild],
                         vector_dropped: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Drop, then fill, in the caller's transaction; (documents read, entries written)
    per built index."""
    for index_id in dict.fromkeys([*dropped, *(build.index_id for build in builds)]):
        await conn.execute(sql.DELETE_INDEX, index_id)
    for index_id in dict.fromkeys([*vector_dropped, *(b.index_id for b in vector_builds)]):
        await conn.execute(sql.DROP_VECTOR_INDEX, index_id)
    await postgres_search.drop_indexes(
        conn, [*search_dropped, *(build.index_id for build in search_builds)])
    counts: dict[str, tuple[int, int]] = {}
    for build in builds:
        read = 0
        async for batch in _documents(conn, build.source_index_id, ts, where):
            await conn.execute(sql.INSERT_ENTRIES, build.index_id, ts,
                               [build.key_for(doc) for _, doc in batch],
                               [doc_id for doc_id, _ in batch])
            read += len(batch)
        counts[build.index_id] = (read, read)
    for search in search_builds:
        read = written = 0
        async for batch in _documents(conn, search.source_index_id, ts, where):
            entries = [(ts, entry) for entry in map(search.entry_for, (d for _, d in batch))
                       if entry.terms is not None]
            await postgres_search.write_entries(conn, entries)
            read += len(batch)
            written += len(entries)
        counts[search.index_id] = (read, written)
    for vectors in vector_builds:
        read = written = 0
        async for batch in _documents(conn, vectors.source_index_id, ts, where):
            for entry in map(vectors.entry_for, (doc for _, doc in batch)):
                if entry.vector is not None:
                    await conn.execute(sql.INSERT_VECTOR, entry.index_id, entry.doc_id, ts,
                                       vector_entries.LIVE, vector_entries.encode(entry.vector),
                                       " ".join(entry.filters))
                    written += 1
            read += len(batch)
        counts[vectors.index_id] = (read, written)
    return counts
