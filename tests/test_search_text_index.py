"""The in-memory text index (storage/text_index.py) against FTS5 on the same SQLite file.

The process owning a SQLite store ranks searches in memory; a reader-only connection
to the same file ranks them with FTS5's bm25() in SQL. Both must find the same
documents in the same order with the same scores, at every snapshot: after inserts,
patches and deletes, after pruning (entries leave the index; enough of them to
compact it) and after reopening (the index loaded in bulk).
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from reactor.schema import define_schema, define_table, filter_token
from reactor.storage import SqliteStorage, TextQuery, sqlite_search, text_rank
from reactor.storage.base import SearchHit
from reactor.storage.text_index import TextIndex
from reactor.transactions import Database
from reactor.values import MISSING, v

SCHEMA = define_schema({
    "notes": define_table({"body": v.string(), "board": v.optional(v.string()),
                           "kind": v.optional(v.string())})
    .search_index("search_body", search_field="body", filter_fields=["board", "kind"]),
})
INDEX = "notes.search_body"
WORDS = ["apple", "apply", "ape", "apricot", "banana", "band", "bandana", "cat", "car",
         "cart", "carton", "dog"]
BOARDS = ["a", "b", None]
KINDS = ["x", "y"]


@pytest.fixture(autouse=True, params=["pruned", "as configured"])
def ordering(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test twice: with every posting list ordered (so that the ranking which skips
    postings, text_rank.py, runs on these small indexes) and as configured."""
    if request.param == "pruned":
        monkeypatch.setattr(text_rank, "MIN_ORDERED", 1)


def note(rng: random.Random) -> dict[str, Any]:
    doc: dict[str, Any] = {"body": " ".join(rng.choices(WORDS, k=rng.randint(1, 7)))}
    board = rng.choice(BOARDS)
    if board is not None:
        doc["board"] = board
    if rng.random() < 0.7:
        doc["kind"] = rng.choice(KINDS)
    return doc


def random_query(rng: random.Random) -> TextQuery:
    words = rng.sample(WORDS, rng.randint(1, 3))
    last = rng.choice([words[-1], words[-1][:1], words[-1][:2], words[-1][:3],
                       words[-1][:4]])
    terms = tuple(dict.fromkeys([*words[:-1], last]))
    groups: list[tuple[str, ...]] = []
    if rng.random() < 0.6:
        board = rng.choice(BOARDS)
        groups.append((filter_token(0, board),) if board is not None
                      else (filter_token(0, MISSING), filter_token(0, None)))
    if rng.random() < 0.4:
        groups.append((filter_token(1, rng.choice(KINDS)),))
    rng.shuffle(groups)
    return TextQuery(terms, rng.random() < 0.8, tuple(groups))


def ranked(hits: list[SearchHit]) -> list[tuple[str, float]]:
    return [(hit.doc["_id"], hit.score) for hit in hits]


async def compare(memory: SqliteStorage, fts: SqliteStorage, snapshots: list[int],
                  rng: random.Random, rounds: int = 60) -> None:
    await fts.refresh_search_tables()
    for _ in range(rounds):
        query = random_query(rng)
        ts = rng.choice(snapshots)
        limit = rng.choice([1, 3, 10, 1024])
        mine = ranked(await memory.search(INDEX, query, ts, limit))
        theirs = ranked(await fts.search(INDEX, query, ts, limit))
        assert [doc_id for doc_id, _ in mine] == [doc_id for doc_id, _ in theirs], query
        for (_, a), (_, b) in zip(mine, theirs, strict=True):
            assert a == pytest.approx(b, rel=1e-9), query
        assert (await memory.search_statistics(INDEX, query)
                == await fts.search_statistics(INDEX, query)), query


def contents(index: TextIndex | None) -> dict[str, Any]:
    """What an index holds, independent of slot order and compaction."""
    assert index is not None
    entries = {entry_id: (index.doc_id(slot), int(index.ts[slot]), int(index.end[slot]),
                          float(index.length[slot]))
               for entry_id, slot in index.slot_of.items()}
    return {"documents": index.documents, "tokens": index.tokens, "entries": entries,
            "df": {term: n for term, n in index.df.items() if n}}


def stored(path: Path) -> TextIndex | None:
    conn = sqlite3.connect(path / "reactor.sqlite3")
    try:
        return sqlite_search.load_index(conn, INDEX)
    finally:
        conn.close()


async def write_some(db: Database, rng: random.Random, ids: list[str], commits: int,
                     snapshots: list[int]) -> None:
    for _ in range(commits):
        txn = db.begin()
        for _ in range(rng.randint(1, 6)):
            action = rng.random()
            if action < 0.5 or not ids:
                ids.append(await txn.insert("notes", note(rng)))
            elif action < 0.85:
                await txn.replace(rng.choice(ids), note(rng))
            else:
                doc_id = ids.pop(rng.randrange(len(ids)))
                await txn.delete(doc_id)
        await db.commit(txn)
        txn.close()
        snapshots.append(db.latest_ts)


async def test_memory_ranking_equals_fts5(tmp_path: Path) -> None:
    rng = random.Random(7)
    db = await Database.open(SqliteStorage(tmp_path, durability="normal"), SCHEMA)
    fts = SqliteStorage(tmp_path)
    ids: list[str] = []
    snapshots: list[int] = []
    try:
        await write_some(db, rng, ids, 40, snapshots)
        await fts.open_reader()
        await compare(db.storage, fts, snapshots, rng)  # type: ignore[arg-type]
        # Pruning removes superseded entries from both (and changes the corpus figures).
        db.options = type(db.options)(retention_ns=0)
        while await db.prune_once():
            pass
        await compare(db.storage, fts, snapshots[-1:], rng)  # type: ignore[arg-type]
        await write_some(db, rng, ids, 10, snapshots)
        await compare(db.storage, fts, snapshots[-10:], rng)  # type: ignore[arg-type]
    finally:
        await fts.close()
        await db.close()
    # Reopened: the index is loaded from the stored entries in bulk.
    storage = SqliteStorage(tmp_path, durability="normal")
    db = await Database.open(storage, SCHEMA)
    fts = SqliteStorage(tmp_path)
    try:
        await storage.texts_ready()
        assert storage._texts.ranks(INDEX)
        await fts.open_reader()
        await compare(storage, fts, snapshots[-10:], rng)  # type: ignore[arg-type]
        await write_some(db, rng, ids, 5, snapshots)
        await compare(db.storage, fts, snapshots[-5:], rng)  # type: ignore[arg-type]
    finally:
        await fts.close()
        await db.close()


async def test_pruning_many_entries_compacts_the_index(tmp_path: Path) -> None:
    rng = random.Random(11)
    db = await Database.open(SqliteStorage(tmp_path, durability="normal"), SCHEMA)
    fts = SqliteStorage(tmp_path)
    try:
        txn = db.begin()
        ids = [await txn.insert("notes", note(rng)) for _ in range(1200)]
        await db.commit(txn)
        txn.close()
        for _ in range(2):
            txn = db.begin()
            for doc_id in ids:
                await txn.replace(doc_id, note(rng))
            await db.commit(txn)
            txn.close()
        index = db.storage._texts.ready[INDEX]  # type: ignore[attr-defined]
        assert len(index.entries) == 3600
        db.options = type(db.options)(retention_ns=0)
        while await db.prune_once():
            pass
        # 2,400 superseded entries removed, more than remain: the slots were rebuilt
        # once on the way (without compaction 3,600 slots would be kept).
        assert len(index) == 1200 and len(index.entries) < 2400
        assert contents(index) == contents(stored(tmp_path))
        await fts.open_reader()
        await compare(db.storage, fts, [db.latest_ts], rng)  # type: ignore[arg-type]
    finally:
        await fts.close()
        await db.close()
