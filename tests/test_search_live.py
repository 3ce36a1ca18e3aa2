"""Text search through the engine: live queries re-run exactly when a commit can change them,
concurrent mutations conflict over what their searches saw, backfill on reload and restart."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from engine_support import mutate

from reactor.runtime import Engine

APP = Path(__file__).parent / "apps" / "search"


@pytest.fixture
async def engine(tmp_path: Path, db_url: str | None) -> AsyncIterator[Engine]:
    async with Engine(APP, tmp_path, durability="normal", db_url=db_url) as running:
        yield running






async def add(engine: Engine, body: str, board: str | None = None) -> str:
    args = {"body": body} if board is None else {"body": body, "board": board}
    doc_id: str = await mutate(engine, "notes:add", args)
    return doc_id


async def test_live_search_reruns_only_for_commits_that_can_change_it(engine: Engine) -> None:
    kept = await add(engine, "hello there", "a")
    async with engine.subscribe("notes:search", {"text": "hello wor", "board": "a"}) as sub:
        assert await sub.next(timeout=5) == ["hello there"]
        runs = engine.manager.executions
        await add(engine, "hello world", "b")      # another board
        await add(engine, "goodbye", "a")          # no matching term
        await add(engine, "wo hell", "a")          # neither term nor the prefix
        await add(engine, "hello", None)           # no board at all
        assert engine.manager.executions == runs

        entering = await add(engine, "worldwide news", "a")  # the prefix term matches
        assert engine.manager.executions == runs + 1
        assert sorted(await sub.next(timeout=5)) == ["hello there", "worldwide news"]

        await mutate(engine, "notes:update", {"id": entering, "fields": {"board": "b"}})
        assert await sub.next(timeout=5) == ["hello there"]       # left by its filter
        await mutate(engine, "notes:update", {"id": kept, "fields": {"body": "hello hello"}})
        assert await sub.next(timeout=5) == ["hello hello"]       # changed in place
        await add(engine, "hello world hello world", "a")
        assert sorted(await sub.next(timeout=5)) == ["hello hello", "hello world hello world"]
        await mutate(engine, "notes:remove", {"id": kept})
        assert await sub.next(timeout=5) == ["hello world hello world"]   # deleted
        assert engine.manager.executions == runs + 5


async def test_unfiltered_search_sees_every_board(engine: Engine) -> None:
    async with engine.subscribe("notes:search", {"text": "lamp"}) as sub:
        assert await sub.next(timeout=5) == []
        runs = engine.manager.executions
        await add(engine, "table chair", "a")
        assert engine.manager.executions == runs
        await add(engine, "desk lamp", "z")
        assert await sub.next(timeout=5) == ["desk lamp"]


async def test_ten_thousand_unrelated_search_subscriptions(tmp_path: Path) -> None:
    """(SQLite only: a scaling test of the subscription layer, not of the store.)"""
    async with Engine(APP, tmp_path, durability="normal") as engine:
        await _ten_thousand_unrelated(engine)


async def _ten_thousand_unrelated(engine: Engine) -> None:
    subs = [engine.subscribe("notes:search", {"text": "hello", "board": f"b{i}"})
            for i in range(10_000)]
    for sub in subs:
        await sub.__aenter__()
    try:
        async with asyncio.timeout(120):  # every first run done, on a busy machine too
            while not all(entry.ready for entry in engine.manager.entries.values()):
                await asyncio.sleep(0.01)
        for sub in subs[:3]:
            assert await sub.next(timeout=30) == []
        runs = engine.manager.executions
        await add(engine, "hello", "elsewhere")
        await add(engine, "goodbye", "b7")
        assert engine.manager.executions == runs
        await add(engine, "hello there", "b7")
        assert engine.manager.executions == runs + 1
        assert await subs[7].next(timeout=5) == ["hello there"]
    finally:
        for sub in subs:
            await sub.__aexit__(None, None, None)


async def test_concurrent_searches_conflict_and_retry(engine: Engine) -> None:
    """Each call inserts only if its search finds nothing; run together, exactly one may."""
    calls = [engine.run_mutation("notes:add_unless_found",
                                 {"text": "unique", "board": "a", "body": f"unique {i}"})
             for i in range(8)]
    results = [outcome.unwrap() for outcome in await asyncio.gather(*calls)]
    assert sum(result is not None for result in results) == 1
    # A different board does not conflict with them.
    other = await engine.run_mutation("notes:add_unless_found",
                                      {"text": "unique", "board": "b", "body": "unique b"})
    assert other.unwrap() is not None


SCHEMA_WITHOUT = """
from reactor import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"body": v.string(), "board": v.optional(v.string())}),
})
"""


async def test_backfill_on_reload_and_at_start(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    with_index = (app / "schema.py").read_text()
    (app / "schema.py").write_text(SCHEMA_WITHOUT)
    (app / "functions" / "notes.py").write_text(
        (APP / "functions" / "notes.py").read_text())
    data = tmp_path / "data"
    caplog.set_level(logging.INFO, logger="reactor.schema_change")
    async with Engine(app, data, durability="normal") as engine:
        for i in range(5):
            await engine.run_mutation("notes:add", {"body": f"old note {i}", "board": "a"})
        await engine.run_mutation("notes:add", {"body": "...", "board": "a"})
        (app / "schema.py").write_text(with_index)
        report = await engine.reload()
        assert "backfilled notes.search_body (5 of 6 documents)" in report
        assert "notes.search_body: 5 of 6 documents indexed" in caplog.text
        found = (await engine.run_query("notes:search", {"text": "note", "n": 10})).unwrap()
        assert len(found) == 5
        # Dropped again, then added while the server was down: backfilled at the next start.
        (app / "schema.py").write_text(SCHEMA_WITHOUT)
        await engine.reload()
        assert (await engine.run_query("notes:search", {"text": "note"})).error is not None
        await engine.run_mutation("notes:add", {"body": "new note", "board": "a"})
    (app / "schema.py").write_text(with_index)
    caplog.clear()
    async with Engine(app, data, durability="normal") as engine:
        found = (await engine.run_query("notes:search", {"text": "note", "n": 10})).unwrap()
        assert sorted(found) == sorted([f"old note {i}" for i in range(5)] + ["new note"])
        assert "6 of 7 documents indexed" in caplog.text
