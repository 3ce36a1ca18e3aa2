"""Agent streaming writes: the delta batch rate, and how soon a subscriber sees a batch.

    .venv/bin/python bench/agent_stream.py [--batches 300] [--durability full] [--live]

Runs the engine in-process on a fresh SQLite file with the agent tables. One
run's batches are written one after another (as a run writes them), each an
`appendBatch` mutation carrying ~40 characters, while a live `listMessages`
query (the page a chat UI subscribes to) follows the growing message. The
baseline, in the same run, is the same loop with a plain one-document insert
followed by a live query over that table. With `--live` the same loop also runs
against `reactor serve` over WebSockets: one socket sends the batches, another
is subscribed to `listMessages`, and the latency is from sending a batch to
receiving the Transition that carries it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reactor.runtime import Engine
from reactor.runtime.functions import FunctionKind

SCHEMA = """
from reactor import define_schema, define_table, v
from reactor.agent import agent_tables

schema = define_schema({"rows": define_table({"text": v.string()}), **agent_tables()})
"""

FUNCTIONS = """
from reactor import mutation, query, v
from reactor.agent import agent_functions

fns = agent_functions(public=True)
globals().update(fns)


@mutation(args={})
async def setup(ctx):
    thread = await fns["createThread"](ctx)
    await fns["saveUserMessage"](ctx, threadId=thread, text="q")
    await fns["beginRun"](ctx, threadId=thread, order=1, leaseMs=600_000, runId="r",
                          takeover=False)
    step = await fns["beginStep"](ctx, threadId=thread, runId="r", order=1, stepOrder=1,
                                  model="m", leaseMs=600_000)
    return {"threadId": thread, "messageId": step["messageId"]}


@mutation(args={"threadId": v.string(), "messageId": v.string(), "chunk": v.number(),
                "text": v.string()})
async def batch(ctx, threadId, messageId, chunk, text):
    return await fns["appendBatch"](ctx, threadId=threadId, runId="r", messageId=messageId,
                                    attempt=1, chunk=chunk,
                                    parts=[{"type": "text", "text": text}], leaseMs=600_000)


@mutation(args={"text": v.string()})
async def insert(ctx, text):
    return await ctx.db.insert("rows", {"text": text})


@query(args={})
async def latest(ctx):
    return await ctx.db.query("rows").order("desc").first()
"""

PAGE = {"numItems": 50, "cursor": None}
TEXT = "the quick brown fox jumps over the lazy "


async def call(engine: Engine, kind: FunctionKind, path: str, args: dict[str, Any]) -> Any:
    return (await engine.call(kind, path, args, None, admin=True)).unwrap()


async def timed_loop(engine: Engine, count: int, write: Any, query: tuple[str, dict[str, Any]]
                     ) -> tuple[float, list[float]]:
    """(writes per second, push latencies in ms) for `count` writes under a live query."""
    latencies: list[float] = []
    async with engine.subscribe(query[0], query[1], None, admin=True) as sub:
        await sub.next(timeout=10)
        started = time.perf_counter()
        for n in range(count):
            before = time.perf_counter()
            await write(n)
            await sub.next(timeout=10)
            latencies.append((time.perf_counter() - before) * 1000)
        elapsed = time.perf_counter() - started
    return count / elapsed, latencies


async def measure(root: Path, batches: int, durability: str) -> dict[str, Any]:
    app = root / "app"
    (app / "functions").mkdir(parents=True)
    (app / "schema.py").write_text(SCHEMA)
    (app / "functions" / "agent.py").write_text(FUNCTIONS)
    engine = Engine(app, root / "data", durability=durability)
    await engine.start()
    try:
        mutate = FunctionKind.MUTATION
        thread = await call(engine, mutate, "agent:createThread", {})
        await call(engine, mutate, "agent:saveUserMessage", {"threadId": thread, "text": "q"})
        await call(engine, mutate, "agent:beginRun", {"threadId": thread, "order": 1,
                                                      "leaseMs": 600_000, "runId": "r",
                                                      "takeover": False})
        step = await call(engine, mutate, "agent:beginStep", {
            "threadId": thread, "runId": "r", "order": 1, "stepOrder": 1, "model": "m",
            "leaseMs": 600_000})

        async def batch(n: int) -> None:
            await call(engine, mutate, "agent:appendBatch", {
                "threadId": thread, "runId": "r", "messageId": step["messageId"],
                "attempt": 1, "chunk": n + 1, "parts": [{"type": "text", "text": TEXT}],
                "leaseMs": 600_000})

        async def insert(n: int) -> None:
            await call(engine, mutate, "agent:insert", {"text": TEXT})

        base_rate, base_lat = await timed_loop(engine, batches, insert, ("agent:latest", {}))
        rate, lat = await timed_loop(engine, batches, batch, (
            "agent:listMessages", {"threadId": thread, "paginationOpts": PAGE}))
    finally:
        await engine.stop()
    return {"rate": rate, "base_rate": base_rate, "p50": statistics.median(lat),
            "p99": sorted(lat)[int(len(lat) * 0.99) - 1], "base_p50": statistics.median(base_lat),
            "chars": len(TEXT) * batches}


async def live(root: Path, batches: int, durability: str) -> dict[str, float]:
    """Batch → subscriber over WebSockets against `reactor serve` (p50/p99 ms)."""
    import orjson

    from bench.processes import Service, free_port
    from bench.wire import Conn, open_subscriber, percentile, query_values, sync_url

    port = free_port()
    command = [sys.executable, "-m", "bench.serve", str(root / "app"), "--port", str(port),
               "--data", str(root / "live"), "--durability", durability,
               "--mutation-rate", "0", "--action-rate", "0"]
    with Service(command, port, root / "live.log"):
        writer = await Conn.open(sync_url(port))
        await writer.mutate("agent:setup", {})
        while True:
            message = orjson.loads(await writer.recv())
            if message.get("type") == "MutationResponse":
                ids = message["result"]
                break
        subscriber, _ = await open_subscriber(sync_url(port), "agent:listMessages", {
            "threadId": ids["threadId"], "paginationOpts": PAGE})
        latencies: list[float] = []
        for n in range(batches):
            sent = time.perf_counter()
            await writer.mutate("agent:batch", {**ids, "chunk": n + 1, "text": TEXT})
            expected = len(TEXT) * (n + 1)
            while True:
                values = query_values(await subscriber.recv())
                page = values.get(0)
                if page and len(page["page"][1]["text"]) >= expected:
                    latencies.append((time.perf_counter() - sent) * 1000)
                    break
        await writer.close()
        await subscriber.close()
    return {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    parser.add_argument("--live", action="store_true", help="also over WebSockets")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reactor-agent-bench-") as workdir:
        found = asyncio.run(measure(Path(workdir), arguments.batches, arguments.durability))
        if arguments.live:
            wire = asyncio.run(live(Path(workdir), arguments.batches, arguments.durability))
    print(f"delta batches: {found['rate']:.0f}/s (plain insert {found['base_rate']:.0f}/s,"
          f" ratio {found['rate'] / found['base_rate']:.2f}x); message grew to"
          f" {found['chars']} characters")
    print(f"batch → subscriber: p50 {found['p50']:.2f} ms, p99 {found['p99']:.2f} ms"
          f" (plain insert p50 {found['base_p50']:.2f} ms)")
    if arguments.live:
        print(f"over WebSockets, batch sent → Transition received: p50 {wire['p50']:.2f} ms,"
              f" p99 {wire['p99']:.2f} ms")


if __name__ == "__main__":
    main()
