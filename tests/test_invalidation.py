"""Which commits re-run which subscriptions: exactly those whose read ranges they touch."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import mutate, settle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.model import (
    SCHEMA,
    QuerySpec,
    documents,
    patches,
    query_specs,
    run_terminal,
    terminals,
)

from reactor import ReactorError
from reactor.runtime import Engine
from reactor.runtime.auth import identity_from_claims
from reactor.runtime.subscription import query_key
from reactor.storage import SqliteStorage
from reactor.subscriptions import QueryEntry, QueryResult, SubscriptionManager
from reactor.transactions import Database, ReadSet, Transaction
from reactor.values import dumps

APP = Path(__file__).parent / "apps" / "live"
ALICE = identity_from_claims({"sub": "alice", "iss": "test"})
BOB = identity_from_claims({"sub": "bob", "iss": "test"})


@pytest.fixture
async def engine(tmp_path: Path, db_url: str | None) -> AsyncIterator[Engine]:
    async with Engine(APP, tmp_path, durability="normal", db_url=db_url) as running:
        yield running






async def add(engine: Engine, author: str, rank: float, body: str = "") -> str:
    doc_id: str = await mutate(engine, "live:add", {"author": author, "rank": rank, "body": body})
    return doc_id


def entry(engine: Engine, path: str, args: dict[str, Any],
          identity: dict[str, Any] | None = None) -> QueryEntry:
    return engine.manager.entries[query_key(path, args, identity)]


async def no_new_value(sub: Any) -> bool:
    try:
        await sub.next(timeout=0.2)
    except TimeoutError:
        return True
    return False


async def test_only_commits_inside_the_read_range_rerun(engine: Engine) -> None:
    async with engine.subscribe("live:ranks_by_author", {"author": "alice"}) as sub:
        assert await sub.next(timeout=5) == []
        runs = engine.manager.executions
        # Neighbours of the range ["alice", "alice" + 1) in key order.
        for author in ("alic", "alicea", "alice\x00", "alicf", "bob", ""):
            await add(engine, author, 1)
        assert engine.manager.executions == runs
        await add(engine, "alice", 2)
        assert engine.manager.executions == runs + 1
        assert await sub.next(timeout=5) == [2.0]


async def test_first_and_take_one_depend_only_on_keys_up_to_the_first(engine: Engine) -> None:
    first_id = await add(engine, "a", 5)
    other_id = await add(engine, "a", 10)
    async with (engine.subscribe("live:lowest_first", {}) as first,
                engine.subscribe("live:lowest_take", {}) as take):
        assert await first.next(timeout=5) == first_id
        assert await take.next(timeout=5) == [first_id]
        runs = engine.manager.executions

        await add(engine, "a", 5)  # equal rank, later _creationTime: after the first key
        await add(engine, "a", 7)
        await add(engine, "a", 20)
        await mutate(engine, "live:update", {"id": other_id, "fields": {"rank": 3}})
        assert engine.manager.executions == runs + 2  # rank 3 now sorts first

        assert await first.next(timeout=5) == other_id
        assert await take.next(timeout=5) == [other_id]
        runs = engine.manager.executions
        await mutate(engine, "live:update", {"id": first_id, "fields": {"rank": 30}})
        assert engine.manager.executions == runs  # moved from past the first key to further
        await mutate(engine, "live:update", {"id": other_id, "fields": {"body": "x"}})
        assert engine.manager.executions == runs + 2  # the first document itself changed
        runs = engine.manager.executions

        lowest = await add(engine, "b", -1)
        assert engine.manager.executions == runs + 2
        assert await first.next(timeout=5) == lowest
        assert await take.next(timeout=5) == [lowest]


async def test_get_reruns_only_for_its_document(engine: Engine) -> None:
    mine = await add(engine, "a", 1)
    other = await add(engine, "a", 2)
    async with engine.subscribe("live:note", {"id": mine}) as sub:
        assert (await sub.next(timeout=5))["rank"] == 1
        runs = engine.manager.executions
        await mutate(engine, "live:update", {"id": other, "fields": {"body": "changed"}})
        await add(engine, "a", 3)
        assert engine.manager.executions == runs
        await mutate(engine, "live:update", {"id": mine, "fields": {"body": "changed"}})
        assert engine.manager.executions == runs + 1
        assert (await sub.next(timeout=5))["body"] == "changed"


async def test_identical_subscriptions_share_one_execution(engine: Engine) -> None:
    args = {"author": "alice"}
    runs = engine.manager.executions
    async with (engine.subscribe("live:ranks_by_author", args, ALICE) as one,
                engine.subscribe("live:ranks_by_author", dict(args), ALICE) as two):
        assert await one.next(timeout=5) == await two.next(timeout=5) == []
        assert engine.manager.executions == runs + 1
        assert len(engine.manager.entries) == 1

        async with engine.subscribe("live:ranks_by_author", args, BOB) as three:
            assert await three.next(timeout=5) == []
            assert engine.manager.executions == runs + 2
            assert len(engine.manager.entries) == 2
            await add(engine, "alice", 4)
            assert engine.manager.executions == runs + 4  # one per identity, not per subscriber
            assert await one.next(timeout=5) == await two.next(timeout=5) == [4.0]
            assert await three.next(timeout=5) == [4.0]
        await add(engine, "alice", 5)
        assert engine.manager.executions == runs + 5  # bob's let-go entry is evicted, not run
    # Let-go entries are only retained (for a one-shot query or a re-subscription).
    assert all(entry.subscribers == 0 for entry in engine.manager.entries.values())


async def test_subscriptions_advance_together(engine: Engine) -> None:
    """After each commit every subscription is valid at the same ts, in one step."""
    notes = await mutate(engine, "live:add_many", {"notes": [
        {"author": "alice", "rank": float(i)} for i in range(4)]})
    steps: list[tuple[int, int]] = []
    totals: list[int] = []

    async with (engine.subscribe("live:ranks_by_author", {"author": "alice"}) as alice,
                engine.subscribe("live:ranks_by_author", {"author": "bob"}) as bob):
        assert len(await alice.next(timeout=5)) == 4
        assert await bob.next(timeout=5) == []
        entries = [entry(engine, "live:ranks_by_author", {"author": name})
                   for name in ("alice", "bob")]

        def on_advance(ts: int, changed: set[QueryEntry]) -> None:
            results = [e.result for e in entries]
            assert all(r is not None for r in results)
            steps.append((ts, len(changed)))
            totals.append(sum(len(r.value) for r in results if r is not None))

        engine.manager.add_listener(on_advance)
        both = await engine.run_mutation("live:add_many", {"notes": [
            {"author": "alice", "rank": 9.0}, {"author": "bob", "rank": 9.0}]})
        await settle(engine)
        assert [e.result.ts for e in entries if e.result] == [both.ts, both.ts]
        assert (both.ts, 2) in steps

        moved = await engine.run_mutation("live:update", {"id": notes[0],
                                                          "fields": {"author": "bob"}})
        await settle(engine)
        assert alice.ts == bob.ts == moved.ts
        assert (moved.ts, 2) in steps

        only_alice = await engine.run_mutation("live:add", {"author": "alice", "rank": 1.0,
                                                            "body": ""})
        await settle(engine)
        assert alice.ts == bob.ts == only_alice.ts == engine.manager.current_ts

        # Notes hop between the two authors; every step shows one consistent snapshot.
        for i in range(20):
            note = notes[i % 4]
            await engine.run_mutation("live:update", {
                "id": note, "fields": {"author": "alice" if i % 2 else "bob"}})
        await settle(engine)
        engine.manager.remove_listener(on_advance)
    assert len(totals) > 3
    assert totals == [6, 6] + [7] * (len(totals) - 2)


async def test_unchanged_result_reruns_without_a_new_value(engine: Engine) -> None:
    note = await add(engine, "alice", 1, body="old")
    args = {"author": "alice"}
    async with engine.subscribe("live:ranks_by_author", args) as sub:
        assert await sub.next(timeout=5) == [1.0]
        watched = entry(engine, "live:ranks_by_author", args)
        runs, version = engine.manager.executions, watched.version
        await mutate(engine, "live:update", {"id": note, "fields": {"body": "new"}})
        assert engine.manager.executions == runs + 1
        assert watched.version == version
        assert await no_new_value(sub)
        await mutate(engine, "live:update", {"id": note, "fields": {"rank": 2}})
        assert watched.version == version + 1
        assert await sub.next(timeout=5) == [2.0]


# Randomized: after every commit, every subscription equals a fresh run. -----------

Op = tuple[str, int, dict[str, Any]]
ops = st.one_of(
    st.tuples(st.just("insert"), st.just(0), documents),
    st.tuples(st.just("patch"), st.integers(0, 99), patches),
    st.tuples(st.just("replace"), st.integers(0, 99), documents),
    st.tuples(st.just("delete"), st.integers(0, 99), st.just({})),
)
Live = tuple[QuerySpec, tuple[str, int]]
lives: st.SearchStrategy[Live] = st.tuples(
    query_specs(),
    terminals | st.tuples(st.sampled_from(["page", "pinned"]), st.integers(1, 4)))


async def evaluate(db: Database, txn: Transaction, live: Live,
                   end_cursor: str | None) -> Any:
    spec, (kind, n) = live
    builder = spec.build(db, txn)
    if kind == "page":
        return await builder.paginate({"numItems": n, "cursor": None})
    if kind == "pinned":
        return await builder.paginate({"numItems": n, "cursor": None, "endCursor": end_cursor})
    try:
        return await run_terminal(builder, (kind, n))  # type: ignore[arg-type]
    except ReactorError as error:
        return error.code


async def apply(db: Database, step: list[Op]) -> None:
    """One transaction; patch/replace/delete pick a live document by creation order."""
    txn = db.begin()
    try:
        for kind, target, value in step:
            if kind == "insert":
                await txn.insert("items", dict(value))
                continue
            live = await db.query(txn, "items").collect()
            if not live:
                continue
            doc_id = live[target % len(live)]["_id"]
            if kind == "patch":
                await txn.patch(doc_id, dict(value))
            elif kind == "replace":
                await txn.replace(doc_id, dict(value))
            else:
                await txn.delete(doc_id)
        await db.commit(txn)
    finally:
        txn.close()


async def check_never_stale(queries: list[Live], initial: list[dict[str, Any]],
                            steps: list[list[Op]], data_dir: Path) -> None:
    db = await Database.open(SqliteStorage(data_dir, durability="normal"), SCHEMA)
    end_cursors: list[str | None] = []

    async def fresh(i: int, ts: int | None) -> Any:
        txn = db.begin(read_only=True, ts=ts)
        try:
            return await evaluate(db, txn, queries[i], end_cursors[i]), txn.read_set
        finally:
            txn.close()

    async def run(entry: QueryEntry, ts: int) -> QueryResult:
        value, read_set = await fresh(entry.args["i"], ts)
        return QueryResult(ts, read_set, value=value, encoded=dumps(value))

    manager = SubscriptionManager(db, run)
    try:
        await apply(db, [("insert", 0, doc) for doc in initial])
        for i, (_, (kind, _)) in enumerate(queries):
            end_cursors.append(None)
            if kind == "pinned":
                first_page = (await fresh(i, None))[0]
                end_cursors[i] = first_page["continueCursor"] or None
        manager.start()
        entries = [manager.subscribe(("q", i), "q", {"i": i}, None) for i in range(len(queries))]
        for step in steps:
            async with asyncio.timeout(5):
                while not all(watched.ready for watched in entries):
                    await asyncio.sleep(0.001)
            await apply(db, step)
            async with asyncio.timeout(5):
                while manager.current_ts < db.latest_ts:
                    await asyncio.sleep(0.001)
            for i, watched in enumerate(entries):
                assert watched.result is not None
                expected = (await fresh(i, db.latest_ts))[0]
                assert watched.result.encoded == dumps(expected), (queries[i], step)
    finally:
        await manager.stop()
        await db.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries=st.lists(lives, min_size=1, max_size=6),
       initial=st.lists(documents, max_size=8),
       steps=st.lists(st.lists(ops, min_size=1, max_size=3), min_size=1, max_size=10))
def test_subscriptions_never_go_stale(queries: list[Live], initial: list[dict[str, Any]],
                                      steps: list[list[Op]]) -> None:
    with tempfile.TemporaryDirectory(prefix="reactor-live-") as data_dir:
        asyncio.run(check_never_stale(queries, initial, steps, Path(data_dir)))


async def test_a_query_failed_for_want_of_storage_runs_again(tmp_path: Path) -> None:
    """A run that failed because storage was unreachable read nothing, so no commit would
    ever re-run it: the manager runs it again by itself until it succeeds. A query that
    failed on its own is left alone until a commit touches what it read."""
    db = await Database.open(SqliteStorage(tmp_path), SCHEMA)
    runs: dict[str, int] = {"flaky": 0, "broken": 0}

    async def run(entry: QueryEntry, ts: int) -> QueryResult:
        name = entry.args["name"]
        runs[name] += 1
        if name == "broken" or runs[name] == 1:
            return QueryResult(ts, ReadSet(), error_message="failed",
                               retry=name == "flaky")
        return QueryResult(ts, ReadSet(), value=1, encoded=dumps(1))

    manager = SubscriptionManager(db, run)
    manager.start()
    try:
        flaky = manager.subscribe(("q", "flaky"), "q", {"name": "flaky"}, None)
        broken = manager.subscribe(("q", "broken"), "q", {"name": "broken"}, None)
        async with asyncio.timeout(5):
            while flaky.result is None or not flaky.result.ok:
                await asyncio.sleep(0.01)
        assert runs["flaky"] == 2 and flaky.result.value == 1
        assert broken.result is not None and not broken.result.ok
        assert runs["broken"] == 1
    finally:
        await manager.stop()
        await db.close()
