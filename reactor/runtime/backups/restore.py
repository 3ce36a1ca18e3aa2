"""Restoring a backup: unpack beside the target, check everything, then swap it in.

Nothing in the target is touched until the archive has been read whole, every
file matched its checksum, the database passed `PRAGMA integrity_check` and its
documents per table matched the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from reactor.errors import ReactorError
from reactor.runtime.backups.backup import fsync_dir
from reactor.runtime.backups.crypto import MAGIC, DecryptingReader
from reactor.runtime.backups.manifest import (
    AUTH_PREFIX,
    BLOB_PREFIX,
    DATABASE_NAME,
    MANIFEST_NAME,
    BackupInvalid,
    FileSum,
    Manifest,
    check_member_name,
)
from reactor.storage import SqliteStorage
from reactor.storage.data_dir import make_private_dir
from reactor.storage.lock import DataDirLock
from reactor.storage.sqlite_backup import integrity_problems
from reactor.transactions.table_scan import count_table

COPY_CHUNK = 1024 * 1024


class TargetNotEmpty(ReactorError):
    code = "RestoreTargetNotEmpty"


async def restore_backup(path: Path, data_dir: Path, *, passphrase: str | None = None,
                         force: bool = False) -> Manifest:
    """Make `data_dir` the deployment saved in the backup at `path`.

    A non-empty `data_dir` is refused unless `force`; with `force` it is replaced
    whole (after the backup was checked), and must not be in use by a server.
    """
    path, data_dir = Path(path), Path(data_dir).absolute()
    if not path.is_file():
        raise ReactorError(f"{path}: no such backup file", code="BackupNotFound")
    occupied = data_dir.exists() and any(data_dir.iterdir())
    if occupied and not force:
        raise TargetNotEmpty(f"{data_dir} is not empty: restore into a new directory, or"
                             " pass --force to replace what is there")
    lock = DataDirLock(data_dir) if occupied else None
    if lock is not None:
        lock.acquire()
    make_private_dir(data_dir.parent)
    staging = data_dir.parent / f".{data_dir.name}.restoring-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    make_private_dir(staging)
    try:
        manifest = await unpack_and_check(path, staging, passphrase)
        _swap_in(staging, data_dir)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if lock is not None:
            lock.release()


async def verify_backup(path: Path, *, passphrase: str | None = None) -> Manifest:
    """Restore the backup into a scratch directory and check it; nothing is kept."""
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=Path(path).parent) as scratch:
        return await unpack_and_check(Path(path), Path(scratch) / "data", passphrase)


async def unpack_and_check(path: Path, folder: Path, passphrase: str | None) -> Manifest:
    """Unpack the backup into `folder` as a data directory and check it whole."""
    make_private_dir(folder)
    manifest, found = await asyncio.to_thread(_unpack, path, folder, passphrase)
    _check_files(path, manifest, found)
    problems = await asyncio.to_thread(integrity_problems, folder / DATABASE_NAME)
    if problems:
        raise BackupInvalid(f"{path}: the database fails its integrity check:"
                            f" {'; '.join(problems[:5])}")
    counts = await _counts(folder, list(manifest.tables))
    wrong = {name: (want, counts[name]) for name, want in manifest.tables.items()
             if counts[name] != want}
    if wrong:
        detail = ", ".join(f"{name}: {got} documents, manifest says {want}"
                           for name, (want, got) in sorted(wrong.items()))
        raise BackupInvalid(f"{path}: document counts differ from the manifest ({detail})")
    return manifest


def _open(path: Path, handle: BinaryIO, passphrase: str | None) -> BinaryIO | DecryptingReader:
    head = handle.read(len(MAGIC))
    handle.seek(0)
    if head == MAGIC:
        return DecryptingReader(handle, passphrase, str(path))
    return handle


def _target(folder: Path, name: str) -> Path:
    if name.startswith(BLOB_PREFIX):
        sha256 = name[len(BLOB_PREFIX):]
        return folder / "files" / sha256[:2] / sha256
    return folder / name


def _unpack(path: Path, folder: Path, passphrase: str | None
            ) -> tuple[Manifest, dict[str, FileSum]]:
    found: dict[str, FileSum] = {}
    manifest: Manifest | None = None
    with open(path, "rb") as handle:
        source = _open(path, handle, passphrase)
        try:
            with tarfile.open(fileobj=source, mode="r|") as archive:  # type: ignore[call-overload]
                for member in archive:
                    _unpack_member(path, folder, archive, member, found)
                    if member.name == MANIFEST_NAME:
                        body = (folder / MANIFEST_NAME).read_bytes()
                        manifest = Manifest.from_json(body, f"{path}: {MANIFEST_NAME}")
        except tarfile.TarError as error:
            raise BackupInvalid(f"{path}: not a readable backup archive ({error})") from None
    if manifest is None:
        raise BackupInvalid(f"{path}: no manifest: the backup is incomplete")
    (folder / MANIFEST_NAME).unlink()
    return manifest, found


def _unpack_member(path: Path, folder: Path, archive: tarfile.TarFile,
                   member: tarfile.TarInfo, found: dict[str, FileSum]) -> None:
    check_member_name(member.name, str(path))
    if not member.isfile():
        raise BackupInvalid(f"{path}: entry {member.name!r} is not a regular file")
    if member.name in found:
        raise BackupInvalid(f"{path}: entry {member.name!r} appears twice")
    source = archive.extractfile(member)
    assert source is not None
    target = _target(folder, member.name)
    make_private_dir(target.parent)
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(COPY_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if member.name != MANIFEST_NAME:
        found[member.name] = FileSum(digest.hexdigest(), size)


def _check_files(path: Path, manifest: Manifest, found: dict[str, FileSum]) -> None:
    if DATABASE_NAME not in manifest.files:
        raise BackupInvalid(f"{path}: the manifest lists no database")
    for name, expected in manifest.files.items():
        got = found.get(name)
        if got is None:
            raise BackupInvalid(f"{path}: {name} is listed in the manifest but missing")
        if got != expected:
            raise BackupInvalid(f"{path}: {name} does not match its checksum (sha256"
                                f" {got.sha256[:12]}…, {got.size} bytes; manifest:"
                                f" {expected.sha256[:12]}…, {expected.size} bytes)")
    extra = sorted(set(found) - set(manifest.files))
    if extra:
        raise BackupInvalid(f"{path}: {extra[0]} is not listed in the manifest")
    for name in found:
        if name.startswith(BLOB_PREFIX) and found[name].sha256 != name[len(BLOB_PREFIX):]:
            raise BackupInvalid(f"{path}: file contents {name} do not match their name")
    if not any(name.startswith(AUTH_PREFIX) for name in found):
        raise BackupInvalid(f"{path}: the backup holds no keys (auth/)")


async def _counts(folder: Path, tables: list[str]) -> dict[str, int]:
    storage = SqliteStorage(folder)
    await storage.open_reader()
    try:
        return {name: await count_table(storage, name) for name in tables}
    finally:
        await storage.close()


def _swap_in(staging: Path, data_dir: Path) -> None:
    """Put the checked data directory in place; the old one (if any) goes after."""
    for leftover in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            (staging / (DATABASE_NAME + leftover)).unlink()
    old = None
    if data_dir.exists():
        old = data_dir.parent / f".{data_dir.name}.replaced-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(data_dir, old)
    os.rename(staging, data_dir)
    fsync_dir(data_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
