"""Benchmark 12: insert mutations through the official `convex` client (Node), as apps run it.

8 `ConvexClient`s, each keeping 4 `items:insert` mutations outstanding; a mutation
completes when its client has seen the Transition carrying its write (what
`await client.mutation(...)` waits for); once with the server's default (no
compression), once with permessage-deflate accepted as the client asks for it.
Then one `ConvexClient` keeping 8 outstanding (compression off): one socket, whose
mutations commit in the order sent, so group commit has only its pipeline to batch.
Against raw aiosqlite per-transaction commits in the same run (bench 1's baseline).
Reported: completions per second, server CPU per mutation, the load generator's CPU
(on 2 cores it competes with the server).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

from bench.commit_throughput import baseline
from bench.processes import REPO_ROOT, reactor_server
from bench.procstat import cpu_seconds
from bench.report import Table, core_share, ms, num, ratio
from bench.settings import Settings

NODE_DIR = REPO_ROOT / "tests" / "node"
CLIENTS = 8
INFLIGHT = 4
# The second load shape: one client (one socket, so one commit order) with 8 in flight.
SINGLE_INFLIGHT = 8


def node_modules() -> None:
    """tests/node's packages (the official client), installed from its lock file if missing."""
    if not (NODE_DIR / "node_modules" / "convex").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=600)


def generate(url: str, server_pid: int, clients: int, inflight: int, seconds: float
             ) -> dict[str, Any]:
    """Run the Node load generator; the server's CPU is read when its window opens and
    closes (it says when on stdout)."""
    command = ["node", "load_official.mjs", url, str(clients), str(inflight), "1.5",
               str(seconds)]
    with subprocess.Popen(command, cwd=NODE_DIR, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        marks: dict[str, float] = {}
        result: dict[str, Any] = {}
        for line in process.stdout:
            message = json.loads(line)
            if "event" in message:
                marks[message["event"]] = cpu_seconds(server_pid)
            else:
                result = message
        stderr = process.stderr.read() if process.stderr else ""
    if process.returncode != 0 or not result or set(marks) != {"open", "close"}:
        raise RuntimeError(f"load_official.mjs failed ({process.returncode}): {stderr[-2000:]}")
    result["server_cpu_s"] = marks["close"] - marks["open"]
    return result


def run(settings: Settings) -> Table:
    table = Table(f"12. Mutations through the official client (durability={settings.durability})")
    seconds = settings.seconds(3.0, 10.0)
    node_modules()
    baselines: list[float] = []
    runs: dict[str, list[dict[str, Any]]] = {"1": [], "0": []}
    single: list[dict[str, Any]] = []
    servers = {flag: reactor_server("counters", settings.data_dir(f"official-{flag}"),
                                    settings.durability, env={"REACTOR_WS_COMPRESSION": flag})
               for flag in runs}
    with servers["1"], servers["0"]:
        for _ in range(settings.rounds()):
            baselines.append(asyncio.run(baseline(
                settings.data_dir("official-baseline") / "baseline.sqlite3",
                settings.durability, seconds)))
            for flag, server in servers.items():
                runs[flag].append(generate(server.http, server.pid, CLIENTS, INFLIGHT, seconds))
            single.append(generate(servers["0"].http, servers["0"].pid, 1, SINGLE_INFLIGHT,
                                   seconds))
    raw = max(baselines)
    for flag, label in (("0", "compression off (the default)"),
                        ("1", "permessage-deflate (REACTOR_WS_COMPRESSION=1)")):
        best = max(runs[flag], key=lambda r: r["ok"] / r["seconds"])
        rate = best["ok"] / best["seconds"]
        per_mutation = best["server_cpu_s"] / max(best["ok"], 1)
        table.add(f"{CLIENTS} official clients x {INFLIGHT} in flight, {label}: mutations/s",
                  num(rate), f"{num(raw)} commits/s (aiosqlite, 1 INSERT per transaction)",
                  ratio(rate, raw), ">= 1.5x", rate >= 1.5 * raw)
        table.add(f"server CPU per mutation, {label}", ms(per_mutation, 3), "", None,
                  "<= 0.25 ms", per_mutation <= 0.00025)
        table.add(f"server / load generator CPU use, {label}",
                  f"{core_share(best['server_cpu_s'], best['seconds'])} /"
                  f" {core_share(best['loadgen_cpu_s'], best['seconds'])}")
        table.add(f"mutation latency p50 / p99 (await client.mutation), {label}",
                  f"{best['latency_p50_ms']:.2f} ms / {best['latency_p99_ms']:.2f} ms")
        if best["failed"]:
            table.note(f"{label}: {best['failed']} mutations failed (first error:"
                       f" {best['errors'][0] if best['errors'] else 'none printed'}).")
    best = max(single, key=lambda r: r["ok"] / r["seconds"])
    rate = best["ok"] / best["seconds"]
    per_mutation = best["server_cpu_s"] / max(best["ok"], 1)
    table.add(f"1 official client x {SINGLE_INFLIGHT} in flight, compression off: mutations/s",
              num(rate), f"{num(raw)} commits/s", ratio(rate, raw), ">= 1.2x",
              rate >= 1.2 * raw)
    table.add("server CPU per mutation, 1 client", ms(per_mutation, 3))
    table.add("mutation latency p50 / p99, 1 client",
              f"{best['latency_p50_ms']:.2f} ms / {best['latency_p99_ms']:.2f} ms")
    if best["failed"]:
        table.note(f"1 client: {best['failed']} mutations failed (first error:"
                   f" {best['errors'][0] if best['errors'] else 'none printed'}).")
    table.note("Load generator: tests/node/load_official.mjs, convex@1.48.0 `ConvexClient`s in"
               " one Node process.")
    table.note("Rounds (mutations/s): " + "; ".join(
        f"compression {'on' if flag == '1' else 'off'} "
        + ", ".join(num(r["ok"] / r["seconds"]) for r in rounds)
        for flag, rounds in runs.items())
        + f"; 1 client {', '.join(num(r['ok'] / r['seconds']) for r in single)}"
        + f"; baseline (commits/s): {', '.join(num(b) for b in baselines)};"
        f" {seconds:g} s each, after 1.5 s of warm-up.")
    return table
