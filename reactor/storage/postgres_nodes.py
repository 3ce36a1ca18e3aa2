"""The parts of `PostgresStorage` that let several Reactor nodes share one store
(docs/architecture.md, "Many nodes"): the committer lease (claim, renew, take over, with
a fencing epoch), and a follower's view of the commit log (its tail, its writes, a
wake-up by LISTEN/NOTIFY when a batch commits).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import orjson

from reactor.storage import postgres_follow
from reactor.storage.base import CommitterInfo, LoggedWrite
from reactor.storage.codec import decode_document
from reactor.storage.postgres_schema import (
    Conn,
    Target,
    is_storage_exception,
    prepare,
    storage_failure,
)

T = TypeVar("T")


class PostgresNodes:
    """A mixin of `PostgresStorage`: it uses the store's connections and its target."""

    target: Target
    readers: int
    epoch: int | None
    _readers: asyncpg.Pool | None
    _listener: asyncpg.Connection | None
    _woken: asyncio.Event
    _notified: int
    _channel: str

    async def _fetch(self, query: str, *params: Any) -> list[Any]:
        raise NotImplementedError

    async def _transaction(self, action: str, body: Callable[[Conn], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def _pool(self, size: int, *, writer: bool = False) -> asyncpg.Pool:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def open_follower(self) -> None:
        """Connect readers and a listening connection, without the writer's lock: another
        node commits (docs/architecture.md, "Many nodes"). Writing methods are not usable."""
        if self._readers is not None:
            return
        try:
            conn = await asyncpg.connect(self.target.dsn)
            try:
                await prepare(conn, self.target)  # a follower may start before any committer
            finally:
                await conn.close()
            self._readers = await self._pool(self.readers)
            await self._listen()
        except BaseException as exc:
            await self.close()
            if is_storage_exception(exc):
                raise storage_failure(self.target, "open", exc, writing=False) from exc
            raise

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.target.dsn)
        await conn.add_listener(self._channel, self._on_notify)
        self._listener = conn

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        """A batch committed: its payload is its last ts (the batch statement's)."""
        with contextlib.suppress(TypeError, ValueError):
            self._notified = max(self._notified, int(str(payload)))
        self._woken.set()

    async def log_tail(self) -> int:
        rows = await self._fetch(postgres_follow.READ_LAST_TS)
        return int(orjson.loads(rows[0][0])) if rows else 0

    async def read_log(self, after_ts: int, upto_ts: int) -> list[LoggedWrite]:
        rows = await self._fetch(postgres_follow.READ_LOG, after_ts, upto_ts)
        display = self.target.display
        return [LoggedWrite(ts, doc_id, table,
                            None if old is None else decode_document(old, doc_id, display),
                            None if new is None else decode_document(new, doc_id, display))
                for ts, doc_id, table, new, old in rows]

    async def committer(self) -> CommitterInfo | None:
        rows = await self._fetch(postgres_follow.READ_COMMITTER)
        return CommitterInfo(*rows[0]) if rows else None

    async def claim_commits(self, holder: str, address: str, term_s: float) -> CommitterInfo:
        """Name this process the committer (it holds the writer's lock): followers send
        their transactions to `address`."""
        row = await self._transaction("name the committer", lambda conn: conn.fetchrow(
            postgres_follow.CLAIM_COMMITTER, holder, address, term_s, secrets.token_hex(32)))
        assert row is not None
        self.epoch = int(row["epoch"])
        return CommitterInfo(address, row["secret"], self.epoch)

    async def take_over(self, holder: str, address: str, term_s: float) -> CommitterInfo | None:
        """Take the committer lease if its holder's term has run out; None if not."""
        rows = await self._fetch(postgres_follow.TAKE_OVER, holder, address, term_s,
                                 secrets.token_hex(32))
        if not rows:
            return None
        self.epoch = int(rows[0]["epoch"])
        return CommitterInfo(address, rows[0]["secret"], self.epoch)

    async def renew(self, holder: str, term_s: float) -> bool:
        """Extend this process's term; False if another node has taken the lease."""
        rows = await self._fetch(postgres_follow.RENEW, holder, self.epoch, term_s)
        return bool(rows)

    async def wait_for_commits(self, timeout_s: float) -> int | None:
        if self._listener is None or self._listener.is_closed():
            # Lost (PostgreSQL restarted): listen again; polling covers the gap.
            self._listener = None
            with contextlib.suppress(Exception):
                await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout_s)
        self._woken.clear()
        notified, self._notified = self._notified, 0
        return notified or None

