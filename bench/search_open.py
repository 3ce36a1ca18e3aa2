"""Opening a store with a search index: time to the first search, resident memory.

`python -m bench.search_open DIR [--notes N]` fills DIR with benchmark 9's notes (20
Zipf-distributed words on 10 boards, commits of 1,000) unless it holds them already,
then opens it in a fresh interpreter and reports, as JSON:

- `open_s`: `Database.open` returning (the server serves requests from then on);
- `first_search_s`: from the start of `open` to the first search's answer;
- `ready_s`: from the start of `open` until the in-memory index ranks searches;
- `rss_open_mib`, `rss_ready_mib`: resident memory after the first search, and once the
  index is ready after `malloc_trim` (glibc keeps the build's freed arrays otherwise);
  `rss_untrimmed_mib` the same before trimming.

With `--vectors`, DIR holds benchmark 9's vector part instead (N chunks, each a random
384-dimension vector on 10 boards, commits of 2,000) and the search is a vector top 10,
which waits for the vector index to load.

A separate process per measurement, since resident memory never shrinks much.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.procstat import rss_bytes
from bench.search import DIMENSIONS, SCHEMA, body, fill
from reactor.storage import SqliteStorage
from reactor.transactions import Database, QueryBuilder, run_vector_search

MIB = 1024 * 1024


async def populate(path: Path, notes: int, vectors: bool) -> None:
    rng = np.random.default_rng(1)
    db = await Database.open(SqliteStorage(path, durability="normal"), SCHEMA)
    try:
        if not vectors:
            await fill(db, "notes", [{"body": body(rng), "board": f"b{i % 10}"}
                                     for i in range(notes)], 1000)
        for start in range(0, notes if vectors else 0, 10_000):
            rows = rng.standard_normal((min(10_000, notes - start), DIMENSIONS)).astype(
                np.float32).tolist()
            await fill(db, "chunks", [{"body": "x", "board": f"b{i % 10}", "embedding": row}
                                      for i, row in enumerate(rows)], 2000)
    finally:
        await db.close()


async def search(db: Database, vectors: bool) -> int:
    txn = db.begin(read_only=True)
    if vectors:
        rows = await run_vector_search(txn, "chunks", "by_embedding",
                                       vector=[1.0] * DIMENSIONS, limit=10)
    else:
        rows = await QueryBuilder(txn, "notes").with_search_index(
            "search_body", lambda q: q.search("body", "w5 w9").eq("board", "b3")).take(10)
    txn.close()
    return len(rows)


def _trim() -> None:
    ctypes.CDLL("libc.so.6").malloc_trim(0)


async def measure(path: Path, vectors: bool) -> dict[str, Any]:
    """In this process: open the store, search once, wait for the in-memory index."""
    started = time.perf_counter()
    storage = SqliteStorage(path, durability="normal")
    db = await Database.open(storage, SCHEMA)
    opened = time.perf_counter() - started
    try:
        assert await search(db, vectors) == 10
        first = time.perf_counter() - started
        rss_open = rss_bytes(os.getpid())
        for name in ("texts_ready", "vectors_ready"):
            ready = getattr(storage, name, None)
            if ready is not None:
                await ready()
        done = time.perf_counter() - started
        untrimmed = rss_bytes(os.getpid())
        _trim()
        return {"open_s": round(opened, 3), "first_search_s": round(first, 3),
                "ready_s": round(done, 3), "rss_open_mib": round(rss_open / MIB, 1),
                "rss_untrimmed_mib": round(untrimmed / MIB, 1),
                "rss_ready_mib": round(rss_bytes(os.getpid()) / MIB, 1),
                "load": round(os.getloadavg()[0], 2)}
    finally:
        await db.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search_open", description=__doc__)
    parser.add_argument("store", type=Path)
    parser.add_argument("--notes", type=int, default=100_000)
    parser.add_argument("--vectors", action="store_true",
                        help="chunks with 384-dimension vectors, searched by vector")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.measure:
        print(json.dumps(asyncio.run(measure(arguments.store, arguments.vectors))))
        return 0
    if not (arguments.store / "reactor.sqlite3").exists():
        arguments.store.mkdir(parents=True, exist_ok=True)
        asyncio.run(populate(arguments.store, arguments.notes, arguments.vectors))
    result = subprocess.run([sys.executable, "-m", "bench.search_open", str(arguments.store),
                             "--measure", *(["--vectors"] if arguments.vectors else [])],
                            check=True, capture_output=True, text=True)
    print(result.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
