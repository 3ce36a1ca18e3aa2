"""The data directory lock: one process at a time owns a data directory, or one group of
`reactor serve --workers N` processes, which hold it shared."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from reactor.errors import StorageError

LOCK_NAME = "LOCK"


class DataDirLock:
    """An exclusive `flock` on `<data_dir>/LOCK`, holding the owner's PID.

    The kernel drops the lock when the process dies, so a crash never leaves a
    stale lock behind; the PID in the file is only there to name the holder.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, *, shared: bool = False) -> None:
        """Take the lock or raise `StorageError(code="DataDirLocked")` naming the holder.

        `shared`: for the worker processes of one `reactor serve --workers N` (their
        parent took it exclusive first, then shared): they exclude every other process,
        not each other. The PID in the file stays the parent's.
        """
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StorageError(
                f"data directory {self.data_dir} is in use by another process "
                f"({holder}); stop it first or choose another data directory",
                code="DataDirLocked",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def share(self) -> None:
        """Let this process's worker processes take the lock beside it (`shared` above):
        held exclusive, it becomes shared."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)

    def release(self) -> None:
        """Give the lock up; closing the descriptor releases the flock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)


def _read_pid(fd: int) -> str:
    """Describe the lock holder from the PID it wrote, for the error message."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f"pid {text}" if text.isdigit() else "pid unknown"
