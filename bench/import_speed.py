"""Bulk import: documents per second of `reactor import` (a JSON-lines file into an empty
deployment, one atomic commit) against raw batched SQLite inserts of the same lines."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from pathlib import Path

import orjson

from bench.report import Table, num
from bench.settings import Settings
from reactor.runtime import Engine
from reactor.runtime.snapshots.importer import import_parsed
from reactor.runtime.snapshots.sources import parse_import
from reactor.storage.sqlite_bulk import CACHE_KIB
from reactor.storage.sqlite_schema import TABLES
from reactor.values import new_ids

APP = Path(__file__).parent / "apps" / "bulk"
BATCH = 2000
_DOCUMENT = "INSERT INTO documents (doc_id, ts, table_name, deleted, value) VALUES (?, ?, ?, ?, ?)"
_ENTRY = "INSERT INTO index_entries (index_id, key, ts, deleted, doc_id) VALUES (?, ?, ?, ?, ?)"


def _write_lines(path: Path, count: int) -> None:
    with open(path, "wb") as out:
        for start in range(0, count, 10_000):
            out.write(b"".join(orjson.dumps({"name": f"person {n}", "n": float(n)}) + b"\n"
                               for n in range(start, min(count, start + 10_000))))


def _connect(path: Path, durability: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return conn


def _raw_same_rows(path: Path, lines: Path, durability: str) -> float:
    """Seconds for SQLite to take the rows an import stores, in batches in one transaction:
    per document its revision and its `by_id` and `by_creation_time` entries, in Reactor's
    own tables (random ids, as imported documents have)."""
    conn = _connect(path, durability)
    conn.executescript(TABLES)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    with open(lines, "rb") as source:
        batch: list[bytes] = []
        for line in source:
            batch.append(line)
            if len(batch) >= BATCH:
                _insert_rows(conn, batch)
                batch = []
        _insert_rows(conn, batch)
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def _insert_rows(conn: sqlite3.Connection, lines: list[bytes]) -> None:
    ids = new_ids("people", len(lines))
    conn.executemany(_DOCUMENT, [(doc_id, 1, "people", 0, line.rstrip(b"\n"))
                                 for doc_id, line in zip(ids, lines, strict=True)])
    conn.executemany(_ENTRY, [("people.by_id", doc_id.encode(), 1, 0, doc_id)
                              for doc_id in ids])
    conn.executemany(_ENTRY, [("people.by_creation_time", n.to_bytes(8, "big") + doc_id.encode(),
                               1, 0, doc_id) for n, doc_id in enumerate(ids)])


def _raw_one_row(path: Path, lines: Path, durability: str) -> float:
    """Seconds to insert each line as one (id, value) row of a plain table, for scale."""
    conn = _connect(path, durability)
    conn.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    with open(lines, "rb") as source:
        batch = []
        for number, line in enumerate(source):
            batch.append((f"{number:012d}", line.rstrip(b"\n")))
            if len(batch) >= BATCH:
                conn.executemany("INSERT INTO docs VALUES (?, ?)", batch)
                batch = []
        conn.executemany("INSERT INTO docs VALUES (?, ?)", batch)
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


async def _reactor_import(data: Path, lines: Path, durability: str) -> float:
    async with Engine(APP, data, workers=0, durability=durability) as engine:
        parsed = parse_import(lines, "jsonl", "people")
        started = time.perf_counter()
        report = await import_parsed(engine.database, engine.files.blobs, parsed,
                                     "require_empty")
        elapsed = time.perf_counter() - started
        assert report.tables["people"] > 0
    return elapsed


def run(settings: Settings) -> Table:
    count = 100_000 if settings.quick else 1_000_000
    table = Table(f"11. Bulk import ({num(count)} documents, durability={settings.durability})")
    lines = settings.data_dir("import") / "people.jsonl"
    _write_lines(lines, count)
    best_raw = best_plain = best_reactor = float("inf")
    for round_ in range(settings.rounds()):
        raw_dir = settings.data_dir(f"import-raw-{round_}")
        best_raw = min(best_raw, _raw_same_rows(raw_dir / "same.sqlite3", lines,
                                                settings.durability))
        best_plain = min(best_plain, _raw_one_row(raw_dir / "plain.sqlite3", lines,
                                                  settings.durability))
        target = settings.data_dir(f"import-reactor-{round_}") / "data"
        best_reactor = min(best_reactor, asyncio.run(
            _reactor_import(target, lines, settings.durability)))
        shutil.rmtree(raw_dir, ignore_errors=True)
        shutil.rmtree(target.parent, ignore_errors=True)
    raw_rate, plain_rate, rate = count / best_raw, count / best_plain, count / best_reactor
    ratio = rate / raw_rate
    table.add("documents/s imported", num(rate),
              f"{num(raw_rate)} raw batched SQLite inserts of the same rows", ratio, ">= 0.5x",
              ratio >= 0.5)
    table.add("documents/s imported, against one plain row per document", num(rate),
              f"{num(plain_rate)} rows/s", rate / plain_rate)
    table.note("Reactor: `import_parsed` of a JSON-lines file into an empty deployment (parse,"
               " validate against the schema, ids and creation times, by_id and"
               " by_creation_time entries, one atomic commit). First baseline: the rows an"
               " import stores (revision + 2 index entries per document, Reactor's tables,"
               " random ids) with executemany in batches of 2,000 in one transaction, same"
               " pragmas. Second: each line as one (id, value) row of a plain table, for"
               " scale. Best of the rounds for each side.")
    return table
