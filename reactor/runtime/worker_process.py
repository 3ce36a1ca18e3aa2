"""Worker processes, both kinds: the server's handle on one (`WorkerProcess`), the pool
bookkeeping both pools share (`ProcessPool`), and a worker's entry (`run_worker`).

A worker is `python -c "from MODULE import main; main()"`: the server writes frames
(a 4-byte big-endian length and a pickle) to its stdin and reads frames from its
stdout; the first frame is the `WorkerSettings`, answered with `READY`. Queries and
mutations use `worker.py`, actions `action_worker.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pickle
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, Any

from reactor.errors import ReactorError

logger = logging.getLogger("reactor.workers")

READY = "ready"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


class WorkerExitedError(ReactorError):
    code = "WorkerExited"


def write_frame(out: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(4, "big") + data)
    out.flush()


def read_frame(source: IO[bytes]) -> Any:
    """The next message, or None at the end of input (the server went away)."""
    header = source.read(4)
    if len(header) < 4:
        return None
    body = source.read(int.from_bytes(header, "big"))
    return pickle.loads(body)


class WorkerProcess:
    """The server's end of one worker process."""

    def __init__(self, process: asyncio.subprocess.Process, generation: int) -> None:
        self.process = process
        self.generation = generation

    def send(self, message: Any) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.write(len(data).to_bytes(4, "big") + data)

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


class ProcessPool:
    """Idle and busy workers of one kind, started on demand, replaced after a reload."""

    def __init__(self, module: str, settings: Any) -> None:
        self.module = module
        self.settings = settings
        self.started = 0
        self._idle: list[WorkerProcess] = []
        self._all: set[WorkerProcess] = set()
        self._generation = 0
        self._reapers: set[asyncio.Task[Any]] = set()

    async def take(self) -> WorkerProcess:
        """An idle worker, or a new one once it is ready."""
        if self._idle:
            return self._idle.pop()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", f"from {self.module} import main; main()",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        worker = WorkerProcess(process, self._generation)
        self._all.add(worker)
        self.started += 1
        try:
            worker.send(self.settings)
            if await worker.receive() != READY:
                raise WorkerExitedError("a worker process could not start")
        except BaseException:
            self.discard(worker)
            raise
        return worker

    def give_back(self, worker: WorkerProcess) -> None:
        """A worker done with its call: idle again, unless the app was reloaded since."""
        if worker.generation == self._generation:
            self._idle.append(worker)
        else:
            self.discard(worker)

    def discard(self, worker: WorkerProcess) -> None:
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
            self.discard(worker)
        self._idle.clear()

    async def close(self) -> None:
        for worker in list(self._all):
            self.discard(worker)
        self._idle.clear()
        if self._reapers:
            await asyncio.gather(*self._reapers, return_exceptions=True)


def _die_with_server() -> None:
    """Have the kernel kill this process when the server's process ends, even in the
    middle of a computation that never reads its input again (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_worker(settings_type: type[Any],
               serve: Callable[[Any, IO[bytes], IO[bytes]], Coroutine[Any, Any, None]]) -> None:
    """A worker's `main()`: frames on stdin and on a private copy of stdout (what user code
    prints goes to stderr, the server's log), at the priority the settings ask for."""
    _die_with_server()
    source = sys.stdin.buffer
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    settings = read_frame(source)
    if not isinstance(settings, settings_type):
        return
    os.nice(settings.nice)
    asyncio.run(serve(settings, source, out))
