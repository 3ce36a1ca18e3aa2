"""The writer's in-memory text indexes (text_index.py), loaded in the background.

Loading an index reads every stored entry, seconds for 100,000 documents. Opening the
store, an index build and an import therefore only mark the indexes they concern as
loading and go on: a loading index is ranked with FTS5, as in a process without the
writer, until its in-memory copy is built and caught up, and then by that copy.

A load reads one snapshot, on a connection of its own and in a thread, while commits
go on. Every change the writer makes to a loading index (a write's entries, a prune's
removals) waits in the load's backlog, numbered by the transaction that made it:
`commits` counts the writer's transactions, and each transaction reads it on the
writer thread before its COMMIT. The snapshot is opened on the writer thread too,
between two transactions, and notes the count then, so it holds exactly the changes
numbered below that count. The built index replays the others in commit order and
takes FTS5's place in one step of the event loop: no change is missed or applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from reactor.storage import sqlite_search
from reactor.storage.malloc import malloc_trim
from reactor.storage.sqlite_schema import reader_pragmas
from reactor.storage.text_index import LIVE, TextIndex

logger = logging.getLogger("reactor.storage")
_trim = malloc_trim()

T = TypeVar("T")
# A change to one index: the index (None while it has no entries) -> the index after it.
Change = Callable[[TextIndex | None], TextIndex | None]
# Runs a function on the writer thread, between transactions.
OnWriterThread = Callable[[Callable[[], T]], Awaitable[T]]


@dataclass(eq=False)
class _Load:
    index_id: str
    # (transaction number, change) of every change made since the load was asked for.
    backlog: list[tuple[int, Change]] = field(default_factory=list)
    failed: bool = False


class TextIndexes:
    """The in-memory text indexes of the process holding the writer (see module doc).

    The event loop owns everything here except `commits`, which only the writer
    thread reads and bumps.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.commits = 0
        self.ready: dict[str, TextIndex] = {}
        self._loads: dict[str, _Load] = {}
        self._queue: deque[_Load] = deque()
        self._task: asyncio.Task[None] | None = None
        self._on_writer_thread: OnWriterThread[tuple[sqlite3.Connection, int]] | None = None
        self._stop = threading.Event()

    def start(self, index_ids: Iterable[str],
              on_writer_thread: OnWriterThread[tuple[sqlite3.Connection, int]]) -> None:
        """The writer is open: load the indexes that have entries. Others start empty
        (their first write makes them)."""
        self._on_writer_thread = on_writer_thread
        self._stop.clear()
        self.load(index_ids)

    def ranks(self, index_id: str) -> bool:
        """Whether the in-memory index ranks searches (else FTS5 does)."""
        return self._on_writer_thread is not None and index_id not in self._loads

    def hold(self, index_ids: Iterable[str]) -> None:
        """Rank these indexes with FTS5 until a `load` of them: the caller is about to
        rewrite their entries in SQL."""
        for index_id in index_ids:
            self.ready.pop(index_id, None)
            self._loads[index_id] = _Load(index_id)

    def load(self, index_ids: Iterable[str]) -> None:
        """Load these indexes afresh from what is stored (in the background)."""
        for index_id in dict.fromkeys(index_ids):
            self.ready.pop(index_id, None)
            load = self._loads[index_id] = _Load(index_id)
            self._queue.append(load)
        if self._queue and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    async def wait(self) -> None:
        """Until every load asked for so far is done (or failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Stop loading (a build under way gives up at its next batch of rows), forget all."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        self._on_writer_thread = None
        self._queue.clear()
        self._loads.clear()
        self.ready.clear()

    # Changes ---------------------------------------------------------------

    def written(self, seq: int, written: Iterable[sqlite_search.Written]) -> None:
        """Transaction `seq` stored these entry changes (sqlite_search.write_entries)."""
        per_index: dict[str, list[sqlite_search.Written]] = {}
        for change in written:
            per_index.setdefault(change[1].index_id, []).append(change)
        for index_id, changes in per_index.items():
            self._change(index_id, seq, partial(_write, changes))

    def pruned(self, seq: int, pruned: Iterable[tuple[int, str, str]]) -> None:
        """Transaction `seq` deleted these (entry id, index id, terms)."""
        per_index: dict[str, list[tuple[int, str]]] = {}
        for entry_id, index_id, terms in pruned:
            per_index.setdefault(index_id, []).append((entry_id, terms))
        for index_id, entry_ids in per_index.items():
            self._change(index_id, seq, partial(_remove, entry_ids))

    def _change(self, index_id: str, seq: int, change: Change) -> None:
        load = self._loads.get(index_id)
        if load is None:
            index = change(self.ready.get(index_id))
            if index is not None:
                self.ready[index_id] = index
        elif not load.failed:
            load.backlog.append((seq, change))

    # Loading ---------------------------------------------------------------

    async def _run(self) -> None:
        while self._queue and not self._stop.is_set():
            load = self._queue.popleft()
            if self._loads.get(load.index_id) is not load:
                continue  # asked for again since: the later load does it
            try:
                conn, snapshot = await self._take_snapshot()
                index = await asyncio.to_thread(self._build, conn, load.index_id)
            except _Stopped:
                return
            except Exception:
                logger.exception("%s: cannot load search index %r into memory; FTS5 ranks "
                                 "its searches", self.db_path, load.index_id)
                load.failed = True
                load.backlog.clear()
                continue
            self._finish(load, snapshot, index)

    async def _take_snapshot(self) -> tuple[sqlite3.Connection, int]:
        """A connection reading one snapshot, and how many transactions it holds."""
        on_writer_thread = self._on_writer_thread
        if on_writer_thread is None:
            raise _Stopped
        return await on_writer_thread(self._open_snapshot)

    def _open_snapshot(self) -> tuple[sqlite3.Connection, int]:
        """On the writer thread, so that no transaction commits meanwhile."""
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        try:
            conn.executescript(reader_pragmas())
            conn.execute("BEGIN")
            # A read transaction takes its snapshot at its first read.
            conn.execute("SELECT max(entry_id) FROM search_entries").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn, self.commits

    def _build(self, conn: sqlite3.Connection, index_id: str) -> TextIndex | None:
        """In a thread of its own: the index as of the connection's snapshot."""
        try:
            index = sqlite_search.load_index(conn, index_id, self._stop.is_set)
        except sqlite_search.LoadStopped as exc:
            raise _Stopped from exc
        finally:
            conn.close()
        # The build's transient arrays (twice the index at their peak) are free now.
        if _trim is not None:
            _trim()
        return index

    def _finish(self, load: _Load, snapshot: int, index: TextIndex | None) -> None:
        """Catch up with the changes the snapshot does not hold, then rank (no await)."""
        if self._loads.get(load.index_id) is not load:
            return
        load.backlog.sort(key=lambda item: item[0])
        for seq, change in load.backlog:
            if seq >= snapshot:
                index = change(index)
        del self._loads[load.index_id]
        if index is not None:
            self.ready[load.index_id] = index


class _Stopped(Exception):
    """The store is closing."""


def _write(changes: list[sqlite_search.Written], index: TextIndex | None) -> TextIndex | None:
    for ts, write, entry_id, ended in changes:
        if index is not None:
            for ended_id in ended:
                index.end_entry(ended_id, ts)
        if write.terms is None:
            continue
        if index is None:
            index = TextIndex()
        index.add(entry_id, write.doc_id, ts, LIVE, write.creation_time, write.terms,
                  write.filters)
    return index


def _remove(entries: list[tuple[int, str]], index: TextIndex | None) -> TextIndex | None:
    if index is not None:
        for entry_id, terms in entries:
            index.remove(entry_id, terms.split())
    return index
