"""The data directory's permissions: the directory 0700, every file in it 0600.

Whatever the process umask, a new directory and the files Reactor creates get
exactly these modes; SQLite gives its `-wal` and `-shm` files the mode of the
database file, so creating that file first is enough. A directory or file that
already exists with looser modes is left as it is (the operator may have a
reason) but named in a warning at start.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger("reactor.storage")

DIR_MODE = 0o700
FILE_MODE = 0o600
# Group and other permission bits: none should be set on anything in the directory.
OPEN_TO_OTHERS = 0o077


def make_private_dir(path: Path) -> None:
    """Create `path`, and any missing parent, with mode 0700 (exactly, whatever the
    umask); existing directories are left as they are."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIR_MODE)


def prepare(data_dir: Path) -> list[str]:
    """Create `data_dir` (mode 0700) if missing; warnings for looser existing modes."""
    make_private_dir(data_dir)
    warnings = _loose_modes(data_dir)
    for warning in warnings:
        logger.warning("%s", warning)
    return warnings


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def _loose_modes(data_dir: Path) -> list[str]:
    """One line per entry of the directory (and itself) that others may read or enter."""
    found = []
    for path in (data_dir, *sorted(data_dir.rglob("*"))):
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except OSError:
            continue
        if mode & OPEN_TO_OTHERS:
            wanted = DIR_MODE if path.is_dir() else FILE_MODE
            found.append(f"{path} has mode {mode:04o}: other users of this machine may read"
                         f" the data; `chmod {wanted:o} {path}` unless that is intended")
    return found
