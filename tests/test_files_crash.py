"""SIGKILL at each point of storing and deleting a file: no document ever lacks its blob,
and what a crash leaves behind is swept once the grace period is over."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from files_crash_worker import CONTENT, SMALL_CONTENT
from files_support import blob_files, call, served, staged_files, stored_blobs

from reactor.runtime.files import FileOptions

WORKER = Path(__file__).parent / "files_crash_worker.py"
SHA = hashlib.sha256(CONTENT).hexdigest()
SMALL_SHA = hashlib.sha256(SMALL_CONTENT).hexdigest()


def crash_at(data_dir: Path, point: str) -> list[dict[str, str]]:
    result = subprocess.run([sys.executable, str(WORKER), str(data_dir), point],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr  # killed by SIGKILL, not an error
    return [json.loads(line) for line in result.stdout.splitlines()]


# point: (documents after the crash, blob left, staged file left)
CASES = {
    "staging": (0, False, True),         # half-written, not yet renamed
    "published": (0, True, False),       # renamed and fsynced, document not committed
    "committed": (1, True, False),       # committed, the caller never heard back
    "deleted-in-action": (0, True, False),    # delete committed, blob not yet removed
    "deleted-in-mutation": (0, True, False),
    # A small file in files/ is written, fsynced and named in one step
    # (FileService._commit_small).
    "small-staging": (0, False, True),   # written and fsynced, not yet renamed
    "small-published": (0, True, False),
    "small-committed": (1, True, False),
    # A small file kept in the database: its contents commit with its document, or not.
    "inline-uncommitted": (0, False, False),
    "inline-committed": (1, False, False),
}


@pytest.mark.parametrize("point", sorted(CASES))
async def test_a_crash_leaves_no_document_without_its_blob(tmp_path: Path, point: str) -> None:
    steps = crash_at(tmp_path, point)
    assert {"step": "unreachable"} not in steps
    documents, blob_left, staged_left = CASES[point]
    sha = SMALL_SHA if point.startswith(("small-", "inline-")) else SHA
    assert (sha in blob_files(tmp_path)) is blob_left
    assert bool(staged_files(tmp_path)) is staged_left
    async with served(tmp_path, options=FileOptions(orphan_grace_s=3600)) as (engine, client):
        docs = await call(engine, "query", "files:all")
        assert len(docs) == documents
        for doc in docs:  # every document's blob is there, whole
            reply = await client.get(f"/api/storage/{doc['_id']}")
            assert reply.status_code == 200
            assert hashlib.sha256(reply.content).hexdigest() == doc["sha256"] == sha
        assert await engine.files.sweep() == {"staged": 0, "orphans": 0, "tokens": 0}
        engine.files.options = FileOptions(orphan_grace_s=0)  # the grace period is over
        swept = await engine.files.sweep()
        assert swept["staged"] == int(staged_left)
        assert swept["orphans"] == int(blob_left and not documents)
        assert await stored_blobs(engine, tmp_path) == ([sha] if documents else [])
        assert staged_files(tmp_path) == []
