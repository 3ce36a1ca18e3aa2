"""Writing a backup: the database at one commit, the files it references, the keys.

The archive (a tar stream, sealed by `crypto.py` when a passphrase is given) is
written under a hidden temporary name beside `out`, fsynced, and only then
renamed to `out`: a backup killed half-way never leaves a file under the final
name, and the live data is only ever read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import shutil
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from reactor.errors import ReactorError
from reactor.runtime.auth.secret_files import AUTH_DIR
from reactor.runtime.backups.crypto import EncryptingWriter
from reactor.runtime.backups.manifest import (
    AUTH_PREFIX,
    BLOB_PREFIX,
    DATABASE_NAME,
    MANIFEST_NAME,
    FileSum,
    Manifest,
)
from reactor.runtime.system import INLINE_BLOBS, STORAGE, system_tables
from reactor.storage import SqliteStorage
from reactor.storage.data_dir import make_private_dir
from reactor.storage.sqlite_backup import copy_database, database_file
from reactor.transactions.table_scan import count_table, scan_table

logger = logging.getLogger("reactor.backup")

PARTIAL = ".partial-"
# A blob can be deleted between the database copy and its own copy (its file was
# deleted meanwhile): the backup starts again from a newer copy, this many times.
ATTEMPTS = 3


class BlobGone(ReactorError):
    code = "BackupBlobMissing"


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    manifest: Manifest
    bytes: int
    seconds: float


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def write_backup(data_dir: Path, out: Path, *, passphrase: str | None = None,
                       copy_blobs: bool = True) -> BackupResult:
    """Back up the deployment in `data_dir` (running or not) to the new file `out`.

    `copy_blobs=False` (file contents kept in S3) records the blobs as left in the
    bucket; the `_storage` documents are in the database copy either way.
    """
    started = time.monotonic()
    out = Path(out).absolute()
    if out.exists():
        raise ReactorError(f"{out} already exists; choose a new name for the backup",
                           code="BackupExists")
    make_private_dir(out.parent)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            manifest = await _attempt(Path(data_dir), out, passphrase, copy_blobs)
        except BlobGone as error:
            if attempt == ATTEMPTS:
                raise
            logger.warning("backup: %s; starting again from a newer snapshot", error.message)
            continue
        size = out.stat().st_size
        return BackupResult(out, manifest, size, time.monotonic() - started)
    raise AssertionError("unreachable")


async def _attempt(data_dir: Path, out: Path, passphrase: str | None,
                   copy_blobs: bool) -> Manifest:
    token = f"{PARTIAL}{os.getpid()}-{os.urandom(4).hex()}"
    work = out.parent / f".{out.name}{token}.d"
    partial = out.parent / f".{out.name}{token}"
    make_private_dir(work)
    try:
        copy = work / DATABASE_NAME
        await asyncio.to_thread(copy_database, database_file(data_dir), copy)
        ts, tables, blobs = await _read_copy(work)
        manifest = Manifest(ts, datetime.now(UTC).isoformat(timespec="seconds"), tables,
                            blobs="local" if copy_blobs else "s3",
                            encrypted=passphrase is not None)
        await asyncio.to_thread(_write_archive, partial, manifest, copy, data_dir,
                                blobs if copy_blobs else [], passphrase)
        os.rename(partial, out)
        fsync_dir(out.parent)
        return manifest
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        shutil.rmtree(work, ignore_errors=True)


async def _read_copy(work: Path) -> tuple[int, dict[str, int], list[str]]:
    """The copy's commit ts, its documents per table and the blob files `_storage` references
    (not the small files kept in the database: the copy holds them)."""
    storage = SqliteStorage(work)
    await storage.open_reader()
    try:
        saved = await storage.read_globals()
        names = sorted({*system_tables(), *saved.get("tables", [])})
        tables = {name: await count_table(storage, name) for name in names}
        inline = {str(doc["sha256"]) async for doc in scan_table(storage, INLINE_BLOBS)}
        blobs = sorted({str(doc["sha256"]) async for doc in scan_table(storage, STORAGE)}
                       - inline)
        return int(saved.get("last_ts", 0)), tables, blobs
    finally:
        await storage.close()


class _Hashing(io.RawIOBase):
    """Reads a file while hashing it, so a member's checksum costs no second pass."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _members(data_dir: Path, copy: Path, blobs: list[str]) -> Iterator[tuple[str, Path]]:
    yield DATABASE_NAME, copy
    auth = data_dir / AUTH_DIR
    if auth.is_dir():
        for path in sorted(auth.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                yield AUTH_PREFIX + path.name, path
    for sha256 in blobs:
        yield BLOB_PREFIX + sha256, data_dir / "files" / sha256[:2] / sha256


def _write_archive(partial: Path, manifest: Manifest, copy: Path, data_dir: Path,
                   blobs: list[str], passphrase: str | None) -> None:
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw:
        sink: BinaryIO | EncryptingWriter = raw
        if passphrase is not None:
            sink = EncryptingWriter(raw, passphrase)
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as archive:  # type: ignore[call-overload]
            for name, path in _members(data_dir, copy, blobs):
                try:
                    handle = open(path, "rb")  # noqa: SIM115 (closed below)
                except FileNotFoundError:
                    if name.startswith(BLOB_PREFIX):
                        raise BlobGone(f"file contents {name[len(BLOB_PREFIX):]} were deleted"
                                       " during the backup") from None
                    raise
                with handle:
                    info = tarfile.TarInfo(name)
                    info.size = os.fstat(handle.fileno()).st_size
                    info.mode = 0o600
                    info.mtime = int(time.time())
                    hashing = _Hashing(handle)
                    archive.addfile(info, hashing)
                    manifest.files[name] = FileSum(hashing.digest.hexdigest(), hashing.size)
            body = manifest.to_json()
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size = len(body)
            info.mode = 0o600
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(body))
        if isinstance(sink, EncryptingWriter):
            sink.close()
        raw.flush()
        os.fsync(raw.fileno())


def sweep_partials(folder: Path) -> int:
    """Remove what killed backups left in `folder` (hidden `.NAME.partial-PID-…` entries
    of processes no longer alive); how many went."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        if not path.name.startswith(".") or PARTIAL not in path.name:
            continue
        pid = path.name.split(PARTIAL, 1)[1].split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
