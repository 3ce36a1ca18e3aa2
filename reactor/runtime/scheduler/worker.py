"""The job worker: runs due `_scheduled_functions` jobs, in scheduled-time order, a few at a time.

Mutations run exactly once: the job is marked done in the mutation's own commit.
Actions run at most once: a job is marked in progress before the action starts,
and one found in progress at start-up is marked failed, never re-run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from reactor.errors import ReactorError
from reactor.runtime.functions import FunctionDefinition, FunctionKind
from reactor.runtime.outcome import Outcome
from reactor.runtime.scheduler.clock import Clock
from reactor.runtime.scheduler.cron_runner import CronRunner
from reactor.runtime.scheduler.crons import CronJobs
from reactor.runtime.system.rate_limits import RateLimits
from reactor.runtime.system.scheduled_functions import (
    FAILED,
    IN_PROGRESS,
    PENDING,
    SCHEDULED_FUNCTIONS,
    SUCCESS,
    JobCompletion,
    ScheduledFunctions,
    job_args,
)
from reactor.runtime.system.transact import read, transact
from reactor.schema import index_id
from reactor.transactions import Database, LogEntry, Transaction

logger = logging.getLogger("reactor.scheduler")

INTERRUPTED = "interrupted by a restart before it finished (actions run at most once)"
# Jobs read or written per transaction by recovery, pruning and run_due.
BATCH = 100
# run_due() stops after this many rounds of jobs that schedule more due jobs.
MAX_ROUNDS = 100
MAX_ERROR_CHARS = 4_096
_JOBS_INDEX = index_id(SCHEDULED_FUNCTIONS, "by_state_time")


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """Tunables of the job worker (documented in docs/guide/scheduler.md)."""

    # Jobs running at once; the rest wait their turn in scheduled-time order.
    max_concurrent_jobs: int = 10
    # Finished jobs (success, failed, canceled) are deleted this long after they finish.
    retention_s: float = 7 * 24 * 3600.0
    prune_interval_s: float = 3600.0
    # How long a client mutation's outcome is kept for idempotent re-sends.
    outcome_retention_s: float = 3600.0
    # The worker looks at the table at least this often, whatever it was told.
    max_idle_s: float = 60.0
    # On shutdown, running jobs get this long to finish before they are cancelled.
    shutdown_grace_s: float = 5.0


class JobHost(Protocol):
    """What the worker needs from the engine to run a job's function."""

    def resolve(self, path: str) -> FunctionDefinition: ...

    async def run_job_mutation(self, fn: FunctionDefinition, args: dict[str, Any],
                               completion: JobCompletion) -> Outcome: ...

    async def run_job_action(self, fn: FunctionDefinition, args: dict[str, Any]) -> Outcome: ...


class Scheduler:
    """Runs jobs in the background (`start_background`) or on demand (`run_due`)."""

    def __init__(self, database: Database, host: JobHost, clock: Clock,
                 options: SchedulerOptions | None = None) -> None:
        self.database = database
        self.host = host
        self.clock = clock
        self.options = options or SchedulerOptions()
        self.crons = CronRunner(database, clock)
        self._running: dict[str, asyncio.Task[bool]] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._last_prune: float | None = None

    async def start(self, crons: CronJobs | None) -> None:
        """Fail actions a previous process left running, and load the cron declarations."""
        interrupted = await self.recover()
        if interrupted:
            logger.warning("%d action job(s) were interrupted by a restart: marked failed",
                           interrupted)
        await self.crons.sync(crons)

    def start_background(self) -> None:
        self.database.add_commit_listener(self._on_commit)
        self._loop = asyncio.create_task(self._run_forever(), name="reactor-scheduler")

    def halt(self) -> None:
        """Take no more jobs from now on (`stop` then waits for the running ones)."""
        if self._loop is not None:
            self._loop.cancel()

    async def stop(self) -> None:
        """Stop taking jobs; give running ones a grace period, then cancel them."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        self.database.remove_commit_listener(self._on_commit)
        running = list(self._running.values())
        if running:
            await asyncio.wait(running, timeout=self.options.shutdown_grace_s)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def reload(self, crons: CronJobs | None) -> str:
        report = await self.crons.sync(crons)
        self.wake()
        return report

    def wake(self) -> None:
        self._wake.set()

    def _on_commit(self, ts: int, entries: list[LogEntry]) -> None:
        if any(index_id == _JOBS_INDEX for entry in entries for index_id, _ in entry.writes):
            self._wake.set()

    # Running jobs -----------------------------------------------------------

    async def run_due(self) -> int:
        """Run every job due now (and due crons), wait for them; how many ran."""
        ran = 0
        for _ in range(MAX_ROUNDS):
            await self.crons.schedule_due()
            now = self.clock.now()
            due = [job for job in await self._pending(BATCH)
                   if job["scheduledTime"] <= now and job["_id"] not in self._running]
            if not due:
                break
            tasks = []
            for job in due:
                while len(self._running) >= self.options.max_concurrent_jobs:
                    await asyncio.wait(set(self._running.values()),
                                       return_when=asyncio.FIRST_COMPLETED)
                tasks.append(self._launch(job))
            ran += sum(await asyncio.gather(*tasks))
        return ran

    @property
    def running_jobs(self) -> int:
        """Jobs this process is running now."""
        return len(self._running)

    async def pending_jobs(self, cap: int) -> int:
        """Jobs waiting to run (due or not), counted up to `cap`."""
        return len(await self._pending(cap))

    async def _pending(self, limit: int) -> list[dict[str, Any]]:
        return await read(self.database, lambda txn: ScheduledFunctions(txn).pending(limit))

    def _launch(self, job: dict[str, Any]) -> asyncio.Task[bool]:
        job_id = job["_id"]
        task = asyncio.create_task(self._run_job(job), name=f"reactor-job-{job_id}")
        self._running[job_id] = task
        task.add_done_callback(lambda _: self._finished(job_id))
        return task

    def _finished(self, job_id: str) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    async def _run_job(self, job: dict[str, Any]) -> bool:
        """Run one job; False if someone else ran or cancelled it first."""
        job_id, path = job["_id"], job["name"]
        try:
            try:
                fn = self.host.resolve(path)
                if fn.kind is FunctionKind.QUERY:
                    raise ReactorError(f"{path} is a query: only mutations and actions run"
                                       " as scheduled jobs", code="WrongFunctionKind")
            except ReactorError as error:
                return await self._finish(job_id, PENDING, error.message)
            if fn.kind is FunctionKind.MUTATION:
                return await self._run_mutation(job_id, fn, job_args(job))
            return await self._run_action(job_id, fn, job_args(job))
        except Exception:
            logger.exception("scheduled job %s (%s) could not be run; it stays as it is",
                             job_id, path)
            await asyncio.sleep(1.0)  # a failing database must not turn this into a hot loop
            return False

    async def _run_mutation(self, job_id: str, fn: FunctionDefinition,
                            args: dict[str, Any]) -> bool:
        completion = JobCompletion(job_id)
        outcome = await self.host.run_job_mutation(fn, args, completion)
        if completion.skipped:
            return False
        if outcome.error is not None:
            await self._finish(job_id, PENDING, outcome.error.message)
        return True

    async def _run_action(self, job_id: str, fn: FunctionDefinition,
                          args: dict[str, Any]) -> bool:
        claimed = await transact(self.database, lambda txn: ScheduledFunctions(txn).transition(
            job_id, PENDING, {"kind": IN_PROGRESS}))
        if not claimed:
            return False
        outcome = await self.host.run_job_action(fn, args)
        await self._finish(job_id, IN_PROGRESS,
                           None if outcome.error is None else outcome.error.message)
        return True

    async def _finish(self, job_id: str, expected: str, error: str | None) -> bool:
        """Mark a job success (`error` None) or failed, if it is still in `expected`."""
        state: dict[str, Any] = ({"kind": SUCCESS} if error is None
                                 else {"kind": FAILED, "error": error[:MAX_ERROR_CHARS]})
        return await transact(self.database, lambda txn: ScheduledFunctions(txn).transition(
            job_id, expected, state, self.clock.now()))

    # Housekeeping -----------------------------------------------------------

    async def recover(self) -> int:
        """Mark actions left in progress by a previous process failed; how many."""
        return await self._in_batches(self._fail_interrupted)

    async def _fail_interrupted(self, txn: Transaction) -> int:
        jobs = ScheduledFunctions(txn)
        found = await jobs.in_progress(BATCH)
        for job in found:
            await jobs.transition(job["_id"], IN_PROGRESS, {"kind": FAILED, "error": INTERRUPTED},
                                  self.clock.now())
        return len(found)

    async def prune(self) -> int:
        """Delete jobs finished more than `retention_s` ago, mutation outcomes recorded
        more than `outcome_retention_s` ago and rate-limit buckets that have refilled
        (a full bucket is the same as none); how many rows in all."""
        now = self.clock.now()
        cutoff = now - self.options.retention_s * 1000
        outcome_cutoff = now - self.options.outcome_retention_s * 1000

        async def jobs_body(txn: Transaction) -> int:
            jobs = ScheduledFunctions(txn)
            found = await jobs.finished_before(cutoff, BATCH)
            for job in found:
                await jobs.delete(job["_id"])
            return len(found)

        return (await self._in_batches(jobs_body)
                + await _until_short(
                    lambda: self.database.prune_outcomes(outcome_cutoff, BATCH))
                + await self._in_batches(lambda txn: RateLimits(txn).delete_full(now, BATCH)))

    async def _in_batches(self, body: Callable[[Transaction], Awaitable[int]]) -> int:
        """Run `body` in transactions until one handles fewer than BATCH jobs."""
        return await _until_short(lambda: transact(self.database, body))

    # The background loop ----------------------------------------------------

    async def _run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                next_due = await self._tick()
            except Exception:
                logger.exception("scheduler pass failed; retrying in a second")
                await asyncio.sleep(1.0)
                continue
            delay = self.options.max_idle_s
            if next_due is not None:
                delay = min(delay, max(0.0, (next_due - self.clock.now()) / 1000))
            await self._idle(delay)

    async def _tick(self) -> float | None:
        """Launch due jobs while slots are free; when the next job or cron is due."""
        if (self._last_prune is None or self.clock.now() - self._last_prune
                >= self.options.prune_interval_s * 1000):
            self._last_prune = self.clock.now()
            await self.prune()
        next_cron = await self.crons.schedule_due()
        now = self.clock.now()
        limit = self.options.max_concurrent_jobs
        next_job = None
        for job in await self._pending(len(self._running) + limit + 1):
            if job["_id"] in self._running:
                continue
            if job["scheduledTime"] > now:
                next_job = job["scheduledTime"]
                break
            if len(self._running) >= limit:
                break
            self._launch(job)
        times = [t for t in (next_cron, next_job) if t is not None]
        return min(times) if times else None

    async def _idle(self, seconds: float) -> None:
        """Sleep on the clock until `seconds` pass or someone wakes the worker."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()


async def _until_short(step: Callable[[], Awaitable[int]]) -> int:
    """Repeat `step` until it handles fewer than BATCH rows; how many in all."""
    total = 0
    while True:
        count = await step()
        total += count
        if count < BATCH:
            return total
