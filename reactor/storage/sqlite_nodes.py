"""The parts of `SqliteStorage` that let the worker processes of one `reactor serve
--workers N` share a data directory (docs/architecture.md, "Worker processes on SQLite"):
the committer's lease (an exclusive `flock` on `<data_dir>/COMMITTER`, held until the
process exits), where the committer takes forwarded transactions (`committer.json`), a
follower's view of the commit log, and a wake-up datagram after every commit.

The wake-up is a datagram to each sibling's Unix socket in the abstract namespace
(Linux), named after the data directory and the worker's slot: no file to clean up
after a crash, and sending one costs a system call, receiving none while idle. It
carries the batch's last ts (durable when it is sent), so the follower need not read
the tail. A lost datagram costs latency only (followers also read the tail every
`POLL_S`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from reactor.errors import StorageError
from reactor.storage.base import CommitterInfo, LoggedWrite
from reactor.storage.codec import decode_document

LEASE_NAME = "COMMITTER"
COMMITTER_FILE = "committer.json"

READ_LAST_TS = "SELECT value FROM globals WHERE name = 'last_ts'"
# Each revision in (after, upto] with the revision of the same document just before it
# (a primary-key seek), so a follower knows the old index keys the commit removed.
READ_LOG = """
    SELECT d.ts, d.doc_id, d.table_name, d.value, (
        SELECT p.value FROM documents AS p
        WHERE p.doc_id = d.doc_id AND p.ts < d.ts ORDER BY p.ts DESC LIMIT 1)
    FROM documents AS d WHERE d.ts > ? AND d.ts <= ? ORDER BY d.ts, d.doc_id
"""


@dataclass(frozen=True, slots=True)
class WorkerGroup:
    """This process's place among the workers of one data directory: its slot, how many
    there are, and the secret their parent gave them (forwarded transactions carry it)."""

    slot: int
    size: int
    secret: str


def wake_address(data_dir: Path, slot: int) -> bytes:
    """The abstract Unix socket a worker listens on for wake-ups."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:24]
    return f"\0reactor-{digest}-{slot}".encode()


class SqliteNodes:
    """A mixin of `SqliteStorage`: it uses the store's readers and its data directory."""

    data_dir: Path
    db_path: Path
    group: WorkerGroup | None
    _lease_fd: int | None
    _wake_in: socket.socket | None
    _wake_out: socket.socket | None
    _woken: asyncio.Event
    # The newest ts a wake-up named since `wait_for_commits` last returned (-1: one
    # named none, so the tail must be read).
    _notified: int

    async def _fetch(self, sql: str, params: Any) -> list[Any]:
        raise NotImplementedError

    def _member(self) -> WorkerGroup:
        if self.group is None:
            raise StorageError(f"storage at {self.data_dir}: not opened as a worker of"
                               " `reactor serve --workers`")
        return self.group

    # The lease ---------------------------------------------------------------

    async def take_over(self, holder: str, address: str, term_s: float) -> CommitterInfo | None:
        """Become the committer if no live worker is (the lock is free); None if one is.

        The kernel releases the lock when its holder exits, however it exits, so the
        term is the holder's life (`term_s` is not used) and a takeover needs no fence:
        the previous holder cannot write any more.
        """
        group = self._member()
        if self._lease_fd is None:
            fd = os.open(self.data_dir / LEASE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            self._lease_fd = fd
        previous = _read_committer(self.data_dir)
        epoch = (previous or {}).get("epoch", 0) + 1
        _write_committer(self.data_dir, {"address": address, "epoch": epoch,
                                         "pid": os.getpid(), "holder": holder})
        return CommitterInfo(address, group.secret, epoch)

    async def renew(self, holder: str, term_s: float) -> bool:
        """The lock is held until this process exits: nobody can take it away."""
        return self._lease_fd is not None

    async def close_writer(self) -> None:
        """Never called: a worker holding the lease is never deposed."""

    async def cut_writer(self) -> int:
        """Never needed: the lease and the right to write are one lock."""
        return 0

    async def committer(self) -> CommitterInfo | None:
        """The live committer's address, or None while no worker holds the lease (the
        file may still name one that died)."""
        group = self._member()
        if self._lease_fd is None and _lease_is_free(self.data_dir):
            return None
        named = _read_committer(self.data_dir)
        if named is None:
            return None
        return CommitterInfo(str(named["address"]), group.secret, int(named["epoch"]))

    def release_lease(self) -> None:
        fd, self._lease_fd = self._lease_fd, None
        if fd is not None:
            os.close(fd)

    # The log -----------------------------------------------------------------

    async def log_tail(self) -> int:
        rows = await self._fetch(READ_LAST_TS, ())
        return int(orjson.loads(rows[0][0])) if rows else 0

    async def read_log(self, after_ts: int, upto_ts: int) -> list[LoggedWrite]:
        rows = await self._fetch(READ_LOG, (after_ts, upto_ts))
        path = self.db_path
        return [LoggedWrite(ts, doc_id, table,
                            None if old is None else decode_document(old, doc_id, path),
                            None if new is None else decode_document(new, doc_id, path))
                for ts, doc_id, table, new, old in rows]

    # Wake-ups ----------------------------------------------------------------

    def _listen_for_wakes(self) -> None:
        group = self._member()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(wake_address(self.data_dir, group.slot))
        except OSError as exc:
            sock.close()
            raise StorageError(f"worker {group.slot} of {self.data_dir}: cannot listen for"
                               f" commits ({exc}); is another group serving it?") from exc
        sock.setblocking(False)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_wake)
        self._wake_in = sock

    def _on_wake(self) -> None:
        sock = self._wake_in
        if sock is None:
            return
        with contextlib.suppress(OSError):
            while data := sock.recv(64):
                with contextlib.suppress(ValueError):
                    named = int(data)
                    self._notified = -1 if named == 0 or self._notified < 0 else max(
                        self._notified, named)
        self._woken.set()

    def _open_wake_sender(self) -> None:
        if self.group is not None and self._wake_out is None:
            self._wake_out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._wake_out.setblocking(False)

    def _wake_siblings(self, ts: int | None) -> None:
        """After a write is durable: tell every other worker, with the last ts written
        when it is the new tail (None: a schema change or import, read the tail)."""
        group, sender = self.group, self._wake_out
        if group is None or sender is None:
            return
        message = str(ts or 0).encode()
        for slot in range(group.size):
            if slot != group.slot:
                # Not listening (restarting), or its buffer is full (it is awake anyway).
                with contextlib.suppress(OSError):
                    sender.sendto(message, wake_address(self.data_dir, slot))

    async def wait_for_commits(self, timeout_s: float) -> int | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout_s)
        self._woken.clear()
        notified, self._notified = self._notified, 0
        return notified if notified > 0 else None

    def _close_wakes(self) -> None:
        sock, self._wake_in = self._wake_in, None
        if sock is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
        out, self._wake_out = self._wake_out, None
        if out is not None:
            out.close()


def _lease_is_free(data_dir: Path) -> bool:
    try:
        fd = os.open(data_dir / LEASE_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _read_committer(data_dir: Path) -> dict[str, Any] | None:
    try:
        named = json.loads((data_dir / COMMITTER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return named if isinstance(named, dict) and "address" in named else None


def _write_committer(data_dir: Path, named: dict[str, Any]) -> None:
    """Replace the file whole (readers never see half of it)."""
    temporary = data_dir / f".{COMMITTER_FILE}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(named).encode())
    finally:
        os.close(fd)
    os.replace(temporary, data_dir / COMMITTER_FILE)
