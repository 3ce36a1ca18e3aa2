"""A SIGKILL at any point leaves the full-text and vector indexes consistent with the
documents."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from reactor.storage import SqliteStorage
from reactor.transactions import Database, QueryBuilder, run_vector_search

WRITER = Path(__file__).with_name("search_crash_writer.py")
sys.path.insert(0, str(WRITER.parent))

from search_crash_writer import SCHEMA, WORDS  # noqa: E402


def write_until_killed(data_dir: Path, acks: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, str(WRITER), str(data_dir)],
                            stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        for _ in range(acks):
            ready, _, _ = select.select([proc.stdout], [], [], 20)
            assert ready, "the writer stopped acknowledging commits"
            assert proc.stdout.readline(), f"writer exited early with {proc.wait()}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


async def test_search_index_matches_documents_after_sigkill(tmp_path: Path) -> None:
    for acks in (150, 90):  # twice: the second run starts from a killed one's files
        write_until_killed(tmp_path, acks)
    db = await Database.open(SqliteStorage(tmp_path, durability="normal"), SCHEMA)
    try:
        txn = db.begin(read_only=True)
        docs = await QueryBuilder(txn, "notes").collect()
        assert len(docs) > 50
        for word in WORDS:
            for board in "ab":
                found = await QueryBuilder(txn, "notes").with_search_index(
                    "search_body", lambda q, w=word, b=board: q.search("body", w).eq("board", b)
                ).collect()
                expected = {d["_id"] for d in docs
                            if word in d["body"].split() and d["board"] == board}
                assert {d["_id"] for d in found} == expected
                for doc in found:
                    assert doc == next(d for d in docs if d["_id"] == doc["_id"])
        for board in "ab":
            hits = await run_vector_search(txn, "notes", "by_embedding", vector=[1, 0, 0, 0],
                                           limit=256, filter=lambda q, b=board: q.eq("board", b))
            expected = {d["_id"] for d in docs if d["board"] == board}
            assert len(expected) <= 256
            assert {hit["_id"] for hit in hits} == expected
        txn.close()
    finally:
        await db.close()
