"""The database: snapshots for readers, one committer for writers, pruning of old revisions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from reactor.errors import ConflictError, StorageError
from reactor.schema import SchemaDefinition, TableDefinition
from reactor.storage import FollowableStorage, Storage
from reactor.transactions.bulk_import import BatchSource, write_import
from reactor.transactions.catalog import Catalog
from reactor.transactions.committer import Committer
from reactor.transactions.follower import LogFollower
from reactor.transactions.forwarding import (
    adopt_forwarded,
    decode_transaction,
    encode_transaction,
)
from reactor.transactions.options import DatabaseOptions
from reactor.transactions.ordering import CommitTicket
from reactor.transactions.query import QueryBuilder
from reactor.transactions.retention import Retention
from reactor.transactions.schema_change import SchemaChange, migrate
from reactor.transactions.timestamps import TimestampOracle
from reactor.transactions.transaction import Transaction
from reactor.transactions.writelog import LogEntry, WriteLog

logger = logging.getLogger("reactor.database")

# How long a follower that took the lease waits for a deposed committer's lock.
PROMOTE_WAIT_S = 3.0
# How long a commit refused because this node was deposed waits for it to follow
# (its next lease check, every second) before it fails.
STEP_DOWN_WAIT_S = 3.0
# How long a commit forwarded by a follower waits for the follower's own log to show it
# before the mutation is answered anyway (it is durable; the client's next reads wait).
FORWARDED_VISIBLE_WAIT_S = 10.0

CommitListener = Callable[[int, list[LogEntry]], None]
# A follower's transport: send an encoded transaction (after the one its ticket's
# predecessor sent), return its commit ts.
Forward = Callable[[bytes, CommitTicket | None], Awaitable[int]]


class Database(Retention):
    """Owns storage, the catalog of tables, timestamps and the write log."""

    def __init__(self, storage: Storage, catalog: Catalog, clock: TimestampOracle,
                 options: DatabaseOptions) -> None:
        self.storage = storage
        self.catalog = catalog
        self.clock = clock
        self.options = options
        self.write_log = WriteLog(options.log_window_ns)
        self.latest_ts = clock.last_ts
        self._listeners: list[CommitListener] = []
        # Set (and replaced) at each publication, for `wait_for`.
        self._publication = asyncio.Event()
        self._snapshots: Counter[int] = Counter()
        # Read-write transactions begun and not yet closed (queued ones included).
        self.writers = 0
        self.committer = Committer(storage, lambda: self.catalog, clock, self.write_log,
                                   self._published, lambda: self.writers)
        self._pruner: asyncio.Task[None] | None = None
        # The schema last applied to the stored data (see schema_change.py).
        self.saved_schema: dict[str, Any] = {}
        # Set on a follower node: it commits nothing and reads the log another node writes.
        self.follower: LogFollower | None = None
        # On a follower: sends an encoded transaction to the committing node, returns its
        # ts (the runtime provides the transport). Without one, commits are refused.
        self.forward: Forward | None = None
        # Set once a deposed committer follows (`demote`): its refused commits run again.
        self._stepped_down = asyncio.Event()

    @classmethod
    async def open(cls, storage: Storage, schema: SchemaDefinition | None,
                   options: DatabaseOptions | None = None,
                   system_tables: dict[str, TableDefinition] | None = None) -> Database:
        await storage.open()
        saved = await storage.read_globals()
        clock = TimestampOracle(int(saved.get("last_ts", 0)),
                                float(saved.get("last_creation_ms", 0.0)))
        catalog = Catalog(schema, list(saved.get("tables", [])), system_tables)
        database = cls(storage, catalog, clock, options or DatabaseOptions())
        database.saved_schema = dict(saved.get("schema") or {})
        database.committer.start()
        database._pruner = asyncio.create_task(database._prune_forever(), name="reactor-pruner")
        return database

    @classmethod
    async def follow(cls, storage: FollowableStorage, schema: SchemaDefinition | None,
                     options: DatabaseOptions | None = None,
                     system_tables: dict[str, TableDefinition] | None = None) -> Database:
        """Open a store that another node commits to (docs/architecture.md, "Many nodes"):
        reads and subscriptions here follow its commit log; commits are refused."""
        await storage.open_follower()
        saved = await storage.read_globals()
        tail = await storage.log_tail()
        clock = TimestampOracle(tail, float(saved.get("last_creation_ms", 0.0)))
        catalog = Catalog(schema, list(saved.get("tables", [])), system_tables)
        database = cls(storage, catalog, clock, options or DatabaseOptions())
        database.saved_schema = dict(saved.get("schema") or {})
        database.follower = LogFollower(database, storage)
        database.follower.start()
        return database

    async def promote(self, storage: FollowableStorage) -> None:
        """This follower has taken the committer lease: become the committer.

        It takes the writer's lock (ending a deposed committer's session that still
        holds it), reads the log up to its durable tail, and takes timestamps above every
        stored one. Its write log knows no commit before the tail, so a transaction
        that began earlier conflicts and is run again (docs/architecture.md).
        """
        follower = self.follower
        assert follower is not None
        await follower.stop()
        deadline = asyncio.get_running_loop().time() + PROMOTE_WAIT_S
        while True:
            try:
                await storage.open_writer()
                break
            except StorageError as error:
                if error.code != "DatabaseInUse" or (
                        asyncio.get_running_loop().time() > deadline):
                    follower.start()
                    raise
                # The deposed committer's session still holds it (the process may be
                # stopped, not dead): its writes are fenced, so end it.
                await storage.cut_writer()
                await asyncio.sleep(0.1)
        saved = await storage.read_globals()
        await follower.catch_up()
        self.clock.last_ts = max(self.clock.last_ts, self.latest_ts, int(saved.get("last_ts", 0)))
        self.clock.last_creation_ms = max(self.clock.last_creation_ms,
                                          float(saved.get("last_creation_ms", 0.0)))
        self.write_log.restart_at(self.clock.last_ts)
        self.follower = None
        self.forward = None
        self._stepped_down.clear()
        self.committer.start()
        self._pruner = asyncio.create_task(self._prune_forever(), name="reactor-pruner")

    async def demote(self, storage: FollowableStorage,
                     forward: Forward) -> None:
        """This committer was deposed (another node took the lease, so its writes are
        fenced): follow the log from now on, and commit through `forward`.

        Commits still queued here, and those made until this node follows, are refused
        with `NotCommitter` (nothing of them was written): a follower that forwarded one
        sends it to the new committer; this node's own run again
        (`_refused_as_deposed`) and are forwarded there. The writer is closed last, so
        that how long that takes does not hold them up."""
        message = ("NotCommitter: this node no longer commits (another node took over);"
                   " nothing was committed, try again")
        async with self.committer.lock:  # a batch being written finishes first
            await self.committer.stop(StorageError("deposed: the commit was not made",
                                                   code="NotCommitter", public=message))
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)
            self._pruner = None
        self.forward = forward
        self.follower = LogFollower(self, storage)
        self.follower.start()
        self._stepped_down.set()
        await storage.close_writer()

    def publish_followed(self, ts: int, entries: list[LogEntry]) -> None:
        """Make the commits up to `ts`, read from the log by a follower, visible here."""
        for entry in entries:
            self.write_log.append(entry)
        self.clock.last_ts = max(self.clock.last_ts, ts)
        self._published(ts, entries)

    async def wait_until(self, ts: int, timeout_s: float) -> None:
        """On a follower, wait (bounded) for the log to reach `ts`: a client that saw `ts`
        on another node reads at or after it here. Elsewhere a no-op."""
        if self.follower is not None and ts > self.latest_ts:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait_for(ts), timeout_s)

    def _refuse_on_follower(self) -> None:
        if self.follower is not None:
            message = ("NotCommitter: this node follows another node's commits and cannot"
                       " commit; send mutations to the committing node")
            raise StorageError(message, code="NotCommitter", public=message)

    async def close(self) -> None:
        if self.follower is not None:
            await self.follower.stop()
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)
        await self.committer.stop()
        await self.storage.close()

    async def apply_schema(self, schema: SchemaDefinition | None) -> SchemaChange:
        """Make `schema` the one governing the data, as one atomic step (hot reload, start).

        Commits pause while the stored documents are checked against changed
        validators and new indexes are backfilled; a mismatch raises `SchemaError`
        and changes nothing. Transactions begun under the old schema are re-run
        under the new one if they try to commit after it (schema_change.py).
        """
        if self.follower is not None:
            # The committing node applies it to the data; this node reads under it.
            self.catalog = Catalog(schema, self.catalog.user_table_names,
                                   self.catalog.system_tables)
            return SchemaChange()
        async with self.committer.lock:
            migration = await migrate(self, schema)
            self.saved_schema = migration.saved
            self.catalog = Catalog(schema, self.catalog.user_table_names,
                                   self.catalog.system_tables)
            if migration.commit_ts is not None:
                # The backfilled entries are readable from commit_ts on: publish it like
                # a commit that no live query read (none could read an unbuilt index).
                self.write_log.append(LogEntry(migration.commit_ts, ()))
                self._published(migration.commit_ts, [])
        return migration.change

    async def bulk_import(self, replace: Sequence[str], source: BatchSource) -> int:
        """Commit every document `source` yields, after removing those of the `replace`
        tables, as one transaction; its timestamp (see bulk_import.py). Documents carry
        their `_id` and `_creationTime` and were validated by `source` against the
        catalog it is given (a new table is registered in it by a validating write)."""
        self._refuse_on_follower()
        async with self.committer.lock:
            ts, catalog = await write_import(self.storage, self.catalog, self.clock,
                                             self.latest_ts, replace, source)
            self.catalog = catalog
            # Transactions begun before see a replaced catalog and run again; live
            # queries of every table re-run.
            self.write_log.append(LogEntry(ts, ()))
            self._published(ts, [])
        return ts

    # Transactions ----------------------------------------------------------

    def begin(self, *, read_only: bool = False, ts: int | None = None) -> Transaction:
        snapshot = self.latest_ts if ts is None else ts
        if snapshot > self.latest_ts:
            message = f"timestamp {snapshot} is in the future"
            raise StorageError(message, code="InvalidTimestamp", public=message)
        self._snapshots[snapshot] += 1
        if not read_only:
            self.writers += 1
        return Transaction(storage=self.storage, catalog=self.catalog, begin_ts=snapshot,
                           read_only=read_only, creation_time=self.clock.next_creation_time,
                           limits=self.options.limits, on_close=self._release)

    def _release(self, txn: Transaction) -> None:
        if not txn.read_only:
            self.writers -= 1
        self._snapshots[txn.begin_ts] -= 1
        if self._snapshots[txn.begin_ts] <= 0:
            del self._snapshots[txn.begin_ts]

    def query(self, txn: Transaction, table: str) -> QueryBuilder:
        return QueryBuilder(txn, table)

    async def commit(self, txn: Transaction, ticket: CommitTicket | None = None, *,
                     rerun_if_deposed: bool = True) -> int:
        """Commit `txn` and return its timestamp (its snapshot if it wrote nothing).

        With a ticket, `txn` takes its place after the client's previous mutation
        (see ordering.py); a `ConflictError` then may also mean "run again after it".
        """
        if txn.has_writes and self.follower is not None:
            return await self._forward(txn, ticket)
        if not txn.has_writes:
            if ticket is None:
                return txn.begin_ts
            await self.serialize_after(txn, ticket)
            return self.latest_ts
        previous = None if ticket is None else ticket.predecessor()
        if previous is not None:
            await previous.wait_queued()
        try:
            ts = await self.committer.commit(txn, ticket)
        except StorageError as error:
            if error.code != "NotCommitter" or not rerun_if_deposed:
                raise
            raise await self._refused_as_deposed(error) from None
        _after_commit(txn)
        return ts

    async def _refused_as_deposed(self, error: StorageError) -> Exception:
        """What a commit refused because another node took the lease (nothing of it was
        written) raises: a conflict once this node follows (within its next lease check),
        so that the mutation runs again and commits through the new committer; the
        refusal if it does not follow by then."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stepped_down.wait(), STEP_DOWN_WAIT_S)
        if self.follower is None:
            return error
        return ConflictError("this node stopped committing (another node took over): run"
                             " again through the new committer", ts=self.latest_ts)

    async def _forward(self, txn: Transaction, ticket: CommitTicket | None) -> int:
        """Commit `txn` through the committing node; return once this node shows it, or
        after FORWARDED_VISIBLE_WAIT_S if its log does not.

        The same client's mutations are sent in order (this one once its previous one
        is on its way), and the transport has the committer commit them in that order.
        """
        if self.forward is None:
            self._refuse_on_follower()
        assert self.forward is not None
        previous = None if ticket is None else ticket.predecessor()
        if previous is not None:
            await previous.wait_queued()
        ts = await self.forward(encode_transaction(txn), ticket)
        try:
            async with asyncio.timeout(FORWARDED_VISIBLE_WAIT_S):
                await self.wait_for(ts)
        except TimeoutError:  # made: a read at its ts waits for the log, bounded
            logger.warning("commit at ts %d made, but not in this node's log after %g s"
                           " (its database connection down?): answered", ts,
                           FORWARDED_VISIBLE_WAIT_S)
        _after_commit(txn)
        return ts

    async def commit_forwarded(self, body: bytes) -> int:
        """Validate and commit a transaction a follower node ran (forwarding.py), as if
        it had run here at the same snapshot; its ts (`ConflictError`: run it again)."""
        self._refuse_on_follower()
        data = decode_transaction(body)
        begin_ts = int(data["begin_ts"])
        if begin_ts > self.latest_ts:
            # Durable, and read by the follower, a moment before this node published it.
            await asyncio.wait_for(self.wait_for(begin_ts), 5.0)
        txn = self.begin(ts=begin_ts)
        try:
            adopt_forwarded(txn, data)
            # Refused because this node was deposed: the follower sends it on as it is.
            return await self.commit(txn, rerun_if_deposed=False)
        finally:
            txn.close()

    async def serialize_after(self, txn: Transaction, ticket: CommitTicket) -> None:
        """Place a transaction that commits nothing (it failed, or wrote nothing) after the
        client's previous mutation: wait for that one, then raise `ConflictError` if
        anything `txn` read has changed since its snapshot (the predecessor may have
        committed after it began)."""
        previous = ticket.predecessor()
        if previous is not None:
            await previous.wait_done()
        conflict = self.write_log.first_conflict(txn.read_set, txn.begin_ts)
        if conflict is not None:
            raise ConflictError("a document this mutation read was changed after it began",
                                ts=conflict.ts)

    # Publication -----------------------------------------------------------

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def remove_commit_listener(self, listener: CommitListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def wait_for(self, ts: int) -> None:
        """Until the commit at `ts` is visible to new transactions."""
        while self.latest_ts < ts:
            await self._publication.wait()

    def _published(self, ts: int, entries: list[LogEntry]) -> None:
        self.latest_ts = ts
        self.write_log.trim(ts, keep_after=self.oldest_snapshot)
        self._publication.set()
        self._publication = asyncio.Event()
        for listener in list(self._listeners):
            try:
                listener(ts, entries)
            except Exception:
                logger.exception("commit listener failed")


def _after_commit(txn: Transaction) -> None:
    for callback in txn.after_commit:
        try:
            callback()
        except Exception:
            logger.exception("after-commit callback failed")
