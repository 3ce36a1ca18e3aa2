"""Commit latency with one writer, and batching and throughput with concurrent writers.

    .venv/bin/python bench/commit_latency.py [--commits 400] [--writers 8] [--durability full]

Each commit is one mutation inserting a ~200-byte document, run through the
engine against a fresh SQLite file; with durability "full" every batch is fsynced.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from reactor.runtime import Engine

SCHEMA = """
from reactor import define_schema, define_table, v

schema = define_schema({"rows": define_table({"writer": v.number(), "payload": v.string()})})
"""

FUNCTIONS = """
from reactor import mutation, v


@mutation(args={"writer": v.number(), "payload": v.string()})
async def insert(ctx, writer, payload):
    return await ctx.db.insert("rows", {"writer": writer, "payload": payload})
"""


def write_app(root: Path) -> Path:
    app = root / "app"
    (app / "functions").mkdir(parents=True)
    (app / "schema.py").write_text(SCHEMA)
    (app / "functions" / "bench.py").write_text(FUNCTIONS)
    return app


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(app: Path, data_dir: Path, writers: int, commits: int,
                  durability: str) -> None:
    """Run `commits` mutations split over `writers` concurrent callers and print the figures."""
    async with Engine(app, data_dir, durability=durability) as engine:
        stats = engine.database.committer.stats
        await engine.run_mutation("bench:insert", {"writer": -1, "payload": "warm-up"})
        before_commits, before_batches = stats.commits, stats.batches
        before_sizes = Counter(stats.batch_sizes)
        latencies: list[float] = []

        async def writer(number: int) -> None:
            for _ in range(commits // writers):
                started = time.perf_counter()
                outcome = await engine.run_mutation(
                    "bench:insert", {"writer": number, "payload": "x" * 200})
                latencies.append(time.perf_counter() - started)
                outcome.unwrap()

        started = time.perf_counter()
        await asyncio.gather(*(writer(n) for n in range(writers)))
        elapsed = time.perf_counter() - started
        done = stats.commits - before_commits
        batches = stats.batches - before_batches
        sizes = Counter(stats.batch_sizes)
        sizes.subtract(before_sizes)

    distribution = ", ".join(f"{size}: {n}" for size, n in sorted(sizes.items()) if n)
    print(f"{writers} writer(s), durability {durability}: {done} commits in {elapsed:.2f} s"
          f" = {done / elapsed:.0f} commits/s")
    print(f"  latency p50 {percentile(latencies, 0.5) * 1e3:.2f} ms,"
          f" p99 {percentile(latencies, 0.99) * 1e3:.2f} ms,"
          f" max {max(latencies) * 1e3:.2f} ms")
    print(f"  {batches} batches, {done / batches:.2f} commits per batch;"
          f" batch sizes {{{distribution}}}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=400)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reactor-bench-") as tmp:
        root = Path(tmp)
        app = write_app(root)
        await measure(app, root / "one", 1, options.commits, options.durability)
        await measure(app, root / "many", options.writers, options.commits, options.durability)


if __name__ == "__main__":
    asyncio.run(main())
