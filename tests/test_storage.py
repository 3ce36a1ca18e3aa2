"""The stores (SQLite and PostgreSQL): multi-version reads, bounded scans, atomic writes,
globals and pruning. Tests taking `storage` run on both backends."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.errors import StorageError
from reactor.storage import (
    CommitRecord,
    DocumentWrite,
    IndexBuild,
    IndexEntry,
    IndexScan,
    IndexWrite,
    SearchBuild,
    SearchWrite,
    SqliteStorage,
    TextQuery,
    sqlite_index_build,
)
from reactor.storage import postgres_sql as pg_sql
from reactor.storage.choose import make_storage
from reactor.storage.postgres import PostgresStorage
from reactor.storage.postgres_schema import parse_url
from reactor.storage.sqlite_checkpoint import (
    CHECKPOINT_FRAMES,
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    next_interval,
)
from reactor.storage.sqlite_sql import SCAN as SQLITE_SCAN
from reactor.values import Int64

Store = SqliteStorage | PostgresStorage


@pytest.fixture
async def storage(tmp_path: Path, db_url: str | None) -> AsyncIterator[Store]:
    store = make_storage(tmp_path / "data", db_url)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "data")
    await store.open()
    yield store
    await store.close()


def put(ts: int, doc_id: str, value: dict[str, Any] | None, *entries: IndexWrite) -> CommitRecord:
    return CommitRecord(ts, [DocumentWrite(doc_id, "t", value)], list(entries))


def live(index_id: str, key: bytes, doc_id: str) -> IndexWrite:
    return IndexWrite(index_id, key, doc_id, deleted=False)


def gone(index_id: str, key: bytes, doc_id: str) -> IndexWrite:
    return IndexWrite(index_id, key, doc_id, deleted=True)


def bulk(ts: int, index_id: str, items: list[tuple[str, bytes]], delete: bool) -> CommitRecord:
    """One commit writing (or deleting) each document with its one index entry."""
    return CommitRecord(
        ts,
        [DocumentWrite(d, "t", None if delete else {"i": float(ts)}) for d, _ in items],
        [IndexWrite(index_id, k, d, deleted=delete) for d, k in items],
    )


async def row_counts(store: Store) -> tuple[int, int]:
    if isinstance(store, PostgresStorage):
        rows = await store._fetch("SELECT (SELECT count(*) FROM documents),"
                                  " (SELECT count(*) FROM index_entries)")
        return int(rows[0][0]), int(rows[0][1])
    with sqlite3.connect(store.db_path) as conn:
        docs = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        entries = conn.execute("SELECT count(*) FROM index_entries").fetchone()[0]
    return docs, entries


async def keys(store: Store, index_id: str, ts: int, **kw: Any) -> list[bytes]:
    a = {"lo": b"", "hi": None, "order": "asc", "limit": 1000} | kw
    found = await store.scan_index(index_id, a["lo"], a["hi"], ts, a["order"], a["limit"])
    return [entry.key for entry in found]


async def test_document_revisions_by_snapshot(storage: Store) -> None:
    await storage.write([put(10, "a", {"v": 1.0}, live("ix", b"k1", "a"))], {})
    # The indexed field changes: tombstone the old key, add the new one, same ts.
    await storage.write(
        [put(20, "a", {"v": 2.0}, gone("ix", b"k1", "a"), live("ix", b"k2", "a"))], {}
    )
    await storage.write([put(30, "a", None, gone("ix", b"k2", "a"))], {})
    expected = {5: None, 10: 1.0, 15: 1.0, 20: 2.0, 25: 2.0, 30: None, 35: None}
    for ts, v in expected.items():
        doc = await storage.get_document("a", ts)
        assert (doc and doc["v"]) == v, ts
        scan = await storage.scan_index("ix", b"", None, ts, "asc", 10)
        if v is None:
            assert scan == [], ts
        else:
            assert scan == [IndexEntry(b"k1" if v == 1.0 else b"k2", {"v": v})], ts
    assert await storage.get_document("missing", 35) is None


async def test_entry_not_rewritten_still_yields_current_document(storage: Store) -> None:
    await storage.write([put(10, "a", {"v": 1.0}, live("ix", b"k", "a"))], {})
    await storage.write([put(20, "a", {"v": 2.0})], {})
    assert await storage.scan_index("ix", b"", None, 15, "asc", 5) == [IndexEntry(b"k", {"v": 1.0})]
    assert await storage.scan_index("ix", b"", None, 20, "asc", 5) == [IndexEntry(b"k", {"v": 2.0})]


async def test_scan_indexes_answers_each_range_as_scan_index_would(storage: Store) -> None:
    await storage.write([put(10, "a", {"v": 1.0}, live("ix", b"k1", "a"), live("iy", b"k1", "a")),
                         put(10, "b", {"v": 2.0}, live("ix", b"k2", "b"))], {})
    await storage.write([put(20, "a", None, gone("ix", b"k1", "a"), gone("iy", b"k1", "a"))], {})
    scans = [IndexScan("ix", b"", None, 5), IndexScan("iy", b"k1", b"k2", 1),
             IndexScan("ix", b"k2", b"k3", 0), IndexScan("ix", b"k1", b"k2", 1)]
    for ts in (10, 20):
        expected = [await storage.scan_index(s.index_id, s.lo, s.hi, ts, "asc", s.limit)
                    for s in scans]
        assert await storage.scan_indexes(scans, ts) == expected
    assert (await storage.scan_indexes(scans, 10))[3] == [IndexEntry(b"k1", {"v": 1.0})]
    assert await storage.scan_indexes(scans, 20) == [[IndexEntry(b"k2", {"v": 2.0})], [], [], []]
    assert await storage.scan_indexes([], 20) == []


async def test_values_keep_their_types(storage: Store) -> None:
    doc = {"i": Int64(2**62 + 1), "f": 3.0, "b": b"\x00\xff", "n": None, "l": [True, {"s": "x"}]}
    await storage.write([put(1, "a", doc, live("ix", b"k", "a"))], {})
    got = await storage.get_document("a", 1)
    assert got == doc
    assert type(got["i"]) is Int64 and type(got["f"]) is float and type(got["b"]) is bytes


async def test_scan_bounds_order_and_limit(storage: Store) -> None:
    names = [f"k{i:02d}".encode() for i in range(20)]
    await storage.write(
        [put(1, f"d{i}", {"i": float(i)}, live("ix", k, f"d{i}")) for i, k in enumerate(names)], {}
    )
    await storage.write([put(2, "other", {}, live("iy", b"k05", "other"))], {})
    assert await keys(storage, "ix", 1) == names
    assert await keys(storage, "ix", 1, lo=b"k05", hi=b"k08") == names[5:8]
    assert await keys(storage, "ix", 1, lo=b"k05", hi=b"k08", order="desc") == names[7:4:-1]
    assert await keys(storage, "ix", 1, lo=b"k18") == names[18:]
    assert await keys(storage, "ix", 1, lo=b"k18", order="desc") == names[:17:-1]
    assert await keys(storage, "ix", 1, limit=3) == names[:3]
    assert await keys(storage, "ix", 1, order="desc", limit=3) == names[:-4:-1]
    assert await keys(storage, "ix", 1, lo=b"k05", hi=b"k05") == []
    assert await keys(storage, "ix", 1, limit=0) == []
    assert await keys(storage, "ix", 0) == []
    entries = await storage.scan_index("ix", b"k03", b"k04", 1, "asc", 5)
    assert entries == [IndexEntry(b"k03", {"i": 3.0})]


async def test_scan_skips_interleaved_tombstones(storage: Store) -> None:
    names = [f"{i:04d}".encode() for i in range(1000)]
    kept = set(range(0, 1000, 100))
    items = [(f"d{i}", k) for i, k in enumerate(names)]
    await storage.write([bulk(1, "ix", items, delete=False)], {})
    doomed = [item for i, item in enumerate(items) if i not in kept]
    await storage.write([bulk(2, "ix", doomed, delete=True)], {})
    survivors = [names[i] for i in sorted(kept)]
    assert await keys(storage, "ix", 2, limit=5) == survivors[:5]
    assert await keys(storage, "ix", 2, order="desc", limit=5) == survivors[::-1][:5]
    assert await keys(storage, "ix", 2, lo=b"0101", limit=2) == [b"0200", b"0300"]
    assert await keys(storage, "ix", 1, lo=b"0101", limit=2) == [b"0101", b"0102"]
    assert await storage.index_entry_count("ix") == 10


async def test_scan_cost_follows_limit_not_range(sqlite_storage: SqliteStorage) -> None:
    storage = sqlite_storage
    big = [f"{i:06d}".encode() for i in range(20_000)]
    await storage.write([bulk(1, "big", [(f"b{i}", k) for i, k in enumerate(big)], False)], {})
    await storage.write([bulk(2, "small", [(f"s{i}", big[i]) for i in range(50)], False)], {})

    async def vm_steps(index_id: str, order: str, limit: int) -> int:
        ticks = [0]

        def tick() -> int:
            ticks[0] += 1
            return 0

        for reader in storage._readers:
            await reader.set_progress_handler(tick, 10)
        found = await storage.scan_index(index_id, b"", None, 5, order, limit)  # type: ignore[arg-type]
        assert len(found) == min(limit, 50 if index_id == "small" else 20_000)
        for reader in storage._readers:
            await reader.set_progress_handler(None, 10)
        return ticks[0]

    for order in ("asc", "desc"):
        small, large = await vm_steps("small", order, 1), await vm_steps("big", order, 1)
        assert large <= 2 * small + 5, (order, small, large)
        assert await vm_steps("big", order, 40) > 10 * large
    # The same: no sort step (which would read the whole range before LIMIT).
    with sqlite3.connect(storage.db_path) as conn:
        for sql in SQLITE_SCAN.values():
            params = {"index_id": "x", "lo": b"", "hi": b"", "ts": 0, "limit": 1}
            plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "TEMP B-TREE" not in plan and "USING PRIMARY KEY" in plan, plan


async def test_write_is_atomic(storage: Store) -> None:
    await storage.write([put(1, "a", {"v": 1.0}, live("ix", b"a", "a"))], {"n": 1})
    # The second commit repeats (doc_id, ts): the whole batch must be refused.
    with pytest.raises(StorageError, match="write commits failed"):
        await storage.write(
            [put(2, "b", {"v": 2.0}, live("ix", b"b", "b")), put(1, "a", {"v": 9.0})], {"n": 2}
        )
    assert await storage.get_document("b", 5) is None
    assert await keys(storage, "ix", 5) == [b"a"]
    assert await storage.read_globals() == {"n": 1}
    await storage.write([put(3, "b", {"v": 3.0})], {})
    assert await storage.get_document("b", 5) == {"v": 3.0}


async def test_globals_are_upserted(storage: Store) -> None:
    assert await storage.read_globals() == {}
    await storage.write([], {"latest_ts": 2**62, "schema": {"tables": ["a"]}})
    await storage.write([], {"latest_ts": 2**62 + 1})
    assert await storage.read_globals() == {"latest_ts": 2**62 + 1, "schema": {"tables": ["a"]}}


async def test_change_indexes_drops_and_fills_in_one_write(storage: Store) -> None:
    await storage.write([put(1, "a", {"n": "x"}, live("ix", b"a", "a"), live("iy", b"a", "a"))],
                        {})
    await storage.write([put(2, "b", {"n": "y"}, live("ix", b"b", "b"))], {"last_ts": 2})
    await storage.write([put(3, "b", None, gone("ix", b"b", "b"))], {"last_ts": 3})
    assert await storage.index_entry_count("ix") == 1
    build = IndexBuild("iz", "ix", lambda doc: doc["n"].encode())
    written = await storage.change_indexes(4, [build], ["iy"], {"last_ts": 4})
    assert written == {"iz": (1, 1)}  # "b" was deleted at ts 3
    assert await storage.index_entry_count("iy") == 0
    assert await keys(storage, "iz", 4) == [b"x"]
    assert await keys(storage, "iz", 3) == []  # readable from the change's ts on
    assert (await storage.read_globals())["last_ts"] == 4


async def test_change_indexes_is_all_or_nothing(storage: Store) -> None:
    # More documents than one batch of the backfill, so the failure comes mid-way.
    count = sqlite_index_build.BATCH * 2 + 7
    await storage.write([put(ts, f"d{ts:05}", {"n": ts}, live("ix", b"%05d" % ts, f"d{ts:05}"),
                             live("old", b"k%05d" % ts, f"d{ts:05}"))
                         for ts in range(1, count + 1)], {"last_ts": count})

    def key_for(doc: dict[str, Any]) -> bytes:
        if doc["n"] == count - 3:
            raise ValueError("no key")
        return b"%05d" % doc["n"]

    with pytest.raises(ValueError):
        await storage.change_indexes(count + 1, [IndexBuild("new", "ix", key_for)], ["old"],
                                     {"last_ts": count + 1, "schema": {"changed": True}})
    assert await storage.index_entry_count("old") == count
    assert await storage.index_entry_count("new") == 0
    assert await storage.read_globals() == {"last_ts": count}
    written = await storage.change_indexes(
        count + 1, [IndexBuild("new", "ix", lambda doc: b"n%05d" % doc["n"])], ["old"],
        {"last_ts": count + 1})
    assert written == {"new": (count, count)}
    assert await storage.index_entry_count("new") == count
    assert await storage.index_entry_count("old") == 0


async def test_prune_removes_superseded_revisions_and_tombstones(storage: Store) -> None:
    # 600 revisions of one document (more than one prune chunk), then a delete.
    await storage.write(
        [put(ts, "a", {"v": float(ts)}, live("ix", b"k", "a")) for ts in range(1, 601)], {}
    )
    await storage.write([put(700, "b", {"v": 0.0}, live("ix", b"b", "b"))], {})
    assert await row_counts(storage) == (601, 601)
    assert await storage.prune(300, 50) == 50
    removed = 50
    while count := await storage.prune(300, 50):
        assert count <= 50
        removed += count
    assert removed == 299 * 2
    assert await row_counts(storage) == (302, 302)
    assert await storage.get_document("a", 300) == {"v": 300.0}
    assert await keys(storage, "ix", 300) == [b"k"]

    await storage.write([put(800, "a", None, gone("ix", b"k", "a"))], {})
    assert await storage.prune(799, 10_000) == 300 * 2
    assert await row_counts(storage) == (3, 3)
    assert await storage.prune(800, 10_000) == 4
    assert await storage.prune(800, 10_000) == 0
    assert await row_counts(storage) == (1, 1)
    assert await storage.get_document("b", 800) == {"v": 0.0}
    assert await storage.scan_index("ix", b"", None, 800, "asc", 5) == [
        IndexEntry(b"b", {"v": 0.0})
    ]


async def test_closed_storage_refuses_reads(tmp_path: Path) -> None:
    store = SqliteStorage(tmp_path)
    with pytest.raises(StorageError, match="not open"):
        await store.get_document("a", 1)
    with pytest.raises(ValueError, match="durability"):
        SqliteStorage(tmp_path, durability="fast")  # type: ignore[arg-type]


# --- model test: random commit histories against an in-memory oracle --------------

DOC_IDS = ("d0", "d1", "d2", "d3")
INDEXES = ("ia", "ib")

# (doc, None) deletes; (doc, (prefix_a, prefix_b, rewrite)) upserts with index keys
# prefix + doc id; `rewrite` re-writes entries whose key did not change.
_op = st.tuples(
    st.sampled_from(DOC_IDS),
    st.none() | st.tuples(st.binary(max_size=2), st.binary(max_size=2), st.booleans()),
)
_query = st.tuples(
    st.sampled_from(INDEXES),
    st.binary(max_size=3),
    st.none() | st.binary(max_size=3),
    st.sampled_from(("asc", "desc")),
    st.integers(1, 6),
)


class Oracle:
    """Every revision in plain dicts, and the keys each document holds now."""

    def __init__(self) -> None:
        self.docs: dict[str, list[tuple[int, dict[str, Any] | None]]] = {}
        self.entries: dict[tuple[str, bytes], list[tuple[int, str | None]]] = {}
        self.current: dict[str, dict[str, bytes]] = {}

    def commit(self, ts: int, ops: list[Any]) -> CommitRecord | None:
        documents: list[DocumentWrite] = []
        writes: list[IndexWrite] = []
        for doc_id, change in dict(ops).items():
            old = self.current.get(doc_id)
            if change is None and old is None:
                continue
            new = None if change is None else {INDEXES[0]: change[0], INDEXES[1]: change[1]}
            value = None if change is None else {"doc": doc_id, "ts": Int64(ts)}
            documents.append(DocumentWrite(doc_id, "t", value))
            self.docs.setdefault(doc_id, []).append((ts, value))
            for index_id in INDEXES:
                old_key = old and old[index_id] + doc_id.encode()
                new_key = new and new[index_id] + doc_id.encode()
                if old_key and old_key != new_key:
                    writes.append(gone(index_id, old_key, doc_id))
                    self.entries[index_id, old_key].append((ts, None))
                if new_key and (new_key != old_key or change[2]):
                    writes.append(live(index_id, new_key, doc_id))
                    self.entries.setdefault((index_id, new_key), []).append((ts, doc_id))
            if new is None:
                del self.current[doc_id]
            else:
                self.current[doc_id] = new
        return CommitRecord(ts, documents, writes) if documents else None

    @staticmethod
    def at(revisions: list[tuple[int, Any]], ts: int) -> Any:
        visible = [value for rev_ts, value in revisions if rev_ts <= ts]
        return visible[-1] if visible else None

    def scan(self, query: tuple[Any, ...], ts: int) -> list[IndexEntry]:
        index_id, lo, hi, order, limit = query
        found = []
        for (ix, key), revisions in self.entries.items():
            doc_id = self.at(revisions, ts)
            if ix == index_id and doc_id and lo <= key and (hi is None or key < hi):
                found.append(IndexEntry(key, self.at(self.docs[doc_id], ts)))
        found.sort(key=lambda entry: entry.key, reverse=order == "desc")
        return found[:limit]

    def rows_after_prune(self, horizon: int) -> tuple[int, int]:
        def kept(revisions: list[tuple[int, Any]]) -> int:
            newer = sum(1 for ts, _ in revisions if ts > horizon)
            return newer + (self.at(revisions, horizon) is not None)

        return (
            sum(kept(revisions) for revisions in self.docs.values()),
            sum(kept(revisions) for revisions in self.entries.values()),
        )


_histories = {
    "history": st.lists(st.lists(_op, min_size=1, max_size=4), min_size=1, max_size=10),
    "queries": st.lists(_query, min_size=1, max_size=8),
    "horizon": st.integers(0, 110),
    "batch": st.integers(1, 5),
}


def test_matches_oracle_before_and_after_prune(db_url: str | None) -> None:
    # Fewer examples on PostgreSQL, where each opens a store of its own (a fresh schema):
    # the queries are the same as SQLite's in all that the examples vary.
    @settings(max_examples=60 if db_url is None else 10, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(**_histories)
    def check(history: list[list[Any]], queries: list[Any], horizon: int, batch: int) -> None:
        url = db_url and f"{db_url}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_check_against_oracle(history, queries, horizon, batch, url))

    check()


async def _check_against_oracle(
    history: list[list[Any]], queries: list[Any], horizon: int, batch: int, db_url: str | None
) -> None:
    oracle = Oracle()
    commits = [oracle.commit(10 * (i + 1), ops) for i, ops in enumerate(history)]
    last = 10 * len(history) + 5
    with tempfile.TemporaryDirectory() as tmp:
        store = make_storage(Path(tmp), db_url)
        await store.open()
        try:
            # Two batches, to cover both one- and many-commit writes.
            present = [c for c in commits if c is not None]
            await store.write(present[:1], {})
            await store.write(present[1:], {})

            async def check(snapshots: range) -> None:
                for ts in snapshots:
                    for doc_id in DOC_IDS:
                        expected = oracle.at(oracle.docs.get(doc_id, []), ts)
                        assert await store.get_document(doc_id, ts) == expected, (doc_id, ts)
                    for query in queries:
                        index_id, lo, hi, order, limit = query
                        got = await store.scan_index(index_id, lo, hi, ts, order, limit)
                        assert got == oracle.scan(query, ts), (query, ts)
                    # The ascending ones again, all in one call.
                    ascending = [query for query in queries if query[3] == "asc"]
                    each = await store.scan_indexes(
                        [IndexScan(i, lo, hi, limit) for i, lo, hi, _, limit in ascending], ts)
                    assert each == [oracle.scan(query, ts) for query in ascending], ts

            await check(range(0, last, 5))
            while removed := await store.prune(horizon, batch):
                assert removed <= batch
            assert await store.prune(horizon, batch) == 0
            assert await row_counts(store) == oracle.rows_after_prune(horizon)
            await check(range(horizon, last, 5))
            for index_id in INDEXES:
                expected = len(oracle.scan((index_id, b"", None, "asc", 100), last))
                assert await store.index_entry_count(index_id) == expected
        finally:
            await store.close()


@given(steps=st.lists(st.integers(min_value=-1, max_value=100_000), max_size=50))
def test_checkpoint_pause_follows_the_wal_growth_within_its_bounds(steps: list[int]) -> None:
    """Whatever the WAL does, the pause stays within its bounds and moves at most 2x a
    step; a WAL growing faster than CHECKPOINT_FRAMES a checkpoint shortens it, slower
    lengthens it, and a checkpoint that found nothing new leaves it."""
    interval = MIN_INTERVAL_S
    for grown in steps:
        after = next_interval(interval, grown)
        assert MIN_INTERVAL_S <= after <= MAX_INTERVAL_S
        assert interval / 2 <= after <= interval * 2
        if grown <= 0:
            assert after == interval
        elif grown > CHECKPOINT_FRAMES:
            assert after < interval or after == MIN_INTERVAL_S
        elif grown < CHECKPOINT_FRAMES:
            assert after > interval or after == MAX_INTERVAL_S
        interval = after


async def test_checkpoints_run_beside_the_writer(tmp_path: Path) -> None:
    """20 MB through the WAL, half the writer's own checkpoint threshold: the data still
    reaches the database file, copied by the checkpointer thread."""
    store = SqliteStorage(tmp_path / "data")
    await store.open()
    try:
        payload = "x" * 10_000
        for batch in range(100):
            await store.write([CommitRecord(batch + 1, [
                DocumentWrite(f"d{batch}-{i}", "t", {"payload": payload}) for i in range(20)
            ], [])], {"last_ts": batch + 1})
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the last checkpoint
        assert store.checkpoints > 0
        assert store.db_path.stat().st_size > 15 * 2**20, store.db_path.stat().st_size
    finally:
        await store.close()
    reopened = SqliteStorage(tmp_path / "data")
    await reopened.open()
    try:
        assert await reopened.get_document("d99-19", 100) == {"payload": payload}
    finally:
        await reopened.close()


# --- PostgreSQL only ---------------------------------------------------------------


async def test_postgres_scans_follow_the_primary_key(postgres_url: str, tmp_path: Path) -> None:
    """No sort step (which would read the whole range before LIMIT) in any scan's plan."""
    store = PostgresStorage(postgres_url)
    await store.open()
    try:
        big = [(f"b{i}", f"{i:06d}".encode()) for i in range(5000)]
        await store.write([bulk(1, "big", big, False)], {})
        await store._fetch("ANALYZE index_entries")
        for (order, bounded), query in pg_sql.SCAN.items():
            params = ["'big'", "'\\x'::bytea", "5", "10", "'\\xff'::bytea"][:5 if bounded else 4]
            text = query
            for n in range(len(params), 0, -1):
                text = text.replace(f"${n}", params[n - 1])
            plan = " ".join(row[0] for row in await store._fetch(f"EXPLAIN {text}"))
            assert "Sort" not in plan and "index_entries_pkey" in plan, (order, plan)
    finally:
        await store.close()


async def test_postgres_schema_is_versioned_and_has_one_writer(postgres_url: str) -> None:
    first = PostgresStorage(postgres_url)
    await first.open()
    try:
        await first.write([put(1, "a", {"v": 1.0})], {"n": 1})
        # Still held after the writing connection went back to its pool.
        second = PostgresStorage(postgres_url)
        with pytest.raises(StorageError, match="another Reactor process is serving"):
            await second.open()
        schema = first.target.schema
        tables = await first._fetch("SELECT table_name FROM information_schema.tables"
                                    " WHERE table_schema = $1", schema)
        assert {"documents", "index_entries", "globals"} <= {row[0] for row in tables}
        await first._transaction("test", lambda conn: conn.execute(
            "UPDATE storage_format SET version = 99"))
    finally:
        await first.close()
    again = PostgresStorage(postgres_url)
    with pytest.raises(StorageError, match="storage format 99 is not supported"):
        await again.open()


def test_postgres_urls_are_checked() -> None:
    target = parse_url("postgresql://u:secret@db.example:6000/app?schema=tenant_1&sslmode=off")
    assert target.schema == "tenant_1" and "schema=" not in target.dsn
    assert "sslmode=off" in target.dsn and "secret" not in target.display
    assert parse_url("postgres://u@h/app").schema == "reactor"
    with pytest.raises(StorageError, match="expected postgresql://"):
        parse_url("mysql://u:secret@h/app")
    with pytest.raises(StorageError, match="schema: expected a lowercase SQL name"):
        parse_url("postgresql://u@h/app?schema=Robert'); DROP")


async def test_search_index_build_search_and_prune(storage: Store) -> None:
    """A full-text index filled by a schema change, searched at two snapshots, pruned."""
    bodies = {"a": "red apple pie", "b": "green apple", "c": "blue car"}
    await storage.write([put(ts, doc_id, {"_id": doc_id, "body": body},
                             live("ix", doc_id.encode(), doc_id))
                         for ts, (doc_id, body) in enumerate(bodies.items(), 1)], {})

    def entry(doc: dict[str, Any]) -> SearchWrite:
        return SearchWrite("s", doc["_id"], doc["body"].split(), [], 0.0)

    built = await storage.change_indexes(4, [], [], {}, search_builds=[
        SearchBuild("s", "ix", entry)])
    assert built == {"s": (3, 3)}
    query = TextQuery(("apple",), prefix=False)
    hits = await storage.search("s", query, 4, 10)
    assert sorted(hit.doc["body"] for hit in hits) == ["green apple", "red apple pie"]
    assert hits[0].doc["body"] == "green apple"  # shorter: higher BM25
    prefix = await storage.search("s", TextQuery(("ca",), prefix=True), 4, 10)
    assert [hit.doc["body"] for hit in prefix] == ["blue car"]
    stats = await storage.search_statistics("s", query)
    assert (stats.documents, stats.tokens, stats.matching) == (3, 7, (2,))
    await storage.write([CommitRecord(5, [DocumentWrite("b", "t", None)], [],
                                      search_writes=[SearchWrite("s", "b", None)])], {})
    assert [h.doc["body"] for h in await storage.search("s", query, 5, 10)] == ["red apple pie"]
    assert len(await storage.search("s", query, 4, 10)) == 2  # the older snapshot still
    await storage.prune(5, 10_000)
    assert (await storage.search_statistics("s", query)).documents == 2


async def test_postgres_writer_reconnects_after_its_connection_is_cut(postgres_url: str) -> None:
    store = PostgresStorage(postgres_url)
    await store.open()
    try:
        await store.write([put(1, "a", {"v": 1.0})], {})
        assert store._writer is not None
        async with store._writer.acquire() as conn:
            pid = conn.get_server_pid()
        await store._fetch("SELECT pg_terminate_backend($1)", pid)
        # The next write either fails cleanly (the cut connection was still lent: nothing
        # stored) or, if the pool already saw the connection close, runs on a new one:
        # never a silent loss, never a stuck writer.
        try:
            await store.write([put(2, "b", {"v": 2.0})], {})
            second_stored = True
        except StorageError as failed:
            assert failed.code == "StorageIOError"
            second_stored = False
        assert (await store.get_document("b", 5) is not None) == second_stored
        await store.write([put(3, "c", {"v": 3.0})], {})  # on a working connection
        assert await store.get_document("c", 5) == {"v": 3.0}
        with pytest.raises(StorageError, match="another Reactor process is serving"):
            await PostgresStorage(postgres_url).open()  # which took the lock again
        # What decides a write whose COMMIT lost its answer: its commits in the log.
        assert await store._committed([1, 3])
        assert await store._committed([2, 3]) == second_stored
    finally:
        await store.close()
