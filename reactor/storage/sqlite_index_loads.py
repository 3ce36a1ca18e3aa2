"""The writer's in-memory search indexes, loaded in the background.

Loading an index reads every stored entry: seconds for 100,000 documents or vectors.
Opening the store, an index build and an import therefore only mark the indexes they
concern as loading and go on. Text indexes (sqlite_text_indexes.py) are ranked with
FTS5 until their in-memory copy is ready; vector indexes (sqlite_vector_indexes.py),
which have no second engine, make their searches wait for it.

A load reads one snapshot, on a connection of its own and in a thread, while commits
go on. Every change the writer makes to a loading index (a write's entries, a prune's
removals) waits in the load's backlog, numbered by the transaction that made it: the
store counts its transactions (`commits`), and each transaction reads the count on
the writer thread before its COMMIT. The snapshot is opened on the writer thread too,
between two transactions, and notes the count then, so it holds exactly the changes
numbered below that count. The built index replays the others in commit order and
takes over in one step of the event loop: no change is missed or applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from reactor.errors import StorageError
from reactor.storage.malloc import malloc_trim
from reactor.storage.sqlite_schema import reader_pragmas

logger = logging.getLogger("reactor.storage")
_trim = malloc_trim()
# Rows read at a time when loading an index, between two checks for a close.
_BATCH = 4096

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the in-memory index type
# Runs a function on the writer thread, between transactions.
OnWriterThread = Callable[[Callable[[], T]], Awaitable[T]]


class LoadStopped(Exception):
    """A load gave up: the store is closing."""


def batches(cursor: sqlite3.Cursor, stopped: Callable[[], bool]) -> Iterator[list[Any]]:
    """The cursor's rows a batch at a time; raises `LoadStopped` once `stopped()` says so."""
    while batch := cursor.fetchmany(_BATCH):
        if stopped():
            raise LoadStopped
        yield batch


@dataclass(eq=False)
class _Load(Generic[I]):
    index_id: str
    # (transaction number, change) of every change made since the load was asked for.
    backlog: list[tuple[int, Callable[[I | None], I | None]]] = field(default_factory=list)
    failed: bool = False
    # Set once this load no longer stands for the index: done, failed, replaced or closed.
    settled: asyncio.Event = field(default_factory=asyncio.Event)


class IndexLoads(Generic[I]):
    """The in-memory indexes of one kind in the process holding the writer (see module
    doc); a subclass says how an index is read from a snapshot and how writes change it.

    The event loop owns everything here; `commits` is read on the writer thread only.
    """

    # What serves an index whose load failed, for the log.
    failing = "its searches fail"

    def __init__(self, db_path: Path, commits: Callable[[], int]) -> None:
        self.db_path = db_path
        self.commits = commits
        self.ready: dict[str, I] = {}
        self._loads: dict[str, _Load[I]] = {}
        self._queue: deque[_Load[I]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._on_writer_thread: OnWriterThread[tuple[sqlite3.Connection, int]] | None = None
        self._stop = threading.Event()

    def read(self, conn: sqlite3.Connection, index_id: str, stopped: Callable[[], bool]
             ) -> I | None:
        """In a thread: the index as stored in the connection's snapshot (None: no entries);
        raises `LoadStopped` once `stopped()` says so."""
        raise NotImplementedError

    def start(self, index_ids: Iterable[str],
              on_writer_thread: OnWriterThread[tuple[sqlite3.Connection, int]]) -> None:
        """The writer is open: load the indexes that have entries. Others start empty
        (their first write makes them)."""
        self._on_writer_thread = on_writer_thread
        self._stop.clear()
        self.load(index_ids)

    def ranks(self, index_id: str) -> bool:
        """Whether the in-memory index answers searches now."""
        return self._on_writer_thread is not None and index_id not in self._loads

    def hold(self, index_ids: Iterable[str]) -> None:
        """Take these indexes out of service until a `load` of them: the caller is about
        to rewrite their entries in SQL."""
        for index_id in index_ids:
            self.ready.pop(index_id, None)
            self._replace(_Load(index_id))

    def load(self, index_ids: Iterable[str]) -> None:
        """Load these indexes afresh from what is stored (in the background)."""
        for index_id in dict.fromkeys(index_ids):
            self.ready.pop(index_id, None)
            self._queue.append(self._replace(_Load(index_id)))
        if self._queue and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    def _replace(self, load: _Load[I]) -> _Load[I]:
        previous = self._loads.get(load.index_id)
        if previous is not None:
            previous.settled.set()
        self._loads[load.index_id] = load
        return load

    async def wait(self) -> None:
        """Until every load asked for so far is done (or failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def loaded(self, index_id: str) -> I | None:
        """The index (None: it has no entries), once the loads of it under way are done."""
        while (load := self._loads.get(index_id)) is not None and not load.failed:
            await load.settled.wait()
        if self._on_writer_thread is None:
            raise StorageError(f"{self.db_path}: the store is closed")
        if load is not None:
            raise StorageError(f"{self.db_path}: search index {index_id!r} could not be "
                               "loaded into memory (see the log)")
        return self.ready.get(index_id)

    async def close(self) -> None:
        """Stop loading (a load under way gives up at its next batch of rows), forget all."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        self._on_writer_thread = None
        for load in self._loads.values():
            load.settled.set()
        self._queue.clear()
        self._loads.clear()
        self.ready.clear()

    def change(self, index_id: str, seq: int, change: Callable[[I | None], I | None]) -> None:
        """Transaction `seq` made this change to an index (the index -> the index after)."""
        load = self._loads.get(index_id)
        if load is None:
            index = change(self.ready.get(index_id))
            if index is not None:
                self.ready[index_id] = index
        elif not load.failed:
            load.backlog.append((seq, change))

    def change_all(self, seq: int, change: Callable[[I | None], I | None]) -> None:
        """Transaction `seq` made this change to every index."""
        for index_id in {*self.ready, *self._loads}:
            self.change(index_id, seq, change)

    async def _run(self) -> None:
        while self._queue and not self._stop.is_set():
            load = self._queue.popleft()
            if self._loads.get(load.index_id) is not load:
                continue  # asked for again since: the later load does it
            try:
                conn, snapshot = await self._take_snapshot()
                index = await asyncio.to_thread(self._build, conn, load.index_id)
            except LoadStopped:
                return
            except Exception:
                logger.exception("%s: cannot load search index %r into memory; %s",
                                 self.db_path, load.index_id, self.failing)
                load.failed = True
                load.backlog.clear()
                load.settled.set()
                continue
            self._finish(load, snapshot, index)

    async def _take_snapshot(self) -> tuple[sqlite3.Connection, int]:
        """A connection reading one snapshot, and how many transactions it holds."""
        on_writer_thread = self._on_writer_thread
        if on_writer_thread is None:
            raise LoadStopped
        return await on_writer_thread(self._open_snapshot)

    def _open_snapshot(self) -> tuple[sqlite3.Connection, int]:
        """On the writer thread, so that no transaction commits meanwhile."""
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        try:
            conn.executescript(reader_pragmas())
            conn.execute("BEGIN")
            # A read transaction takes its snapshot at its first read.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn, self.commits()

    def _build(self, conn: sqlite3.Connection, index_id: str) -> I | None:
        """In a thread of its own: the index as of the connection's snapshot."""
        try:
            index = self.read(conn, index_id, self._stop.is_set)
        finally:
            conn.close()
        # The build's transient arrays (twice the index at their peak) are free now.
        if _trim is not None:
            _trim()
        return index

    def _finish(self, load: _Load[I], snapshot: int, index: I | None) -> None:
        """Catch up with the changes the snapshot does not hold, then serve (no await)."""
        if self._loads.get(load.index_id) is not load:
            return
        load.backlog.sort(key=lambda item: item[0])
        for seq, change in load.backlog:
            if seq >= snapshot:
                index = change(index)
        del self._loads[load.index_id]
        if index is not None:
            self.ready[load.index_id] = index
        load.settled.set()
