"""Benchmark 6: /api/query requests per second vs a bare JSON route in the same server process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from bench.processes import reactor_server, run_loadgen
from bench.procstat import cpu_seconds
from bench.report import Table, num, ratio
from bench.settings import Settings
from bench.wire import MUTATION_RESPONSE, Conn, sync_url

KEY = "r1"
BODY = orjson.dumps({"path": "counters:get", "format": "convex_encoded_json",
                     "args": [{"key": KEY}]})


async def _client(port: int, path: str, window: dict[str, Any]) -> None:
    """One keep-alive HTTP/1.1 connection, one request at a time, raw bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
               ).encode() + BODY
    while not window["stop"]:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{path} answered {head.splitlines()[0]!r}")
        length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:"))
        body = await reader.readexactly(length)
        if window["first"] is None:
            window["first"] = body.decode()
        if window["open"]:
            window["count"] += 1
    writer.close()


async def seed(port: int) -> dict[str, Any]:
    """Store the document the benchmarked query reads."""
    conn = await Conn.open(sync_url(port))
    await conn.mutate("counters:put", {"key": KEY, "value": 42.0})
    while not (await conn.recv()).startswith(MUTATION_RESPONSE):
        pass
    await conn.close()
    return {}


async def generate(port: int, server_pid: int, path: str, connections: int,
                   seconds: float) -> dict[str, Any]:
    window: dict[str, Any] = {"open": False, "stop": False, "count": 0, "first": None}
    tasks = [asyncio.create_task(_client(port, path, window)) for _ in range(connections)]
    await asyncio.sleep(1.0)
    server0, own0, started = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    window["open"] = True
    await asyncio.sleep(seconds)
    window["open"] = False
    elapsed = time.perf_counter() - started
    server1, own1 = cpu_seconds(server_pid), time.process_time()
    window["stop"] = True
    await asyncio.gather(*tasks)
    return {"requests": window["count"], "seconds": elapsed, "first": window["first"],
            "server_cpu_s": server1 - server0, "loadgen_cpu_s": own1 - own0}


def run(settings: Settings) -> Table:
    table = Table("6. Read throughput: POST /api/query vs a bare JSON route")
    seconds = settings.seconds(3.0, 8.0)
    runs: dict[str, list[dict[str, Any]]] = {"/api/query": [], "/bench/bare": []}
    server = reactor_server("counters", settings.data_dir("read"), settings.durability)
    with server:
        run_loadgen("read_throughput.seed", {"port": server.port})
        for _ in range(settings.rounds()):
            for path in runs:
                runs[path].append(run_loadgen("read_throughput", {
                    "port": server.port, "server_pid": server.pid, "path": path,
                    "connections": 4, "seconds": seconds}))

    def rate(path: str) -> float:
        return float(sum(r["requests"] for r in runs[path]) / sum(r["seconds"] for r in runs[path]))

    def cpu_per_request(path: str, key: str) -> float:
        return float(sum(r[key] for r in runs[path]) / sum(r["requests"] for r in runs[path]))

    query, bare = rate("/api/query"), rate("/bench/bare")
    table.add("/api/query requests/s (counters:get, one indexed read)", num(query),
              f"{num(bare)} (bare Starlette route)", ratio(query, bare), ">= 0.5x",
              query >= 0.5 * bare)
    for path in runs:
        table.add(f"server / load generator CPU per request, {path}",
                  f"{cpu_per_request(path, 'server_cpu_s') * 1e6:.0f} µs /"
                  f" {cpu_per_request(path, 'loadgen_cpu_s') * 1e6:.0f} µs")
    table.note("Same process: bench/serve.py is `reactor serve`'s own code with two routes"
               " appended to the Reactor Starlette app, so both endpoints go through the same"
               " uvicorn server, event loop, CORS middleware and router; only the handler"
               " differs. The bare route parses the JSON body and answers a small JSON object.")
    table.note(f"Load generator: raw HTTP/1.1 over 4 keep-alive connections, one request in"
               f" flight each, asyncio on uvloop; {seconds:g} s per endpoint, alternating,"
               f" {settings.rounds()} round(s). First answers: "
               + " / ".join(str(r[0]["first"]) for r in runs.values()))
    return table
