"""Benchmark 16: `reactor serve --workers 2` on SQLite against one process, same machine.

Mutation throughput (clients spread over the workers; the follower forwards its
mutations to the committer), fan-out (subscribers spread over the workers, one commit,
commit to last delivery, CPU summed over the processes) and push latency (subscribers
on both workers: a follower's pushes wait for the datagram that wakes it and its read
of the log). Both servers run for the whole benchmark and the measurements alternate
between them, round after round, so that the machine's load falls on both alike.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

from bench.commit_throughput import insert_client
from bench.processes import Service, get_json, reactor_server, run_loadgen
from bench.procstat import cpu_seconds
from bench.report import Table, ms, num, ratio
from bench.settings import Settings
from bench.wire import Conn, percentile, sync_url

WORKERS = 2


async def throughput(ports: list[int], pids: list[int], stats_port: int, clients: int,
                     inflight: int, warmup_s: float, seconds: float) -> dict[str, Any]:
    """`clients` sockets spread round-robin over `ports`, each keeping `inflight` insert
    mutations outstanding: acknowledged mutations/s, latency, CPU of each process, and
    the committer's (`stats_port`) group-commit batches."""
    stats_url = f"http://127.0.0.1:{stats_port}/bench/stats"
    conns = [await Conn.open(sync_url(ports[i % len(ports)])) for i in range(clients)]
    window = {"open": False, "stop": False}
    latencies: list[float] = []
    outcomes = {"ok": 0, "failed": 0}
    tasks = [asyncio.create_task(insert_client(i, c, inflight, window, outcomes, latencies))
             for i, c in enumerate(conns)]
    await asyncio.sleep(warmup_s)
    stats0, cpu0 = get_json(stats_url), [cpu_seconds(pid) for pid in pids]
    window["open"] = True
    opened = time.perf_counter()
    await asyncio.sleep(seconds)
    window["open"] = False
    elapsed = time.perf_counter() - opened
    cpu1, stats1 = [cpu_seconds(pid) for pid in pids], get_json(stats_url)
    window["stop"] = True
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for conn in conns:
        await conn.close()
    return {"ok": outcomes["ok"], "failed": outcomes["failed"], "seconds": elapsed,
            "cpu_s": [b - a for a, b in zip(cpu0, cpu1, strict=True)],
            "batches": stats1["batches"] - stats0["batches"],
            "p50_s": percentile(latencies, 0.5), "p99_s": percentile(latencies, 0.99)}


class Target:
    """One configuration: its service, the ports its clients use (committer first) and
    the pids whose CPU counts."""

    def __init__(self, service: Service, ports: list[int], pids: list[int]) -> None:
        self.service = service
        self.ports = ports
        self.pids = pids


def _single(settings: Settings) -> Target:
    service = reactor_server("counters", settings.data_dir("workers-1"),
                             settings.durability).start()
    return Target(service, [service.port], [service.pid])


def _group(settings: Settings) -> Target:
    """`--workers 2`: the clients go to each worker's private port (an even split that
    does not depend on the kernel's hash of a few connections)."""
    data_dir = settings.data_dir(f"workers-{WORKERS}")
    service = reactor_server("counters", data_dir, settings.durability,
                             ["--workers", str(WORKERS)]).start(timeout=90)
    deadline = time.monotonic() + 90
    while True:
        listed = json.loads((data_dir / "workers.json").read_text())["workers"] if (
            data_dir / "workers.json").exists() else []
        if len(listed) == WORKERS:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers did not start: {service.log_path.read_text()}")
        time.sleep(0.1)
    committer = json.loads((data_dir / "committer.json").read_text())["address"]
    listed.sort(key=lambda w: w["url"] != committer)
    return Target(service, [int(w["url"].rsplit(":", 1)[1]) for w in listed],
                  [w["pid"] for w in listed])


def run(settings: Settings) -> Table:
    table = Table(f"16. Worker processes on SQLite: {WORKERS} processes vs 1")
    targets: list[Target] = []
    try:
        targets.append(_single(settings))
        targets.append(_group(settings))
        return _measure(table, settings, targets[0], targets[1])
    finally:
        for target in targets:
            target.service.stop()


def _measure(table: Table, settings: Settings, one: Target, two: Target) -> Table:
    rounds = 1 if settings.quick else 3
    seconds = settings.seconds(1.0, 6.0)
    subscribers = 300 if settings.quick else 4000
    fan_rounds = 2 if settings.quick else 5
    push_subscribers, rate = (100, 50.0) if settings.quick else (1000, 50.0)
    results: dict[str, dict[int, list[dict[str, Any]]]] = {
        "load": {1: [], 2: []}, "fan": {1: [], 2: []}, "push": {1: [], 2: []}}
    for _ in range(rounds):
        for count, target in ((1, one), (2, two)):
            results["load"][count].append(run_loadgen("workers.throughput", {
                "ports": target.ports, "pids": target.pids, "stats_port": target.ports[0],
                "clients": 8, "inflight": 8, "warmup_s": 1.0, "seconds": seconds}))
        for count, target in ((1, one), (2, two)):
            results["fan"][count].append(run_loadgen("nodes.fanout", {
                "ports": target.ports, "pids": target.pids, "subscribers": subscribers,
                "rounds": fan_rounds}))
        for count, target in ((1, one), (2, two)):
            results["push"][count].append(run_loadgen("nodes.push", {
                "ports": target.ports, "subscribers": push_subscribers, "rate": rate,
                "seconds": seconds}))

    def rate_of(count: int) -> float:
        loads = results["load"][count]
        return float(statistics.median(r["ok"] / r["seconds"] for r in loads))

    def median_of(kind: str, count: int, key: str) -> float:
        return float(statistics.median(statistics.median(r[key]) if isinstance(r[key], list)
                                       else r[key] for r in results[kind][count]))

    rates = {c: rate_of(c) for c in (1, 2)}
    table.add(f"mutations/s, 8 clients × 8 in flight (spread over {WORKERS} workers)",
              num(rates[2]), f"{num(rates[1])} (1 process)", ratio(rates[2], rates[1]))
    p50 = {c: median_of("load", c, "p50_s") for c in (1, 2)}
    p99 = {c: median_of("load", c, "p99_s") for c in (1, 2)}
    table.add("mutation latency p50 / p99", f"{ms(p50[2])} / {ms(p99[2])}",
              f"{ms(p50[1])} / {ms(p99[1])} (1 process)", ratio(p50[2], p50[1]))
    load2 = results["load"][2]
    per = [statistics.median(r["cpu_s"][i] / max(1, r["ok"]) for r in load2)
           for i in range(WORKERS)]
    single = statistics.median(r["cpu_s"][0] / max(1, r["ok"]) for r in results["load"][1])
    table.add("CPU per mutation: committer / follower (1 process)",
              " / ".join(ms(c, 3) for c in per), ms(single, 3), ratio(sum(per), single))
    batches = {c: statistics.median(r["ok"] / max(1, r["batches"])
                                    for r in results["load"][c]) for c in (1, 2)}
    table.add("mutations per group-commit batch", num(batches[2], 1),
              f"{num(batches[1], 1)} (1 process)", ratio(batches[2], batches[1]))
    last = {c: median_of("fan", c, "last_s") for c in (1, 2)}
    first = {c: median_of("fan", c, "first_s") for c in (1, 2)}
    table.add(f"fan-out, {subscribers:,} subscribers: commit to last (first)",
              f"{ms(last[2])} ({ms(first[2])})", f"{ms(last[1])} ({ms(first[1])}) (1 process)",
              ratio(last[2], last[1]))
    cpu = {c: statistics.median(statistics.fmean(r["cpu_s"]) for r in results["fan"][c])
           for c in (1, 2)}
    table.add("fan-out CPU per commit, summed over the processes", ms(cpu[2], 1),
              f"{ms(cpu[1], 1)} (1 process)", ratio(cpu[2], cpu[1]))
    push50 = {c: median_of("push", c, "p50_s") for c in (1, 2)}
    push99 = {c: median_of("push", c, "p99_s") for c in (1, 2)}
    table.add(f"push latency p50 / p99 at {rate:g}/s, {push_subscribers} subscribers",
              f"{ms(push50[2])} / {ms(push99[2])}",
              f"{ms(push50[1])} / {ms(push99[1])} (1 process)", ratio(push50[2], push50[1]))
    failed = sum(r["failed"] for c in (1, 2) for r in results["load"][c]) + sum(
        r["failures"] for c in (1, 2) for r in results["push"][c])
    missing = sum(r["missing"] for c in (1, 2) for r in results["push"][c])
    table.note(f"Both servers run throughout; each measurement alternates between them"
               f" ({rounds} round(s), medians). Clients of the {WORKERS} workers alternate"
               f" between the committer's and the follower's private ports (the first"
               f" writer and the fan-out's writer on the committer); the push test's"
               f" writers send in turn through both. Throughput: {seconds:g} s after 1 s"
               f" warm-up. Fan-out: {fan_rounds} commits per round; CPU from /proc over"
               f" each commit plus a 200 ms pause. Load generators are one process on the"
               f" same 2 cores.")
    table.note(f"Failed mutations: {failed}; pushed values never delivered: {missing}.")
    return table
