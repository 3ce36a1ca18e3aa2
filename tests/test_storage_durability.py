"""Across processes: a SIGKILLed writer loses no acknowledged commit; the data dir is locked."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from reactor.errors import StorageError
from reactor.storage import SqliteStorage
from reactor.values import Int64

WRITER = Path(__file__).with_name("storage_crash_writer.py")
sys.path.insert(0, str(WRITER.parent))

from storage_crash_writer import DOCS, doc_id, ts_key  # noqa: E402

ACKS = 60


def run_writer_until_killed(data_dir: Path, durability: str) -> list[int]:
    """Read ACKS acknowledgements, then SIGKILL the writer while it keeps writing."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir), durability],
        stdout=subprocess.PIPE,
        env=env,
    )
    acked: list[int] = []
    try:
        assert proc.stdout is not None
        while len(acked) < ACKS:
            line = proc.stdout.readline()
            assert line, f"writer exited early with {proc.wait()}"
            word, ts = line.split()
            assert word == b"acked"
            acked.append(int(ts))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return acked


@pytest.mark.parametrize("durability", ["full", "normal"])
async def test_acknowledged_commits_survive_sigkill(tmp_path: Path, durability: str) -> None:
    acked = run_writer_until_killed(tmp_path, durability)
    assert acked == list(range(1, ACKS + 1))

    store = SqliteStorage(tmp_path)
    await store.open()  # the dead writer's lock is gone with it
    try:
        latest = (await store.read_globals())["latest_ts"]
        assert latest >= acked[-1]
        for ts in acked:
            doc = await store.get_document(doc_id(ts), ts)
            assert doc == {"ts": Int64(ts), "payload": "x" * 200}, ts
            entries = await store.scan_index("by_ts", ts_key(ts), None, ts, "asc", 1)
            assert [entry.key for entry in entries] == [ts_key(ts)], ts

        # Consistent at the latest commit: each document has exactly one live key
        # per index, pointing at its newest revision.
        by_ts = await store.scan_index("by_ts", b"", None, latest, "asc", 100)
        by_doc = await store.scan_index("by_doc", b"", None, latest, "asc", 100)
        assert len(by_ts) == len(by_doc) == DOCS
        for entry in by_ts:
            ts = int.from_bytes(entry.key, "big")
            assert entry.doc == await store.get_document(doc_id(ts), latest)
            assert entry.doc["ts"] == ts > latest - DOCS
        for entry in by_doc:
            assert entry.doc == await store.get_document(entry.key.decode(), latest)
        assert await store.index_entry_count("by_ts") == DOCS
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "reactor.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_data_dir_lock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    probe = (
        "import asyncio, sys\n"
        "from reactor.storage import SqliteStorage\n"
        "from reactor.errors import StorageError\n"
        "async def main():\n"
        "    store = SqliteStorage(__import__('pathlib').Path(sys.argv[1]))\n"
        "    try:\n"
        "        await store.open()\n"
        "    except StorageError as exc:\n"
        "        print(exc.code, exc.message)\n"
        "        return\n"
        "    print('opened')\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )

    async def run_probe() -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", probe, str(data), stdout=subprocess.PIPE
        )
        out, _ = await proc.communicate()
        return out.decode().strip()

    store = SqliteStorage(data)
    await store.open()
    try:
        out = await run_probe()
        assert out.startswith("DataDirLocked ")
        assert str(data) in out and f"pid {os.getpid()}" in out
        # A second opener in the same process is refused too.
        with pytest.raises(StorageError) as info:
            await SqliteStorage(data).open()
        assert info.value.code == "DataDirLocked"
    finally:
        await store.close()
    assert await run_probe() == "opened"
