"""A PostgreSQL server for tests and benchmarks: the one `REACTOR_TEST_DB_URL` names (default:
the local one, 127.0.0.1:5432, user postgres), or a throwaway cluster started with
`pg_ctl` from Debian's postgresql packages in a temporary directory.

Each user gets a database of its own (`create_database`), dropped when done.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ENV = "REACTOR_TEST_DB_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

T = TypeVar("T")


class Unavailable(RuntimeError):
    """No PostgreSQL is reachable and none could be started; the message says why."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a loop of its own (callers may be inside a loop)."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def with_database(url: str, dbname: str) -> str:
    """`url` pointing at another database of the same server."""
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


async def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None if `url` accepts a connection, else the reason it does not."""
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def pg_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server programs, if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).resolve().parent if which else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster in `directory`, run with pg_ctl (as user postgres
    when this process is root, which initdb refuses to be)."""

    directory: Path
    port: int
    bin_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise Unavailable(f"{' '.join(command[:2])} failed: {done.stderr.strip()[-500:]}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.directory / "data"), "-A",
                  "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1"
                   f" -c unix_socket_directories={self.directory}")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"), "-o",
                  options, "-l", str(self.directory / "log"), "-w", "start")

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash: no checkpoint, recovery from the WAL at the next start."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"), "-m",
                  mode, "-w", "stop")


def start_cluster() -> Cluster:
    """A new cluster in a fresh temporary directory (directly under the system's temporary
    folder, which the postgres user can reach), started; `stop` then `remove` it."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise Unavailable("no pg_ctl (install Debian's postgresql package)")
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="reactor-pg-")), free_port(), bin_dir)
    try:
        cluster.init()
        cluster.start()
    except BaseException:
        cluster.remove()
        raise
    return cluster


def find_server() -> tuple[str, Cluster | None]:
    """A maintenance URL of a server to use, and the cluster if this call started one."""
    url = os.environ.get(ENV, DEFAULT_URL)
    problem = run_sync(reachable(url))
    if problem is None:
        return url, None
    try:
        cluster = start_cluster()
    except (Unavailable, OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(f"no PostgreSQL at {url} ({problem}), and none could be"
                          f" started: {exc}") from None
    return cluster.url, cluster


def create_database(server_url: str, prefix: str = "reactor_test") -> str:
    """A new, empty database on the server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_sync(create())
    return with_database(server_url, name)


def drop_database(url: str) -> None:
    """Drop the database `url` names, disconnecting whoever is still in it."""
    name = urlsplit(url).path.strip("/")

    async def drop() -> None:
        conn = await asyncpg.connect(with_database(url, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_sync(drop())
