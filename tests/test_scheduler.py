"""Scheduled functions in-process: when jobs run, exactly-once mutations, at-most-once actions."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reactor import FunctionError
from reactor.runtime.scheduler import ManualClock, SchedulerOptions
from reactor.runtime.scheduler.worker import INTERRUPTED
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "scheduler"
START_MS = 1_714_564_800_000.0  # 2024-05-01 12:00:00 UTC


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP, clock=ManualClock(START_MS)) as test:
        yield test


def manual(t: ReactorTest) -> ManualClock:
    assert isinstance(t.clock, ManualClock)
    return t.clock


def hooks(t: ReactorTest) -> dict[str, Any]:
    module = t.engine.app.module("jobs")
    assert module is not None
    return module.hooks  # type: ignore[no-any-return]


async def state(t: ReactorTest, job_id: str) -> dict[str, Any]:
    job = await t.query("jobs:job", {"jobId": job_id})
    assert job is not None
    return job["state"]  # type: ignore[no-any-return]


async def test_a_scheduled_mutation_runs_once_when_due(t: ReactorTest) -> None:
    job_id = await t.mutation("jobs:schedule_bump", {"name": "a", "delay": 60})
    job = await t.query("jobs:job", {"jobId": job_id})
    assert (job["name"], job["args"], job["scheduledTime"], job["state"]) == (
        "jobs:bump", [{"name": "a"}], START_MS + 60_000, {"kind": "pending"})
    assert await t.run_scheduled() == 0
    manual(t).advance(59.999)
    assert await t.run_scheduled() == 0
    manual(t).advance(0.001)
    assert await t.run_scheduled() == 1
    assert await t.run_scheduled() == 0
    assert await t.query("jobs:counter", {"name": "a"}) == 1
    done = await t.query("jobs:job", {"jobId": job_id})
    assert done["state"] == {"kind": "success"}
    assert done["completedTime"] == START_MS + 60_000
    assert await t.query("jobs:runs", {"name": "a"}) == [START_MS + 60_000]


async def test_a_scheduled_mutation_that_writes_nothing_is_still_marked_done_once(
        t: ReactorTest) -> None:
    job_id = await t.mutation("jobs:schedule_look", {"delay": 1})
    manual(t).advance(1)
    assert await t.run_scheduled() == 1
    assert await state(t, job_id) == {"kind": "success"}
    assert await t.run_scheduled() == 0


async def test_run_at_takes_a_timestamp_and_a_path(t: ReactorTest) -> None:
    job_id = await t.mutation("jobs:schedule_bump_at", {"name": "b", "at": START_MS + 5_000})
    manual(t).advance(5)
    assert await t.run_scheduled() == 1
    assert await state(t, job_id) == {"kind": "success"}


async def test_a_cancelled_job_never_runs(t: ReactorTest) -> None:
    job_id = await t.mutation("jobs:schedule_bump", {"name": "c", "delay": 10})
    await t.mutation("jobs:cancel", {"jobId": job_id})
    same_mutation = await t.mutation("jobs:schedule_then_cancel", {"name": "c"})
    manual(t).advance(3600)
    assert await t.run_scheduled() == 0
    assert await t.query("jobs:counter", {"name": "c"}) == 0
    assert await state(t, job_id) == {"kind": "canceled"}
    assert await state(t, same_mutation) == {"kind": "canceled"}
    # Cancelling a finished job is allowed and changes nothing.
    await t.mutation("jobs:cancel", {"jobId": job_id})
    with pytest.raises(FunctionError, match="no scheduled job") as missing:
        await t.mutation("jobs:cancel", {"jobId": "nope"})
    assert missing.value.code == "JobNotFound"


async def test_a_cancelled_job_never_runs_in_the_background(tmp_path: Path) -> None:
    async with ReactorTest(APP, clock=ManualClock(START_MS), run_scheduler=True) as t:
        job_id = await t.mutation("jobs:schedule_bump", {"name": "c", "delay": 10})
        await t.mutation("jobs:cancel", {"jobId": job_id})
        marker = await t.mutation("jobs:schedule_bump", {"name": "marker", "delay": 20})
        async with t.subscribe("jobs:job", {"jobId": marker}) as sub:
            await sub.next(timeout=5)
            manual(t).advance(30)
            while (await sub.next(timeout=5))["state"]["kind"] != "success":
                pass
        assert await t.query("jobs:counter", {"name": "c"}) == 0
        assert await state(t, job_id) == {"kind": "canceled"}


async def test_scheduling_is_atomic_with_the_mutation(t: ReactorTest) -> None:
    with pytest.raises(FunctionError, match="Nope"):
        await t.mutation("jobs:schedule_and_fail", {"name": "d"})
    assert await t.query("jobs:jobs", {}) == []


async def test_a_job_scheduled_by_a_retried_mutation_exists_once(t: ReactorTest) -> None:
    gate = asyncio.Event()
    hooks(t)["pause"] = gate
    first = asyncio.create_task(t.engine.run_mutation("jobs:schedule_then_contend",
                                                      {"name": "e"}, admin=True))
    while "paused" not in hooks(t):
        await asyncio.sleep(0.005)
    await t.mutation("jobs:touch", {"name": "hot"})
    gate.set()
    outcome = await first
    assert outcome.ok and outcome.attempts == 2, "the first attempt should have conflicted"
    jobs = await t.query("jobs:jobs", {})
    assert [job["id"] for job in jobs] == [outcome.value]
    assert await t.run_scheduled() == 1
    assert await t.query("jobs:counter", {"name": "e"}) == 1
    assert await t.query("jobs:counter", {"name": "hot"}) == 2


async def test_a_failing_scheduled_mutation_is_marked_failed(t: ReactorTest) -> None:
    job_id = await t.mutation("jobs:schedule_explode", {})
    assert await t.run_scheduled() == 1
    job = await t.query("jobs:job", {"jobId": job_id})
    assert job["state"]["kind"] == "failed"
    # What a client would have been told, with the request id of the job's run.
    assert re.fullmatch(r"\[Request ID: [0-9a-f]{16}\] Server Error\n"
                        r"Uncaught ConvexError: the job exploded", job["state"]["error"])
    assert job["completedTime"] == START_MS
    assert await t.run_scheduled() == 0


async def test_only_mutations_and_actions_can_be_scheduled(t: ReactorTest) -> None:
    with pytest.raises(FunctionError, match="jobs:counter is a query"):
        await t.mutation("jobs:schedule_path", {"path": "jobs:counter", "count": 1})
    with pytest.raises(FunctionError, match="Could not find function for 'jobs:missing'"):
        await t.mutation("jobs:schedule_path", {"path": "jobs:missing", "count": 1})
    assert await t.query("jobs:jobs", {}) == []


async def test_a_subscriber_sees_job_states_change_live(t: ReactorTest) -> None:
    gate, started = asyncio.Event(), asyncio.Event()
    hooks(t).update(gate=gate, started=started)
    async with t.subscribe("jobs:jobs", {}) as sub:
        assert await sub.next(timeout=5) == []
        await t.mutation("jobs:schedule_action", {"name": "x"})
        assert [job["state"] for job in await sub.next(timeout=5)] == [{"kind": "pending"}]
        running = asyncio.create_task(t.run_scheduled())
        await asyncio.wait_for(started.wait(), 5)
        assert [job["state"] for job in await sub.next(timeout=5)] == [{"kind": "inProgress"}]
        gate.set()
        assert await running == 1
        assert [job["state"] for job in await sub.next(timeout=5)] == [{"kind": "success"}]
    assert await t.query("jobs:all_counters", {}) == {"x:start": 1, "x:end": 1}


async def test_an_action_interrupted_by_a_restart_fails_and_never_reruns(
        tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    options = SchedulerOptions(shutdown_grace_s=0.05)
    async with ReactorTest(APP, tmp_path, clock=clock, scheduler_options=options) as first:
        gate, started = asyncio.Event(), asyncio.Event()
        hooks(first).update(gate=gate, started=started)
        job_id = await first.mutation("jobs:schedule_action", {"name": "y"})
        running = asyncio.create_task(first.run_scheduled())
        await asyncio.wait_for(started.wait(), 5)
        assert await state(first, job_id) == {"kind": "inProgress"}
        await first.engine.scheduler.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    async with ReactorTest(APP, tmp_path, clock=clock) as second:
        assert await state(second, job_id) == {"kind": "failed", "error": INTERRUPTED}
        clock.advance(3600)
        assert await second.run_scheduled() == 0
        assert await second.query("jobs:all_counters", {}) == {"y:start": 1}


async def test_jobs_that_came_due_while_stopped_run_on_start(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    async with ReactorTest(APP, tmp_path, clock=clock) as first:
        await first.mutation("jobs:schedule_bump", {"name": "late", "delay": 60})
    clock.advance(600)
    async with ReactorTest(APP, tmp_path, clock=clock, run_scheduler=True) as second, \
            second.subscribe("jobs:counter", {"name": "late"}) as sub:
        value = await sub.next(timeout=5)
        while value == 0:
            value = await sub.next(timeout=5)
        assert value == 1


async def test_the_background_worker_runs_jobs_when_the_clock_says(tmp_path: Path) -> None:
    async with ReactorTest(APP, clock=ManualClock(START_MS), run_scheduler=True) as t:
        await t.mutation("jobs:schedule_bump", {"name": "bg", "delay": 30})
        async with t.subscribe("jobs:counter", {"name": "bg"}) as sub:
            assert await sub.next(timeout=5) == 0
            manual(t).advance(29)
            with pytest.raises(TimeoutError):
                await sub.next(timeout=0.2)
            manual(t).advance(1)
            assert await sub.next(timeout=5) == 1


async def test_jobs_run_in_scheduled_time_order(tmp_path: Path) -> None:
    options = SchedulerOptions(max_concurrent_jobs=1)
    async with ReactorTest(APP, clock=ManualClock(START_MS), scheduler_options=options) as t:
        delays = [5.0, 1.0, 4.0, 2.0, 3.0]
        await t.mutation("jobs:schedule_many", {"names": [f"d{d:g}" for d in delays],
                                                "delays": delays})
        manual(t).advance(10)
        assert await t.run_scheduled() == 5
        assert await t.query("jobs:run_order", {}) == ["d1", "d2", "d3", "d4", "d5"]


async def test_at_most_max_concurrent_jobs_run_at_once(tmp_path: Path) -> None:
    options = SchedulerOptions(max_concurrent_jobs=3)
    async with ReactorTest(APP, clock=ManualClock(START_MS), scheduler_options=options) as t:
        await t.mutation("jobs:schedule_path", {"path": "actions:busy", "count": 8})
        assert await t.run_scheduled() == 8
        actions = t.engine.app.module("actions")
        assert actions is not None
        assert actions.load == {"now": 0, "peak": 3}


async def test_finished_jobs_are_pruned_after_the_retention_time(tmp_path: Path) -> None:
    options = SchedulerOptions(retention_s=3600)
    async with ReactorTest(APP, clock=ManualClock(START_MS), scheduler_options=options) as t:
        done = await t.mutation("jobs:schedule_bump", {"name": "p", "delay": 0})
        cancelled = await t.mutation("jobs:schedule_bump", {"name": "p", "delay": 60})
        await t.mutation("jobs:cancel", {"jobId": cancelled})
        waiting = await t.mutation("jobs:schedule_bump", {"name": "p", "delay": 7200})
        assert await t.run_scheduled() == 1
        manual(t).advance(1800)
        assert await t.engine.scheduler.prune() == 0
        manual(t).advance(1801)
        assert await t.engine.scheduler.prune() == 1
        assert await t.query("jobs:job", {"jobId": done}) is None
        assert await state(t, cancelled) == {"kind": "canceled"}, "finished < 1 h ago"
        manual(t).advance(60)
        assert await t.engine.scheduler.prune() == 1
        assert await t.query("jobs:job", {"jobId": cancelled}) is None
        assert await state(t, waiting) == {"kind": "pending"}


async def test_actions_schedule_and_cancel_jobs(t: ReactorTest) -> None:
    soon, later = await t.action("actions:schedule_from_action", {"name": "f"})
    assert await state(t, soon) == {"kind": "pending"}
    assert await state(t, later) == {"kind": "canceled"}
    assert await t.run_scheduled() == 1
    assert await t.query("jobs:counter", {"name": "f"}) == 1
