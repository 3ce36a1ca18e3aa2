"""Benchmark 5: server memory per idle connection holding one subscription.

The baseline is the same count of idle WebSocket connections to a bare Starlette
app on the same uvicorn settings (bench/echo_app.py): what any connection costs
before Reactor keeps anything for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.processes import echo_server, reactor_server, run_loadgen
from bench.procstat import rss_bytes
from bench.report import Table, num, ratio
from bench.settings import Settings
from bench.wire import open_subscribers, sync_url

TARGET_BYTES = 32 * 1024
WARM, CONNECTIONS = 100, 1000


async def _open_bare(url: str, count: int) -> list[ClientConnection]:
    slots = asyncio.Semaphore(50)

    async def one() -> ClientConnection:
        async with slots:
            ws = await connect(url, compression=None, ping_interval=None)
            await ws.send("hello")
            await ws.recv()
            return ws

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def generate(port: int, server_pid: int, bare: bool) -> dict[str, Any]:
    """Open WARM sockets, read RSS, open CONNECTIONS more, read RSS again."""

    async def open_some(prefix: str, count: int) -> list[Any]:
        if bare:
            return await _open_bare(f"ws://127.0.0.1:{port}/echo", count)
        return await open_subscribers(sync_url(port), "counters:get",
                                      [{"key": f"{prefix}{i}"} for i in range(count)])

    first = await open_some("w", WARM)
    await asyncio.sleep(1.0)
    before = rss_bytes(server_pid)
    more = await open_some("m", CONNECTIONS)
    await asyncio.sleep(2.0)
    after = rss_bytes(server_pid)
    for conn in [*first, *more]:
        await conn.close()
    return {"before": before, "after": after}


def run(settings: Settings) -> Table:
    table = Table("5. Memory per idle connection with one subscription")
    reactor, bare = [], []
    for n in range(settings.rounds()):
        with reactor_server("counters", settings.data_dir(f"memory-{n}"),
                            settings.durability) as server:
            reactor.append(run_loadgen("memory", {"port": server.port,
                                                  "server_pid": server.pid, "bare": False}))
        with echo_server(settings.data_dir(f"memory-bare-{n}"),
                         settings.durability) as server:
            bare.append(run_loadgen("memory", {"port": server.port,
                                               "server_pid": server.pid, "bare": True}))

    def per_connection(runs: list[dict[str, Any]]) -> list[float]:
        return [(r["after"] - r["before"]) / CONNECTIONS for r in runs]

    worst, floor = max(per_connection(reactor)), max(per_connection(bare))
    table.add(f"server RSS per connection ({CONNECTIONS:,} connections)",
              f"{num(worst / 1024, 1)} KiB",
              f"{num(floor / 1024, 1)} KiB (bare Starlette WebSocket)", ratio(worst, floor),
              "<= 32 KiB", worst <= TARGET_BYTES)
    last = reactor[-1]
    table.add(f"server RSS with {WARM} / {WARM + CONNECTIONS:,} connections",
              f"{num(last['before'] / 2**20, 1)} MiB / {num(last['after'] / 2**20, 1)} MiB")
    table.note("Each Reactor connection sends Connect and subscribes to `counters:get` of its"
               " own key (one query entry per connection); each bare connection exchanges"
               f" one echo. RSS is read from /proc after {WARM} warm-up connections and again"
               f" after {CONNECTIONS:,} more; the figure is the growth divided by"
               f" {CONNECTIONS:,}, the worst of {len(reactor)} fresh server(s): "
               + ", ".join(f"{x / 1024:.1f}" for x in per_connection(reactor)) + " KiB.")
    return table
