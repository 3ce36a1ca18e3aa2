"""Failures while committing: a full disk and a batch that cannot be built.

Every caller in the failed batch is answered with an error (none hangs),
nothing of the batch becomes visible or enters the write log, the committer
keeps serving later batches, and clients read a sentence that names nothing of
the server (the full text goes to the server log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reactor.errors import StorageError
from reactor.runtime import Engine
from reactor.server.app import ReactorServer
from reactor.storage import SqliteStorage
from reactor.transactions import Database, LogEntry, Transaction

APP = Path(__file__).parent / "apps" / "journal"
DISK_FULL = "journal:write: StorageFull: the server could not write the data: its disk is full"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with Engine(APP, tmp_path, durability="normal") as running:
        yield running


async def fill_the_disk(database: Database, full: bool) -> None:
    """Make SQLite's file unable to grow (a real SQLITE_FULL), or able again."""
    storage = database.storage
    assert isinstance(storage, SqliteStorage)
    writer = storage._writer
    assert writer is not None

    def limit() -> None:
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count = {pages if full else 1 << 30}")

    await storage._on_writer_thread(limit)


async def entry_count(engine: Engine) -> int:
    return len((await engine.run_query("journal:entries", {})).unwrap())


def log_after(database: Database, ts: int) -> list[LogEntry]:
    return database.write_log.since(ts)


async def test_a_full_disk_refuses_the_batch_and_the_committer_goes_on(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = engine.database
    assert (await engine.run_mutation("journal:write", {"seq": 0, "payload": "x"})).ok
    before = database.latest_ts
    await fill_the_disk(database, True)
    outcomes = await asyncio.wait_for(asyncio.gather(*(
        engine.run_mutation("journal:write", {"seq": n, "payload": "y" * 100_000})
        for n in range(1, 21))), timeout=30)
    for outcome in outcomes:
        assert outcome.error is not None
        assert outcome.error.code == "StorageFull"
        assert outcome.error.summary == DISK_FULL
        assert str(tmp_path) not in outcome.error.message
    # The server log has the whole story: the file and SQLite's own words.
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "database or disk is full" in logged and str(tmp_path) in logged
    assert database.latest_ts == before
    assert log_after(database, before) == []
    assert await entry_count(engine) == 1

    await fill_the_disk(database, False)
    later = await engine.run_mutation("journal:write", {"seq": 99, "payload": "z"})
    assert later.ok, later.error
    assert database.latest_ts > before
    assert await entry_count(engine) == 2


async def test_a_batch_that_fails_to_build_answers_every_caller(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    database = engine.database
    committer = database.committer
    build = committer._build

    def failing_build(txn: Transaction, ts: int) -> Any:
        if any(w.new is not None and w.new.get("payload") == "boom"
               for w in txn.writes.values()):
            raise RuntimeError("injected failure at /srv/secret/path")
        return build(txn, ts)

    monkeypatch.setattr(committer, "_build", failing_build)
    before, batches = database.latest_ts, committer.stats.batches

    async def commit(payload: str) -> int:
        txn = database.begin()
        try:
            await txn.insert("entries", {"seq": 1.0, "payload": payload})
            return await database.commit(txn)
        finally:
            txn.close()

    # Queued together, so one batch: two built before the failure, two never reached.
    results = await asyncio.wait_for(asyncio.gather(
        *(commit(p) for p in ("a", "b", "boom", "c", "d")), return_exceptions=True),
        timeout=10)
    for result in results:
        assert isinstance(result, StorageError), result
        assert result.code == "CommitFailed"
        assert "injected" not in result.public_message
        assert "/srv" not in result.public_message
    assert database.latest_ts == before
    assert log_after(database, before) == []
    assert committer.stats.batches == batches
    assert await entry_count(engine) == 0

    assert isinstance(await commit("after"), int)
    assert await entry_count(engine) == 1
    assert len(log_after(database, before)) == 1


async def test_clients_of_the_http_api_read_no_server_path(tmp_path: Path) -> None:
    server = ReactorServer(Engine(APP, tmp_path, durability="normal"))
    asgi = server.build()
    await server.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                                     base_url="http://testserver") as client:
            await fill_the_disk(server.engine.database, True)
            response = await client.post("/api/mutation", json={
                "path": "journal:write", "args": [{"seq": 1, "payload": "y" * 100_000}]})
        body = response.json()
        assert body["status"] == "error" and body["errorMessage"].endswith("\n" + DISK_FULL)
        assert str(tmp_path) not in response.text and "sqlite" not in response.text.lower()
    finally:
        await server.stop()


async def test_a_stopping_database_answers_what_is_queued(tmp_path: Path) -> None:
    async with Engine(APP, tmp_path, durability="normal") as engine:
        database = engine.database
        txn = database.begin()
        await txn.insert("entries", {"seq": 1.0, "payload": "late"})
        async with database.committer.lock:  # the committer cannot start the batch
            waiting = asyncio.ensure_future(database.commit(txn))
            await asyncio.sleep(0.05)
            await database.committer.stop()
        with pytest.raises(StorageError) as caught:
            await asyncio.wait_for(waiting, 5)
        txn.close()
        assert caught.value.code == "DatabaseClosed"
        database.committer.start()


def test_the_log_keeps_the_details(caplog: pytest.LogCaptureFixture) -> None:
    """to_function_error logs what it hides from the client."""
    from reactor.runtime.runner import to_function_error

    with caplog.at_level(logging.ERROR):
        error = to_function_error("m:f", StorageError("/data/reactor.sqlite3: write failed",
                                                      code="StorageIOError"))
    assert error.summary == ("m:f: StorageIOError: the server could not read or write its"
                             " data (the details are in the server log)")
    assert "/data/reactor.sqlite3: write failed" in caplog.text
    oserror = to_function_error("m:f", FileNotFoundError(2, "No such file", "/etc/x"))
    assert "/etc/x" not in oserror.message and "FileNotFoundError" in oserror.message


async def test_a_commit_queued_as_the_committer_stops_is_answered(tmp_path: Path) -> None:
    """A commit that reaches the committer after its task drained the queue, while `stop`
    has not returned yet (a deposed committer stepping down, docs/guide/nodes.md), gets
    the stop's reason instead of waiting forever; so does one after `stop` returned."""
    async with Engine(APP, tmp_path, durability="normal") as engine:
        database = engine.database
        committer = database.committer
        reason = StorageError("deposed", code="NotCommitter")
        txns = [database.begin() for _ in range(2)]
        for seq, txn in enumerate(txns):
            await txn.insert("entries", {"seq": float(seq), "payload": "late"})
        late: list[asyncio.Future[int]] = []
        task = committer._task
        assert task is not None
        # Runs as soon as the task has ended, before `stop` is resumed.
        task.add_done_callback(lambda _: late.append(
            asyncio.ensure_future(committer.commit(txns[0]))))
        await committer.stop(reason)
        after = asyncio.ensure_future(committer.commit(txns[1]))
        for waiting in [*late, after]:
            with pytest.raises(StorageError) as caught:
                await asyncio.wait_for(waiting, 2)
            assert caught.value.code == "NotCommitter"
        for txn in txns:
            txn.close()
        committer.start()
