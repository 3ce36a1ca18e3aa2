"""Stored mutation outcomes: a re-sent mutation is answered from them, and they are pruned."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from reactor.runtime import FunctionKind
from reactor.runtime.scheduler import ManualClock
from reactor.runtime.system import MutationJournal
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "basic"
FILES_APP = Path(__file__).parent / "apps" / "files"
SESSION = "6f1c1d4e-8f51-4b8e-9a43-2b0d8f7a2c11"


async def stored_outcomes(t: ReactorTest) -> int:
    db_path = t.engine.database.storage.db_path  # type: ignore[attr-defined]
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM mutation_outcomes").fetchone()[0])


async def add_note(t: ReactorTest, request_id: int, body: str) -> object:
    outcome = await t.engine.call(FunctionKind.MUTATION, "notes:add",
                                  {"author": "a", "body": body, "rank": 1.0},
                                  journal=MutationJournal(SESSION, request_id))
    return outcome.unwrap()


async def test_a_resent_mutation_is_answered_from_its_outcome() -> None:
    async with ReactorTest(APP) as t:
        first = await add_note(t, 7, "once")
        again = await add_note(t, 7, "once")
        assert again == first
        assert await t.query("notes:count") == 1
        await add_note(t, 8, "twice")
        assert await t.query("notes:count") == 2


async def test_old_outcomes_are_pruned_and_recent_ones_kept() -> None:
    clock = ManualClock(time.time() * 1000)
    async with ReactorTest(APP, clock=clock) as t:
        await add_note(t, 1, "old")
        clock.advance(2 * 3600)
        recent = await add_note(t, 2, "recent")
        assert await stored_outcomes(t) == 2
        await t.engine.scheduler.prune()
        assert await stored_outcomes(t) == 1
        assert await add_note(t, 2, "recent") == recent
        assert await t.query("notes:count") == 2


async def test_concurrent_resends_apply_once() -> None:
    """Two sockets of one client re-send the same mutation at once: one runs it, the
    other conflicts on the outcome's key and is answered from the stored outcome."""
    async with ReactorTest(APP) as t:
        results = await asyncio.gather(*(add_note(t, 5, "raced") for _ in range(4)))
        assert len({str(r) for r in results}) == 1
        assert await t.query("notes:count") == 1
        assert await stored_outcomes(t) == 1


async def test_a_mutation_that_writes_nothing_stores_no_outcome_and_commits_nothing() -> None:
    """Nothing a re-send could apply twice, so nothing is kept (or fsynced) for it: a
    re-sent one runs again — here it mints a fresh upload URL."""
    async with ReactorTest(FILES_APP) as t:
        stats = t.engine.database.committer.stats
        commits = stats.commits

        async def upload_url() -> object:
            outcome = await t.engine.call(FunctionKind.MUTATION, "messages:generateUploadUrl",
                                          {}, journal=MutationJournal(SESSION, 3))
            return outcome.unwrap()

        first, again = await upload_url(), await upload_url()
        assert isinstance(first, str) and isinstance(again, str) and first != again
        assert stats.commits == commits
        assert await stored_outcomes(t) == 0
