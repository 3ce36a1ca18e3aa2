"""Benchmark 4: one commit to a query 1,000 clients share — executions and time to the last."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench.processes import get_json, reactor_server, run_loadgen
from bench.procstat import cpu_seconds
from bench.report import Table, ms, ratio
from bench.settings import Settings
from bench.wire import (
    MUTATION_RESPONSE,
    Conn,
    drain,
    open_subscribers,
    record_arrivals,
    sync_url,
)

KEY = "fan"


async def generate(port: int, server_pid: int, clients: int, rounds: int) -> dict[str, Any]:
    url = sync_url(port)
    stats_url = f"http://127.0.0.1:{port}/bench/stats"
    writer = await Conn.open(url)
    await writer.mutate("counters:put", {"key": KEY, "value": -1.0})
    while not (await writer.recv()).startswith(MUTATION_RESPONSE):
        pass
    conns = await open_subscribers(url, "counters:get", [{"key": KEY}] * clients)
    arrivals: dict[float, list[float]] = {}

    tasks = [asyncio.create_task(record_arrivals(c, arrivals)) for c in conns]
    tasks.append(asyncio.create_task(drain(writer)))
    await asyncio.sleep(0.5)
    last, first, executions, server_cpu = [], [], [], []
    for n in range(rounds):
        value = float(n)
        executed0, cpu0 = get_json(stats_url)["executions"], cpu_seconds(server_pid)
        started = time.perf_counter()
        await writer.mutate("counters:put", {"key": KEY, "value": value})
        deadline = started + 30
        while len(arrivals.get(value, ())) < clients and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        times = arrivals.get(value, [])
        if len(times) < clients:
            raise RuntimeError(f"round {n}: only {len(times)} of {clients} clients got the value")
        last.append(max(times) - started)
        first.append(min(times) - started)
        await asyncio.sleep(0.2)
        executions.append(get_json(stats_url)["executions"] - executed0)
        server_cpu.append(cpu_seconds(server_pid) - cpu0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for conn in [writer, *conns]:
        await conn.close()
    return {"last_s": last, "first_s": first, "executions": executions,
            "server_cpu_s": server_cpu}


def run(settings: Settings) -> Table:
    table = Table(f"4. Fan-out: one commit, 1,000 clients on one query"
                  f" (durability={settings.durability})")
    rounds = 5 if settings.quick else 10
    results: dict[int, list[dict[str, Any]]] = {1: [], 1000: []}
    server = reactor_server("counters", settings.data_dir("fanout"), settings.durability)
    with server:
        for _ in range(settings.rounds()):
            for clients in (1, 1000):
                results[clients].append(run_loadgen("fanout", {
                    "port": server.port, "server_pid": server.pid, "clients": clients,
                    "rounds": rounds}))

    def median(clients: int, key: str) -> float:
        return float(statistics.median(x for r in results[clients] for x in r[key]))

    def mean(clients: int, key: str) -> float:
        return statistics.fmean(x for r in results[clients] for x in r[key])

    executions = sorted({x for r in results[1000] for x in r["executions"]})
    table.add("query executions per commit (1,000 clients)",
              ", ".join(str(x) for x in executions), target="1", met=executions == [1])
    last, single = median(1000, "last_s"), median(1, "last_s")
    table.add("commit to last of 1,000 clients holding the value", ms(last),
              f"{ms(single)} (1 client)", ratio(last, single))
    table.add("commit to first of 1,000 clients", ms(median(1000, "first_s")))
    table.add("server CPU per fan-out commit (1,000 / 1 clients; mean)",
              f"{ms(mean(1000, 'server_cpu_s'), 1)} / {ms(mean(1, 'server_cpu_s'), 1)}")
    table.note(f"Medians over {rounds} commits per round, {settings.rounds()} round(s); every"
               " client is a raw protocol socket in one load-generator process, so the last"
               " arrival includes that process reading 1,000 frames. Server CPU is read from"
               " /proc (10 ms ticks, hence the mean) and includes a 200 ms idle pause after"
               " each commit.")
    return table
