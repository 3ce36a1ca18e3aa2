"""One SQLite transaction fed with batches as they are produced (bulk import).

The writer thread opens the transaction, takes batches from a bounded queue
until the producer says it is done (commit) or failed (roll back), so memory
holds a few batches whatever the size of the import and nothing is visible
until all of it commits. Other writes queue behind it on the writer thread.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from reactor.storage import sqlite_search, sqlite_vectors, vector_entries
from reactor.storage.base import CommitRecord
from reactor.storage.codec import encode_global
from reactor.values.wire import dumps

# Later rows for the same document or index key at the same ts replace earlier
# ones: an import that replaces a table writes the old documents' tombstones
# first, then the new revisions (which may have the same ids and keys).
_UPSERT_DOCUMENT = """
    INSERT OR REPLACE INTO documents (doc_id, ts, table_name, deleted, value)
    VALUES (?, ?, ?, ?, ?)
"""
_UPSERT_ENTRY = """
    INSERT OR REPLACE INTO index_entries (index_id, key, ts, deleted, doc_id)
    VALUES (?, ?, ?, ?, ?)
"""
_UPSERT_GLOBAL = """
    INSERT INTO globals (name, value) VALUES (?, ?)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""

# A big import touches pages all over the tables' B-trees (imported ids come in any
# order): while its transaction is open they stay in the page cache, which grows to
# this for it.
CACHE_KIB = 256 * 1024
DONE = "done"
FAILED = "failed"


@dataclass(slots=True)
class StreamResult:
    """What the caller must refresh after the commit."""

    search_tables: set[str] = field(default_factory=set)
    search_indexes: set[str] = field(default_factory=set)
    vector_indexes: set[str] = field(default_factory=set)


async def write_stream(conn: sqlite3.Connection,
                       on_writer_thread: Callable[[Callable[[], StreamResult]],
                                                  Awaitable[StreamResult]],
                       records: AsyncIterable[CommitRecord], globals_: dict[str, Any],
                       known: set[str]) -> StreamResult:
    """Feed `records`, then `globals_`, to `write_batches` running on the writer thread;
    a failure of either side rolls the whole import back."""
    batches: queue.Queue[Any] = queue.Queue(maxsize=4)
    job = asyncio.ensure_future(on_writer_thread(lambda: write_batches(conn, batches, known)))
    try:
        async for record in records:
            await _hand_over(batches, record, job)
            if job.done():
                break
        names = [(name, encode_global(name, value)) for name, value in globals_.items()]
    except BaseException:
        await _hand_over(batches, FAILED, job)
        await asyncio.gather(job, return_exceptions=True)
        raise
    await _hand_over(batches, (DONE, names), job)
    return await job


async def _hand_over(batches: queue.Queue[Any], item: Any, job: asyncio.Future[Any]) -> None:
    """Put `item` on the writer's queue without blocking the loop; give up if the writer
    stopped (its error is raised when `job` is awaited)."""
    while not job.done():
        try:
            batches.put_nowait(item)
            return
        except queue.Full:
            await asyncio.sleep(0.001)


def write_batches(conn: sqlite3.Connection, batches: queue.Queue[Any],
                  known: set[str]) -> StreamResult:
    """On the writer thread: BEGIN, write each record taken from `batches`; at
    `(DONE, globals)` upsert the globals and COMMIT; roll back at `FAILED` or on any
    error."""
    result = StreamResult()
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        while True:
            item = batches.get()
            if isinstance(item, tuple) and item[0] == DONE:
                conn.executemany(_UPSERT_GLOBAL, item[1])
                break
            if item == FAILED:
                raise _Abandoned
            _write_record(conn, item, known | result.search_tables, result)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}")
    return result


class _Abandoned(Exception):
    """The producer failed: the transaction is rolled back."""


def _write_record(conn: sqlite3.Connection, record: CommitRecord, known: set[str],
                  result: StreamResult) -> None:
    ts = record.ts
    conn.executemany(_UPSERT_DOCUMENT, [
        (w.doc_id, ts, w.table, w.value is None, None if w.value is None else dumps(w.value))
        for w in record.documents])
    conn.executemany(_UPSERT_ENTRY, [
        (w.index_id, w.key, ts, w.deleted, w.doc_id) for w in record.index_writes])
    if record.search_writes:
        result.search_indexes |= {w.index_id for w in record.search_writes}
        result.search_tables |= sqlite_search.write_entries(
            conn, [(ts, w) for w in record.search_writes], known)
    if record.vector_writes:
        sqlite_vectors.write_entries(conn, [
            (ts, w, None if w.vector is None else vector_entries.encode(w.vector))
            for w in record.vector_writes])
        result.vector_indexes |= {w.index_id for w in record.vector_writes}
