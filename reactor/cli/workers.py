"""`reactor serve --workers N`: N server processes on one SQLite data directory and one
port (docs/guide/nodes.md, "Worker processes on one machine").

This is the parent. It takes the data directory (exclusive, then shared with its
workers, so no other server opens it), reserves the port, and starts the workers: the
first alone (it takes the committer's lease, applies the schema and runs the startup
functions, as a single server does), then the others, which follow its commits. Each
worker listens on the port itself with `SO_REUSEPORT`: the kernel spreads new
connections evenly over the workers' sockets, where one shared socket lets whichever
worker wakes first accept a whole burst (long-lived WebSockets would pile up on one
process). Each also listens on a private loopback port, where its siblings forward
mutations once it commits; `<data_dir>/workers.json` lists them. A worker that exits
is started again, and so is one that stops answering there (`_watch`: a hung committer
would otherwise keep the lease for good); SIGTERM / SIGINT stop them all (each drains
its clients first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from reactor.errors import ReactorError
from reactor.server.config import ConfigError
from reactor.storage import data_dir as data_dir_modes
from reactor.storage.lock import DataDirLock

logger = logging.getLogger("reactor.workers")

SLOT_ENV = "REACTOR_WORKER_SLOT"
SECRET_ENV = "REACTOR_WORKER_SECRET"
READY_FD_ENV = "REACTOR_WORKER_READY_FD"
WORKERS_FILE = "workers.json"
# How long a worker may take to start serving.
START_TIMEOUT_S = 60.0
# A worker that exits is started again after this, doubled (up to RESTART_MAX_S) while
# it keeps exiting within RESTART_MAX_S of its start.
RESTART_S = 0.5
RESTART_MAX_S = 10.0
# Each serving worker is asked `GET /health` at its private address every PROBE_EVERY_S
# (one request outstanding at a time); one that has answered none for HANG_S is
# SIGKILLed. The bound is far above a slow answer under load: only an event loop held
# for seconds (a stopped process, code that never yields) misses it.
PROBE_EVERY_S = 1.0
HANG_S = 5.0
# On SIGTERM, how long the workers get to drain before they are killed.
STOP_GRACE_S = 35.0


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker process learns from its parent (environment variables)."""

    slot: int
    size: int
    secret: str
    ready_fd: int
    parent_pid: int


def worker_config(size: int) -> WorkerConfig | None:
    """This process's place in a group, if its parent started it as a worker."""
    slot = os.environ.get(SLOT_ENV)
    if slot is None or size <= 1:
        return None
    return WorkerConfig(int(slot), size, os.environ[SECRET_ENV],
                        int(os.environ[READY_FD_ENV]), os.getppid())


def check_options(workers: int, *, db_url: str | None, follow: bool, backups: object,
                  metrics_port: str | None) -> None:
    """Refuse what a group of workers does not do (yet), naming the option."""
    if workers < 1:
        raise ConfigError(f"--workers: expected a number of processes, 1 or more, got {workers}")
    if workers == 1:
        return
    if not sys.platform.startswith("linux"):
        raise ConfigError("--workers: needs Linux (SO_REUSEPORT to spread connections over"
                          " the processes); run one process per machine elsewhere")
    if db_url or follow:
        raise ConfigError("--workers: runs on SQLite; on PostgreSQL start several nodes with"
                          " --follow instead (docs/guide/nodes.md)")
    if backups is not None:
        raise ConfigError("--workers: scheduled backups (--backup-every) run in a single"
                          " server only; back up with `reactor backup` meanwhile")
    if metrics_port is not None:
        raise ConfigError("--workers: --metrics-port is not served by workers yet; read"
                          " /metrics with the admin key from each worker's address in"
                          f" <data_dir>/{WORKERS_FILE}")


def reserve_port(host: str, port: int) -> socket.socket:
    """Check that nothing listens on the port, then hold it bound (not listening) with
    `SO_REUSEPORT`, so that only this user's sockets can join it while workers come and
    go. The check comes first: a second group on the same port would otherwise share it."""
    from reactor.cli.serve import listen

    listen(host, port).close()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class Supervisor:
    """Starts the workers, starts again any that exits, stops them all on a signal."""

    def __init__(self, data_dir: Path, size: int, command: list[str]) -> None:
        self.data_dir = data_dir
        self.size = size
        self.command = command
        self.secret = secrets.token_hex(32)
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.addresses: dict[int, str] = {}
        self.stopping = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            if not await self._start(0):
                return 1
            started = await asyncio.gather(*(self._start(slot)
                                             for slot in range(1, self.size)))
            if not all(started):
                return 1
            sys.stderr.write(f"Reactor server: {self.size} workers ready (parent pid"
                             f" {os.getpid()}; {self.data_dir / WORKERS_FILE})\n")
            keepers = [asyncio.create_task(self._keep(slot)) for slot in range(self.size)]
            await self.stopping.wait()
            for keeper in keepers:
                keeper.cancel()
            return 0
        finally:
            await self._stop_all()

    async def _start(self, slot: int) -> bool:
        """Start the worker of `slot` and wait until it serves; False if it exited first."""
        read_end, write_end = os.pipe()
        env = {**os.environ, SLOT_ENV: str(slot), SECRET_ENV: self.secret,
               READY_FD_ENV: str(write_end)}
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command, env=env, pass_fds=(write_end,))
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self.processes[slot] = process
        try:
            line = await asyncio.wait_for(asyncio.to_thread(_read_line, read_end),
                                          START_TIMEOUT_S)
        except TimeoutError:
            line = ""
        finally:
            os.close(read_end)
        if not line:
            logger.error("worker %d (pid %d) did not start serving", slot, process.pid)
            # It may hang rather than have exited: its successor must not meet it.
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return False
        self.addresses[slot] = line
        self._write_list()
        return True

    async def _keep(self, slot: int) -> None:
        delay = RESTART_S
        while True:
            started = time.monotonic()
            process = self.processes[slot]
            watcher = asyncio.create_task(self._watch(slot, process))
            try:
                code = await process.wait()
            finally:
                watcher.cancel()
            if self.stopping.is_set():
                return
            self.addresses.pop(slot, None)
            self._write_list()
            logger.warning("worker %d exited (%s); starting it again", slot,
                           f"signal {-code}" if code < 0 else f"code {code}")
            delay = delay * 2 if time.monotonic() - started < RESTART_MAX_S else RESTART_S
            await asyncio.sleep(min(delay, RESTART_MAX_S))
            while not await self._start(slot):
                await asyncio.sleep(RESTART_MAX_S)

    async def _watch(self, slot: int, process: asyncio.subprocess.Process) -> None:
        """SIGKILL the worker of `slot` once it has answered no probe for HANG_S (`_keep`
        then starts it again). The kernel frees its locks, so a hung committer's lease
        passes to a follower. A tick that comes late means this process itself was held
        up: an answer may be waiting unread, so that tick judges nothing."""
        address = self.addresses[slot]
        answered = due = time.monotonic()
        probe: asyncio.Task[float | None] | None = None
        try:
            while True:
                if probe is None:
                    probe = asyncio.create_task(_probe(address))
                due += PROBE_EVERY_S
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if probe.done():
                    answered = max(answered, probe.result() or 0.0)
                    probe = None
                now = time.monotonic()
                if now - due > PROBE_EVERY_S:
                    due = now
                    continue
                if now - answered > HANG_S:
                    logger.error("worker %d (pid %d) answered no health probe for %.0f s;"
                                 " killing it", slot, process.pid, now - answered)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    return
        finally:
            if probe is not None:
                probe.cancel()

    async def _stop_all(self) -> None:
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if running:
            _, late = await asyncio.wait([asyncio.create_task(p.wait()) for p in running],
                                         timeout=STOP_GRACE_S)
            if late:
                for process in running:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                await asyncio.wait(late)
        with contextlib.suppress(OSError):
            (self.data_dir / WORKERS_FILE).unlink()

    def _write_list(self) -> None:
        """`workers.json`: each worker's pid and private address (operators, tests)."""
        listed = {"parent": os.getpid(), "workers": [
            {"slot": slot, "pid": self.processes[slot].pid, "url": self.addresses[slot]}
            for slot in sorted(self.addresses)]}
        temporary = self.data_dir / f".{WORKERS_FILE}.tmp"
        temporary.write_text(json.dumps(listed))
        os.chmod(temporary, data_dir_modes.FILE_MODE)
        os.replace(temporary, self.data_dir / WORKERS_FILE)


async def _probe(address: str) -> float | None:
    """`GET /health` at a worker's private address (`http://HOST:PORT`): the monotonic
    time its answer came (any status: the event loop answered), None if it refused the
    connection or closed it unanswered. It waits as long as the worker takes."""
    host, _, port = address.removeprefix("http://").rpartition(":")
    try:
        reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    except OSError:
        return None
    try:
        writer.write(f"GET /health HTTP/1.1\r\nHost: {host}\r\n"
                     "Connection: close\r\n\r\n".encode())
        status = await reader.readline()
    except OSError:
        return None
    finally:
        writer.close()
    return time.monotonic() if status.startswith(b"HTTP/") else None


def _read_line(fd: int) -> str:
    """What a worker writes when it serves (its private address); "" if it exited."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 256)
        if not chunk:
            return ""
        data += chunk
    return data.decode().strip()


async def supervise(app_dir: Path, data_dir: Path | None, host: str, port: int, size: int,
                    command: list[str]) -> int:
    """Run `size` workers, each started with `command` (the parent's own command line;
    the environment tells it it is a worker), until a signal; the exit code."""
    held = reserve_port(host, port)
    directory = (data_dir or app_dir / ".reactor").resolve()
    lock = DataDirLock(directory)
    try:
        data_dir_modes.prepare(directory)
        lock.acquire()
        lock.share()
        return await Supervisor(directory, size, command).run()
    except OSError as exc:
        raise ReactorError(f"data directory {directory}: cannot use it: {exc}") from exc
    finally:
        lock.release()
        held.close()


def announce_ready(config: WorkerConfig, address: str) -> None:
    """Tell the parent this worker serves, and where its siblings reach it."""
    with contextlib.suppress(OSError):
        os.write(config.ready_fd, f"{address}\n".encode())
    with contextlib.suppress(OSError):
        os.close(config.ready_fd)


async def watch_parent(config: WorkerConfig) -> None:
    """Stop this worker (as SIGTERM would) once its parent is gone: nothing would start
    it again, and the data directory must be free for the next server."""
    while os.getppid() == config.parent_pid:
        await asyncio.sleep(1.0)
    logger.error("worker %d: the parent process is gone; stopping", config.slot)
    os.kill(os.getpid(), signal.SIGTERM)
