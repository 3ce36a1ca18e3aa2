"""Staging a large upload: a write that fails or is cut short never leaves a staged blob, an
open file, or a blob named after bytes it does not hold."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import mmap
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from files_support import open_files_under
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.storage import blobs
from reactor.storage.blobs import LocalBlobStore


async def batches(count: int) -> AsyncIterator[bytes]:
    """`count` batches; the last one short, so it is written when the upload finishes."""
    for index in range(count - 1):
        yield bytes([index]) * blobs.BATCH
    yield b"end" * 1000


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists open files via /proc")
async def test_a_cancel_during_a_write_waits_for_it_then_closes_and_removes_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    writing = threading.Event()
    release = threading.Event()
    original = blobs._StagingWriter._write

    def slow_write(self: Any, batch: list[bytes]) -> None:
        writing.set()
        release.wait(10)
        original(self, batch)

    monkeypatch.setattr(blobs._StagingWriter, "_write", slow_write)
    staging = asyncio.create_task(store.stage(batches(3)))
    while not writing.is_set():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the second batch is full: the upload waits for the first write
    staging.cancel()
    await asyncio.sleep(0.05)
    assert not staging.done(), "the cancelled upload must wait for the write in flight"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await staging
    assert open_files_under(tmp_path) == []
    assert os.listdir(tmp_path / "blobs" / "tmp") == []
    await store.close()


@pytest.mark.parametrize("failing", ["last write", "background fdatasync"])
async def test_a_failed_write_or_flush_fails_the_upload(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    count = blobs.FLUSH_EVERY // blobs.BATCH + 2
    if failing == "last write":
        original = blobs._StagingWriter._write
        calls = [0]

        def write(self: Any, batch: list[bytes]) -> None:
            calls[0] += 1
            if calls[0] == count:
                raise OSError(28, "No space left on device")
            original(self, batch)

        monkeypatch.setattr(blobs._StagingWriter, "_write", write)
    else:
        def fdatasync(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(blobs.os, "fdatasync", fdatasync)
    with pytest.raises(OSError, match=r"No space left|Input/output"):
        await store.stage(batches(count))
    assert os.listdir(tmp_path / "blobs" / "tmp") == []
    assert open_files_under(tmp_path) == []
    await store.close()


def resident_bytes(path: Path) -> int:
    """How many bytes of `path` are in the page cache (mincore over a mapping of it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    size = path.stat().st_size
    page = mmap.PAGESIZE
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert address not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
        try:
            pages = ctypes.create_string_buffer((size + page - 1) // page)
            assert libc.mincore(address, size, pages) == 0, ctypes.get_errno()
            return sum(byte & 1 for byte in pages.raw) * page
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)


def drops_clean_pages(folder: Path) -> bool:
    """Whether this file system drops a synced file's pages when asked (tmpfs does not)."""
    probe = folder / "probe"
    with probe.open("wb") as handle:
        handle.write(b"x" * 1024 * 1024)
        handle.flush()
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    dropped = resident_bytes(probe) < 512 * 1024
    probe.unlink()
    return dropped


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise")
async def test_a_large_upload_does_not_stay_in_the_page_cache_behind_its_fdatasyncs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    if not drops_clean_pages(tmp_path):
        pytest.skip("the file system keeps clean pages cached (tmpfs?)")
    # Every fdatasync finishes before the next batch is written, so each one covers all
    # that was written before it: the test does not depend on thread timing.
    monkeypatch.setattr(blobs, "FLUSH_EVERY", 2 * blobs.BATCH)
    original = blobs._StagingWriter._submit

    async def submit_after_flush(self: Any) -> None:
        if self._syncing is not None:
            await asyncio.shield(self._syncing)
        await original(self)

    monkeypatch.setattr(blobs._StagingWriter, "_submit", submit_after_flush)
    count = 16
    staged = await store.stage(batches(count))
    path = tmp_path / "blobs" / "tmp" / f"{staged.token}.part"
    # Without dropping, all 15 MiB would still be cached; only the batches written after
    # the last fdatasync (at most FLUSH_EVERY plus the batch in flight) may be.
    assert resident_bytes(path) <= 4 * blobs.BATCH
    await store.publish(staged)
    assert hashlib.sha256(store.path(staged.sha256).read_bytes()).hexdigest() == staged.sha256
    await store.close()


async def test_pages_are_dropped_only_once_an_fdatasync_made_them_durable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    durable = [0]
    drops: list[tuple[int, int, int]] = []

    def fdatasync(fd: int) -> None:
        covered = os.lseek(fd, 0, os.SEEK_CUR)
        os.fsync(fd)
        durable[0] = max(durable[0], covered)

    def posix_fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        drops.append((offset, offset + length, durable[0]))

    monkeypatch.setattr(blobs.os, "fdatasync", fdatasync)
    monkeypatch.setattr(blobs.os, "posix_fadvise", posix_fadvise)
    count = 3 * blobs.FLUSH_EVERY // blobs.BATCH
    await store.stage(batches(count))
    assert drops, "the fdatasynced bytes were never dropped from the page cache"
    for start, end, durable_then in drops:
        assert end <= durable_then, f"dropped {start}-{end} with only {durable_then} durable"
    assert [start for start, _, _ in drops] == [0] + [end for _, end, _ in drops[:-1]]
    await store.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.binary(max_size=3000), max_size=12),
       limits=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=8))
def test_short_writes_still_write_every_chunk_once_in_order(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        chunks: list[bytes], limits: list[int]) -> None:
    """The kernel may write only part of a writev: the rest is written next, from the
    byte where it stopped, across chunk boundaries (oracle: the joined chunks)."""
    folder = tmp_path_factory.mktemp("short")
    real_writev = os.writev
    turns = iter(limits * 10_000)

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        joined = b"".join(buffers)
        return real_writev(fd, [joined[:max(1, min(len(joined), next(turns)))]])

    with monkeypatch.context() as patch:
        patch.setattr(blobs.os, "writev", short_writev)
        fd = os.open(folder / "out", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            writer = blobs._StagingWriter(fd, run=None)  # type: ignore[arg-type]  # not used
            writer._write(chunks)
        finally:
            os.close(fd)
    expected = b"".join(chunks)
    assert (folder / "out").read_bytes() == expected
    assert writer._written == len(expected)
    assert writer._digest.hexdigest() == hashlib.sha256(expected).hexdigest()
