"""In-memory text indexes loaded in the background (storage/sqlite_text_indexes.py).

Opening a store does not wait for them: FTS5 ranks until an index is built from a
snapshot and has caught up with the commits made meanwhile. Here writes and prunes
land before the snapshot is taken (their changes wait in the backlog but the snapshot
holds them) and after it (the backlog must replay them), and the index that results
must equal one loaded afresh from the file, entry for entry: a change missed or
applied twice shows (an entry pruned before the snapshot comes back if its write is
replayed; a write after it is missing if skipped).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from test_search_text_index import INDEX, SCHEMA, compare, contents, stored, write_some

from reactor.storage import (
    CommitRecord,
    DocumentWrite,
    IndexWrite,
    SearchBuild,
    SearchWrite,
    SqliteStorage,
    sqlite_search,
)
from reactor.storage.text_index import TextIndex
from reactor.transactions import Database

# Commits made before the reopen.
BEFORE = 40


async def prune_all(db: Database) -> None:
    db.options = type(db.options)(retention_ns=0)
    while await db.prune_once():
        pass


async def test_writes_during_a_load_are_applied_once(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    ids: list[str] = []
    snapshots: list[int] = []
    db = await Database.open(SqliteStorage(tmp_path, durability="normal"), SCHEMA)
    try:
        await write_some(db, rng, ids, BEFORE, snapshots)
    finally:
        await db.close()

    may_snapshot, snapshot_taken = asyncio.Event(), asyncio.Event()
    may_build = threading.Event()
    storage = SqliteStorage(tmp_path, durability="normal")
    take_snapshot = storage._texts._take_snapshot

    async def gated_snapshot() -> Any:
        await may_snapshot.wait()
        taken = await take_snapshot()
        snapshot_taken.set()
        return taken

    load_index = sqlite_search.load_index

    def gated_load(*args: Any) -> TextIndex | None:
        assert may_build.wait(30)
        return load_index(*args)

    monkeypatch.setattr(storage._texts, "_take_snapshot", gated_snapshot)
    monkeypatch.setattr(sqlite_search, "load_index", gated_load)
    db = await Database.open(storage, SCHEMA)
    fts = SqliteStorage(tmp_path)
    try:
        await fts.open_reader()
        assert not storage._texts.ranks(INDEX)
        # Before the snapshot: the backlog keeps these, the snapshot holds them too.
        await write_some(db, rng, ids, 8, snapshots)
        await prune_all(db)
        await write_some(db, rng, ids, 4, snapshots)
        await compare(storage, fts, snapshots[-4:], rng, rounds=10)
        may_snapshot.set()
        await snapshot_taken.wait()
        # After it: only the backlog has these.
        await write_some(db, rng, ids, 8, snapshots)
        await prune_all(db)
        await write_some(db, rng, ids, 4, snapshots)
        assert not storage._texts.ranks(INDEX)
        may_build.set()
        await storage.texts_ready()
        assert storage._texts.ranks(INDEX)
        assert contents(storage._texts.ready[INDEX]) == contents(stored(tmp_path))
        await compare(storage, fts, snapshots[-4:], rng)
    finally:
        may_snapshot.set()
        may_build.set()
        await fts.close()
        await db.close()


def body_entry(doc: dict[str, Any]) -> SearchWrite:
    return SearchWrite("s", doc["_id"], doc["body"].split(), [], 0.0)


async def test_an_index_build_loads_it_in_the_background(tmp_path: Path) -> None:
    """`change_indexes` returns before the built index is in memory; writes made
    meanwhile are in the index once it is."""
    storage = SqliteStorage(tmp_path, durability="normal")
    await storage.open()
    try:
        words = ["red", "green", "apple", "pie", "car"]
        rng = random.Random(2)
        docs = {f"d{i}": " ".join(rng.choices(words, k=4)) for i in range(300)}
        await storage.write([
            CommitRecord(ts, [DocumentWrite(doc_id, "t", {"_id": doc_id, "body": text})],
                         [IndexWrite("ix", doc_id.encode(), doc_id, deleted=False)])
            for ts, (doc_id, text) in enumerate(docs.items(), 1)], {})
        ts = len(docs) + 1
        await storage.change_indexes(ts, [], [], {}, search_builds=[
            SearchBuild("s", "ix", body_entry)])
        assert not storage._texts.ranks("s")
        for doc_id in list(docs)[:20]:
            ts += 1
            text = "apple " + docs[doc_id]
            await storage.write([CommitRecord(
                ts, [DocumentWrite(doc_id, "t", {"_id": doc_id, "body": text})], [],
                search_writes=[body_entry({"_id": doc_id, "body": text})])], {})
        await storage.texts_ready()
        assert storage._texts.ranks("s")
        index = storage._texts.ready["s"]
        conn = sqlite3.connect(tmp_path / "reactor.sqlite3")
        try:
            assert contents(index) == contents(sqlite_search.load_index(conn, "s"))
        finally:
            conn.close()
        assert index.documents == 320
    finally:
        await storage.close()


async def test_closing_during_a_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9)
    db = await Database.open(SqliteStorage(tmp_path, durability="normal"), SCHEMA)
    try:
        await write_some(db, rng, [], 10, [])
    finally:
        await db.close()
    started = threading.Event()
    load_index = sqlite_search.load_index

    def slow_load(conn: sqlite3.Connection, index_id: str, stopped: Any) -> TextIndex | None:
        started.set()
        while not stopped():
            threading.Event().wait(0.01)
        return load_index(conn, index_id, stopped)

    monkeypatch.setattr(sqlite_search, "load_index", slow_load)
    storage = SqliteStorage(tmp_path, durability="normal")
    db = await Database.open(storage, SCHEMA)
    while not started.is_set():
        await asyncio.sleep(0.01)
    await asyncio.wait_for(db.close(), 10)
    assert not storage._texts.ready
