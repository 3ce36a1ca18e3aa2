"""Staging a large upload: a write that fails or is cut short never leaves a staged blob, an
open file, or a blob named after bytes it does not hold."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reactor.storage import blobs
from reactor.storage.blobs import LocalBlobStore


def open_files_under(folder: Path) -> list[str]:
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except FileNotFoundError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


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
