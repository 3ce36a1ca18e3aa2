"""The SQLite implementation of `Storage`: one writer connection, a few readers, WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson

from reactor.errors import StorageError
from reactor.storage import data_dir as data_dir_modes
from reactor.storage import (
    sqlite_bulk,
    sqlite_search,
    sqlite_vectors,
    vector_entries,
)
from reactor.storage import sqlite_sql as sql
from reactor.storage.base import (
    CommitRecord,
    IndexEntry,
    IndexScan,
    Order,
    scan_ranges,
)
from reactor.storage.codec import decode_document, encode_global, entry_document
from reactor.storage.lock import DataDirLock
from reactor.storage.sqlite_checkpoint import Checkpointer
from reactor.storage.sqlite_errors import is_storage_exception, storage_failure
from reactor.storage.sqlite_index_changes import IndexChanges
from reactor.storage.sqlite_nodes import SqliteNodes, WorkerGroup
from reactor.storage.sqlite_pruning import Pruning
from reactor.storage.sqlite_schema import (
    DB_NAME,
    Durability,
    open_writer,
    reader_pragmas,
    synchronous_level,
)
from reactor.storage.sqlite_search_reads import SearchReads
from reactor.storage.sqlite_text_indexes import TextIndexes
from reactor.storage.sqlite_vector_indexes import VectorIndexes
from reactor.storage.writer_thread import WriterThread
from reactor.values.wire import dumps

# aiosqlite runs each connection in its own thread and SQLite releases the GIL
# while it steps, so two readers let two reads proceed at once on two cores.
READERS = 2

T = TypeVar("T")

class SqliteStorage(SearchReads, SqliteNodes, Pruning, IndexChanges):
    """Multi-version documents and index entries in `<data_dir>/reactor.sqlite3`.

    Writes and pruning share one plain sqlite3 connection owned by one writer
    thread: a whole write transaction (BEGIN .. COMMIT) is one hop to that
    thread. Reads round-robin over `READERS` aiosqlite connections, each
    statement reading one consistent WAL snapshot.

    With a `group` (a worker of `reactor serve --workers N`), the data directory is
    locked shared with the other workers; only the worker holding the committer's lease
    writes (sqlite_nodes.py), the others follow the log (`open_follower`).
    """

    def __init__(self, data_dir: Path, *, durability: Durability = "full",
                 group: WorkerGroup | None = None) -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability: expected 'full' or 'normal', got {durability!r}")
        self.data_dir = Path(data_dir)
        self.durability = durability
        self.db_path = self.data_dir / DB_NAME
        self._lock = DataDirLock(self.data_dir)
        self._writer: sqlite3.Connection | None = None
        self._write_thread: WriterThread | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = 0
        self._checkpointer: Checkpointer | None = None
        self._search_tables = set()
        # The writer's transactions so far (bumped on its thread): the in-memory indexes
        # number their changes with it while they load (sqlite_index_loads.py).
        self._commits = 0
        self._texts = TextIndexes(self.db_path, lambda: self._commits)
        self._vectors = VectorIndexes(self.db_path, lambda: self._commits)
        self.group = group
        self._lease_fd = None
        self._wake_in = None
        self._wake_out = None
        self._woken = asyncio.Event()
        self._notified = 0

    async def open(self) -> None:
        """Lock the data directory, create or check the file, connect."""
        if self._writer is not None:
            return
        self._take_directory()
        try:
            data_dir_modes.create_private_file(self.db_path)
            await self._connect_writer()
            for _ in range(READERS):
                self._readers.append(await self._connect(reader_pragmas()))
        except BaseException:
            await self._disconnect()
            self._lock.release()
            raise

    async def open_follower(self) -> None:
        """A worker that does not hold the lease: readers, and a wake-up socket; another
        worker writes (sqlite_nodes.py). The database exists: the worker that took the lease
        first created it before its siblings started."""
        if self._readers:
            return
        self._take_directory()
        try:
            if not self.db_path.exists():
                raise StorageError(f"{self.db_path}: no database to follow")
            for _ in range(READERS):
                self._readers.append(await self._connect(reader_pragmas()))
            await self.refresh_search_tables()
            self._listen_for_wakes()
        except BaseException:
            await self._disconnect()
            self._lock.release()
            raise

    async def open_writer(self) -> None:
        """This follower took the lease: start writing."""
        if self._writer is None:
            await self._connect_writer()

    def _take_directory(self) -> None:
        try:
            data_dir_modes.prepare(self.data_dir)
            self._lock.acquire(shared=self.group is not None)
        except OSError as exc:
            raise StorageError(f"data directory {self.data_dir}: cannot use it: {exc}") from exc

    async def _connect_writer(self) -> None:
        """The writer thread and connection (creating the tables), the checkpointer."""
        try:
            self._write_thread = WriterThread("reactor-writer")
            self._writer = await self._on_writer_thread(
                partial(open_writer, self.db_path, self.durability))
            writer = self._writer
            self._search_tables = {row[0] for row in await self._on_writer_thread(
                lambda: writer.execute(sqlite_search.LIST_TABLES).fetchall())}
            # Loaded in the background: FTS5 ranks text searches meanwhile, vector
            # searches wait.
            self._texts.start([row[0] for row in await self._on_writer_thread(
                lambda: writer.execute(sqlite_search.LIST_INDEXES).fetchall())],
                self._on_writer_thread)
            self._vectors.start([row[0] for row in await self._on_writer_thread(
                lambda: writer.execute(sqlite_vectors.LIST_INDEXES).fetchall())],
                self._on_writer_thread)
            self._checkpointer = Checkpointer(self.db_path, synchronous_level(self.durability))
            self._checkpointer.start()
            self._open_wake_sender()
        except BaseException:
            await self._disconnect_writer()
            raise

    async def open_reader(self) -> None:
        """Connect one read-only connection, without the lock: for a worker process
        reading snapshots that the process owning the data directory keeps pinned (in WAL
        mode readers run beside that process's writer). Writing methods are not usable."""
        if self._readers:
            return
        if not self.db_path.exists():
            raise StorageError(f"{self.db_path}: no database to read")
        self._readers.append(await self._connect(reader_pragmas()))
        await self.refresh_search_tables()

    async def texts_ready(self) -> None:
        """Until the in-memory text indexes loading now rank searches (tests, benchmarks)."""
        await self._texts.wait()

    async def vectors_ready(self) -> None:
        """Until the in-memory vector indexes loading now answer searches (tests,
        benchmarks)."""
        await self._vectors.wait()

    async def refresh_search_tables(self) -> None:
        """Learn which search indexes exist (a reader sees ones created since it opened)."""
        self._search_tables = {row[0] for row in await self._fetch(sqlite_search.LIST_TABLES,
                                                                    ())}

    async def close(self) -> None:
        """Close every connection, then release the lock for the next process."""
        try:
            await self._disconnect()
        finally:
            self._close_wakes()
            self.release_lease()
            self._lock.release()

    @property
    def checkpoints(self) -> int:
        """WAL checkpoints run by the checkpointer thread since `open`."""
        return 0 if self._checkpointer is None else self._checkpointer.checkpoints

    async def read_globals(self) -> dict[str, Any]:
        rows = await self._fetch("SELECT name, value FROM globals", ())
        return {name: orjson.loads(value) for name, value in rows}

    async def get_document(self, doc_id: str, ts: int) -> dict[str, Any] | None:
        rows = await self._fetch(sql.GET_DOCUMENT, (doc_id, ts))
        if not rows or rows[0][0] is None:
            return None
        return self._decode(rows[0][0], doc_id)

    async def scan_index(
        self, index_id: str, lo: bytes, hi: bytes | None, ts: int, order: Order, limit: int
    ) -> list[IndexEntry]:
        if limit <= 0:
            return []
        params = {"index_id": index_id, "lo": lo, "hi": hi, "ts": ts, "limit": limit}
        rows = await self._fetch(sql.SCAN[order, hi is not None], params)
        return [IndexEntry(key, entry_document(value, doc_id, self.db_path, index_id, ts))
                for key, doc_id, value in rows]

    async def scan_indexes(self, scans: Sequence[IndexScan], ts: int
                           ) -> list[list[IndexEntry]]:
        found: list[list[IndexEntry]] = [[] for _ in scans]
        ranges = scan_ranges(scans)
        if not ranges:
            return found
        params: dict[str, Any] = {}
        for i, _ in ranges:
            scan = scans[i]
            params.update({f"index_id_{i}": scan.index_id, f"lo_{i}": scan.lo,
                           f"hi_{i}": scan.hi, f"ts_{i}": ts, f"limit_{i}": scan.limit})
        for i, key, doc_id, value in await self._fetch(sql.scan_each(ranges), params):
            found[i].append(IndexEntry(key, entry_document(value, doc_id, self.db_path,
                                                           scans[i].index_id, ts)))
        return found

    async def write(self, commits: list[CommitRecord], globals_: dict[str, Any]) -> None:
        documents = [
            (w.doc_id, c.ts, w.table, w.value is None, None if w.value is None else dumps(w.value))
            for c in commits
            for w in c.documents
        ]
        entries = [
            (w.index_id, w.key, c.ts, w.deleted, w.doc_id) for c in commits for w in c.index_writes
        ]
        outcomes = [
            (o.session_id, o.request_id, c.ts, o.recorded_ms, o.value)
            for c in commits
            for o in c.outcomes
        ]
        searches = [(c.ts, w) for c in commits for w in c.search_writes]
        vectors = [(c.ts, w, None if w.vector is None else vector_entries.encode(w.vector))
                   for c in commits for w in c.vector_writes]
        names = [(name, encode_global(name, value)) for name, value in globals_.items()]
        known = self._search_tables
        written: list[sqlite_search.Written] = []
        seq = 0

        def write(conn: sqlite3.Connection) -> set[str]:
            nonlocal seq
            seq = self._commits
            for statement, rows in (
                (sql.INSERT_DOCUMENT, documents),
                (sql.INSERT_ENTRY, entries),
                (sql.INSERT_OUTCOME, outcomes),
                (sql.UPSERT_GLOBAL, names),
            ):
                if rows:
                    conn.executemany(statement, rows)
            if vectors:
                sqlite_vectors.write_entries(conn, vectors)
            return (sqlite_search.write_entries(conn, searches, known, written) if searches
                    else set())

        self._search_tables |= await self._transaction("write commits", write)
        if commits:
            self._wake_siblings(commits[-1].ts)
        self._texts.written(seq, written)
        self._vectors.written(seq, vectors)

    async def write_stream(self, records: AsyncIterable[CommitRecord],
                           globals_: dict[str, Any]) -> None:
        conn = self._writer
        if conn is None:
            raise self._not_open()
        try:
            result = await sqlite_bulk.write_stream(conn, self._on_writer_thread, records,
                                                    globals_, set(self._search_tables))
        except BaseException as exc:
            if is_storage_exception(exc):
                raise storage_failure(self.db_path, "write an import", exc, writing=True) from exc
            raise
        if self._checkpointer is not None:
            self._checkpointer.wrote()
        self._wake_siblings(None)
        self._search_tables |= result.search_tables
        self._texts.load(result.search_indexes)
        self._vectors.load(result.vector_indexes)

    async def get_outcome(self, session_id: str, request_id: float, ts: int) -> bytes | None:
        rows = await self._fetch(sql.GET_OUTCOME, (session_id, request_id, ts))
        return bytes(rows[0][0]) if rows else None

    async def index_entry_count(self, index_id: str) -> int:
        rows = await self._fetch(sql.COUNT, {"index_id": index_id, "lo": b"", "ts": 2**63 - 1})
        return int(rows[0][0])

    async def _on_writer_thread(self, fn: Callable[[], T]) -> T:
        if self._write_thread is None:
            raise self._not_open()
        return await self._write_thread.run(fn)

    async def _transaction(self, action: str, body: Callable[[sqlite3.Connection], T]) -> T:
        """BEGIN IMMEDIATE .. COMMIT on the writer thread; COMMIT returning means durable.

        The single writer thread runs transactions one after another, in order.
        """
        conn, checkpointer = self._writer, self._checkpointer
        if conn is None:
            raise self._not_open()

        def run() -> T:
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = body(conn)
                conn.execute("COMMIT")
                self._commits += 1
                if checkpointer is not None:
                    checkpointer.wrote()
                return result
            except BaseException as exc:
                if conn.in_transaction:
                    conn.rollback()
                if is_storage_exception(exc):
                    raise storage_failure(self.db_path, action, exc, writing=True) from exc
                raise

        return await self._on_writer_thread(run)

    async def _fetch(self, sql: str, params: Iterable[Any] | dict[str, Any]) -> list[Any]:
        """Run one read statement on the next reader connection."""
        if not self._readers:
            raise self._not_open()
        self._next_reader = (self._next_reader + 1) % len(self._readers)
        conn = self._readers[self._next_reader]
        try:
            return list(await conn.execute_fetchall(sql, params))
        except (sqlite3.Error, OSError) as exc:
            raise storage_failure(self.db_path, "read", exc, writing=False) from exc

    def _decode(self, value: bytes, doc_id: str) -> dict[str, Any]:
        return decode_document(value, doc_id, self.db_path)

    def _not_open(self) -> StorageError:
        return StorageError(f"storage at {self.data_dir} is not open; call open() first")

    async def _connect(self, pragmas: str) -> aiosqlite.Connection:
        conn = None
        try:
            conn = await aiosqlite.connect(self.db_path, isolation_level=None)
            await conn.executescript(pragmas)
        except sqlite3.Error as exc:
            if conn is not None:
                await conn.close()
            raise StorageError(f"{self.db_path}: cannot open the database: {exc}") from exc
        return conn

    async def _disconnect(self) -> None:
        readers, self._readers = self._readers, []
        try:
            await self._disconnect_writer()
        finally:
            for conn in readers:
                await conn.close()

    async def _disconnect_writer(self) -> None:
        await asyncio.gather(self._texts.close(), self._vectors.close())
        writer, self._writer = self._writer, None
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if writer is not None:
            await self._on_writer_thread(writer.close)
        if self._write_thread is not None:
            self._write_thread.shutdown()
            self._write_thread = None

