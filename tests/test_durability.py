"""A SIGKILLed engine loses no acknowledged mutation, and reopens consistent; data dirs lock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.durable_writer import APP, payload

from reactor.errors import StorageError
from reactor.runtime import Engine
from reactor.schema import index_id

WRITER = Path(__file__).parent / "support" / "durable_writer.py"
ACKS = 200


async def open_fails_locked(data_dir: Path) -> None:
    with pytest.raises(StorageError) as info:
        async with Engine(APP, data_dir, durability="full"):
            pass
    assert info.value.code == "DataDirLocked"
    assert str(data_dir) in info.value.message


async def test_acknowledged_mutations_survive_sigkill(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path)],
                            stdout=subprocess.PIPE, env=env)
    acked: list[tuple[str, int]] = []
    try:
        assert proc.stdout is not None
        while len(acked) < ACKS:
            line = proc.stdout.readline()
            assert line, f"the writer exited early with code {proc.wait()}"
            word, doc_id, ts = line.decode().split()
            assert word == "acked"
            acked.append((doc_id, int(ts)))
        await open_fails_locked(tmp_path)  # held by the live writer process
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert [ts for _, ts in acked] == sorted({ts for _, ts in acked})

    async with Engine(APP, tmp_path, durability="full") as engine:
        await open_fails_locked(tmp_path)  # and by this process now
        assert engine.database.latest_ts >= acked[-1][1]
        entries = (await engine.run_query("journal:entries", {})).unwrap()
        by_id = {entry["_id"]: entry for entry in entries}
        for seq, (doc_id, _) in enumerate(acked):
            assert by_id[doc_id]["seq"] == seq
            assert by_id[doc_id]["payload"] == payload(seq)

        # Mutations ran one at a time, so what survived is a prefix, each one whole.
        count = len(entries)
        assert count >= ACKS
        assert [entry["seq"] for entry in entries] == [float(i) for i in range(count)]
        meta = (await engine.run_query("journal:meta", {})).unwrap()
        assert (meta["last"], meta["count"]) == (count - 1, count)
        by_creation = (await engine.run_query("journal:entries_by_creation", {})).unwrap()
        assert [entry["_id"] for entry in by_creation] == [entry["_id"] for entry in entries]
        times = [entry["_creationTime"] for entry in by_creation]
        assert times == sorted(set(times))

        storage = engine.database.storage
        for name in engine.database.catalog.get("entries").indexes:  # type: ignore[union-attr]
            assert await storage.index_entry_count(index_id("entries", name)) == count, name
        for name in ("by_id", "by_creation_time"):
            assert await storage.index_entry_count(index_id("meta", name)) == 1

        after = await engine.run_mutation("journal:append", {"seq": count, "payload": "again"})
        assert after.ok and after.ts is not None and after.ts > acked[-1][1]
    with sqlite3.connect(tmp_path / "reactor.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
