"""The pool of worker processes that run functions which hold the event loop too long.

A query or mutation whose one step runs past `slice_s` on the event loop is
abandoned there (preempt.py) and run again in a worker (remote.py); its path
is remembered for `ESCALATION_TTL_S`, so its next calls go straight to a
worker instead of stalling the loop a slice each time. A worker stops user
code at the time limit itself, with the same timer; for C code that never
returns to the interpreter the pool kills the worker (SIGKILL) once it has
used the limit plus `KILL_GRACE_S` of CPU, and a new one is started for the
next call. Workers run at a lower priority (`nice`), so the server's own
process comes first on a busy machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from reactor.runtime.remote import RemoteCall, RemoteResult
from reactor.runtime.worker import WorkerSettings
from reactor.runtime.worker_process import ProcessPool, WorkerProcess

# One step longer than this on the event loop moves the call to a worker.
SLICE_S = 0.05
ESCALATION_TTL_S = 60.0
# CPU a worker may use past the user-time limit before it is killed (its own timer
# normally stops the function right at the limit; this is for C code that ignores it).
KILL_GRACE_S = 0.5
# Wall-clock allowance for one remote call, as a multiple of the user-time limit (a
# function awaiting storage or sleeping uses no CPU).
WALL_FACTOR = 30.0
POLL_S = 0.05
WORKERS = 2
NICE = 19


@dataclass
class PoolStats:
    escalations: int = 0
    remote_calls: int = 0
    kills: int = 0
    started: int = 0


class WorkerPool(ProcessPool):
    """Up to `size` worker processes, started on first use and replaced when killed."""

    def __init__(self, settings: WorkerSettings, *, size: int = WORKERS,
                 slice_s: float = SLICE_S) -> None:
        super().__init__("reactor.runtime.worker", settings)
        self.slice_s = slice_s
        self.stats = PoolStats()
        self._slots = asyncio.Semaphore(size)
        self._escalated: dict[str, float] = {}

    def isolated(self, path: str) -> bool:
        until = self._escalated.get(path)
        if until is None:
            return False
        if until < time.monotonic():
            del self._escalated[path]
            return False
        return True

    def escalated(self, path: str) -> None:
        if not self.isolated(path):
            self.stats.escalations += 1
        self._escalated[path] = time.monotonic() + ESCALATION_TTL_S

    async def run(self, call: RemoteCall) -> RemoteResult | None:
        """`call`'s result from a worker, or None if the worker was killed at the limit."""
        async with self._slots:
            worker = await self.take()
            self.stats.started = self.started
            self.stats.remote_calls += 1
            try:
                result = await self._call(worker, call)
            except BaseException:
                self.discard(worker)
                raise
            if result is None:
                self.stats.kills += 1
                self.discard(worker)
            else:
                self.give_back(worker)
            return result

    async def _call(self, worker: WorkerProcess, call: RemoteCall) -> RemoteResult | None:
        worker.send(call)
        answer = asyncio.ensure_future(worker.receive())
        cpu_start = worker.cpu_seconds()
        deadline = time.monotonic() + max(call.user_time_limit_s * WALL_FACTOR, 5.0)
        cpu_limit = call.user_time_limit_s + KILL_GRACE_S
        try:
            while True:
                done, _ = await asyncio.wait({answer}, timeout=POLL_S)
                if done:
                    result: RemoteResult = answer.result()
                    return result
                cpu = worker.cpu_seconds()
                over_cpu = cpu is not None and cpu_start is not None and (
                    cpu - cpu_start > cpu_limit)
                if over_cpu or time.monotonic() > deadline:
                    return None
        finally:
            answer.cancel()
