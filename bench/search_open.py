"""Opening a store with a text search index: time to the first search, resident memory.

`python -m bench.search_open DIR [--notes N]` fills DIR with benchmark 9's notes (20
Zipf-distributed words on 10 boards, commits of 1,000) unless it holds them already,
then opens it in a fresh interpreter and reports, as JSON:

- `open_s`: `Database.open` returning (the server serves requests from then on);
- `first_search_s`: from the start of `open` to the first search's answer;
- `ready_s`: from the start of `open` until the in-memory index ranks searches;
- `rss_open_mib`, `rss_ready_mib`: resident memory after the first search, and once the
  index is ready after `malloc_trim` (glibc keeps the build's freed arrays otherwise);
  `rss_untrimmed_mib` the same before trimming.

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
from bench.search import SCHEMA, body, fill
from reactor.storage import SqliteStorage
from reactor.transactions import Database, QueryBuilder

MIB = 1024 * 1024


async def populate(path: Path, notes: int) -> None:
    rng = np.random.default_rng(1)
    db = await Database.open(SqliteStorage(path, durability="normal"), SCHEMA)
    try:
        await fill(db, "notes", [{"body": body(rng), "board": f"b{i % 10}"}
                                 for i in range(notes)], 1000)
    finally:
        await db.close()


async def search(db: Database) -> int:
    txn = db.begin(read_only=True)
    rows = await QueryBuilder(txn, "notes").with_search_index(
        "search_body", lambda q: q.search("body", "w5 w9").eq("board", "b3")).take(10)
    txn.close()
    return len(rows)


def _trim() -> None:
    ctypes.CDLL("libc.so.6").malloc_trim(0)


async def measure(path: Path) -> dict[str, Any]:
    """In this process: open the store, search once, wait for the in-memory index."""
    started = time.perf_counter()
    storage = SqliteStorage(path, durability="normal")
    db = await Database.open(storage, SCHEMA)
    opened = time.perf_counter() - started
    try:
        assert await search(db) == 10
        first = time.perf_counter() - started
        rss_open = rss_bytes(os.getpid())
        ready = getattr(storage, "texts_ready", None)
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
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.measure:
        print(json.dumps(asyncio.run(measure(arguments.store))))
        return 0
    if not (arguments.store / "reactor.sqlite3").exists():
        arguments.store.mkdir(parents=True, exist_ok=True)
        asyncio.run(populate(arguments.store, arguments.notes))
    result = subprocess.run([sys.executable, "-m", "bench.search_open", str(arguments.store),
                             "--measure"], check=True, capture_output=True, text=True)
    print(result.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
