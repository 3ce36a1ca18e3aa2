"""Stores and deletes a file, and SIGKILLs itself at one named point; driven by
tests/test_files_crash.py. Prints one JSON line per step it completed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from reactor.runtime import Engine
from reactor.runtime.system.inline_blobs import InlineBlobs
from reactor.storage.blobs import LocalBlobStore

APP = Path(__file__).parent / "apps" / "files"
CONTENT = b"crash-test contents " * 5000
# Small enough to be kept in the database, or written in one trip (service.SMALL_BLOB_BYTES).
SMALL_CONTENT = b"small crash-test contents " * 100


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after(cls: type, name: str) -> None:
    original = getattr(cls, name)

    async def patched(self: Any, *args: Any) -> Any:
        result = await original(self, *args)
        die()
        return result

    setattr(cls, name, patched)


def kill_before(cls: type, name: str) -> None:
    async def patched(self: Any, *args: Any) -> Any:
        die()

    setattr(cls, name, patched)


async def main(data_dir: Path, point: str) -> None:
    engine = Engine(APP, data_dir, durability="full")
    await engine.start()
    files = engine.files

    async def chunks(crash: bool) -> AsyncIterator[bytes]:
        yield CONTENT[:80_000]  # past SMALL_BLOB_BYTES: streamed to a staged file
        if crash:
            die()
        yield CONTENT[80_000:]

    async def small() -> AsyncIterator[bytes]:
        yield SMALL_CONTENT

    if point.startswith("inline-"):  # a small file kept in the database with its document
        if point == "inline-uncommitted":
            kill_after(InlineBlobs, "insert")
        storage_id = await files.store(small(), "text/plain")
        say(step="stored", id=storage_id)
        die()

    if point.startswith("small-"):  # a small file kept in files/ (inline storage off)
        files.options = dataclasses.replace(files.options, inline_max_bytes=0)
        if point == "small-staging":  # written and fsynced, killed before its rename
            os.rename = lambda *args: die()  # type: ignore[assignment]
        if point == "small-published":
            kill_after(LocalBlobStore, "put")
        storage_id = await files.store(small(), "text/plain")
        say(step="stored", id=storage_id)
        if point == "small-committed":
            die()
        say(step="unreachable")
        return

    if point in ("deleted-in-action", "deleted-in-mutation"):
        storage_id = await files.store(chunks(False), "text/plain")
        say(step="stored", id=storage_id)
        kill_before(LocalBlobStore, "delete")
        if point == "deleted-in-action":
            await files.delete(storage_id, "test")
        else:
            outcome = await engine.run_mutation("files:delete", {"id": storage_id}, admin=True)
            outcome.unwrap()
            await asyncio.sleep(5)  # the release runs after the commit; it kills us
        say(step="unreachable")
        return
    if point == "published":
        kill_after(LocalBlobStore, "publish")
    storage_id = await files.store(chunks(point == "staging"), "text/plain")
    say(step="stored", id=storage_id)
    if point == "committed":
        die()
    say(step="unreachable")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
