"""An action that held the event loop runs its next calls in a worker process
(runtime/action_workers.py), where its `ctx` works as on the loop and spinning
stalls no other client."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reactor.runtime.action_workers import ACTION_SLICE_S
from reactor.runtime.actions import ACTION_STEP_LIMIT_S
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "limits"
# Past the slice, so the call escalates; far below the 1 s step cap.
BUSY = ACTION_SLICE_S * 2


@pytest.fixture
async def t(tmp_path: Path) -> AsyncIterator[ReactorTest]:
    # Generous: a worker runs at a low priority, so on a busy machine its CPU comes slowly.
    async with ReactorTest(APP, tmp_path, action_timeout_s=60) as test:
        yield test


async def test_a_busy_action_moves_to_a_worker_where_ctx_works(t: ReactorTest) -> None:
    await t.environment.set("GREETING", "hello")
    alice = t.with_identity("alice")
    first = await t.engine.run_action("heavy_actions:tally", {"name": "a", "busy": BUSY},
                                      alice.identity)
    pool = t.engine.actions.pool
    assert pool is not None and pool.isolated("heavy_actions:tally") and pool.calls == 0
    assert first.unwrap()["pid"] == os.getpid()

    second = await t.engine.run_action("heavy_actions:tally", {"name": "a", "busy": 0},
                                       alice.identity)
    result = second.unwrap()
    assert pool.calls == 1 and result["pid"] != os.getpid()
    assert result["value"] == 2 and result["seen"] == 2
    assert result["env"] == "hello" and result["subject"] == "alice"
    assert result["verified"] == "someone"
    assert abs(result["now"] - time.time() * 1000) < 60_000
    # The log lines of the action and of the functions it called, in order, as on the loop.
    assert second.log_lines == first.log_lines and second.log_lines[0] == "[LOG] tallying a"
    assert await t.query("counter:get", {"name": "a"}) == 2
    # Its scheduled job is pending in the server's scheduler.
    jobs = await t.run(lambda_jobs)
    assert result["job"] in jobs


async def lambda_jobs(ctx: object) -> list[str]:
    rows = await ctx.db.system.query("_scheduled_functions").collect()  # type: ignore[attr-defined]
    return [row["_id"] for row in rows if row["state"]["kind"] == "pending"]


async def test_app_errors_cross_the_worker_boundary_with_their_data(t: ReactorTest) -> None:
    for _ in range(2):  # on the loop, then in a worker
        outcome = await t.engine.run_action("heavy_actions:relay_refusal", {"busy": BUSY})
        assert outcome.error is not None and outcome.error.is_app_error
        assert outcome.error.data == {"relayed": {"code": "Refused", "n": 3}}
    assert t.engine.actions.pool is not None and t.engine.actions.pool.calls == 1


async def test_a_spinning_action_in_a_worker_leaves_the_loop_free(t: ReactorTest) -> None:
    args = {"busy": BUSY, "spin": False, "in_c": False}
    assert (await t.action("heavy_actions:then_spin", args)) == os.getpid()
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beating = asyncio.ensure_future(heartbeat())
    try:
        spun = await t.engine.run_action("heavy_actions:then_spin", {**args, "spin": True})
    finally:
        beating.cancel()
    assert spun.error is not None and spun.error.code == "UserTimeExceeded"
    # On the loop the spin would hold it for the whole 1 s step cap: one gap of 1 s or more.
    assert len(gaps) >= 10 and max(gaps) < ACTION_STEP_LIMIT_S, (len(gaps), max(gaps))


async def test_c_code_in_a_worker_action_is_killed_at_the_timeout(t: ReactorTest) -> None:
    args = {"busy": BUSY, "spin": False, "in_c": False}
    await t.action("heavy_actions:then_spin", args)  # escalates
    assert (await t.action("heavy_actions:then_spin", args)) != os.getpid()  # a worker is up
    t.engine.actions.timeout_s = 3
    outcome = await t.engine.run_action("heavy_actions:then_spin", {**args, "in_c": True})
    assert outcome.error is not None and outcome.error.code == "ActionTimeout"
    assert t.engine.actions.pool is not None and t.engine.actions.pool.kills == 1
    # The pool starts a new worker for the next call.
    t.engine.actions.timeout_s = 60
    assert (await t.action("heavy_actions:then_spin", args)) != os.getpid()
