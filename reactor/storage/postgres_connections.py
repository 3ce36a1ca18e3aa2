"""The connections of a PostgreSQL store: one writing connection, a pool of readers and a
follower's listening connection; opening and closing them, and running a read or a
transaction on them with driver failures turned into `StorageError`s.

The writing connection holds an advisory lock for as long as it lives: a second Reactor
process cannot write the same schema (the seed of the committer lease of
docs/architecture.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from reactor.errors import StorageError
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

# Reads run on up to this many connections at once (PostgreSQL runs them in parallel).
READERS = 4

# How long `close` waits for reads still running before it cuts their connections.
CLOSE_TIMEOUT_S = 5.0

T = TypeVar("T")


class PostgresConnections:
    """The connections `PostgresStorage` reads and writes through (`durability="normal"`:
    `synchronous_commit = off`, an acknowledged commit can be lost to a server crash)."""

    def __init__(self, url: str, *, durability: str = "full", readers: int = READERS) -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability: expected 'full' or 'normal', got {durability!r}")
        self.target: Target = parse_url(url)
        self.durability = durability
        self.readers = readers
        self._writer: asyncpg.Pool | None = None
        self._readers: asyncpg.Pool | None = None
        # A follower's listening connection (postgres_nodes.py).
        self._listener: asyncpg.Connection | None = None

    def __str__(self) -> str:
        return self.target.display

    async def _writer_opened(self) -> None:
        """Called once the writing connection is made, before `open` or `open_writer`
        returns: the store loads what it keeps in step with its writes."""

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
            await self._writer_opened()
        except BaseException as exc:
            await self.close()
            if is_storage_exception(exc):
                raise storage_failure(self.target, "open", exc, writing=True) from exc
            raise

    async def open_writer(self) -> None:
        """A follower that took the committer lease starts writing: take the writer's lock
        (`DatabaseInUse` while a deposed committer still holds it), then load what the
        store keeps in step with its writes (`_writer_opened`)."""
        if self._writer is not None:
            return
        try:
            self._writer = await self._pool(1, writer=True)
        except Exception as exc:
            if is_storage_exception(exc):
                raise storage_failure(self.target, "open", exc, writing=True) from exc
            raise
        await self._writer_opened()

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
