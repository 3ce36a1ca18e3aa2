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
import contextlib
import logging
import os
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactor.errors import ReactorError
from reactor.runtime.remote import RemoteCall, RemoteResult
from reactor.runtime.worker import READY, WorkerSettings

logger = logging.getLogger("reactor.workers")

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
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class WorkerExitedError(ReactorError):
    code = "WorkerExited"


@dataclass
class PoolStats:
    escalations: int = 0
    remote_calls: int = 0
    kills: int = 0
    started: int = 0


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process, generation: int) -> None:
        self.process = process
        self.generation = generation

    async def send(self, message: Any) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.write(len(data).to_bytes(4, "big") + data)
        await stdin.drain()

    async def receive(self) -> Any:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            header = await stdout.readexactly(4)
            return pickle.loads(await stdout.readexactly(int.from_bytes(header, "big")))
        except asyncio.IncompleteReadError:
            code = await self.process.wait()
            logger.error("worker process %d exited with status %s", self.process.pid, code)
            raise WorkerExitedError("the function's worker process exited before answering"
                                    " (see the server log)") from None

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the worker so far, from /proc (None where there is none)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


class WorkerPool:
    """Up to `size` worker processes, started on first use and replaced when killed."""

    def __init__(self, settings: WorkerSettings, *, size: int = WORKERS,
                 slice_s: float = SLICE_S) -> None:
        self.settings = settings
        self.slice_s = slice_s
        self.stats = PoolStats()
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._escalated: dict[str, float] = {}
        self._generation = 0
        self._reapers: set[asyncio.Task[Any]] = set()

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
            worker = self._idle.pop() if self._idle else await self._start()
            self.stats.remote_calls += 1
            try:
                result = await self._call(worker, call)
            except BaseException:
                self._discard(worker)
                raise
            if result is None:
                self.stats.kills += 1
                self._discard(worker)
            elif worker.generation == self._generation:
                self._idle.append(worker)
            else:
                self._discard(worker)
            return result

    async def _call(self, worker: _Worker, call: RemoteCall) -> RemoteResult | None:
        await worker.send(call)
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

    async def _start(self) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from reactor.runtime.worker import main; main()",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        worker = _Worker(process, self._generation)
        self._all.add(worker)
        self.stats.started += 1
        try:
            await worker.send(self.settings)
            if await worker.receive() != READY:
                raise WorkerExitedError("a worker process could not start")
        except BaseException:
            self._discard(worker)
            raise
        return worker

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker and reap it in the background."""
        worker.kill()
        self._all.discard(worker)
        reaper = asyncio.ensure_future(worker.process.wait())
        self._reapers.add(reaper)
        reaper.add_done_callback(self._reapers.discard)

    def restart(self) -> None:
        """After a reload: idle workers go now, busy ones when they finish."""
        self._generation += 1
        for worker in self._idle:
            self._discard(worker)
        self._idle.clear()

    async def close(self) -> None:
        for worker in list(self._all):
            self._discard(worker)
        self._idle.clear()
        if self._reapers:
            await asyncio.gather(*self._reapers, return_exceptions=True)
