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
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reactor.errors import LimitExceededError, StorageError
from reactor.storage.data_dir import make_private_dir

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
READ_CHUNK = 256 * 1024
# Data written to a temporary file is fsynced in a thread once this much piled up,
# so the final fsync of a large upload has little left to flush.
FLUSH_EVERY = 32 * 1024 * 1024


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
        raise StorageError(f"not a sha256 hex digest: {sha256!r}", code="InvalidBlobName")
    return sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs under `<root>/<ab>/<sha256>`, staged in `<root>/tmp/`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.staging = self.root / "tmp"
        make_private_dir(self.root)
        make_private_dir(self.staging)

    def path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256

    async def stage(self, chunks: AsyncIterable[bytes], max_bytes: int | None = None
                    ) -> StagedBlob:
        token = os.urandom(12).hex()
        temp = self.staging / f"{token}.part"
        digest = hashlib.sha256()
        size = 0
        unflushed = 0
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise BlobTooLarge(f"file exceeds the upload limit of {max_bytes} bytes")
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                unflushed += len(chunk)
                if unflushed >= FLUSH_EVERY:
                    unflushed = 0
                    await asyncio.to_thread(os.fdatasync, fd)
            await asyncio.to_thread(os.fsync, fd)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return StagedBlob(digest.hexdigest(), size, token)

    async def publish(self, staged: StagedBlob) -> None:
        await asyncio.to_thread(self._publish, staged)

    def _publish(self, staged: StagedBlob) -> None:
        temp = self.staging / f"{staged.token}.part"
        final = self.path(staged.sha256)
        if final.exists():
            temp.unlink(missing_ok=True)
            return
        make_private_dir(final.parent)
        os.rename(temp, final)
        _fsync_dir(final.parent)

    async def discard(self, staged: StagedBlob) -> None:
        (self.staging / f"{staged.token}.part").unlink(missing_ok=True)

    async def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    async def read(self, sha256: str, start: int = 0, end: int | None = None
                   ) -> AsyncIterator[bytes]:
        try:
            handle = open(self.path(sha256), "rb")  # noqa: SIM115 (closed below, across yields)
        except FileNotFoundError:
            raise BlobMissing(f"blob {sha256} is missing from {self.root.name}/") from None
        try:
            handle.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = handle.read(want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self._delete, sha256)

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
        return None
