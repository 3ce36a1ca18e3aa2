"""Benchmark 15: several `reactor serve --db postgresql://...` nodes serving one app.

Fan-out (subscribers spread over 1, 2 and 4 nodes, one commit, commit to last delivery,
CPU summed over the nodes), mutation throughput and push latency with 1, 2 and 4 nodes
(clients spread over them; a follower forwards its mutations to the committer), and the
latency a forwarded mutation adds. The nodes are started one phase at a time, so each
configuration is measured with exactly the nodes it uses. Skipped, with the reason,
when no PostgreSQL is reachable and none can be started.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.commit_throughput import insert_client
from bench.processes import Service, get_json, reactor_server, run_loadgen
from bench.procstat import cpu_seconds
from bench.report import Table, ms, num, ratio
from bench.settings import Settings
from bench.wire import (
    MUTATION_RESPONSE,
    Conn,
    drain,
    open_subscribers,
    percentile,
    query_values,
    record_arrivals,
    sync_url,
)
from reactor.testing_postgres import Unavailable, create_database, drop_database, find_server

KEY = "fan"


def _cpu(pids: list[int]) -> list[float]:
    return [cpu_seconds(pid) for pid in pids]


async def _backends(database: str) -> list[int]:
    """PostgreSQL's server processes serving the benchmark's database (the nodes' pools),
    to read their CPU from /proc; none when PostgreSQL runs on another host."""
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity"
                                " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return [row["pid"] for row in rows if Path(f"/proc/{row['pid']}/stat").exists()]


def _pg_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each backend still running (one may close between two readings)."""
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            seconds[pid] = cpu_seconds(pid)
    return seconds


async def _acknowledged(conn: Conn, path: str, args: dict[str, Any]) -> None:
    """Send one mutation and wait for its (successful) answer."""
    await conn.mutate(path, args)
    while True:
        frame = await conn.recv()
        if frame.startswith(MUTATION_RESPONSE):
            if b'"success":true' not in frame:
                raise RuntimeError(f"{path} failed: {frame[:300]!r}")
            return


# Load generators (each runs in its own process) ----------------------------------


async def fanout(ports: list[int], pids: list[int], subscribers: int, rounds: int
                 ) -> dict[str, Any]:
    """`subscribers` sockets on one query, spread round-robin over `ports`; the writer
    commits through the first port (the committer). Commit to first and last arrival.
    The sockets are all this process's: raise its open-file limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < subscribers + 64:
        raise RuntimeError(f"fanout: the open-file limit ({soft}) cannot hold {subscribers}"
                           f" subscribers; raise `ulimit -Hn`")
    writer = await Conn.open(sync_url(ports[0]))
    await _acknowledged(writer, "counters:put", {"key": KEY, "value": -1.0})
    groups = await asyncio.gather(*(
        open_subscribers(sync_url(port), "counters:get",
                         [{"key": KEY}] * len(range(i, subscribers, len(ports))))
        for i, port in enumerate(ports)))
    conns = [conn for group in groups for conn in group]
    arrivals: dict[float, list[float]] = {}

    tasks = [asyncio.create_task(record_arrivals(c, arrivals)) for c in conns]
    tasks.append(asyncio.create_task(drain(writer)))
    await asyncio.sleep(0.5)
    last, first, cpu = [], [], []
    for n in range(rounds):
        value = float(n)
        cpu0 = sum(_cpu(pids))
        started = time.perf_counter()
        await writer.mutate("counters:put", {"key": KEY, "value": value})
        deadline = started + 30
        while len(arrivals.get(value, ())) < subscribers and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        times = arrivals.get(value, [])
        if len(times) < subscribers:
            raise RuntimeError(f"round {n}: {len(times)} of {subscribers} got the value")
        last.append(max(times) - started)
        first.append(min(times) - started)
        await asyncio.sleep(0.2)
        cpu.append(sum(_cpu(pids)) - cpu0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for conn in [writer, *conns]:
        await conn.close()
    return {"last_s": last, "first_s": first, "cpu_s": cpu}


async def throughput(ports: list[int], nodes: list[int], pids: list[int], database: str,
                     clients: int, inflight: int, warmup_s: float, seconds: float
                     ) -> dict[str, Any]:
    """`clients` sockets spread round-robin over `ports`, each keeping `inflight` insert
    mutations outstanding; acknowledged mutations/s, their latency, CPU of each node
    (`nodes`' ports and `pids`, the committer first) and of PostgreSQL's backends, the
    committer's batches, and the transactions the followers forwarded and the requests
    that carried them."""
    stats_urls = [f"http://127.0.0.1:{port}/bench/stats" for port in nodes]
    conns = [await Conn.open(sync_url(ports[i % len(ports)])) for i in range(clients)]
    window = {"open": False, "stop": False}
    latencies: list[float] = []
    outcomes = {"ok": 0, "failed": 0}

    def stats() -> list[dict[str, Any]]:
        return [get_json(url) for url in stats_urls]

    tasks = [asyncio.create_task(insert_client(i, c, inflight, window, outcomes, latencies))
             for i, c in enumerate(conns)]
    await asyncio.sleep(warmup_s)
    backends = await _backends(database)
    stats0, pg0 = stats(), _pg_cpu(backends)
    cpu0, own0 = _cpu(pids), time.process_time()
    window["open"] = True
    opened = time.perf_counter()
    await asyncio.sleep(seconds)
    window["open"] = False
    elapsed = time.perf_counter() - opened
    cpu1, own1 = _cpu(pids), time.process_time()
    stats1, pg1 = stats(), _pg_cpu(backends)
    window["stop"] = True
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for conn in conns:
        await conn.close()

    def delta(key: str, nodes: list[int]) -> int:
        return sum(int(stats1[i][key]) - int(stats0[i][key]) for i in nodes)

    followers = list(range(1, len(nodes)))
    return {"ok": outcomes["ok"], "failed": outcomes["failed"], "seconds": elapsed,
            "node_cpu_s": [b - a for a, b in zip(cpu0, cpu1, strict=True)],
            "loadgen_cpu_s": own1 - own0, "batches": delta("batches", [0]),
            "conflicts": delta("conflicts", [0]),
            "forwarded": delta("forwarded", followers),
            "forward_requests": delta("forward_requests", followers),
            "postgres_cpu_s": sum(pg1[pid] - pg0[pid] for pid in pg1 if pid in pg0),
            "backends": len(backends),
            "p50_s": percentile(latencies, 0.5), "p99_s": percentile(latencies, 0.99)}


async def push(ports: list[int], subscribers: int, rate: float, seconds: float
               ) -> dict[str, Any]:
    """One writer socket per node and `subscribers` sockets (each on a key of its own)
    spread over the nodes; at `rate` per second a writer (in turn) sets a random key.
    Latency: from sending the mutation to its subscriber holding the value."""
    writers = [await Conn.open(sync_url(port)) for port in ports]
    keys = [f"n{i}" for i in range(subscribers)]
    for index, key in enumerate(keys):
        await _acknowledged(writers[index % len(writers)], "counters:put",
                            {"key": key, "value": -1.0})
    groups = await asyncio.gather(*(
        open_subscribers(sync_url(port), "counters:get",
                         [{"key": key} for key in keys[i::len(ports)]])
        for i, port in enumerate(ports)))
    conns = [conn for group in groups for conn in group]
    subscribed = [key for i in range(len(ports)) for key in keys[i::len(ports)]]
    pending: dict[str, dict[float, float]] = {key: {} for key in keys}
    latencies: list[float] = []
    failures = 0

    async def subscriber(key: str, conn: Conn) -> None:
        waiting = pending[key]
        while True:
            value = query_values(await conn.recv()).get(0)
            now = time.perf_counter()
            if isinstance(value, float):
                for sent in [v for v in waiting if v <= value]:
                    latencies.append(now - waiting.pop(sent))

    async def drain(conn: Conn) -> None:
        nonlocal failures
        while True:
            frame = await conn.recv()
            if frame.startswith(MUTATION_RESPONSE) and b'"success":false' in frame:
                failures += 1

    tasks = [asyncio.create_task(subscriber(k, c)) for k, c in zip(subscribed, conns,
                                                                     strict=True)]
    tasks += [asyncio.create_task(drain(w)) for w in writers]
    chooser = random.Random(7)
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        key = keys[chooser.randrange(subscribers)]
        pending[key][float(n)] = time.perf_counter()
        await writers[n % len(writers)].mutate("counters:put", {"key": key, "value": float(n)})
    deadline = time.perf_counter() + 10
    while any(pending.values()) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    for conn in [*writers, *conns]:
        await conn.close()
    missing = sum(len(p) for p in pending.values())
    latencies += [float("inf")] * missing
    return {"missing": missing, "failures": failures, "p50_s": percentile(latencies, 0.5),
            "p99_s": percentile(latencies, 0.99)}


async def forward(ports: list[int], count: int) -> dict[str, Any]:
    """One client with a socket to the committer and one to a follower, sending a
    mutation to each in turn and waiting for each answer: the latency of each path.
    Each path writes a key of its own: a follower runs a mutation at the newest commit
    it has read, so one that read the key the committer had just written would
    conflict and run twice."""
    conns = [await Conn.open(sync_url(port)) for port in ports]
    samples: list[list[float]] = [[] for _ in ports]
    for n in range(count):
        for index, conn in enumerate(conns):
            started = time.perf_counter()
            await _acknowledged(conn, "counters:put", {"key": f"fwd{index}",
                                                       "value": float(n)})
            samples[index].append(time.perf_counter() - started)
    for conn in conns:
        await conn.close()
    return {"p50_s": [percentile(s, 0.5) for s in samples],
            "p99_s": [percentile(s, 0.99) for s in samples]}


# Orchestration -------------------------------------------------------------------


def run(settings: Settings) -> Table:
    table = Table("15. Several nodes on one PostgreSQL: fan-out, throughput, push latency")
    try:
        server_url, cluster = find_server()
    except Unavailable as exc:
        table.note(f"skipped: {exc}")
        return table
    database = create_database(server_url, "reactor_bench_nodes")
    nodes: list[Service] = []
    try:
        return _measure(table, settings, database, nodes)
    finally:
        for node in reversed(nodes):
            node.stop()
        drop_database(database)
        if cluster is not None:
            cluster.stop()
            cluster.remove()


def _start(settings: Settings, database: str, nodes: list[Service], count: int) -> None:
    """Start nodes until there are `count`; the first claims the lease, the rest follow.
    A mutation through each new follower proves it reaches the committer."""
    while len(nodes) < count:
        follow = ["--follow"] if nodes else []
        node = reactor_server("counters", settings.data_dir(f"node-{len(nodes)}"),
                              settings.durability, ["--db", database, *follow])
        nodes.append(node.start())
        run_loadgen("nodes.forward", {"ports": [node.port], "count": 1})


# Where a throughput run's clients go: (label, nodes up, which of them take clients).
CONFIGS: list[tuple[str, int, str]] = [
    ("1 node", 1, "committer"),
    ("2 nodes, all clients on the committer", 2, "committer"),
    ("2 nodes, all clients on the follower", 2, "followers"),
    ("2 nodes, clients spread over both", 2, "all"),
    ("4 nodes, all clients on the committer (3 followers following)", 4, "committer"),
    ("4 nodes, clients spread over all 4", 4, "all"),
]
# 64 clients × 1 in flight everywhere (many browsers, one mutation each at a time): what
# a follower's forwarding carries at once when the mutations come from many clients.
CLIENTS, INFLIGHT = 64, 1


def _measure(table: Table, settings: Settings, database: str, nodes: list[Service]) -> Table:
    subscribers = 1000 if settings.quick else 10_000
    fan_rounds = 3 if settings.quick else 10
    seconds, warmup = settings.seconds(1.0, 5.0), settings.seconds(0.3, 1.0)
    push_subscribers, rate = (200, 50.0) if settings.quick else (1000, 50.0)
    forwards = 40 if settings.quick else 200
    fans: dict[int, dict[str, Any]] = {}
    loads: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in CONFIGS}
    pushes: dict[int, dict[str, Any]] = {}

    def ports() -> list[int]:
        return [n.port for n in nodes]

    def pids() -> list[int]:
        return [n.pid for n in nodes]

    for count in (1, 2, 4):
        _start(settings, database, nodes, count)
        fans[count] = run_loadgen("nodes.fanout", {
            "ports": ports(), "pids": pids(), "subscribers": subscribers,
            "rounds": fan_rounds})
        # The configurations of this node count take turns, round after round, so that
        # a change in the machine's load falls on each alike.
        for _ in range(settings.rounds()):
            for label, up, clients_on in CONFIGS:
                if up != count:
                    continue
                targets = {"committer": ports()[:1], "followers": ports()[1:],
                           "all": ports()}[clients_on]
                loads[label].append(run_loadgen("nodes.throughput", {
                    "ports": targets, "nodes": ports(), "pids": pids(), "database": database,
                    "clients": CLIENTS, "inflight": INFLIGHT, "warmup_s": warmup,
                    "seconds": seconds}))
        pushes[count] = run_loadgen("nodes.push", {
            "ports": ports(), "subscribers": push_subscribers, "rate": rate,
            "seconds": seconds})
        if count == 2:
            forwarded = run_loadgen("nodes.forward", {"ports": ports(), "count": forwards})

    def median(values: list[float]) -> float:
        return statistics.median(values)

    one = median(fans[1]["last_s"])
    for count in (1, 2, 4):
        fan = fans[count]
        last = median(fan["last_s"])
        table.add(f"fan-out, {subscribers:,} subscribers over {count} node(s): commit to last"
                  f" (first)", f"{ms(last)} ({ms(median(fan['first_s']))})",
                  f"{ms(one)} (1 node)", ratio(last, one))
    for count in (1, 2, 4):
        cpu = statistics.fmean(fans[count]["cpu_s"])
        table.add(f"fan-out CPU per commit, summed over {count} node(s)", ms(cpu, 1),
                  ms(statistics.fmean(fans[1]["cpu_s"]), 1), ratio(cpu, statistics.fmean(
                      fans[1]["cpu_s"])))
    runs = {label: _summed(loads[label]) for label in loads}
    # Each configuration against all clients on the committer with as many nodes up,
    # measured in turn with it.
    bases = {up: runs[label] for label, up, clients_on in CONFIGS if clients_on == "committer"}
    for label, up, _ in CONFIGS:
        run, base = runs[label], bases[up]
        table.add(f"mutations/s, {CLIENTS} clients × {INFLIGHT} in flight: {label}",
                  num(run["rate"]), f"{num(base['rate'])} (on the committer)",
                  ratio(run["rate"], base["rate"]))
        table.add(f"… node CPU per mutation (committer{' / followers' if up > 1 else ''})",
                  " / ".join(ms(cpu, 3) for cpu in run["node_cpu"]),
                  f"{ms(sum(base['node_cpu']), 3)} (on the committer, all nodes)",
                  ratio(sum(run["node_cpu"]), sum(base["node_cpu"])))
        per_request = (f"; {num(run['per_request'], 1)} per forwarded request"
                       if run["per_request"] else "")
        table.add("… latency p50 / p99; mutations per commit batch",
                  f"{ms(run['p50'])} / {ms(run['p99'])}; {num(run['batch'], 1)}{per_request}")
    follow = runs["4 nodes, all clients on the committer (3 followers following)"]["node_cpu"]
    table.add("CPU per committed mutation of a follower with no clients (following the"
              " log; 3 followers, mean)", ms(statistics.fmean(follow[1:]), 3),
              f"{ms(follow[0], 3)} (committer)", ratio(statistics.fmean(follow[1:]), follow[0]))
    table.add("PostgreSQL backends' CPU per mutation (in the order above)",
              " / ".join(ms(runs[label]["postgres"], 3) for label, _, _ in CONFIGS))
    alone, spread = runs["1 node"]["rate"], runs["4 nodes, clients spread over all 4"]["rate"]
    table.add(f"mutations/s, {CLIENTS} clients × {INFLIGHT} in flight: spread over 4 nodes"
              f" vs 1 node", num(spread), f"{num(alone)} (1 node)", ratio(spread, alone))
    push_50 = {c: pushes[c]["p50_s"] for c in pushes}
    for count in (2, 4):
        table.add(f"push latency p50 / p99 at {rate:g}/s, {push_subscribers} subscribers"
                  f" over {count} nodes", f"{ms(push_50[count])} / {ms(pushes[count]['p99_s'])}",
                  f"{ms(push_50[1])} / {ms(pushes[1]['p99_s'])} (1 node)",
                  ratio(push_50[count], push_50[1]))
    direct, through = forwarded["p50_s"]
    table.add("one mutation, same client: via a follower vs the committer (p50)",
              ms(through), ms(direct), ratio(through, direct))
    table.add("… p99", ms(forwarded["p99_s"][1]), ms(forwarded["p99_s"][0]),
              ratio(forwarded["p99_s"][1], forwarded["p99_s"][0]))
    failed = sum(run["failed"] for run in runs.values()) + sum(
        pushes[c]["failures"] for c in pushes)
    missing = sum(pushes[c]["missing"] for c in pushes)
    table.note("All nodes on this machine and one PostgreSQL database (created for the run,"
               " dropped after); node 1 holds the committer lease, the others run"
               " `--follow`. Nodes are added one phase at a time: the 1-node figures ran"
               " with one node up, the 2-node ones with two, then two more; so the ratios"
               " of 2 or 4 nodes to 1 compare phases run one after the other, not in turn.")
    table.note(f"Fan-out: the writer commits through the committer; medians of"
               f" {fan_rounds} commits; CPU from /proc over each commit plus a 200 ms pause"
               f" (10 ms ticks, hence the mean). Throughput: {seconds:g} s after"
               f" {warmup:g} s warm-up per run, {settings.rounds()} run(s) of each"
               f" configuration, the"
               f" configurations of one node count taking turns; CPU per mutation is the"
               f" node's CPU over its runs by the mutations acknowledged. PostgreSQL's CPU"
               f" is that of the backends serving the run's database (the nodes' pools), not"
               f" its WAL writer or checkpointer. Push: one writer socket per node, sending in"
               f" turn. Load generators are one process on the same 2 cores.")
    table.note(f"Failed mutations: {failed}; pushed values never delivered: {missing}.")
    return table


def _summed(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's runs taken together: rates over their summed time, CPU per
    acknowledged mutation, medians of their latencies."""
    ok = max(1, sum(run["ok"] for run in runs))
    forwarded = sum(run["forwarded"] for run in runs)
    requests = sum(run["forward_requests"] for run in runs)
    return {
        "rate": ok / sum(run["seconds"] for run in runs),
        "node_cpu": [sum(cpu) / ok for cpu in zip(*(run["node_cpu_s"] for run in runs),
                                                   strict=True)],
        "p50": statistics.median(run["p50_s"] for run in runs),
        "p99": statistics.median(run["p99_s"] for run in runs),
        "batch": ok / max(1, sum(run["batches"] for run in runs)),
        "per_request": forwarded / requests if requests else 0.0,
        "postgres": sum(run["postgres_cpu_s"] for run in runs) / ok,
        "failed": sum(run["failed"] for run in runs),
    }
