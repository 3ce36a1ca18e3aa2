"""Benchmark 8: a bystander's latency while 4 clients call a function that spins forever.

The bystander runs an indexed query over HTTP (`POST /api/query`, counters:get) and,
on a WebSocket, a mutation whose new value is pushed back to it (counters:put with a
subscription to counters:get). Measured once with nobody else on the server (idle)
and once while 4 other clients each call `spin:forever` back to back, a query that
never returns on its own: the server stops each call at the 1 s user-time limit,
running it in a worker process after its first 50 ms on the event loop. Then again
with 4 clients calling `spin:forever_action`, an action that spins: its first call
holds the loop for the 1 s step cap, its later calls run in an action worker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from bench.processes import reactor_server, run_loadgen
from bench.report import Table, ms, ratio
from bench.settings import Settings
from bench.wire import MUTATION_RESPONSE, Conn, percentile, query_values, sync_url

SPINNERS = 4
PAUSE_S = 0.01


async def _http(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int,
                body: bytes, kind: str = "query") -> bytes:
    """One POST /api/query (or /api/action) on a keep-alive connection; the response body."""
    writer.write((f"POST /api/{kind} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                  ).encode() + body)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"/api/{kind} answered {head.splitlines()[0]!r}")
    length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:"))
    return await reader.readexactly(length)


async def _spinner(port: int, window: dict[str, Any], kind: str) -> None:
    reader, writer = await _http(port)
    path = "spin:forever" if kind == "query" else "spin:forever_action"
    body = orjson.dumps({"path": path, "args": {}, "format": "json"})
    while not window["stop"]:
        answer = orjson.loads(await _post(reader, writer, port, body, kind))
        if "own code" not in str(answer.get("errorMessage")):
            raise RuntimeError(f"{path} answered {answer}")
        window["spun"] += 1
    writer.close()


async def _http_bystander(port: int, window: dict[str, Any], latencies: list[float]) -> None:
    reader, writer = await _http(port)
    body = orjson.dumps({"path": "counters:get", "args": {"key": "r1"}, "format": "json"})
    while not window["stop"]:
        started = time.perf_counter()
        answer = await _post(reader, writer, port, body)
        if window["open"]:
            latencies.append(time.perf_counter() - started)
        if b'"success"' not in answer:
            raise RuntimeError(f"counters:get answered {answer!r}")
        await asyncio.sleep(PAUSE_S)
    writer.close()


async def _socket_bystander(port: int, window: dict[str, Any], latencies: list[float]) -> None:
    """Each round: a mutation sets the bystander's key to n; the round ends when the push
    of n arrives (after its MutationResponse)."""
    conn = await Conn.open(sync_url(port))
    await conn.subscribe({0: ("counters:get", {"key": "ws-bystander"})})
    n = 0.0
    while not window["stop"]:
        n += 1
        started = time.perf_counter()
        await conn.mutate("counters:put", {"key": "ws-bystander", "value": n})
        answered = False
        while True:
            frame = await conn.recv()
            answered = answered or frame.startswith(MUTATION_RESPONSE)
            if answered and query_values(frame).get(0) == n:
                break
        if window["open"]:
            latencies.append(time.perf_counter() - started)
        await asyncio.sleep(PAUSE_S)
    await conn.close()


async def generate(port: int, server_pid: int, spinners: int, seconds: float,
                   kind: str = "query") -> dict[str, Any]:
    window: dict[str, Any] = {"open": False, "stop": False, "spun": 0}
    http: list[float] = []
    socket: list[float] = []
    tasks = [asyncio.create_task(_spinner(port, window, kind)) for _ in range(spinners)]
    tasks.append(asyncio.create_task(_http_bystander(port, window, http)))
    tasks.append(asyncio.create_task(_socket_bystander(port, window, socket)))
    if kind == "action" and spinners:
        # Each spinner's first call holds the loop for the 1 s step cap (they all started
        # before any was seen spinning); measure once every one has been answered and
        # the action workers are up.
        deadline = time.monotonic() + 60
        while window["spun"] < spinners and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(3.0)
    else:
        # By then the spinners have escalated to the query workers.
        await asyncio.sleep(2.5 if spinners else 1.0)
    window["open"] = True
    await asyncio.sleep(seconds)
    window["open"] = False
    window["stop"] = True
    await asyncio.gather(*tasks)
    return {"http": http, "socket": socket, "spun": window["spun"]}


def run(settings: Settings) -> Table:
    table = Table(f"8. Bystander latency while {SPINNERS} clients call a spinning function")
    seconds = settings.seconds(2.0, 20.0)
    runs: dict[str, dict[str, Any]] = {}
    server = reactor_server("counters", settings.data_dir("bystander"), settings.durability)
    with server:
        run_loadgen("read_throughput.seed", {"port": server.port})
        for name, spinners, kind in (("idle", 0, "query"), ("query", SPINNERS, "query"),
                                     ("action", SPINNERS, "action")):
            runs[name] = run_loadgen("bystander", {
                "port": server.port, "server_pid": server.pid, "spinners": spinners,
                "seconds": seconds, "kind": kind})
    idle = runs["idle"]
    for kind, busy in (("query", runs["query"]), ("action", runs["action"])):
        who = f"{SPINNERS} spinning {kind} callers"
        for name, label in (("http", "HTTP indexed query"),
                            ("socket", "WebSocket mutation to its push")):
            idle_p50, idle_p99 = percentile(idle[name], 0.5), percentile(idle[name], 0.99)
            p50, p99 = percentile(busy[name], 0.5), percentile(busy[name], 0.99)
            table.add(f"{label}: p50 / p99 with {who}",
                      f"{ms(p50)} / {ms(p99)}", f"{ms(idle_p50)} / {ms(idle_p99)} (idle)",
                      ratio(p99, idle_p99), "p99 <= 3x idle", p99 <= 3 * idle_p99)
            table.add(f"{label}: p99 with {who}", ms(p99), "", None, "< 100 ms", p99 < 0.1)
            table.add(f"{label}: rounds measured (idle / {who})",
                      f"{len(idle[name])} / {len(busy[name])}")
        table.add(f"spinning {kind} calls answered (each stopped at 1 s of its own code)",
                  str(busy["spun"]))
    table.note(f"{seconds:g} s per measurement, after a warm-up (2.5 s with query spinners:"
               " their first call spends 50 ms on the event loop, then the function runs in a"
               " worker process; with action spinners, until each spinner's first call was"
               " answered (each held the loop for the 1 s step cap) and 3 s more: later calls"
               " run in an action worker)."
               " Bystanders pause 10 ms between rounds. Load generator: raw HTTP/1.1 and"
               " bench/wire.py, asyncio on uvloop, in its own process.")
    return table
