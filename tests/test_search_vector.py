"""Vector search: exact cosine top-k at the snapshot, filters, limits, reactivity, actions,
persistence across restarts, and hybrid (reciprocal rank fusion) search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from engine_support import settle

from reactor.errors import ReactorError
from reactor.runtime import Engine
from reactor.schema import define_schema, define_table
from reactor.storage import SqliteStorage, VectorQuery
from reactor.storage.choose import make_storage
from reactor.storage.vector_matrix import VectorMatrix
from reactor.transactions import RRF_K, Database, run_vector_search
from reactor.values import v

APP = Path(__file__).parent / "apps" / "search"


@pytest.fixture
async def engine(tmp_path: Path, db_url: str | None) -> AsyncIterator[Engine]:
    async with Engine(APP, tmp_path, durability="normal", db_url=db_url) as running:
        yield running




async def add(engine: Engine, body: str, board: str, embedding: list[float]) -> str:
    doc_id: str = (await engine.run_mutation(
        "notes:add_vector", {"body": body, "board": board, "embedding": embedding})).unwrap()
    await settle(engine)
    return doc_id


def cosine(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def test_matrix_is_exact_against_brute_force_at_every_snapshot() -> None:
    rng = np.random.default_rng(7)
    matrix = VectorMatrix(16, 1)
    history: list[dict[str, tuple[np.ndarray, str]]] = []
    live: dict[str, tuple[np.ndarray, str]] = {}
    for ts in range(1, 400):
        doc = f"d{rng.integers(0, 150)}"
        if doc in live and rng.random() < 0.2:
            matrix.put(doc, ts, None, [])
            del live[doc]
        else:
            vector = rng.standard_normal(16).astype(np.float32)
            board = f"b{rng.integers(0, 3)}"
            matrix.put(doc, ts, vector.tobytes(), [board])
            live[doc] = (vector, board)
        history.append(dict(live))
    for ts in (50, 200, 399):
        query = rng.standard_normal(16)
        for boards in ((), ("b1",), ("b0", "b2")):
            rows = {d: vec for d, (vec, board) in history[ts - 1].items()
                    if not boards or board in boards}
            ids = list(rows)
            stacked = np.stack([rows[d] / np.linalg.norm(rows[d]) for d in ids])
            scores = stacked @ (query / np.linalg.norm(query)).astype(np.float32)
            expected = [ids[i] for i in np.argsort(-scores, kind="stable")[:10]]
            hits = matrix.search(list(query), tuple((0, b) for b in boards), ts, 10)
            assert [hit.doc_id for hit in hits] == expected  # recall 1.0, same order
    assert matrix.prune(200) > 0
    hits = matrix.search(list(rng.standard_normal(16)), (), 399, 400)
    assert {hit.doc_id for hit in hits} == set(history[-1])


async def test_vector_search_in_a_query(engine: Engine) -> None:
    near = await add(engine, "near", "a", [1.0, 0.0, 0.0])
    mid = await add(engine, "mid", "b", [1.0, 1.0, 0.0])
    far = await add(engine, "far", "a", [-1.0, 0.0, 0.0])
    await engine.run_mutation("notes:add", {"body": "no vector", "board": "a"})
    found = (await engine.run_query("notes:nearest", {"vector": [2.0, 0.1, 0.0]})).unwrap()
    assert [hit["_id"] for hit in found] == [near, mid, far]
    for hit, doc_vector in zip(found, ([1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 0.0, 0.0]),
                               strict=True):
        assert hit["_score"] == pytest.approx(cosine([2.0, 0.1, 0.0], doc_vector), abs=1e-6)
    only_a = (await engine.run_query("notes:nearest", {"vector": [0.0, 1.0, 0.0],
                                                       "boards": ["a"]})).unwrap()
    assert {hit["_id"] for hit in only_a} == {near, far}
    either = (await engine.run_query("notes:nearest", {"vector": [0.0, 1.0, 0.0],
                                                       "boards": ["a", "b"], "limit": 1})).unwrap()
    assert [hit["_id"] for hit in either] == [mid]


async def test_limits_and_wrong_lengths_are_refused(engine: Engine) -> None:
    await add(engine, "x", "a", [1.0, 2.0, 3.0])
    for limit in (1, 256):
        assert len((await engine.run_query("notes:nearest", {"vector": [1, 2, 3],
                                                             "limit": limit})).unwrap()) == 1
    for limit in (0, 257, 2.5):
        outcome = await engine.run_query("notes:nearest", {"vector": [1, 2, 3], "limit": limit})
        assert outcome.error is not None
        assert "limit must be an integer from 1 to 256" in outcome.error.message
    outcome = await engine.run_query("notes:nearest", {"vector": [1, 2]})
    assert outcome.error is not None
    assert ("vector has 2 numbers; the index on 'embedding' has 3 dimensions"
            in outcome.error.message)
    outcome = await engine.run_mutation("notes:add_vector",
                                        {"body": "x", "board": "a", "embedding": [1, 2, 3, 4]})
    assert outcome.error is not None
    assert ("doc.embedding: vector index 'by_embedding' expects 3 numbers, got 4"
            in outcome.error.message)


async def test_live_vector_search_reruns_only_for_its_filter(engine: Engine) -> None:
    first = await add(engine, "first", "a", [1.0, 0.0, 0.0])
    args = {"vector": [1.0, 0.0, 0.0], "boards": ["a"]}
    async with engine.subscribe("notes:nearest", args) as sub:
        assert [hit["_id"] for hit in await sub.next(timeout=5)] == [first]
        runs = engine.manager.executions
        await add(engine, "other board", "b", [1.0, 0.0, 0.0])
        await engine.run_mutation("notes:add", {"body": "no vector", "board": "a"})
        await settle(engine)
        assert engine.manager.executions == runs
        closer = await add(engine, "closer", "a", [1.0, 0.0, 0.0001])
        assert engine.manager.executions == runs + 1
        found = await sub.next(timeout=5)
        assert {hit["_id"] for hit in found} == {first, closer}
        await engine.run_mutation("notes:remove", {"id": first})
        assert [hit["_id"] for hit in await sub.next(timeout=5)] == [closer]


async def test_vector_search_in_an_action_and_after_a_restart(
        tmp_path: Path, db_url: str | None) -> None:
    async with Engine(APP, tmp_path, durability="normal", db_url=db_url) as engine:
        for body, vector in (("east", [1.0, 0.0, 0.0]), ("north", [0.0, 1.0, 0.0]),
                             ("west", [-1.0, 0.0, 0.0])):
            await add(engine, body, "a", vector)
        found = await engine.run_action("notes:nearest_bodies", {"vector": [1.0, 0.9, 0.0]})
        assert found.unwrap() == ["east", "north"]
    async with Engine(APP, tmp_path, durability="normal", db_url=db_url) as engine:
        found = await engine.run_action("notes:nearest_bodies", {"vector": [-1.0, 0.9, 0.0]})
        assert found.unwrap() == ["west", "north"]


async def test_a_mutation_sees_its_own_vectors(tmp_path: Path, db_url: str | None) -> None:
    schema = define_schema({"items": define_table({"e": v.array(v.number())})
                            .vector_index("by_e", vector_field="e", dimensions=2)})
    db = await Database.open(make_storage(tmp_path, db_url, "normal"), schema)
    try:
        txn = db.begin()
        old = await txn.insert("items", {"e": [1.0, 0.0]})
        gone = await txn.insert("items", {"e": [0.9, 0.1]})
        await db.commit(txn)
        txn.close()
        txn = db.begin()
        new = await txn.insert("items", {"e": [1.0, 0.01]})
        await txn.delete(gone)
        await txn.patch(old, {"e": [0.0, 1.0]})
        found = await run_vector_search(txn, "items", "by_e", vector=[1.0, 0.0])
        assert [hit["_id"] for hit in found] == [new, old]
        assert found[1]["_score"] == pytest.approx(0.0, abs=1e-6)
        txn.close()
    finally:
        await db.close()


async def test_hybrid_search_fuses_ranks(engine: Engine) -> None:
    both = await add(engine, "red apple", "a", [1.0, 0.0, 0.0])
    await add(engine, "red car", "a", [0.0, 1.0, 0.0])
    await add(engine, "green apple", "a", [0.9, 0.1, 0.0])
    await add(engine, "red apple", "b", [1.0, 0.0, 0.0])
    args = {"text": "red apple", "vector": [1.0, 0.0, 0.0], "board": "a"}
    async with engine.subscribe("notes:hybrid", args) as sub:
        found = await sub.next(timeout=5)
        assert found[0] == "red apple" and len(found) == 3
        runs = engine.manager.executions
        await add(engine, "unrelated", "b", [0.0, 0.0, 1.0])
        assert engine.manager.executions == runs
        await engine.run_mutation("notes:remove", {"id": both})
        assert "red apple" not in await sub.next(timeout=5)
    assert RRF_K == 60


async def test_bad_vector_filters_are_refused(engine: Engine) -> None:
    txn = engine.database.begin(read_only=True)
    try:
        with pytest.raises(ReactorError, match="'body' is not a filter field"):
            await run_vector_search(txn, "notes", "by_embedding", vector=[1, 2, 3],
                                    filter=lambda q: q.eq("body", "x"))
        with pytest.raises(ReactorError, match=r"filter must return q\.eq"):
            await run_vector_search(txn, "notes", "by_embedding", vector=[1, 2, 3],
                                    filter=lambda q: True)
        with pytest.raises(ReactorError, match="at most 64 filter values"):
            await run_vector_search(
                txn, "notes", "by_embedding", vector=[1, 2, 3],
                filter=lambda q: q.or_(*(q.eq("board", str(i)) for i in range(65))))
        with pytest.raises(ReactorError, match='vector index "nope" not found'):
            await run_vector_search(txn, "notes", "nope", vector=[1, 2, 3])
    finally:
        txn.close()


async def test_a_reader_only_worker_store_searches_vectors_at_its_snapshot(
        tmp_path: Path) -> None:
    """Worker processes open the file read-only and keep no matrices: they load the
    snapshot's entries for each search and must find what the server finds."""
    schema = define_schema({"items": define_table({"e": v.array(v.number()), "k": v.string()})
                            .vector_index("by_e", vector_field="e", dimensions=2,
                                          filter_fields=["k"])})
    db = await Database.open(SqliteStorage(tmp_path, durability="normal"), schema)
    reader = SqliteStorage(tmp_path)
    try:
        txn = db.begin()
        first = await txn.insert("items", {"e": [1.0, 0.0], "k": "a"})
        await txn.insert("items", {"e": [0.0, 1.0], "k": "b"})
        await db.commit(txn)
        txn.close()
        before = db.latest_ts
        txn = db.begin()
        await txn.patch(first, {"e": [-1.0, 0.0]})
        await db.commit(txn)
        txn.close()
        await reader.open_reader()
        query = VectorQuery([1.0, 0.1])
        for ts in (before, db.latest_ts):
            mine = await db.storage.vector_search("items.by_e", query, ts, 10)
            theirs = await reader.vector_search("items.by_e", query, ts, 10)
            assert [(h.doc_id, round(h.score, 6)) for h in theirs] == [
                (h.doc_id, round(h.score, 6)) for h in mine]
        assert (await reader.vector_search("items.by_e", query, before, 1))[0].doc_id == first
    finally:
        await reader.close()
        await db.close()
