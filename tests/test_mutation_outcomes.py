"""Stored mutation outcomes: a re-sent mutation is answered from them, and they are pruned."""

from __future__ import annotations

import time
from pathlib import Path

from reactor.runtime import FunctionKind
from reactor.runtime.scheduler import ManualClock
from reactor.runtime.system import MUTATION_OUTCOMES, MutationJournal
from reactor.runtime.system.transact import read
from reactor.testing import ReactorTest
from reactor.transactions import QueryBuilder

APP = Path(__file__).parent / "apps" / "basic"
SESSION = "6f1c1d4e-8f51-4b8e-9a43-2b0d8f7a2c11"


async def stored_outcomes(t: ReactorTest) -> int:
    async def body(txn):  # type: ignore[no-untyped-def]
        return len(await QueryBuilder(txn, MUTATION_OUTCOMES).collect())

    return await read(t.engine.database, body)


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
