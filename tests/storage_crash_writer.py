"""Writes commits one by one and prints `acked <ts>` after each; killed by the durability test."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from reactor.storage import CommitRecord, DocumentWrite, IndexWrite, SqliteStorage
from reactor.values import Int64

DOCS = 7


def doc_id(ts: int) -> str:
    return f"d{ts % DOCS}"


def ts_key(ts: int) -> bytes:
    return ts.to_bytes(8, "big")


def commit(ts: int) -> CommitRecord:
    """Rewrite document `doc_id(ts)`: its `by_ts` key moves, its `by_doc` key stays."""
    doc = doc_id(ts)
    writes = [
        IndexWrite("by_ts", ts_key(ts), doc, deleted=False),
        IndexWrite("by_doc", doc.encode(), doc, deleted=False),
    ]
    if ts > DOCS:
        writes.append(IndexWrite("by_ts", ts_key(ts - DOCS), doc, deleted=True))
    value = {"ts": Int64(ts), "payload": "x" * 200}
    return CommitRecord(ts, [DocumentWrite(doc, "t", value)], writes)


async def main(data_dir: Path, durability: str) -> None:
    store = SqliteStorage(data_dir, durability=durability)  # type: ignore[arg-type]
    await store.open()
    ts = 1
    while True:
        await store.write([commit(ts)], {"latest_ts": ts})
        sys.stdout.write(f"acked {ts}\n")
        sys.stdout.flush()
        ts += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
