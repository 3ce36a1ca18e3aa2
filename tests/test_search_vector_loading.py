"""In-memory vector indexes loaded in the background (storage/sqlite_vector_indexes.py).

Opening a store does not wait for them; a vector search issued meanwhile waits for
the load, which reads a snapshot and replays the writes and prunes made since. Here
inserts, replacements, deletions and prunes land before the snapshot is taken (the
backlog keeps them but the snapshot holds them) and after it (only the backlog has
them), and the matrix that results must equal, row for row, the one a synchronous
load of the file gives (what opening the store did before): a change missed or
applied twice shows as a row missing, doubled, or ended at the wrong time. Vectors
have small integer components, so that scores tie and the order of rows matters.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.errors import StorageError
from reactor.storage import (
    CommitRecord,
    DocumentWrite,
    IndexWrite,
    SqliteStorage,
    VectorBuild,
    VectorHit,
    VectorQuery,
    VectorWrite,
    sqlite_vectors,
)
from reactor.storage.vector_matrix import LIVE, VectorMatrix

INDEX = "t.by_vector"
DOCS = [f"d{i}" for i in range(6)]
BOARDS = ["a", "b"]
# Synchronous load from the file, as opening the store did before (the oracle).
load_from_file = sqlite_vectors.load_index

vectors = st.lists(st.integers(-2, 2), min_size=3, max_size=3).map(
    lambda xs: [float(x) for x in xs])
# One commit: a document's vector put (insert or replace) or removed; or a prune.
operations = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(DOCS), vectors, st.sampled_from(BOARDS)),
    st.tuples(st.just("delete"), st.sampled_from(DOCS)),
    st.tuples(st.just("prune")),
)
queries = st.tuples(vectors, st.sampled_from([(), ((0, "a"),), ((0, "b"),)]))


class Store:
    """A store and the timestamp of its last commit."""

    def __init__(self, storage: SqliteStorage, ts: int = 0) -> None:
        self.storage, self.ts = storage, ts

    async def apply(self, ops: list[Any]) -> None:
        for op in ops:
            if op[0] == "prune":
                # Ends at or before the horizon go: a snapshot a few commits back.
                while await self.storage.prune(max(0, self.ts - 2), 1000):
                    pass
                continue
            self.ts += 1
            vector = op[2] if op[0] == "put" else None
            filters = [op[3]] if op[0] == "put" else []
            await self.storage.write([CommitRecord(self.ts, [], [], vector_writes=[
                VectorWrite(INDEX, op[1], vector, filters)])], {})


def contents(matrix: VectorMatrix | None) -> Any:
    """Everything a search depends on, row by row: filter tokens as strings (the codes
    they are interned to depend on which tokens came first, pruned rows included)."""
    if matrix is None or matrix.size == 0:
        return None
    names = [{code: token for token, code in table.items()} for table in matrix._tokens]
    return [(matrix._doc_ids[row], matrix._vectors[row].tobytes(), int(matrix._start[row]),
             int(matrix._end[row]),
             [names[field].get(int(code)) for field, code in enumerate(matrix._filters[:, row])],
             matrix._current.get(matrix._doc_ids[row]) == row)
            for row in range(matrix.size)]


def stored(path: Path) -> VectorMatrix | None:
    conn = sqlite3.connect(path / "reactor.sqlite3")
    try:
        return load_from_file(conn, INDEX, lambda: False)
    finally:
        conn.close()


def oracle(path: Path, query: Any, ts: int, limit: int = 4) -> list[VectorHit]:
    matrix = stored(path)
    if matrix is None:
        return []
    return matrix.search(query[0], query[1], ts, limit)


class Gates:
    """Hold a store's vector loads before their snapshot and before their build."""

    def __init__(self, storage: SqliteStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.may_snapshot, self.snapshot_taken = asyncio.Event(), asyncio.Event()
        self.may_build = threading.Event()
        take_snapshot = storage._vectors._take_snapshot

        async def gated_snapshot() -> Any:
            await self.may_snapshot.wait()
            taken = await take_snapshot()
            self.snapshot_taken.set()
            return taken

        def gated_load(*args: Any) -> VectorMatrix | None:
            assert self.may_build.wait(30)
            return load_from_file(*args)

        monkeypatch.setattr(storage._vectors, "_take_snapshot", gated_snapshot)
        monkeypatch.setattr(sqlite_vectors, "load_index", gated_load)

    def release(self) -> None:
        self.may_snapshot.set()
        self.may_build.set()


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(st.tuples(st.sampled_from(DOCS), st.lists(
    st.floats(-1e3, 1e3, width=32), min_size=3, max_size=3), st.sampled_from(BOARDS),
    st.booleans()), max_size=40), cuts=st.lists(st.integers(0, 40), max_size=4))
def test_a_load_in_batches_makes_the_rows_of_puts_one_by_one(
        entries: list[Any], cuts: list[int]) -> None:
    """`extend` (a load's batches) against `put` (writes as they come), bit for bit:
    removals end the document's row, as stored rows carry it."""
    one_by_one = VectorMatrix(3, 1)
    rows: list[Any] = []
    for ts, (doc_id, vector, board, removed) in enumerate(entries, 1):
        data = np.asarray(vector, dtype=np.float32).tobytes()
        one_by_one.put(doc_id, ts, None if removed else data, [board])
        for row in rows:
            if row[0] == doc_id and row[2] == LIVE:
                row[2] = ts
        if not removed:
            rows.append([doc_id, ts, LIVE, data, board])
    loaded = VectorMatrix(3, 1)
    bounds = [0, *sorted(cut for cut in cuts if cut < len(rows)), len(rows)]
    for start, stop in itertools.pairwise(bounds):
        loaded.extend([tuple(row) for row in rows[start:stop]])
    assert contents(loaded) == contents(one_by_one)


async def writes_during_a_load(path: Path, before: list[Any], pre: list[Any],
                               post: list[Any], query: Any) -> None:
    store = Store(SqliteStorage(path, durability="normal"))
    await store.storage.open()
    try:
        # The last commit leaves an entry: the index has something to load.
        await store.apply([*before, ("put", "d0", [1.0, 0.0, 0.0], "a")])
    finally:
        await store.storage.close()
    with pytest.MonkeyPatch.context() as monkeypatch:
        store.storage = SqliteStorage(path, durability="normal")
        gates = Gates(store.storage, monkeypatch)
        await store.storage.open()
        try:
            assert not store.storage._vectors.ranks(INDEX)
            asked_at = store.ts
            early = asyncio.ensure_future(store.storage.vector_search(
                INDEX, VectorQuery(*query), asked_at, 4))
            # Before the snapshot: the backlog keeps these, the snapshot holds them too.
            await store.apply(pre)
            gates.may_snapshot.set()
            await gates.snapshot_taken.wait()
            # After it: only the backlog has these.
            await store.apply(post)
            await asyncio.sleep(0.01)
            assert not early.done()
            assert not store.storage._vectors.ranks(INDEX)
            gates.may_build.set()
            hits = await early
            assert store.storage._vectors.ranks(INDEX)
            assert contents(store.storage._vectors.ready.get(INDEX)) == contents(stored(path))
            assert hits == oracle(path, query, asked_at)
            for ts in range(asked_at, store.ts + 1):
                assert await store.storage.vector_search(
                    INDEX, VectorQuery(*query), ts, 4) == oracle(path, query, ts)
        finally:
            gates.release()
            await store.storage.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(operations, max_size=12), pre=st.lists(operations, max_size=8),
       post=st.lists(operations, max_size=8), query=queries)
def test_writes_during_a_load_are_applied_once(before: list[Any], pre: list[Any],
                                               post: list[Any], query: Any) -> None:
    directory = Path(tempfile.mkdtemp(prefix="reactor-vectors-"))
    try:
        asyncio.run(writes_during_a_load(directory, before, pre, post, query))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_every_kind_of_write_during_a_load(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An insert, a replacement and a deletion on each side of the snapshot, and prunes:
    the cases the property above may not draw together."""
    store = Store(SqliteStorage(tmp_path, durability="normal"))
    await store.storage.open()
    await store.apply([("put", d, [1.0, float(i), 0.0], "a") for i, d in enumerate(DOCS)])
    await store.storage.close()
    store.storage = SqliteStorage(tmp_path, durability="normal")
    gates = Gates(store.storage, monkeypatch)
    await store.storage.open()
    try:
        await store.apply([("put", "d0", [0.0, 1.0, 0.0], "b"), ("delete", "d1"),
                           ("put", "new1", [1.0, 1.0, 1.0], "a"), ("prune",)])
        gates.may_snapshot.set()
        await gates.snapshot_taken.wait()
        await store.apply([("put", "d2", [0.0, 0.0, 1.0], "b"), ("delete", "d3"),
                           ("put", "new2", [2.0, 1.0, 0.0], "a"), ("prune",)])
        gates.may_build.set()
        await store.storage.vectors_ready()
        matrix = store.storage._vectors.ready[INDEX]
        assert contents(matrix) == contents(stored(tmp_path))
        live = [hit.doc_id for hit in matrix.search([1.0, 1.0, 1.0], (), store.ts, 10)]
        assert sorted(live) == ["d0", "d2", "d4", "d5", "new1", "new2"]
    finally:
        gates.release()
        await store.storage.close()


def vector_entry(doc: dict[str, Any]) -> VectorWrite:
    return VectorWrite(INDEX, doc["_id"], doc["v"])


async def test_an_index_build_loads_it_in_the_background(tmp_path: Path) -> None:
    """`change_indexes` returns before the built index is in memory; a search then waits
    for it, and writes made meanwhile are in it once."""
    storage = SqliteStorage(tmp_path, durability="normal")
    await storage.open()
    try:
        docs = {f"d{i}": [float(i % 3), 1.0, float(i % 5)] for i in range(200)}
        await storage.write([
            CommitRecord(ts, [DocumentWrite(doc_id, "t", {"_id": doc_id, "v": vector})],
                         [IndexWrite("ix", doc_id.encode(), doc_id, deleted=False)])
            for ts, (doc_id, vector) in enumerate(docs.items(), 1)], {})
        ts = len(docs) + 1
        await storage.change_indexes(ts, [], [], {}, vector_builds=[
            VectorBuild(INDEX, "ix", vector_entry)])
        assert not storage._vectors.ranks(INDEX)
        for doc_id in list(docs)[:20]:
            ts += 1
            await storage.write([CommitRecord(ts, [], [], vector_writes=[
                VectorWrite(INDEX, doc_id, [5.0, 5.0, 5.0])])], {})
        hits = await storage.vector_search(INDEX, VectorQuery([1.0, 1.0, 1.0]), ts, 5)
        assert hits == oracle(tmp_path, ([1.0, 1.0, 1.0], ()), ts, 5)
        assert contents(storage._vectors.ready.get(INDEX)) == contents(stored(tmp_path))
    finally:
        await storage.close()


async def test_closing_during_a_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(SqliteStorage(tmp_path, durability="normal"))
    await store.storage.open()
    await store.apply([("put", d, [1.0, 2.0, 3.0], "a") for d in DOCS])
    await store.storage.close()
    started = threading.Event()

    def slow_load(conn: sqlite3.Connection, index_id: str, stopped: Any) -> Any:
        started.set()
        while not stopped():
            threading.Event().wait(0.01)
        return load_from_file(conn, index_id, stopped)

    monkeypatch.setattr(sqlite_vectors, "load_index", slow_load)
    storage = SqliteStorage(tmp_path, durability="normal")
    await storage.open()
    waiting = asyncio.ensure_future(storage.vector_search(INDEX, VectorQuery([1.0] * 3), 6, 3))
    while not started.is_set():
        await asyncio.sleep(0.01)
    await asyncio.wait_for(storage.close(), 10)
    with pytest.raises(StorageError, match="closed"):
        await asyncio.wait_for(waiting, 1)
    assert not storage._vectors.ready


async def test_a_failed_load_fails_its_searches(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """There is no second engine: the search says so rather than waiting forever or
    answering from an empty index."""
    store = Store(SqliteStorage(tmp_path, durability="normal"))
    await store.storage.open()
    await store.apply([("put", "d0", [1.0, 2.0, 3.0], "a")])
    await store.storage.close()

    def broken(*args: Any) -> Any:
        raise sqlite3.DatabaseError("disk image is malformed")

    monkeypatch.setattr(sqlite_vectors, "load_index", broken)
    storage = SqliteStorage(tmp_path, durability="normal")
    await storage.open()
    try:
        with pytest.raises(StorageError, match="could not be loaded"):
            await asyncio.wait_for(storage.vector_search(INDEX, VectorQuery([1.0] * 3), 1, 3),
                                   5)
    finally:
        await storage.close()
