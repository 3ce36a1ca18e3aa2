"""Group commit: concurrent writers on a real file with fsync share SQLite transactions."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from reactor.runtime import Engine

APP = Path(__file__).parent / "apps" / "journal"
WRITERS = 8
COMMITS_PER_WRITER = 40


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def test_concurrent_writers_are_batched(tmp_path: Path) -> None:
    async with Engine(APP, tmp_path, durability="full") as engine:
        stats = engine.database.committer.stats
        await engine.run_mutation("journal:write", {"seq": -1, "payload": "warm-up"})
        commits, batches = stats.commits, stats.batches
        sizes_before = Counter(stats.batch_sizes)
        latencies: list[float] = []

        async def writer(number: int) -> None:
            for i in range(COMMITS_PER_WRITER):
                started = time.perf_counter()
                outcome = await engine.run_mutation(
                    "journal:write", {"seq": number * 1000 + i, "payload": "x" * 200})
                latencies.append(time.perf_counter() - started)
                assert outcome.ok, outcome.error

        started = time.perf_counter()
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        elapsed = time.perf_counter() - started
        commits, batches = stats.commits - commits, stats.batches - batches
        sizes = Counter(stats.batch_sizes)
        sizes.subtract(sizes_before)
        entries = (await engine.run_query("journal:entries", {})).unwrap()

    distribution = {size: n for size, n in sorted(sizes.items()) if n}
    print(f"\n{WRITERS} writers, {commits} commits in {batches} batches"
          f" ({commits / batches:.1f} per fsync) in {elapsed:.2f} s"
          f" = {commits / elapsed:.0f} commits/s; latency p50"
          f" {percentile(latencies, 0.5) * 1e3:.1f} ms, p99"
          f" {percentile(latencies, 0.99) * 1e3:.1f} ms; batch sizes {distribution}")
    assert commits == WRITERS * COMMITS_PER_WRITER == len(entries) - 1
    assert sum(size * n for size, n in distribution.items()) == commits
    assert commits / batches > 1.5
    assert max(distribution) > 1
