"""The parts of `PostgresStorage` that let several Reactor nodes share one store
(docs/architecture.md, "Many nodes"): the committer lease (claim, renew, take over, with
a fencing epoch), and a follower's view of the commit log (its tail, its writes, a
wake-up by LISTEN/NOTIFY when a batch commits).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import asyncpg
import orjson

from reactor.errors import StorageError
from reactor.storage import postgres_follow
from reactor.storage.base import CommitterInfo, LoggedWrite
from reactor.storage.codec import decode_document
from reactor.storage.postgres_connections import READERS, PostgresConnections
from reactor.storage.postgres_schema import (
    is_storage_exception,
    owner_lock_key,
    prepare,
    storage_failure,
)

# How long a takeover waits for the lease row, which a batch in flight holds (FOR SHARE).
LOCK_WAIT_S = 1.0


def _refused(detail: str) -> StorageError:
    message = ("NotCommitter: this node no longer commits (another node took over);"
               " nothing was committed, try again")
    return StorageError(detail, code="NotCommitter", public=message)


def fenced(exc: StorageError) -> StorageError | None:
    """The error for a batch refused because another node took the lease, else None: the
    lease's fence failed it (`WRITE_COMMITS`), or the writing connection, re-made, found
    the writer's lock taken (the new committer cut the old one's session). Nothing of
    the batch was committed: it may be sent again, to the node that commits now (a
    follower forwarding it does so)."""
    if not (isinstance(exc.__cause__, asyncpg.DivisionByZeroError)
            or exc.code == "DatabaseInUse"):
        return None
    return _refused(f"commit refused by the lease's fence: {exc}")


class PostgresNodes(PostgresConnections):
    """The store's connections, with the committer lease and a follower's reads."""

    def __init__(self, url: str, *, durability: str = "full", readers: int = READERS) -> None:
        super().__init__(url, durability=durability, readers=readers)
        self._channel = postgres_follow.channel(self.target)
        # The wake-up a follower's notifications set.
        self._woken = asyncio.Event()
        # The newest commit ts a notification named since `wait_for_commits` last returned.
        self._notified = 0
        # The committer lease's epoch this process writes under (None: it holds none,
        # and its writes are not fenced).
        self.epoch: int | None = None

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
        """Take the committer lease if its holder's term has run out; None if not.

        A holder stopped in the middle of a batch (SIGSTOP, a frozen machine) keeps the
        lease row locked: once its term has run out its session is cut (the batch is
        not committed), and the next try takes the lease."""
        rows = await self._fetch_waiting(LOCK_WAIT_S, postgres_follow.TAKE_OVER, holder,
                                         address, term_s, secrets.token_hex(32))
        if rows is None:
            expired = await self._fetch(postgres_follow.LEASE_EXPIRED)
            if expired and expired[0][0]:
                await self.cut_writer()
            return None
        if not rows:
            return None
        self.epoch = int(rows[0]["epoch"])
        return CommitterInfo(address, rows[0]["secret"], self.epoch)

    async def deposed(self) -> StorageError | None:
        """After the writing connection broke before its batch was sent whole: the
        refusal to raise if another node holds the lease now (it cut this node's
        session), else None (PostgreSQL itself went away)."""
        try:
            rows = await self._fetch(postgres_follow.READ_COMMITTER)
        except StorageError:
            return None
        if self.epoch is None or not rows or int(rows[0]["epoch"]) == self.epoch:
            return None
        return _refused("the writing connection was cut: another node took the lease")

    async def cut_writer(self) -> int:
        """End the session of another process holding the writer's lock (a deposed
        committer: its writes are fenced, its session only keeps this one from
        writing); how many were ended."""
        rows = await self._fetch(postgres_follow.CUT_WRITER, owner_lock_key(self.target))
        return len(rows)

    async def _fetch_waiting(self, wait_s: float, query: str, *params: Any) -> list[Any] | None:
        """`_fetch` waiting at most `wait_s` for row locks; None if that ran out."""
        if self._readers is None:
            raise StorageError(f"storage at {self.target.display} is not open")
        try:
            async with self._readers.acquire() as conn, conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = {int(wait_s * 1000)}")
                return list(await conn.fetch(query, *params))
        except asyncpg.LockNotAvailableError:
            return None
        except Exception as exc:
            if is_storage_exception(exc):
                raise storage_failure(self.target, "read", exc, writing=False) from exc
            raise

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

