"""Benchmark 1: insert mutations per second through `reactor serve` vs raw aiosqlite commits."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from bench.processes import get_json, reactor_server, run_loadgen
from bench.procstat import cpu_seconds
from bench.report import Table, core_share, ms, num, ratio
from bench.settings import Settings
from bench.wire import MUTATION_RESPONSE, Conn, percentile, sync_url
from reactor.storage.sqlite_schema import writer_pragmas

BODY = "a small document, as a chat message or a task would be"


def document(owner: str, n: int) -> dict[str, Any]:
    return {"owner": owner, "body": BODY, "n": float(n)}


# Baseline ------------------------------------------------------------------


async def baseline(path: Path, durability: str, seconds: float) -> float:
    """Commits per second of raw aiosqlite: one INSERT per transaction, Reactor's pragmas."""
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.executescript(writer_pragmas(durability))  # type: ignore[arg-type]
        await conn.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID")
        count = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            doc = {"_id": os.urandom(16).hex(), "_creationTime": time.time() * 1000,
                   **document("baseline", count)}
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute("INSERT INTO docs VALUES (?, ?)", (doc["_id"], orjson.dumps(doc)))
            await conn.execute("COMMIT")
            count += 1
        return count / (time.perf_counter() - started)
    finally:
        await conn.close()


# Load generator (runs in its own process) ------------------------------------


async def insert_client(index: int, conn: Conn, inflight: int, window: dict[str, bool],
                        outcomes: dict[str, int], latencies: list[float]) -> None:
    """Keep `inflight` insert mutations outstanding on `conn` until `window["stop"]`;
    while `window["open"]`, count their outcomes and latencies."""
    sent: dict[int, float] = {}
    counter = itertools.count()
    for _ in range(inflight):
        sent[await conn.mutate("items:insert", document(f"c{index}", next(counter)))] = (
            time.perf_counter())
    while sent:
        frame = await conn.recv()
        if not frame.startswith(MUTATION_RESPONSE):
            continue
        reply = orjson.loads(frame)
        started = sent.pop(reply["requestId"])
        if window["open"]:
            outcomes["ok" if reply["success"] else "failed"] += 1
            latencies.append(time.perf_counter() - started)
        if not window["stop"]:
            sent[await conn.mutate("items:insert", document(f"c{index}", next(counter)))] = (
                time.perf_counter())


async def generate(port: int, server_pid: int, clients: int, inflight: int,
                   warmup_s: float, seconds: float) -> dict[str, Any]:
    """`clients` sockets, each keeping `inflight` insert mutations outstanding."""
    stats_url = f"http://127.0.0.1:{port}/bench/stats"
    conns = [await Conn.open(sync_url(port)) for _ in range(clients)]
    window = {"open": False, "stop": False}
    latencies: list[float] = []
    outcomes = {"ok": 0, "failed": 0}

    tasks = [asyncio.create_task(insert_client(i, c, inflight, window, outcomes, latencies))
             for i, c in enumerate(conns)]
    await asyncio.sleep(warmup_s)
    stats0, server0, own0 = get_json(stats_url), cpu_seconds(server_pid), time.process_time()
    window["open"] = True
    opened = time.perf_counter()
    await asyncio.sleep(seconds)
    window["open"] = False
    elapsed = time.perf_counter() - opened
    stats1, server1, own1 = get_json(stats_url), cpu_seconds(server_pid), time.process_time()
    window["stop"] = True
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for conn in conns:
        await conn.close()
    sizes0 = stats0["batch_sizes"]
    batch_sizes = {int(k): n - sizes0.get(k, 0) for k, n in stats1["batch_sizes"].items()
                   if n - sizes0.get(k, 0) > 0}
    return {
        "ok": outcomes["ok"], "failed": outcomes["failed"], "seconds": elapsed,
        "server_cpu_s": server1 - server0, "loadgen_cpu_s": own1 - own0,
        "commits": stats1["commits"] - stats0["commits"],
        "batches": stats1["batches"] - stats0["batches"],
        "conflicts": stats1["conflicts"] - stats0["conflicts"],
        "batch_sizes": batch_sizes,
        "latency_p50_s": percentile(latencies, 0.5), "latency_p99_s": percentile(latencies, 0.99),
    }


# Orchestration -----------------------------------------------------------------


def _batch_summary(sizes: dict[int, int]) -> str:
    batches = sum(sizes.values())
    if not batches:
        return "n/a"
    mean = sum(size * n for size, n in sizes.items()) / batches
    common = sorted(sizes.items(), key=lambda item: -item[1])[:4]
    shown = ", ".join(f"{size}: {n:,}" for size, n in sorted(common))
    return f"mean {mean:.1f} commits/batch over {batches:,} batches (most common {shown})"


def run(settings: Settings) -> Table:
    table = Table(f"1. Commit throughput (durability={settings.durability})")
    seconds = settings.seconds(3.0, 10.0)
    server = reactor_server("counters", settings.data_dir("commit"), settings.durability)
    baseline_rates: list[float] = []
    runs: dict[int, list[dict[str, Any]]] = {1: [], 8: [], 64: []}
    with server:
        def load(clients: int) -> None:
            runs[clients].append(run_loadgen("commit_throughput", {
                "port": server.port, "server_pid": server.pid, "clients": clients,
                "inflight": 8, "warmup_s": 1.0, "seconds": seconds}))

        for _ in range(settings.rounds()):
            baseline_rates.append(asyncio.run(baseline(
                settings.data_dir("commit-baseline") / "baseline.sqlite3",
                settings.durability, seconds)))
            load(8)
        load(1)
        load(64)
    base = sum(baseline_rates) / len(baseline_rates)

    def rate(clients: int) -> float:
        done = runs[clients]
        return float(sum(r["ok"] for r in done) / sum(r["seconds"] for r in done))

    eight = runs[8]
    ok = sum(r["ok"] for r in eight)
    table.add("8 clients × 8 in flight: mutations/s", num(rate(8)),
              f"{num(base)} commits/s (aiosqlite, 1 INSERT per transaction)",
              ratio(rate(8), base), ">= 1.0x", rate(8) >= base)
    table.add("server CPU per mutation (8 clients)",
              ms(sum(r["server_cpu_s"] for r in eight) / ok, 3))
    window = sum(r["seconds"] for r in eight)
    table.add("server CPU use (8 clients)",
              core_share(sum(r["server_cpu_s"] for r in eight), window))
    table.add("load generator CPU use (8 clients)",
              core_share(sum(r["loadgen_cpu_s"] for r in eight), window))
    sizes: dict[int, int] = {}
    for r in eight:
        for size, n in r["batch_sizes"].items():
            sizes[int(size)] = sizes.get(int(size), 0) + n
    table.add("group-commit batches (8 clients)", _batch_summary(sizes))
    table.add("mutation latency p50 / p99 (8 clients)",
              f"{ms(eight[-1]['latency_p50_s'])} / {ms(eight[-1]['latency_p99_s'])}")
    for clients in (1, 64):
        r = runs[clients][-1]
        table.add(f"{clients} client{'s' if clients > 1 else ''} × 8 in flight: mutations/s",
                  num(rate(clients)), num(base), ratio(rate(clients), base))
        table.add(f"server CPU per mutation ({clients})", ms(r["server_cpu_s"] / r["ok"], 3))
        table.add(f"group-commit batches ({clients})", _batch_summary(
            {int(k): n for k, n in r["batch_sizes"].items()}))
    failed = sum(r["failed"] for rs in runs.values() for r in rs)
    table.note(f"Load generator: bench/wire.py, a Python asyncio process on uvloop speaking the"
               f" protocol with `websockets` (raw frames); {failed} mutations failed.")
    table.note(f"Baseline rounds (commits/s): {', '.join(num(b) for b in baseline_rates)};"
               f" Reactor rounds (mutations/s): "
               f"{', '.join(num(r['ok'] / r['seconds']) for r in eight)}; {seconds:g} s each,"
               " alternating.")
    return table
