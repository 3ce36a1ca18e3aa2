"""The PostgreSQL implementation of `Storage`: one writing connection, a pool of readers.

The tables live in one schema of the database (postgres_schema.py), so Reactor can
share a database with other software. A batch of commits is one statement, so
one round trip. The writing connection holds an advisory lock for as long as it
lives: a second Reactor process cannot write the same schema (the seed of the
committer lease of docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import asyncpg
import orjson

from reactor.errors import StorageError
from reactor.storage import (
    postgres_bulk,
    postgres_follow,
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
    Order,
    SearchBuild,
    SearchHit,
    SearchStatistics,
    TextQuery,
    VectorBuild,
    VectorHit,
    VectorQuery,
)
from reactor.storage.codec import decode_document, encode_global, entry_document
from reactor.storage.postgres_index_build import change_indexes
from reactor.storage.postgres_nodes import PostgresNodes, fenced
from reactor.storage.postgres_schema import (
    Conn,
    Target,
    is_connection_failure,
    is_storage_exception,
    owner_lock_key,
    parse_url,
    prepare,
    storage_failure,
)
from reactor.storage.vector_matrix import VectorMatrix
from reactor.values.wire import dumps

# Reads run on up to this many connections at once (PostgreSQL runs them in parallel).
READERS = 4

# How long a write whose COMMIT lost its answer waits for PostgreSQL to say whether it
# happened (it is back within seconds after a restart).
RESOLVE_S = 15.0

# How long `close` waits for reads still running before it cuts their connections.
CLOSE_TIMEOUT_S = 5.0

T = TypeVar("T")

logger = logging.getLogger("reactor.storage")


class PostgresStorage(PostgresNodes):
    """Multi-version documents and index entries in PostgreSQL (`durability="normal"`:
    `synchronous_commit = off`, an acknowledged commit can be lost to a server crash)."""

    def __init__(self, url: str, *, durability: str = "full", readers: int = READERS) -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability: expected 'full' or 'normal', got {durability!r}")
        self.target: Target = parse_url(url)
        self.durability = durability
        self.readers = readers
        self._writer: asyncpg.Pool | None = None
        self._readers: asyncpg.Pool | None = None
        self._vectors: dict[str, VectorMatrix] = {}
        self._channel = postgres_follow.channel(self.target)
        # A follower's listening connection, and the wake-up its notifications set.
        self._listener: asyncpg.Connection | None = None
        self._woken = asyncio.Event()
        # The newest commit ts a notification named since `wait_for_commits` last returned.
        self._notified = 0
        # The committer lease's epoch this process writes under (None: it holds none,
        # and its writes are not fenced).
        self.epoch: int | None = None

    def __str__(self) -> str:
        return self.target.display

    async def open(self) -> None:
        """Create or check the schema, take the writer's lock, connect the readers."""
        if self._writer is not None:
            return
        try:
            conn = await asyncpg.connect(self.target.dsn)
            try:
                await prepare(conn, self.target)
            finally:
                await conn.close()
            # One connection, re-made if it drops (PostgreSQL restarted): each new one
            # takes the lock again before it writes anything.
            self._writer = await self._pool(1, writer=True)
            self._readers = await self._pool(self.readers)
            self._vectors = vector_entries.load(await self._fetch(sql.LOAD_VECTORS))
        except BaseException as exc:
            await self.close()
            if is_storage_exception(exc):
                raise storage_failure(self.target, "open", exc, writing=True) from exc
            raise

    async def open_writer(self) -> None:
        """A follower that took the committer lease starts writing: take the writer's lock
        (`DatabaseInUse` while a deposed committer still holds it), load the vector
        indexes it will keep in step."""
        if self._writer is not None:
            return
        try:
            self._writer = await self._pool(1, writer=True)
        except Exception as exc:
            if is_storage_exception(exc):
                raise storage_failure(self.target, "open", exc, writing=True) from exc
            raise
        self._vectors = vector_entries.load(await self._fetch(sql.LOAD_VECTORS))

    async def close_writer(self) -> None:
        """Stop writing (deposed: another node holds the lease) and release the lock."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                await asyncio.wait_for(writer.close(), CLOSE_TIMEOUT_S)
            except TimeoutError:
                writer.terminate()

    async def open_reader(self) -> None:
        """Connect readers only: for a worker process reading snapshots that the process
        owning the store keeps pinned. Writing methods are not usable."""
        if self._readers is None:
            try:
                self._readers = await self._pool(1)
            except Exception as exc:
                if is_storage_exception(exc):
                    raise storage_failure(self.target, "open", exc, writing=False) from exc
                raise

    async def refresh_search_tables(self) -> None:
        """Nothing to learn: this store keeps no per-index tables."""

    async def close(self) -> None:
        writer, readers = self._writer, self._readers
        self._writer = self._readers = None
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.terminate()
        for pool in (writer, readers):
            if pool is not None:
                try:
                    await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_S)
                except TimeoutError:
                    # A read still holds a connection (its task was abandoned): cut it.
                    pool.terminate()

    async def _pool(self, size: int, *, writer: bool = False) -> asyncpg.Pool:
        synchronous = "on" if self.durability == "full" else "off"
        return await asyncpg.create_pool(
            self.target.dsn, min_size=size, max_size=size,
            init=self._take_lock if writer else None, reset=_keep_session,
            server_settings={"search_path": self.target.schema,
                             "synchronous_commit": synchronous,
                             "application_name": "reactor"})

    async def _take_lock(self, conn: asyncpg.Connection) -> None:
        key = owner_lock_key(self.target)
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
            await conn.close()
            raise StorageError(f"{self.target.display}: another Reactor process is serving this"
                               " schema; stop it first or choose another ?schema=",
                               code="DatabaseInUse")

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

    async def _transaction(self, action: str,
                           body: Callable[[Conn], Awaitable[T]]) -> T:
        """BEGIN .. COMMIT on the writing connection; COMMIT returning means durable."""
        if self._writer is None:
            raise self._not_open()
        try:
            async with self._writer.acquire() as conn:
                try:
                    async with conn.transaction():
                        return await body(conn)
                except BaseException as exc:
                    _drop_if_broken(conn, exc)
                    raise
        except Exception as exc:
            if is_storage_exception(exc):
                raise storage_failure(self.target, action, exc, writing=True) from exc
            raise

    async def _fetch(self, query: str, *params: Any) -> list[Any]:
        """Run one read statement on a free reader connection."""
        if self._readers is None:
            raise self._not_open()
        try:
            async with self._readers.acquire() as conn:
                try:
                    return list(await conn.fetch(query, *params))
                except BaseException as exc:
                    _drop_if_broken(conn, exc)
                    raise
        except Exception as exc:
            if is_storage_exception(exc):
                raise storage_failure(self.target, "read", exc, writing=False) from exc
            raise

    def _not_open(self) -> StorageError:
        return StorageError(f"storage at {self.target.display} is not open; call open() first")


def _drop_if_broken(conn: Conn, exc: BaseException) -> None:
    """Close a connection that failed other than by an SQL error (cut, confused by a
    cancellation): the pool then makes a new one instead of lending it again."""
    if not isinstance(exc, asyncpg.PostgresError) or is_connection_failure(exc):
        conn.terminate()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Leave a connection as it is when the pool takes it back: asyncpg's default reset is
    a round trip per use, and would release the writer's advisory lock."""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as `width` parallel column lists (the arrays `unnest` takes)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _row_count(status: str) -> int:
    """The count at the end of a command tag such as `DELETE 12`."""
    return int(status.rsplit(" ", 1)[-1])
