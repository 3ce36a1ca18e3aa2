"""Benchmark 2: from sending a mutation to the subscriber holding the new value, 1,000 clients."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from typing import Any

from websockets.asyncio.client import connect

from bench.processes import echo_server, reactor_server, run_loadgen
from bench.procstat import cpu_seconds
from bench.report import Table, core_share, ms, ratio
from bench.settings import Settings
from bench.wire import MUTATION_RESPONSE, Conn, open_subscribers, percentile, query_values, sync_url

SLOW_RATE = 10.0


async def _paced(rate: float, count: int) -> Any:
    """Yield 0..count-1 at a steady `rate` per second (open loop: no waiting on replies)."""
    start = time.perf_counter()
    for n in range(count):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield n


async def generate(port: int, server_pid: int, subscribers: int, rate: float,
                   seconds: float) -> dict[str, Any]:
    url = sync_url(port)
    writer = await Conn.open(url)
    keys = [f"p{i}" for i in range(subscribers)]
    for key in keys:  # every key exists before anyone subscribes
        await writer.mutate("counters:put", {"key": key, "value": -1.0})
    answered = 0
    while answered < len(keys):
        answered += (await writer.recv()).startswith(MUTATION_RESPONSE)
    conns = await open_subscribers(url, "counters:get", [{"key": k} for k in keys])
    pending: list[dict[float, float]] = [{} for _ in keys]  # per key: value -> send time
    latencies: list[float] = []
    failures = 0

    async def subscriber(index: int, conn: Conn) -> None:
        waiting = pending[index]
        while True:
            value = query_values(await conn.recv()).get(0)
            now = time.perf_counter()
            if isinstance(value, float):
                for sent_value in [v for v in waiting if v <= value]:
                    latencies.append(now - waiting.pop(sent_value))

    async def drain_writer() -> None:
        nonlocal failures
        while True:
            frame = await writer.recv()
            if frame.startswith(MUTATION_RESPONSE) and b'"success":false' in frame:
                failures += 1

    readers = [asyncio.create_task(subscriber(i, c)) for i, c in enumerate(conns)]
    readers.append(asyncio.create_task(drain_writer()))
    chooser = random.Random(7)
    server0, own0 = cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    async for n in _paced(rate, int(rate * seconds)):
        index = chooser.randrange(subscribers)
        pending[index][float(n)] = time.perf_counter()
        await writer.mutate("counters:put", {"key": keys[index], "value": float(n)})
    deadline = time.perf_counter() + 10
    while any(pending) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    server1, own1 = cpu_seconds(server_pid), time.process_time()
    for task in readers:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*readers, return_exceptions=True)
    for conn in [writer, *conns]:
        await conn.close()
    missing = sum(len(p) for p in pending)
    latencies += [math.inf] * missing  # not delivered within 10 s: slower than any sample
    return {"samples": len(latencies), "missing": missing,
            "failures": failures, "p50_s": percentile(latencies, 0.5),
            "p99_s": percentile(latencies, 0.99), "max_s": max(latencies, default=0.0),
            "server_cpu_s": server1 - server0, "loadgen_cpu_s": own1 - own0,
            "seconds": elapsed}


async def echo(port: int, route: str, rate: float, samples: int) -> dict[str, Any]:
    """Round trips to the echo app at the same pace as the writer."""
    latencies: list[float] = []
    async with connect(f"ws://127.0.0.1:{port}/{route}", compression=None,
                       ping_interval=None) as ws:
        async for n in _paced(rate, samples):
            started = time.perf_counter()
            await ws.send(f"k{n % 1000:04d}:{n}")
            await ws.recv()
            latencies.append(time.perf_counter() - started)
    return {"p50_s": percentile(latencies, 0.5), "p99_s": percentile(latencies, 0.99)}


def run(settings: Settings) -> Table:
    table = Table(f"2. Push latency, 1,000 subscribers (durability={settings.durability})")
    rate, seconds = 50.0, settings.seconds(3.0, 15.0)
    samples = int(rate * seconds)
    pushes: list[dict[str, Any]] = []
    slow: list[dict[str, Any]] = []
    commits: list[dict[str, Any]] = []
    echoes: list[dict[str, Any]] = []
    server = reactor_server("counters", settings.data_dir("push"), settings.durability)
    baseline = echo_server(settings.data_dir("push-echo"), settings.durability)
    with server, baseline:
        for _ in range(settings.rounds()):
            commits.append(run_loadgen("push_latency.echo", {
                "port": baseline.port, "route": "commit", "rate": rate, "samples": samples}))
            if not settings.quick:
                echoes.append(run_loadgen("push_latency.echo", {
                    "port": baseline.port, "route": "echo", "rate": rate, "samples": samples}))
            pushes.append(run_loadgen("push_latency", {
                "port": server.port, "server_pid": server.pid, "subscribers": 1000,
                "rate": rate, "seconds": seconds}))
        if not settings.quick:
            slow.append(run_loadgen("push_latency", {
                "port": server.port, "server_pid": server.pid, "subscribers": 1000,
                "rate": SLOW_RATE, "seconds": seconds}))

    def mean(runs: list[dict[str, Any]], key: str) -> float:
        return float(sum(r[key] for r in runs) / len(runs))

    p50, p99 = mean(pushes, "p50_s"), mean(pushes, "p99_s")
    base50, base99 = mean(commits, "p50_s"), mean(commits, "p99_s")
    table.add(f"push latency p50 at {rate:g} commits/s", ms(p50),
              f"{ms(base50)} (durable commit + WS echo)", ratio(p50, base50), "<= 3x",
              p50 <= 3 * base50)
    table.add(f"push latency p99 at {rate:g} commits/s", ms(p99), ms(base99),
              ratio(p99, base99), "<= 10x", p99 <= 10 * base99)
    table.add("push latency max", ms(max(r["max_s"] for r in pushes)))
    for r in slow:
        table.add(f"push latency p50 / p99 at {SLOW_RATE:g} commits/s",
                  f"{ms(r['p50_s'])} / {ms(r['p99_s'])}")
    if echoes:
        table.add("WebSocket echo alone p50 / p99",
                  f"{ms(mean(echoes, 'p50_s'))} / {ms(mean(echoes, 'p99_s'))}")
    table.add("server CPU per pushed commit",
              ms(sum(r["server_cpu_s"] for r in pushes) / sum(r["samples"] for r in pushes)))
    window = sum(r["seconds"] for r in pushes)
    table.add("server / load generator CPU use",
              f"{core_share(sum(r['server_cpu_s'] for r in pushes), window)} /"
              f" {core_share(sum(r['loadgen_cpu_s'] for r in pushes), window)}")
    table.note(f"Writer: one socket sending `counters:put` to a random one of 1,000 keys at"
               f" {rate:g} commits/s for {seconds:g} s, open loop; each subscriber socket holds"
               " `counters:get` of its own key. Latency ends when the subscriber's socket"
               " has received the Transition carrying the new value.")
    table.note("Baseline: bench/echo_app.py (Starlette + uvicorn with `reactor serve`'s"
               " settings), where each WebSocket message is answered after one durable"
               " single-row aiosqlite commit, paced like the writer.")
    table.note("Per round p50/p99 (ms): " + "; ".join(
        f"push {r['p50_s'] * 1000:.2f}/{r['p99_s'] * 1000:.2f},"
        f" baseline {c['p50_s'] * 1000:.2f}/{c['p99_s'] * 1000:.2f}"
        for r, c in zip(pushes, commits, strict=True))
        + f"; values never delivered (counted as slower than all): "
        f"{sum(r['missing'] for r in [*pushes, *slow])},"
        f" failed mutations: {sum(r['failures'] for r in pushes)}.")
    return table
