"""Benchmark 14: many idle connections, one subscription each — memory, and a push to all.

The connections are held by several load-generator processes (`hold`), each
raising its own open-file limit to the hard one; the server raises its own
(`reactor serve` does, towards REACTOR_MAX_CONNECTIONS). Every connection
subscribes to the same query, so one commit changes the result all of them hold:
the push is one execution and N Transitions. The baseline is the same commit
pushed to one subscriber of the same server before the others connect.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import sys
import time
from typing import Any

from bench.processes import REPO_ROOT, reactor_server
from bench.procstat import cpu_seconds, rss_bytes
from bench.report import Table, ms, num, ratio
from bench.settings import Settings
from bench.wire import (
    MUTATION_RESPONSE,
    Conn,
    open_subscriber,
    open_subscribers,
    query_values,
    sync_url,
)

KEY = "idle"
TARGET_BYTES = 32 * 1024
# Connections per load-generator process (each holds its share and reads its pushes).
PER_PROCESS = 1000


async def hold(port: int, count: int, rounds: int) -> dict[str, Any]:
    """Open `count` subscribed sockets, say `ready`, then for each of `rounds` values
    print when the first and the last socket got it (wall clock, as one JSON line)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns = await open_subscribers(sync_url(port), "counters:get", [{"key": KEY}] * count)
    arrivals: dict[float, list[float]] = {}

    async def subscriber(conn: Conn) -> None:
        while True:
            value = query_values(await conn.recv()).get(0)
            if isinstance(value, float):
                arrivals.setdefault(value, []).append(time.time())

    tasks = [asyncio.create_task(subscriber(c)) for c in conns]
    print("ready", flush=True)
    for n in range(rounds):
        deadline = time.monotonic() + 60
        while len(arrivals.get(float(n), ())) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        times = arrivals.get(float(n), [])
        print(json.dumps({"value": n, "got": len(times), "first": min(times, default=0.0),
                          "last": max(times, default=0.0)}), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for conn in conns:
        await conn.close()
    return {"count": count}


async def _commit(writer: Conn, value: float) -> float:
    """Put `value` and wait for its MutationResponse; the wall-clock time it was sent."""
    started = time.time()
    await writer.mutate("counters:put", {"key": KEY, "value": value})
    while not (await writer.recv()).startswith(MUTATION_RESPONSE):
        pass
    return started


async def _single_push(port: int, rounds: int) -> list[float]:
    """Commit to delivery with one subscriber (the writer's own socket is another)."""
    writer = await Conn.open(sync_url(port))
    await _commit(writer, -1.0)
    conn, _ = await open_subscriber(sync_url(port), "counters:get", {"key": KEY})
    delays = []
    for n in range(rounds):
        value = -2.0 - n
        started = time.time()
        await writer.mutate("counters:put", {"key": KEY, "value": value})
        while query_values(await conn.recv()).get(0) != value:
            pass
        delays.append(time.time() - started)
        await asyncio.sleep(0.1)
    for c in (writer, conn):
        await c.close()
    return delays


async def _line(holder: asyncio.subprocess.Process) -> str:
    assert holder.stdout is not None
    return (await holder.stdout.readline()).decode().strip()


async def _measure(port: int, pid: int, total: int, rounds: int) -> dict[str, Any]:
    """Open `total` connections in holder processes; RSS growth, then `rounds` pushes."""
    writer = await Conn.open(sync_url(port))
    await _commit(writer, -1.0)
    before = rss_bytes(pid)
    holders = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", "idle_push.hold",
        json.dumps({"port": port, "count": min(PER_PROCESS, total - start), "rounds": rounds}),
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE)
        for start in range(0, total, PER_PROCESS)]
    try:
        for holder in holders:
            if await _line(holder) != "ready":
                raise RuntimeError("a holder process failed to open its connections")
        await asyncio.sleep(2.0)
        after = rss_bytes(pid)
        last, first, server_cpu = [], [], []
        for n in range(rounds):
            cpu0 = cpu_seconds(pid)
            started = await _commit(writer, float(n))
            reports = [json.loads(await _line(holder)) for holder in holders]
            got = sum(r["got"] for r in reports)
            if got < total:
                raise RuntimeError(f"push {n}: only {got} of {total} connections got it")
            last.append(max(r["last"] for r in reports) - started)
            first.append(min(r["first"] for r in reports) - started)
            await asyncio.sleep(0.3)
            server_cpu.append(cpu_seconds(pid) - cpu0)
        for holder in holders:
            await asyncio.wait_for(holder.wait(), 60)
    finally:
        for holder in holders:
            if holder.returncode is None:
                holder.kill()
                await holder.wait()
        await writer.close()
    return {"before": before, "after": after, "last": last, "first": first,
            "server_cpu": server_cpu}


def run(settings: Settings) -> Table:
    total = 2_000 if settings.quick else 10_000
    rounds = 3 if settings.quick else 5
    table = Table(f"14. Idle connections: {total:,} sockets with one subscription each,"
                  " a push to all")
    server = reactor_server("counters", settings.data_dir("idle-push"), settings.durability)
    with server:
        single = asyncio.run(_single_push(server.port, rounds))
        result = asyncio.run(_measure(server.port, server.pid, total, rounds))
    per_connection = (result["after"] - result["before"]) / total
    table.add(f"server RSS per connection ({total:,} connections)",
              f"{num(per_connection / 1024, 1)} KiB", target="<= 32 KiB",
              met=per_connection <= TARGET_BYTES)
    last, one = statistics.median(result["last"]), statistics.median(single)
    table.add(f"commit to last of {total:,} connections holding the value", ms(last),
              f"{ms(one)} (1 subscriber)", ratio(last, one))
    table.add(f"commit to first of {total:,}", ms(statistics.median(result["first"])))
    cpu = statistics.fmean(result["server_cpu"])
    table.add("server CPU per push (mean; per connection)",
              f"{ms(cpu, 1)}; {num(cpu / total * 1e6, 1)} us")
    table.note(f"{len(range(0, total, PER_PROCESS))} load-generator process(es) hold the"
               f" sockets (up to {PER_PROCESS:,} each, open-file limit raised to the hard one:"
               f" {resource.getrlimit(resource.RLIMIT_NOFILE)[1]:,} here); every socket"
               " subscribes to the same `counters:get`. RSS is read from /proc before the"
               " connections open and 2 s after the last; medians over"
               f" {rounds} pushes, each a put from one writer socket; server CPU includes a"
               " 300 ms idle pause after each push and the put itself.")
    return table
