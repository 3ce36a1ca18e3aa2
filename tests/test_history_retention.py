"""Reading history (`/api/query_at_ts`): only within the retention window, and a deleted
document is really gone from the file once the window has passed, on a quiet server too."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx

from reactor.runtime import Engine
from reactor.server.app import ReactorServer
from reactor.server.protocol import encode_ts
from reactor.storage.sqlite_schema import DB_NAME
from reactor.transactions import DatabaseOptions

APP = Path(__file__).parent / "apps" / "basic"
RETENTION_S = 1.0


def revisions(data_dir: Path, doc_id: str) -> int:
    """Rows of the document in the file, however old (read beside the server)."""
    with sqlite3.connect(data_dir / DB_NAME) as conn:
        return int(conn.execute("SELECT count(*) FROM documents WHERE doc_id = ?",
                                (doc_id,)).fetchone()[0])


async def test_history_is_readable_only_within_the_window(tmp_path: Path) -> None:
    options = DatabaseOptions(retention_ns=int(RETENTION_S * 1e9), prune_interval_s=0.2)
    server = ReactorServer(Engine(APP, tmp_path, durability="normal", options=options))
    asgi = server.build()
    await server.start()
    engine = server.engine
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                                     base_url="http://testserver") as client:
            note = (await engine.run_mutation(
                "notes:add", {"author": "ann", "body": "secret", "rank": 1})).unwrap()
            before_delete = engine.database.latest_ts
            await engine.run_mutation("notes:remove", {"id": note})
            deleted_at = engine.database.latest_ts

            async def count_at(ts: int) -> dict[str, object]:
                response = await client.post("/api/query_at_ts", json={
                    "path": "notes:count", "args": [{}], "ts": encode_ts(ts)})
                return dict(response.json())

            assert (await count_at(before_delete))["value"] == 1
            assert (await count_at(deleted_at))["value"] == 0
            # Nothing is committed from here on: the window moves by the clock alone.
            await asyncio.sleep(RETENTION_S + 0.1)
            refused = await count_at(before_delete)
            assert refused["status"] == "error"
            assert str(refused["errorMessage"]).endswith(
                f"notes:count: timestamp {before_delete} is older than the history the"
                f" server keeps ({RETENTION_S:g} s): read at a later one")
            # The latest commit stays readable however old it is.
            assert (await count_at(deleted_at))["value"] == 0
            future = await count_at(deleted_at + 10**12)
            assert "is in the future" in str(future["errorMessage"])
            # The pruner, on its own schedule, has removed the note and its tombstone.
            deadline = time.monotonic() + 5
            while revisions(tmp_path, note) > 0:
                assert time.monotonic() < deadline, "the quiet server did not prune"
                await asyncio.sleep(0.1)
            assert (await count_at(deleted_at))["value"] == 0
    finally:
        await server.stop()
