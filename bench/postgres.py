"""Benchmark 10: Reactor on PostgreSQL. Commit throughput through the full stack vs raw
asyncpg transactions (one INSERT each) into the same server, read throughput, and the same
two figures on SQLite in the same run. Skipped, with the reason, when no PostgreSQL is
reachable and none can be started."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import asyncpg
import orjson

from bench.commit_throughput import baseline as sqlite_baseline
from bench.commit_throughput import document
from bench.processes import reactor_server, run_loadgen
from bench.report import Table, num, ratio
from bench.settings import Settings
from reactor.testing_postgres import (
    Cluster,
    Unavailable,
    create_database,
    drop_database,
    find_server,
)


async def baseline(url: str, durability: str, seconds: float) -> float:
    """Commits per second of raw asyncpg: one INSERT per transaction, Reactor's durability."""
    synchronous = "on" if durability == "full" else "off"
    conn = await asyncpg.connect(url, server_settings={"synchronous_commit": synchronous})
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_docs"
                           " (id TEXT PRIMARY KEY, value BYTEA)")
        insert = await conn.prepare("INSERT INTO bench_docs VALUES ($1, $2)")
        count = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            doc = {"_id": os.urandom(16).hex(), "_creationTime": time.time() * 1000,
                   **document("baseline", count)}
            async with conn.transaction():
                await insert.fetch(doc["_id"], orjson.dumps(doc))
            count += 1
        return count / (time.perf_counter() - started)
    finally:
        await conn.close()


def _measure(settings: Settings, name: str, db_args: list[str], seconds: float
             ) -> dict[str, float]:
    """Mutations/s (8 clients × 8 in flight) and /api/query requests/s on one server."""
    server = reactor_server("counters", settings.data_dir(name), settings.durability, db_args)
    with server:
        commits = run_loadgen("commit_throughput", {
            "port": server.port, "server_pid": server.pid, "clients": 8, "inflight": 8,
            "warmup_s": 1.0, "seconds": seconds})
        run_loadgen("read_throughput.seed", {"port": server.port})
        reads = run_loadgen("read_throughput", {
            "port": server.port, "server_pid": server.pid, "path": "/api/query",
            "connections": 4, "seconds": seconds})
    return {"commits": commits["ok"] / commits["seconds"],
            "failed": commits["failed"],
            "reads": reads["requests"] / reads["seconds"]}


def run(settings: Settings) -> Table:
    table = Table(f"10. PostgreSQL (durability={settings.durability})")
    try:
        server_url, cluster = find_server()
    except Unavailable as exc:
        table.note(f"skipped: {exc}")
        return table
    seconds = settings.seconds(1.5, 8.0)
    database = create_database(server_url, "reactor_bench")
    try:
        return _compare(table, settings, database, seconds, cluster)
    finally:
        drop_database(database)
        if cluster is not None:
            cluster.stop()
            cluster.remove()


def _compare(table: Table, settings: Settings, database: str, seconds: float,
             cluster: Cluster | None) -> Table:
    pg_base, sqlite_base = [], []
    pg: list[dict[str, Any]] = []
    lite: list[dict[str, Any]] = []
    for round_ in range(settings.rounds()):
        pg_base.append(asyncio.run(baseline(database, settings.durability, seconds)))
        pg.append(_measure(settings, f"pg-{round_}", ["--db", database], seconds))
        sqlite_base.append(asyncio.run(sqlite_baseline(
            settings.data_dir("pg-sqlite-baseline") / "baseline.sqlite3",
            settings.durability, seconds)))
        lite.append(_measure(settings, f"pg-sqlite-{round_}", [], seconds))

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    pg_commits, lite_commits = mean([r["commits"] for r in pg]), mean([r["commits"] for r in lite])
    pg_reads, lite_reads = mean([r["reads"] for r in pg]), mean([r["reads"] for r in lite])
    table.add("PostgreSQL: mutations/s (8 clients × 8 in flight)", num(pg_commits),
              f"{num(mean(pg_base))} commits/s (asyncpg, 1 INSERT per transaction)",
              ratio(pg_commits, mean(pg_base)), ">= 1.0x", pg_commits >= mean(pg_base))
    table.add("SQLite: mutations/s (same load)", num(lite_commits),
              f"{num(mean(sqlite_base))} commits/s (aiosqlite, 1 INSERT per transaction)",
              ratio(lite_commits, mean(sqlite_base)))
    table.add("PostgreSQL vs SQLite: mutations/s", num(pg_commits), num(lite_commits),
              ratio(pg_commits, lite_commits))
    table.add("PostgreSQL vs SQLite: /api/query requests/s (one indexed read)", num(pg_reads),
              num(lite_reads), ratio(pg_reads, lite_reads))
    where = ("a throwaway cluster started with pg_ctl" if cluster is not None
             else "the PostgreSQL server at " + database.rsplit("/", 1)[0])
    failed = sum(int(r["failed"]) for r in [*pg, *lite])
    table.note(f"PostgreSQL: {where}, a fresh database for the run; the baseline inserts into"
               f" that database over one connection. {seconds:g} s per measurement,"
               f" {settings.rounds()} round(s), alternating; {failed} mutations failed.")
    table.note("Rounds (PostgreSQL baseline / Reactor mutations/s / reads/s): " + "; ".join(
        f"{num(b)} / {num(r['commits'])} / {num(r['reads'])}" for b, r in zip(pg_base, pg,
                                                                             strict=True)))
    return table
