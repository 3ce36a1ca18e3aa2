"""Benchmark 3: per-commit engine cost with 100, 10,000 and 100,000 subscriptions it misses.

In-process: one `Engine` on the counters app per size, all in this process,
subscriptions made directly through `engine.manager` (as a sync session makes
them), each reading its own key of `counters.by_key`. Every measured commit writes
another key of the same index, so the manager looks it up in a tree holding all
the subscriptions and hits none. Commits go round-robin over the engines, so the
noise of a shared machine falls on every size alike.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time

from bench.processes import APPS
from bench.report import Table, ms, ratio
from bench.settings import Settings
from reactor.runtime import Engine, FunctionKind
from reactor.runtime.subscription import query_key

SIZES = (100, 10_000, 100_000)
# Quick mode keeps the shape at a tenth of the sizes: 100,000 subscriptions take most
# of its time to set up.
QUICK_SIZES = (100, 1_000, 10_000)


class _Probe:
    """One engine with `size` idle subscriptions; times commits and manager steps."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.advanced = asyncio.Event()
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.steps: list[float] = []
        manager = engine.manager
        manager.add_listener(lambda ts, changed: self.advanced.set())
        original = manager.advance

        async def timed_advance() -> None:
            started = time.perf_counter()
            await original()
            self.steps.append(time.perf_counter() - started)

        manager.advance = timed_advance  # type: ignore[method-assign]

    async def subscribe(self, size: int) -> None:
        """Make `size` subscriptions; the collector is paused while they are built."""
        gc.disable()
        try:
            entries = []
            for i in range(size):
                args = {"key": f"k{i:06d}"}
                key = (*query_key("counters:get", args, None), False)
                entries.append(self.engine.manager.subscribe(key, "counters:get", args, None))
            while not all(entry.ready for entry in entries):
                await asyncio.sleep(0.01)
        finally:
            gc.enable()
            gc.collect()

    async def commit(self, value: float, record: bool = True) -> None:
        """One commit, timed from the call until the manager has advanced past it."""
        manager = self.engine.manager
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = await self.engine.call(FunctionKind.MUTATION, "counters:put",
                                         {"key": "writer", "value": value})
        assert outcome.ok and outcome.ts is not None, outcome.error
        while manager.current_ts < outcome.ts:
            self.advanced.clear()
            await self.advanced.wait()
        if record:
            self.wall.append(time.perf_counter() - wall)
            self.cpu.append(time.process_time() - cpu)


async def measure(settings: Settings, sizes: tuple[int, ...], commits: int) -> list[_Probe]:
    probes: list[_Probe] = []
    try:
        for size in sizes:
            engine = Engine(APPS / "counters", settings.data_dir(f"invalidation-{size}"),
                            durability=settings.durability)
            await engine.start()
            probe = _Probe(engine)
            probes.append(probe)
            await probe.subscribe(size)
        for n in range(100):  # warm up: statement caches, the writer's document
            for probe in probes:
                await probe.commit(float(n), record=False)
        for probe in probes:
            probe.steps.clear()
        for n in range(commits):
            for probe in probes:
                await probe.commit(float(n))
    finally:
        for probe in probes:
            await probe.engine.stop()
    return probes


def run(settings: Settings) -> Table:
    table = Table(f"3. Invalidation scaling: commits that touch none of N subscriptions"
                  f" (durability={settings.durability})")
    commits = 300 if settings.quick else 1000
    sizes = QUICK_SIZES if settings.quick else SIZES
    probes = asyncio.run(measure(settings, sizes, commits))
    base = statistics.fmean(probes[0].cpu)
    base_step = statistics.median(probes[0].steps)
    for size, probe in zip(sizes, probes, strict=True):
        cost = statistics.fmean(probe.cpu)
        step = statistics.median(probe.steps)
        largest = size == sizes[-1]
        first = size == sizes[0]
        table.add(f"{size:,} subscriptions: CPU per commit (mean)", ms(cost, 3),
                  "" if first else ms(base, 3), None if first else ratio(cost, base),
                  "<= 1.5x" if largest else "", cost <= 1.5 * base if largest else None)
        table.add(f"{size:,}: subscription-manager step per commit (median)", ms(step, 3),
                  "" if first else ms(base_step, 3), None if first else ratio(step, base_step))
        table.add(f"{size:,}: wall per commit (median)", ms(statistics.median(probe.wall), 3))
    table.note(f"{commits} `counters:put` commits per size, round-robin over one engine per"
               " size in one process; each is timed from `engine.call` until the"
               " subscription manager has advanced past it. CPU is this process's (all"
               " threads, including SQLite's), which the other load on a shared machine"
               " disturbs less than wall time. Subscriptions are made with the collector"
               " paused (setup only).")
    return table
