"""Concurrent transfers through the engine equal a serial run in commit-timestamp order."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactor.runtime import Engine

APP = Path(__file__).parent / "apps" / "bank"
ACCOUNTS = 10
WORKERS = 16
TRANSFERS_PER_WORKER = 200
OPENING_BALANCE = 100.0


@dataclass(frozen=True)
class Transfer:
    """One successful mutation call: what it asked for, what it saw, its timestamp."""

    ts: int
    source: str
    dest: str
    amount: float
    result: dict[str, Any]
    attempts: int


def replay(opening: dict[str, float], transfers: list[Transfer]) -> dict[str, float]:
    """Apply the transfers one at a time in ts order, checking what each one returned.

    A refused transfer wrote nothing, so its ts is its snapshot: the state after
    every commit at or before it must indeed not cover the amount.
    """
    balances = dict(opening)
    # Commits at a ts come before refusals that read that same snapshot.
    events = sorted(transfers, key=lambda t: (t.ts, not t.result["ok"]))
    commit_ts = [t.ts for t in events if t.result["ok"]]
    assert len(commit_ts) == len(set(commit_ts)), "two commits share a timestamp"
    for t in events:
        if t.result["ok"]:
            assert balances[t.source] >= t.amount, t
            balances[t.source] -= t.amount
            balances[t.dest] += t.amount
            assert t.result["source"] == balances[t.source], t
            assert t.result["dest"] == balances[t.dest], t
        else:
            assert balances[t.source] < t.amount, t
            assert t.result["balance"] == balances[t.source], t
    return balances


async def test_concurrent_transfers_are_serializable(tmp_path: Path, db_url: str | None) -> None:
    # Fewer on PostgreSQL, whose reads are round trips: the same races, in less time.
    transfers = TRANSFERS_PER_WORKER if db_url is None else TRANSFERS_PER_WORKER // 4
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"\nserializability seed {seed}")
    async with Engine(APP, tmp_path, durability="normal", db_url=db_url) as engine:
        ids = (await engine.run_mutation(
            "bank:open_accounts", {"count": ACCOUNTS, "balance": OPENING_BALANCE})).unwrap()
        opening = {doc_id: OPENING_BALANCE for doc_id in ids}
        total = OPENING_BALANCE * ACCOUNTS
        done: list[Transfer] = []
        failures: Counter[str] = Counter()

        async def worker(number: int) -> None:
            rng = random.Random(seed * 100 + number)
            for _ in range(transfers):
                source, dest = rng.sample(ids, 2)
                amount = float(rng.randint(1, 80))
                outcome = await engine.run_mutation(
                    "bank:transfer", {"source": source, "dest": dest, "amount": amount})
                if outcome.error is not None:
                    failures[outcome.error.code] += 1
                    continue
                assert outcome.ts is not None
                done.append(Transfer(outcome.ts, source, dest, amount, outcome.value,
                                     outcome.attempts))

        snapshots: list[tuple[int, dict[str, Any]]] = []
        pushed: list[dict[str, Any]] = []
        writers_done = asyncio.Event()

        async def reader() -> None:
            while not writers_done.is_set():
                outcome = await engine.run_query("bank:total", {})
                assert outcome.ts is not None
                snapshots.append((outcome.ts, outcome.unwrap()))
                await asyncio.sleep(0.002)

        async def watcher() -> None:
            async with engine.subscribe("bank:balances", {}) as sub:
                while not writers_done.is_set():
                    try:
                        pushed.append(await sub.next(timeout=0.05))
                    except TimeoutError:
                        continue

        started = time.perf_counter()
        readers = [asyncio.create_task(reader()), asyncio.create_task(watcher())]
        await asyncio.gather(*(worker(n) for n in range(WORKERS)))
        elapsed = time.perf_counter() - started
        writers_done.set()
        await asyncio.gather(*readers)

        final = (await engine.run_query("bank:balances", {})).unwrap()
        stats = engine.database.committer.stats

    calls = WORKERS * transfers
    committed = sum(1 for t in done if t.result["ok"])
    retried = sum(1 for t in done if t.attempts > 1)
    print(f"{calls} transfers in {elapsed:.1f} s: {committed} committed,"
          f" {len(done) - committed} refused, {retried} retried, failures {dict(failures)},"
          f" {stats.batches} batches, {stats.conflicts} conflicts;"
          f" {len(snapshots)} reads, {len(pushed)} pushed values")

    # Conflicts are retried: a caller seeing one after every attempt is rare.
    assert set(failures) <= {"OptimisticConcurrency"}
    assert len(done) >= 0.95 * calls
    assert committed > calls // 4 and retried > 0

    assert len(snapshots) > 10 and len(pushed) > 1
    for ts, value in snapshots:
        assert value == {"total": total, "count": ACCOUNTS}, ts
    for value in pushed:
        assert sum(value.values()) == total and len(value) == ACCOUNTS

    assert final == replay(opening, done)
    assert sum(final.values()) == total
