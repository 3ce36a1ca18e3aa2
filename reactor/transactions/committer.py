"""The committer: validates transactions (OCC), assigns timestamps, group-commits batches."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import ConflictError, StorageError
from reactor.schema import index_id
from reactor.storage import (
    CommitRecord,
    DocumentWrite,
    IndexWrite,
    SearchWrite,
    Storage,
    VectorWrite,
)
from reactor.transactions.catalog import Catalog
from reactor.transactions.ordering import CommitTicket
from reactor.transactions.search_plan import entry_keys, search_write
from reactor.transactions.timestamps import TimestampOracle
from reactor.transactions.transaction import OUTCOMES_KEY_SPACE, Transaction, outcome_key
from reactor.transactions.vector_search import vector_keys, vector_write
from reactor.transactions.write_keys import index_changes, text_and_vector_keys
from reactor.transactions.writelog import KeyWrite, LogEntry, WriteLog

logger = logging.getLogger("reactor.committer")

# Most transactions one SQLite transaction (one fsync) carries.
MAX_BATCH = 512
# How long a batch may wait for writers still running their handlers to join it.
GATHER_S = 0.001


@dataclass(slots=True)
class CommitStats:
    """Counters for operators and benchmarks: how well group commit is batching."""

    commits: int = 0
    batches: int = 0
    conflicts: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    # Called with each accepted commit's seconds from `commit()` to durable (metrics).
    latency_listeners: list[Callable[[float], None]] = field(default_factory=list)

    def record_batch(self, size: int) -> None:
        self.batches += 1
        self.commits += size
        self.batch_sizes[size] = self.batch_sizes.get(size, 0) + 1


QUEUED, ACCEPTED, REJECTED = 0, 1, 2


@dataclass(slots=True)
class _Pending:
    txn: Transaction
    future: asyncio.Future[int]
    # The same client's previous mutation's attempt: this one commits only after it.
    after: _Pending | None = None
    state: int = QUEUED
    queued_at: float = 0.0


class Committer:
    """One task owns timestamps and the write path; everything else only reads.

    Transactions queue up while the previous batch is being fsynced, so under
    load each SQLite transaction carries many commits.
    """

    def __init__(self, storage: Storage, catalog_ref: Callable[[], Catalog],
                 clock: TimestampOracle, write_log: WriteLog,
                 on_durable: Callable[[int, list[LogEntry]], None],
                 writers: Callable[[], int] = lambda: 0) -> None:
        self.storage = storage
        self.catalog_ref = catalog_ref
        self.clock = clock
        self.write_log = write_log
        self.on_durable = on_durable
        self.writers = writers
        self.stats = CommitStats()
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        # Held while a batch commits; a schema change holds it to pause all writes.
        self.lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        # What commits still queued when `stop` is called fail with.
        self._closing: StorageError | None = None

    def start(self) -> None:
        self._closing = None
        self._task = asyncio.create_task(self._run(), name="reactor-committer")

    async def stop(self, reason: StorageError | None = None) -> None:
        """Stop committing; commits still waiting, and those made until `start`, fail
        with `reason` (by default: the database closed). `start` commits again.

        The task is forgotten before it is cancelled: once it has answered the queue, a
        commit made before this coroutine resumes would otherwise be queued for a task
        that is gone, and never answered."""
        task, self._task = self._task, None
        if task is not None:
            self._closing = reason
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def commit(self, txn: Transaction, ticket: CommitTicket | None = None) -> int:
        """Queue `txn` and wait for its timestamp; with a ticket, after its predecessor's."""
        if self._task is None:
            raise self._closed()
        previous = None if ticket is None else ticket.predecessor()
        if previous is not None and not isinstance(previous.attempt, _Pending):
            # Sent another way (forwarded, before this node took over): no link to it.
            await previous.wait_done()
            previous = None
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        pending = _Pending(txn, future, queued_at=time.perf_counter())
        if ticket is not None:
            if previous is not None:
                pending.after = previous.attempt
            ticket.queued(pending)
        self._queue.put_nowait(pending)
        return await future

    async def _run(self) -> None:
        batch: list[_Pending] = []
        try:
            while True:
                batch = [await self._queue.get()]
                await self._gather()
                while len(batch) < MAX_BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                try:
                    async with self.lock:
                        await self._commit_batch(batch)
                except Exception as error:  # keep committing later batches whatever happened
                    self._refuse(batch, error)
        except asyncio.CancelledError:
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(self._closed())
            raise

    def _closed(self) -> StorageError:
        """What a commit made or still queued once `stop` was called fails with: one
        error each (a shared one would gather every caller's traceback)."""
        reason = self._closing
        if reason is None:
            return StorageError("the database closed before the commit was made",
                                code="DatabaseClosed",
                                public="DatabaseClosed: the server is shutting down")
        return StorageError(reason.message, code=reason.code, public=reason.public)

    async def _gather(self) -> None:
        """Wait a moment for writers still in their handlers, so one fsync carries them.

        Bounded by GATHER_S: a slow handler delays a batch by at most that much.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_S
        while self._queue.qsize() + 1 < self.writers() and loop.time() < deadline:
            await asyncio.sleep(GATHER_S / 8)

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        """Validate, stamp and write `batch`; publish it only once it is durable.

        If anything raises before that (building rows, writing them), nothing of the
        batch is visible or in the write log and every caller gets the error (`_refuse`).
        """
        previous_ts = self.clock.last_ts
        previous_creation = self.clock.last_creation_ms
        accepted: list[tuple[_Pending, int]] = []
        records: list[CommitRecord] = []
        entries: list[LogEntry] = []
        try:
            for pending in batch:
                if self._admit(pending):
                    ts = self.clock.next_ts()
                    record, entry = self._build(pending.txn, ts)
                    self.write_log.append(entry)
                    records.append(record)
                    entries.append(entry)
                    accepted.append((pending, ts))
            if not accepted:
                return
            catalog = self.catalog_ref()
            globals_: dict[str, Any] = {
                "last_ts": self.clock.last_ts,
                "last_creation_ms": self.clock.last_creation_ms,
                "tables": catalog.user_table_names,
            }
            await self.storage.write(records, globals_)
        except Exception:
            # Timestamps already handed out stay used: one more is cheaper than a doubt.
            self.write_log.discard_after(previous_ts)
            self.clock.last_creation_ms = max(self.clock.last_creation_ms, previous_creation)
            raise
        self.stats.record_batch(len(accepted))
        if self.stats.latency_listeners:
            self._report_latency(accepted)
        self.on_durable(accepted[-1][1], entries)
        for pending, ts in accepted:
            if not pending.future.done():
                pending.future.set_result(ts)

    def _report_latency(self, accepted: list[tuple[_Pending, int]]) -> None:
        now = time.perf_counter()
        for listener in self.stats.latency_listeners:
            for pending, _ in accepted:
                try:
                    listener(now - pending.queued_at)
                except Exception:
                    logger.exception("commit latency listener failed")
                    break

    def _admit(self, pending: _Pending) -> bool:
        """Whether `pending` may commit in this batch; if not, its caller is answered."""
        if pending.future.cancelled():
            pending.state = REJECTED
            return False
        after, pending.after = pending.after, None  # no chains through history
        if after is not None and after.state != ACCEPTED:
            # Its predecessor goes again: so must it, after that one.
            self.stats.conflicts += 1
            pending.state = REJECTED
            pending.future.set_exception(ConflictError(
                "the mutation the same client sent before it was not committed yet",
                ts=self.clock.last_ts))
            return False
        if pending.txn.catalog is not self.catalog_ref():
            # Begun under a schema that a schema change replaced: run it again under the new.
            self.stats.conflicts += 1
            pending.state = REJECTED
            pending.future.set_exception(ConflictError(
                "the schema changed while this mutation ran", ts=self.clock.last_ts))
            return False
        conflict = self.write_log.first_conflict(pending.txn.read_set, pending.txn.begin_ts)
        if conflict is not None:
            self.stats.conflicts += 1
            pending.state = REJECTED
            pending.future.set_exception(ConflictError(
                "a document this mutation read was changed by a concurrent commit"
                f" (index {conflict.index_id or 'log horizon'})", ts=conflict.ts))
            return False
        pending.state = ACCEPTED
        return True

    def _refuse(self, batch: list[_Pending], error: Exception) -> None:
        """Answer every caller of a failed batch still waiting: none is left hanging.

        The full error goes to the log; callers get a StorageError whose public text
        names nothing of the server (a disk-full error says so, as StorageFull).
        """
        waiting = [pending for pending in batch if not pending.future.done()]
        logger.error("commit batch failed; %d commits refused", len(waiting), exc_info=error)
        if isinstance(error, StorageError):
            failure = error
        else:
            failure = StorageError(f"commit batch failed: {type(error).__name__}: {error}",
                                   code="CommitFailed", public="CommitFailed: the server"
                                   " could not commit (the details are in the server log)")
        for pending in waiting:
            pending.state = REJECTED
            pending.future.set_exception(failure)

    def _build(self, txn: Transaction, ts: int) -> tuple[CommitRecord, LogEntry]:
        """Storage rows and write-log keys for one transaction at `ts`."""
        catalog = self.catalog_ref()
        documents: list[DocumentWrite] = []
        index_writes: list[IndexWrite] = []
        keys: list[KeyWrite] = []
        search_writes: list[SearchWrite] = []
        vector_writes: list[VectorWrite] = []
        for doc_id, write in txn.writes.items():
            table = catalog.require(write.table)
            documents.append(DocumentWrite(doc_id, write.table, write.new))
            for name, removed, added in index_changes(table, write.table, write.old,
                                                      write.new):
                if removed is not None:
                    index_writes.append(IndexWrite(name, removed, doc_id, True))
                    keys.append((name, removed))
                if added is not None:
                    index_writes.append(IndexWrite(name, added, doc_id, False))
                    keys.append((name, added))
            keys.extend(text_and_vector_keys(table, write.table, write.old, write.new))
            for search in table.search_indexes.values():
                name = index_id(write.table, search.name)
                if (write.old is not None and entry_keys(search, write.old)) or (
                        write.new is not None and entry_keys(search, write.new)):
                    search_writes.append(search_write(search, name, doc_id, write.new))
            for vectors in table.vector_indexes.values():
                name = index_id(write.table, vectors.name)
                if (write.old is not None and vector_keys(vectors, write.old)) or (
                        write.new is not None and vector_keys(vectors, write.new)):
                    vector_writes.append(vector_write(vectors, name, doc_id, write.new))
        for outcome in txn.outcomes:
            keys.append((OUTCOMES_KEY_SPACE, outcome_key(outcome.session_id, outcome.request_id)))
        return (CommitRecord(ts, documents, index_writes, txn.outcomes, search_writes,
                             vector_writes),
                LogEntry(ts, tuple(keys)))
