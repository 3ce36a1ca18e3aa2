"""Benchmark: commit throughput with the execution log recording every call, against the
same engine setup without it (issue #16: logging must not slow commits)."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from bench.report import Table, num, ratio
from bench.settings import Settings
from reactor.runtime import Engine
from reactor.runtime.execution_log import ExecutionLog

APP = Path(__file__).parent / "apps" / "counters"
CLIENTS = 32
BODY = "a small document, as a chat message or a task would be"


async def _burst(engine: Engine, seconds: float) -> float:
    """Insert mutations per second from CLIENTS concurrent callers for `seconds`."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        nonlocal done
        n = 0
        while time.perf_counter() < deadline:
            outcome = await engine.run_mutation(
                "items:insert", {"owner": f"c{index}", "body": BODY, "n": float(n)})
            outcome.unwrap()
            n += 1
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(CLIENTS)))
    return done / (time.perf_counter() - started)


async def measure(settings: Settings, seconds: float, rounds: int) -> tuple[list[float],
                                                                             list[float], int]:
    """Alternating bursts on two engines, one without and one with the execution log."""
    plain = Engine(APP, settings.data_dir("log-off"), durability=settings.durability,
                   workers=0)
    logged = Engine(APP, settings.data_dir("log-on"), durability=settings.durability,
                    workers=0)
    await plain.start()
    await logged.start()
    log = ExecutionLog(logged.data_dir)
    log.start()
    logged.add_call_listener(log.record)
    without: list[float] = []
    with_log: list[float] = []
    try:
        await _burst(plain, seconds / 4)  # warm both (imports, caches, the first pages)
        await _burst(logged, seconds / 4)
        for _ in range(rounds):
            without.append(await _burst(plain, seconds))
            with_log.append(await _burst(logged, seconds))
        await asyncio.to_thread(log.flush)
        written = log.written
    finally:
        await asyncio.to_thread(log.stop)
        await plain.stop()
        await logged.stop()
    return without, with_log, written


def run(settings: Settings) -> Table:
    table = Table(f"13. Execution log: commit throughput with every call logged"
                  f" (durability={settings.durability})")
    rounds = 3 if settings.quick else 6
    seconds = settings.seconds(1.0, 3.0)
    without, with_log, written = asyncio.run(measure(settings, seconds, rounds))
    base, logged = statistics.median(without), statistics.median(with_log)
    table.add("insert mutations/s with the execution log (median)", num(logged),
              num(base), ratio(logged, base), ">= 0.9x", logged >= 0.9 * base)
    table.add("records written to logs.sqlite3", num(written))
    table.note(f"{CLIENTS} concurrent callers of `items:insert` through `Engine.run_mutation`"
               f" in one process, {rounds} alternating {seconds:g} s bursts on two engines"
               " (separate data directories), one with the execution log's call listener"
               " and writer thread. The baseline is the engine without it.")
    return table
