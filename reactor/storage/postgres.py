"""The PostgreSQL implementation of `Storage`: its reads and writes.

The tables live in one schema of the database (postgres_schema.py), so Reactor can
share a database with other software. A batch of commits is one statement, so
one round trip. The connections and their writer's lock are postgres_connections.py;
what lets several nodes share the store, postgres_nodes.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Sequence
from functools import partial
from typing import Any

import orjson

from reactor.errors import StorageError
from reactor.storage import (
    postgres_bulk,
    postgres_prune,
    postgres_search,
    prune_plan,
    vector_entries,
)
from reactor.storage import postgres_sql as sql
from reactor.storage.base import (
    CommitRecord,
    IndexBuild,
    IndexEntry,
    IndexScan,
    Order,
    SearchBuild,
    SearchHit,
    SearchStatistics,
    TextQuery,
    VectorBuild,
    VectorHit,
    VectorQuery,
    scan_ranges,
)
from reactor.storage.codec import decode_document, encode_global, entry_document
from reactor.storage.postgres_connections import READERS
from reactor.storage.postgres_index_build import change_indexes
from reactor.storage.postgres_nodes import PostgresNodes, fenced
from reactor.storage.postgres_schema import Conn
from reactor.storage.vector_matrix import VectorMatrix
from reactor.values.wire import dumps

# How long a write whose COMMIT lost its answer waits for PostgreSQL to say whether it
# happened (it is back within seconds after a restart).
RESOLVE_S = 15.0

logger = logging.getLogger("reactor.storage")


class PostgresStorage(PostgresNodes):
    """Multi-version documents and index entries in PostgreSQL, read and written through
    the connections of `PostgresConnections`."""

    def __init__(self, url: str, *, durability: str = "full", readers: int = READERS) -> None:
        super().__init__(url, durability=durability, readers=readers)
        self._vectors: dict[str, VectorMatrix] = {}

    async def _writer_opened(self) -> None:
        """Load the vector indexes this process keeps in step with its writes."""
        self._vectors = vector_entries.load(await self._fetch(sql.LOAD_VECTORS))

    async def refresh_search_tables(self) -> None:
        """Nothing to learn: this store keeps no per-index tables."""

    async def read_globals(self) -> dict[str, Any]:
        rows = await self._fetch("SELECT name, value FROM globals")
        return {name: orjson.loads(value) for name, value in rows}

    async def get_document(self, doc_id: str, ts: int) -> dict[str, Any] | None:
        rows = await self._fetch(sql.GET_DOCUMENT, doc_id, ts)
        if not rows or rows[0][0] is None:
            return None
        return decode_document(rows[0][0], doc_id, self.target.display)

    async def scan_index(
        self, index_id: str, lo: bytes, hi: bytes | None, ts: int, order: Order, limit: int
    ) -> list[IndexEntry]:
        if limit <= 0:
            return []
        bounds = (hi,) if hi is not None else ()
        rows = await self._fetch(sql.SCAN[order, hi is not None], index_id, lo, ts, limit,
                                 *bounds)
        return [IndexEntry(key, entry_document(value, doc_id, self.target.display, index_id, ts))
                for key, doc_id, value in rows]

    async def scan_indexes(self, scans: Sequence[IndexScan], ts: int
                           ) -> list[list[IndexEntry]]:
        found: list[list[IndexEntry]] = [[] for _ in scans]
        ranges = scan_ranges(scans)
        if not ranges:
            return found
        params: list[Any] = []
        for i, _ in ranges:
            scan = scans[i]
            params += [scan.index_id, scan.lo, ts, scan.limit]
            if scan.hi is not None:
                params.append(scan.hi)
        for i, key, doc_id, value in await self._fetch(sql.scan_each(ranges), *params):
            found[i].append(IndexEntry(key, entry_document(value, doc_id, self.target.display,
                                                           scans[i].index_id, ts)))
        return found

    async def search(self, index_id: str, query: TextQuery, ts: int, limit: int
                     ) -> list[SearchHit]:
        if limit <= 0 or not query.terms:
            return []
        rows = await self._fetch(postgres_search.SEARCH, index_id,
                                 *postgres_search.search_params(query, ts, limit))
        return [SearchHit(entry_document(value, doc_id, self.target.display, index_id, ts),
                          score) for value, doc_id, score in rows]

    async def search_statistics(self, index_id: str, query: TextQuery) -> SearchStatistics:
        rows = await self._fetch(postgres_search.STATISTICS, index_id,
                                 *postgres_search.phrase_ranges(query))
        documents, tokens, matching = rows[0]
        return SearchStatistics(int(documents), int(tokens), tuple(int(n) for n in matching))

    async def vector_search(self, index_id: str, query: VectorQuery, ts: int, limit: int
                            ) -> list[VectorHit]:
        matrix = self._vectors.get(index_id)
        if self._writer is None:
            # A reader-only worker keeps no matrices in step: load the snapshot's entries.
            rows = await self._fetch(sql.LOAD_VECTOR_SNAPSHOT, index_id, ts)
            matrix = vector_entries.load(rows).get(index_id)
        return vector_entries.search(matrix, index_id, query, ts, limit)

    async def write(self, commits: list[CommitRecord], globals_: dict[str, Any]) -> None:
        documents = [(w.doc_id, c.ts, w.table, w.value is None,
                      None if w.value is None else dumps(w.value))
                     for c in commits for w in c.documents]
        entries = [(w.index_id, w.key, c.ts, w.deleted, w.doc_id)
                   for c in commits for w in c.index_writes]
        outcomes = [(o.session_id, o.request_id, c.ts, o.recorded_ms, o.value)
                    for c in commits for o in c.outcomes]
        names = [(name, encode_global(name, value)) for name, value in globals_.items()]
        columns = [*_columns(documents, 5), *_columns(entries, 5), *_columns(outcomes, 5),
                   *_columns(names, 2), [c.ts for c in commits]]
        fence = self.epoch
        vectors = [(c.ts, w, None if w.vector is None else vector_entries.encode(w.vector))
                   for c in commits for w in c.vector_writes]
        searches = [(c.ts, w) for c in commits for w in c.search_writes]
        committing = [False]

        async def write(conn: Conn) -> None:
            await conn.execute(sql.WRITE_COMMITS, *columns, self._channel,
                               str(commits[-1].ts if commits else 0), fence)
            await postgres_search.write_entries(conn, searches)
            for ts, change, data in vectors:
                await conn.execute(sql.END_VECTORS, ts, change.index_id, change.doc_id,
                                   vector_entries.LIVE)
                if data is not None:
                    await conn.execute(sql.INSERT_VECTOR, change.index_id, change.doc_id, ts,
                                       vector_entries.LIVE, data, " ".join(change.filters))
            committing[0] = True  # COMMIT follows: from here a failure is ambiguous

        try:
            await self._transaction("write commits", write)
        except StorageError as exc:
            refused, stored = fenced(exc), None
            if refused is None and exc.code == "StorageIOError":
                if committing[0]:
                    stored = await self._committed(sorted({c.ts for c in commits}))
                if not committing[0] or stored is False:
                    # Not sent whole, or known not stored: if a new committer cut this
                    # node's session, the batch can never be stored (the fence).
                    refused = await self.deposed()
            if refused is not None:
                raise refused from exc
            if not stored:
                raise
            logger.warning("%s; the commits had reached PostgreSQL: acknowledged", exc)
        for ts, change, data in vectors:
            vector_entries.apply(self._vectors, change.index_id, change.doc_id, ts, data,
                                 change.filters)

    async def _committed(self, timestamps: list[int]) -> bool | None:
        """Whether a batch whose COMMIT lost its answer (the connection broke) is stored;
        `timestamps` are its commits' (distinct).

        Asks again until PostgreSQL answers, for at most RESOLVE_S; None if it did not
        answer by then (the batch is refused, though it may be durable).
        """
        deadline = asyncio.get_running_loop().time() + RESOLVE_S
        while True:
            try:
                rows = await self._fetch(sql.COMMITTED, timestamps)
                return int(rows[0][0]) == len(timestamps)
            except StorageError:
                if asyncio.get_running_loop().time() > deadline:
                    return None
                await asyncio.sleep(0.2)

    async def write_stream(self, records: AsyncIterable[CommitRecord],
                           globals_: dict[str, Any]) -> None:
        touched: set[str] = set()

        async def write(conn: Conn) -> None:
            async for record in records:
                touched.update(await postgres_bulk.write_record(
                    conn, record, sql.END_VECTORS, sql.INSERT_VECTOR))
                await postgres_search.write_entries(
                    conn, [(record.ts, change) for change in record.search_writes])
            names = [(name, encode_global(name, value)) for name, value in globals_.items()]
            await conn.execute(sql.UPSERT_GLOBALS, *_columns(names, 2))

        await self._transaction("write an import", write)
        for index_id in touched:
            self._vectors.pop(index_id, None)
            self._vectors.update(vector_entries.load(
                await self._fetch(sql.LOAD_VECTOR_INDEX, index_id)))

    async def prune(self, horizon_ts: int, batch: int) -> int:
        removed = await prune_plan.walk(
            (sql.DOCUMENTS, sql.INDEX_ENTRIES), batch,
            lambda target, budget: self._transaction(f"prune {target.name}", partial(
                postgres_prune.chunk, target=target, horizon_ts=horizon_ts, budget=budget)))
        while removed < batch:
            count = await self._transaction("prune search entries", partial(
                postgres_prune.search, horizon_ts=horizon_ts, budget=min(batch - removed, 256)))
            removed += count
            if count == 0:
                break
        if removed < batch:
            result = await self._transaction("prune vector entries", partial(
                postgres_prune.vectors, horizon_ts=horizon_ts))
            removed += _row_count(result)
            for matrix in self._vectors.values():
                matrix.prune(horizon_ts)
        return removed

    async def get_outcome(self, session_id: str, request_id: float, ts: int) -> bytes | None:
        rows = await self._fetch(sql.GET_OUTCOME, session_id, request_id, ts)
        return bytes(rows[0][0]) if rows else None

    async def prune_outcomes(self, before_ms: float, batch: int) -> int:
        result = await self._transaction("prune mutation outcomes", lambda conn: (
            conn.execute(sql.PRUNE_OUTCOMES, before_ms, batch)))
        return _row_count(result)

    async def index_entry_count(self, index_id: str) -> int:
        rows = await self._fetch(sql.COUNT, index_id, b"", 2**63 - 1)
        return int(rows[0][0])

    async def change_indexes(self, ts: int, builds: list[IndexBuild], dropped: list[str],
                             globals_: dict[str, Any], *,
                             search_builds: Sequence[SearchBuild] = (),
                             search_dropped: Sequence[str] = (),
                             vector_builds: Sequence[VectorBuild] = (),
                             vector_dropped: Sequence[str] = ()) -> dict[str, tuple[int, int]]:
        names = [(name, encode_global(name, value)) for name, value in globals_.items()]

        async def change(conn: Conn) -> dict[str, tuple[int, int]]:
            counts = await change_indexes(conn, ts, builds, dropped, self.target.display,
                                          search_builds, search_dropped, vector_builds,
                                          vector_dropped)
            await conn.execute(sql.UPSERT_GLOBALS, *_columns(names, 2))
            return counts

        counts = await self._transaction("apply the schema's index changes", change)
        for index_id in [*vector_dropped, *(b.index_id for b in vector_builds)]:
            self._vectors.pop(index_id, None)
            self._vectors.update(vector_entries.load(
                await self._fetch(sql.LOAD_VECTOR_INDEX, index_id)))
        return counts

def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as `width` parallel column lists (the arrays `unnest` takes)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _row_count(status: str) -> int:
    """The count at the end of a command tag such as `DELETE 12`."""
    return int(status.rsplit(" ", 1)[-1])
