"""Functions that hold the event loop too long move to worker processes (runtime/workers.py)
and keep every guarantee there: reads, writes, OCC, logs, determinism, live queries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reactor.runtime.workers import SLICE_S
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "limits"
# Past the slice, so the call escalates; far below the 1 s limit.
BUSY = SLICE_S * 3


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP) as test:
        yield test


@pytest.fixture
async def on_both(db_url: str | None) -> AsyncIterator[ReactorTest]:
    """On each backend: workers read the store themselves (PostgreSQL: a connection each)."""
    async with ReactorTest(APP, db_url=db_url) as test:
        yield test


async def test_a_busy_mutation_runs_in_a_worker_and_commits(on_both: ReactorTest) -> None:
    t = on_both
    outcome = await t.engine.run_mutation("busy:add", {"name": "a", "busy": BUSY})
    assert outcome.unwrap() == 1
    assert outcome.log_lines == ["[LOG] adding to a"]
    pool = t.engine.pool
    assert pool is not None and pool.stats.escalations == 1 and pool.stats.remote_calls == 1
    assert t.engine.pool.isolated("busy:add")
    # Straight to the worker from now on; reads and writes as on the loop.
    assert await t.mutation("busy:add", {"name": "a", "busy": 0}) == 2
    assert pool.stats.remote_calls == 2 and pool.stats.escalations == 1
    assert await t.mutation("counter:incr", {"name": "a"}) == 3
    assert await t.query("counter:get", {"name": "a"}) == 3
    # Creation times stay unique and increasing across the processes.
    await t.mutation("counter:incr", {"name": "b"})
    await t.mutation("busy:add", {"name": "c", "busy": 0})
    await t.mutation("counter:incr", {"name": "d"})
    times = await t.query("busy:creation_times", {})
    assert [name for name, _ in times] == ["a", "b", "c", "d"]
    assert [time for _, time in times] == sorted({time for _, time in times})


async def test_busy_mutations_in_workers_stay_serializable(t: ReactorTest) -> None:
    """Increments from workers and from the loop race on one counter; OCC re-runs the losers,
    so every increment is counted once and each saw the one committed before it."""
    await t.mutation("busy:add", {"name": "n", "busy": BUSY})
    calls = [t.engine.run_mutation("busy:add", {"name": "n", "busy": 0.01}) for _ in range(6)]
    calls += [t.engine.run_mutation("counter:incr", {"name": "n"}) for _ in range(6)]
    outcomes = await asyncio.gather(*calls)
    assert sorted(o.unwrap() for o in outcomes) == list(range(2, 14))
    by_ts = sorted(outcomes, key=lambda o: o.ts or 0)
    assert [o.value for o in by_ts] == list(range(2, 14))
    assert await t.query("counter:get", {"name": "n"}) == 13


async def test_a_busy_query_is_deterministic_and_live(t: ReactorTest) -> None:
    await t.mutation("counter:incr", {"name": "q"})
    args = {"name": "q", "busy": BUSY}
    first = await t.engine.run_query("busy:read", args)
    assert t.engine.pool is not None and t.engine.pool.isolated("busy:read")
    assert first.log_lines == ["[LOG] reading q"]
    # The same snapshot gives the same random numbers (ctx.now() is the time of each run).
    again = await t.engine.run_query("busy:read", args, ts=first.ts)
    assert again.value["random"] == first.value["random"] and again.value["value"] == 1
    assert first.value["now"] <= again.value["now"]
    async with t.subscribe("busy:read", args) as live:
        assert (await live.next(timeout=10))["value"] == 1
        await t.mutation("counter:incr", {"name": "q"})
        assert (await live.next(timeout=10))["value"] == 2
        await t.mutation("counter:incr", {"name": "other"})
        await t.mutation("counter:incr", {"name": "q"})
        assert (await live.next(timeout=10))["value"] == 3


async def test_without_workers_busy_functions_stay_on_the_loop(tmp_path: Path) -> None:
    async with ReactorTest(APP, tmp_path, workers=0) as t:
        assert t.engine.pool is None
        assert await t.mutation("busy:add", {"name": "a", "busy": BUSY}) == 1
        outcome = await t.engine.run_query("runaway:spin_query", {})
        assert outcome.error is not None and outcome.error.code == "UserTimeExceeded"


async def test_c_code_that_ignores_the_timer_is_killed_with_its_worker() -> None:
    """`sum(range(10**13))` never returns to the interpreter, so no signal handler runs; once
    the function runs in a worker, the pool kills that worker at the limit (plus grace).
    (SQLite only: it is about the worker, not the store.)"""
    async with ReactorTest(APP) as t:
        await _c_code_is_killed(t)


async def _c_code_is_killed(t: ReactorTest) -> None:
    first = await t.engine.run_query("runaway:spin_then_c", {"in_c": False})
    assert first.error is not None and first.error.code == "UserTimeExceeded"
    killed = await t.engine.run_query("runaway:spin_then_c", {"in_c": True})
    assert killed.error is not None and killed.error.code == "UserTimeExceeded"
    assert killed.error.summary == (
        "runaway:spin_then_c: function ran for more than 1 s of its own code and was stopped;"
        " the limit is 1 s (move slow work into an action)")
    assert t.engine.pool is not None and t.engine.pool.stats.kills == 1
    # A new worker serves the next call.
    assert await t.query("busy:read", {"name": "x", "busy": BUSY}) is not None
    assert await t.mutation("busy:add", {"name": "x", "busy": BUSY}) == 1
