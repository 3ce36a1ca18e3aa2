"""Private files under `<data_dir>/auth/`: created once, atomically, readable by the owner only."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from reactor.storage.data_dir import make_private_dir

AUTH_DIR = "auth"


def auth_dir(data_dir: str | Path) -> Path:
    """`<data_dir>/auth`, created with mode 0700 if missing."""
    make_private_dir(Path(data_dir))
    path = Path(data_dir) / AUTH_DIR
    make_private_dir(path)
    return path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's content; on first use write `make()` with mode 0600.

    The content goes to a temporary file first and is linked into place, so a
    crash never leaves a half-written key, and a concurrent creator's key wins
    instead of being overwritten.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path.read_bytes()
