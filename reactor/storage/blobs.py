"""Blob stores: file contents kept apart from documents, content-addressed by sha256.

A blob is written to a temporary file while it is hashed, fsynced, then renamed
to its sha256 name, so a blob under its final name is always whole and durable.
Identical contents share one blob. Which blobs are still wanted is the
runtime's business (`_storage` documents reference them); this layer only
writes, reads, lists and deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reactor.errors import LimitExceededError, StorageError
from reactor.storage.data_dir import make_private_dir

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
READ_CHUNK = 1024 * 1024
# Uploads are hashed and written in batches of this size, in a worker thread.
BATCH = 1024 * 1024
# An fdatasync is started in the background each time this much more was written.
FLUSH_EVERY = 8 * 1024 * 1024
# The most buffers one writev takes.
IOV_MAX = os.sysconf("SC_IOV_MAX")


class BlobTooLarge(LimitExceededError):
    code = "FileTooLarge"


class BlobMissing(StorageError):
    code = "BlobMissing"


@dataclass(frozen=True, slots=True)
class StagedBlob:
    """A blob written and made durable under a temporary name; `publish` names it."""

    sha256: str
    size: int
    token: str


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """One stored blob, as listed for the orphan sweep."""

    sha256: str
    age_s: float


class BlobStore(Protocol):
    """What the runtime needs of a place to keep file contents."""

    async def stage(self, chunks: AsyncIterable[bytes], max_bytes: int | None = None
                    ) -> StagedBlob:
        """Write `chunks` durably under a temporary name, hashing them on the way."""
        ...

    async def publish(self, staged: StagedBlob) -> None:
        """Give a staged blob its sha256 name (dropping the copy if one exists)."""
        ...

    async def put(self, sha256: str, data: bytes) -> None:
        """Store a small blob held in memory durably under `sha256` (the caller hashed it),
        unless it is there already: staging and publishing in one step."""
        ...

    async def discard(self, staged: StagedBlob) -> None:
        """Remove a staged blob that will not be published."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes `start <= i < end` of a blob, in chunks."""
        ...

    async def delete(self, sha256: str) -> None: ...

    def entries(self) -> AsyncIterator[BlobEntry]:
        """Every published blob with its age, for the orphan sweep."""
        ...

    async def sweep_staged(self, older_than_s: float) -> int:
        """Remove staged blobs left by crashes or abandoned uploads; how many."""
        ...

    async def close(self) -> None: ...


def check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not SHA256_HEX.match(sha256):
        message = f"not a sha256 hex digest: {str(sha256)[:80]!r}"
        raise StorageError(message, code="InvalidBlobName", public=message)
    return sha256


class _StagingWriter:
    """Hashes and writes a stream in a worker thread while the next batch arrives.

    Chunks are gathered into batches of `BATCH` bytes; one batch is being hashed
    and written (hashlib and os.write release the GIL) while the next is
    received, so the upload is limited by the slower of the network and the
    disk, not their sum. Every `FLUSH_EVERY` bytes an fdatasync is started in
    the background, so the disk writes while data still arrives and the final
    fsync has little left to do.

    What an fdatasync made durable is then dropped from the page cache, so a
    large upload recycles a few windows of cache pages instead of taking one
    per byte: growing the cache by hundreds of MiB evicts data the database
    reads, and writing into pages the kernel has to find (and, in a virtual
    machine, often the host to back) made the write itself 2-3x slower than
    writing into recycled ones (docs/performance.md, "File storage").
    """

    def __init__(self, fd: int, run: Callable[..., asyncio.Future[None]]) -> None:
        self.fd = fd
        self._run = run
        self.size = 0
        self._digest = hashlib.sha256()
        self._batch: list[bytes] = []
        self._batched = 0
        self._writing: asyncio.Future[None] | None = None
        self._syncing: asyncio.Future[None] | None = None
        self._unsynced = 0
        # Bytes whose os.write has returned (counted by the writing thread), and how many
        # of them a finished fdatasync covered and so were dropped from the page cache.
        self._written = 0
        self._dropped = 0

    async def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= BATCH:
            await self._submit()

    async def _submit(self) -> None:
        if self._writing is not None:
            await asyncio.shield(self._writing)
        batch, self._batch, self._batched = self._batch, [], 0
        if not batch:
            self._writing = None
            return
        self._writing = self._run(self._write, batch)
        self._unsynced += sum(len(chunk) for chunk in batch)
        if self._unsynced >= FLUSH_EVERY and (self._syncing is None or self._syncing.done()):
            self._unsynced = 0
            self._syncing = self._run(self._flush)

    def _write(self, batch: list[bytes]) -> None:
        """Hash and write the chunks as they are: joining them first would copy every
        byte once more, into memory that is new to the process each time."""
        for chunk in batch:
            self._digest.update(chunk)
        views = [memoryview(chunk) for chunk in batch if chunk]
        while views:
            left = os.writev(self.fd, views[:IOV_MAX])
            while views and left >= len(views[0]):
                left -= len(views.pop(0))
            if left:
                views[0] = views[0][left:]
        self._written += sum(len(chunk) for chunk in batch)

    def _flush(self) -> None:
        """fdatasync, then drop from the page cache what it made durable: the bytes written
        before it started (pages written since may still be dirty, and are kept)."""
        written = self._written
        os.fdatasync(self.fd)
        if written > self._dropped:
            os.posix_fadvise(self.fd, self._dropped, written - self._dropped,
                             os.POSIX_FADV_DONTNEED)
            self._dropped = written

    async def finish(self) -> str:
        """Write what is left, fsync; the sha256 of everything written.

        A failed write or background fdatasync fails the upload: once reported, an
        fsync error is not reported again to the same file, so the final fsync alone
        could succeed over lost bytes. Every trip to the thread is tracked in
        `_writing` and awaited shielded, so a cancelled upload still waits for it
        (`abandon`) before its file is closed.
        """
        if self._writing is None and self._syncing is None:
            # A small file, all in one batch: written and fsynced in one trip to a thread.
            batch, self._batch, self._batched = self._batch, [], 0
            self._writing = self._run(self._write_and_sync, batch)
        else:
            await self._submit()
            for future in (self._writing, self._syncing):
                if future is not None:
                    await asyncio.shield(future)
            self._writing = self._run(os.fsync, self.fd)
        await asyncio.shield(self._writing)
        return self._digest.hexdigest()

    def _write_and_sync(self, batch: list[bytes]) -> None:
        if batch:
            self._write(batch)
        os.fsync(self.fd)

    async def abandon(self) -> None:
        """Wait for the work in flight (so the file can be closed under it)."""
        for future in (self._writing, self._syncing):
            if future is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(future)
        self._writing = self._syncing = None


def _close_after(read: asyncio.Future[bytes], fd: int) -> None:
    if not read.cancelled():
        read.exception()  # an error of a read nobody awaits is not worth a warning
    os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs under `<root>/<ab>/<sha256>`, staged in `<root>/tmp/`."""

    def __init__(self, root: Path | str, io_threads: int = 16) -> None:
        self.root = Path(root)
        self._root_text = os.fspath(self.root)
        self.staging = self.root / "tmp"
        make_private_dir(self.root)
        make_private_dir(self.staging)
        # Writes and fsyncs block a thread each: their own pool, so many uploads fsync at
        # once without taking the loop's default executor from everything else.
        self._io = ThreadPoolExecutor(io_threads, thread_name_prefix="reactor-blobs")

    def _run(self, fn: Callable[..., None], *args: object) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._io, fn, *args)

    def path(self, sha256: str) -> Path:
        return Path(self._path_text(sha256))

    def _path_text(self, sha256: str) -> str:
        """Where a blob lives, as a string (see `exists`)."""
        check_sha256(sha256)
        return f"{self._root_text}/{sha256[:2]}/{sha256}"

    async def stage(self, chunks: AsyncIterable[bytes], max_bytes: int | None = None
                    ) -> StagedBlob:
        token = os.urandom(12).hex()
        temp = self.staging / f"{token}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        writer = _StagingWriter(fd, self._run)
        try:
            async for chunk in chunks:
                if max_bytes is not None and writer.size + len(chunk) > max_bytes:
                    raise BlobTooLarge(f"file exceeds the upload limit of {max_bytes} bytes")
                await writer.add(chunk)
            sha256 = await writer.finish()
        except BaseException:
            await writer.abandon()
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return StagedBlob(sha256, writer.size, token)

    async def publish(self, staged: StagedBlob) -> None:
        await self._run(self._publish, staged)

    def _publish(self, staged: StagedBlob) -> None:
        temp = self.staging / f"{staged.token}.part"
        final = self.path(staged.sha256)
        if final.exists():
            temp.unlink(missing_ok=True)
            return
        self._rename(temp, final)

    def _rename(self, temp: Path, final: Path) -> None:
        make_private_dir(final.parent)
        os.rename(temp, final)
        _fsync_dir(final.parent)

    async def put(self, sha256: str, data: bytes) -> None:
        check_sha256(sha256)
        await self._run(self._put, sha256, data)

    def _put(self, sha256: str, data: bytes) -> None:
        """In one trip to a worker thread (nothing on the loop touches the disk): write a
        staged file, fsync it, give it its name and fsync the folder."""
        final = self.path(sha256)
        if final.exists():
            return
        temp = self.staging / f"{os.urandom(12).hex()}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._rename(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    async def discard(self, staged: StagedBlob) -> None:
        (self.staging / f"{staged.token}.part").unlink(missing_ok=True)

    async def exists(self, sha256: str) -> bool:
        """One stat of a joined string: every small upload asks this on the loop, and
        building a pathlib path cost more than the stat."""
        return os.path.exists(self._path_text(sha256))

    async def read(self, sha256: str, start: int = 0, end: int | None = None
                   ) -> AsyncIterator[bytes]:
        """The chunks are read in the store's threads, each while the one before is sent:
        a blob that is not cached (a large upload drops its pages) is read from disk
        without stalling the event loop, and the disk works while the network does."""
        try:
            fd = os.open(self.path(sha256), os.O_RDONLY)
        except FileNotFoundError:
            raise BlobMissing(f"blob {sha256} is missing from {self.root.name}/") from None
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[bytes] | None = None
        try:
            if end is None:
                end = os.fstat(fd).st_size
            os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_SEQUENTIAL)
            position = start
            while position < end:
                if pending is None:
                    pending = self._pread(loop, fd, position, end)
                chunk = await asyncio.shield(pending)
                if not chunk:
                    break
                position += len(chunk)
                pending = self._pread(loop, fd, position, end) if position < end else None
                yield chunk
        finally:
            if pending is None:
                os.close(fd)
            else:
                # Left (the client went away, a read failed) with a read in flight or unread:
                # the file is closed once that read has ended.
                pending.add_done_callback(lambda done: _close_after(done, fd))

    def _pread(self, loop: asyncio.AbstractEventLoop, fd: int, position: int, end: int
               ) -> asyncio.Future[bytes]:
        return loop.run_in_executor(self._io, os.pread, fd, min(READ_CHUNK, end - position),
                                    position)

    async def delete(self, sha256: str) -> None:
        await self._run(self._delete, sha256)

    def _delete(self, sha256: str) -> None:
        path = self.path(sha256)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            _fsync_dir(path.parent)

    async def entries(self) -> AsyncIterator[BlobEntry]:
        now = time.time()
        for folder in sorted(self.root.iterdir()):
            if folder == self.staging or not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if not SHA256_HEX.match(path.name):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    yield BlobEntry(path.name, now - path.stat().st_mtime)
            await asyncio.sleep(0)

    async def sweep_staged(self, older_than_s: float) -> int:
        removed = 0
        now = time.time()
        for path in list(self.staging.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime > older_than_s:
                    path.unlink()
                    removed += 1
        return removed

    async def close(self) -> None:
        self._io.shutdown(wait=True)
