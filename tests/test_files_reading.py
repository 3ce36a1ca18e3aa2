"""Reading blobs: chunks are read in the store's threads one ahead of the consumer; ranges
come out exact, and a download abandoned mid-way closes its file once the read in flight
has ended (never under it)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from files_support import open_files_under

from reactor.storage import blobs
from reactor.storage.blobs import LocalBlobStore


async def stored(store: LocalBlobStore, data: bytes) -> str:
    sha256 = hashlib.sha256(data).hexdigest()
    await store.put(sha256, data)
    return sha256


async def test_ranges_across_chunks_read_exactly_those_bytes(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    chunk = blobs.READ_CHUNK
    data = os.urandom(2 * chunk + 12345)
    sha256 = await stored(store, data)
    spans: list[tuple[int, int | None]] = [
        (0, None), (0, len(data)), (1, chunk + 1), (chunk - 1, 2 * chunk + 7), (chunk, chunk),
        (len(data) - 5, None), (len(data) - 5, len(data) + 100), (3, 4)]
    for start, end in spans:
        chunks = [piece async for piece in store.read(sha256, start, end)]
        assert b"".join(chunks) == data[start:end], (start, end)
        assert all(0 < len(piece) <= chunk for piece in chunks)
    await store.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists open files via /proc")
async def test_an_abandoned_read_closes_its_file_once_the_read_in_flight_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    sha256 = await stored(store, os.urandom(3 * blobs.READ_CHUNK))
    reading = threading.Event()
    release = threading.Event()
    original = os.pread
    calls = [0]

    def pread(fd: int, length: int, offset: int) -> Any:
        calls[0] += 1
        if calls[0] == 2:  # the read ahead of the first chunk handed out
            reading.set()
            release.wait(10)
        return original(fd, length, offset)

    monkeypatch.setattr(blobs.os, "pread", pread)
    chunks = store.read(sha256)
    first = await anext(chunks)
    assert len(first) == blobs.READ_CHUNK
    for _ in range(500):
        if reading.is_set():
            break
        await asyncio.sleep(0.01)
    assert reading.is_set(), "the next chunk is not read ahead in a thread"
    await chunks.aclose()  # the client went away
    assert open_files_under(tmp_path / "blobs"), "closed under the read in flight"
    release.set()
    for _ in range(100):
        if not open_files_under(tmp_path / "blobs"):
            break
        await asyncio.sleep(0.01)
    assert open_files_under(tmp_path / "blobs") == []
    await store.close()


async def test_a_missing_blob_is_reported_before_any_byte(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(blobs.BlobMissing):
        await anext(store.read("ab" * 32))
    await store.close()
