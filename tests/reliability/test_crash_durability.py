"""Crash durability: SIGKILL the server while 8 clients transfer money, restart, check the books.

Every transfer whose success reached its client must be stored after the restart,
none may be stored twice (clients re-send unanswered transfers with the same
requestId, and the transfer mutation itself does not deduplicate), none that was
answered with a failure may be stored, and the balances must equal the opening
balances plus the stored transfers. The seed is printed; REACTOR_SEED replays it.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

from e2e_support import ReactorServer
from ledger_client import Transferrer, sync_url
from ledger_support import LEDGER_APP, LONG, call

ACCOUNTS = [f"acct{i}" for i in range(8)]
OPENING = 1000.0
CLIENTS = 8
CYCLES = 25 if LONG else 5


def check_books(audit: dict, clients: list[Transferrer], seed: int) -> None:
    stored = Counter((t["client"], int(t["seq"])) for t in audit["transfers"])
    twice = sorted(key for key, n in stored.items() if n > 1)
    assert not twice, f"seed {seed}: transfers applied more than once: {twice[:10]}"
    for client in clients:
        lost = sorted(s for s in client.succeeded if (client.name, s) not in stored)
        assert not lost, f"seed {seed}: {client.name}: acknowledged transfers lost: {lost[:10]}"
        ghosts = sorted(s for s in client.failed if (client.name, s) in stored)
        assert not ghosts, f"seed {seed}: {client.name}: failed transfers stored: {ghosts[:10]}"
    expected = {name: [OPENING, 0.0] for name in ACCOUNTS}
    for t in audit["transfers"]:
        expected[t["source"]][0] -= t["amount"]
        expected[t["target"]][0] += t["amount"]
        expected[t["source"]][1] += 1
        expected[t["target"]][1] += 1
    actual = {a["name"]: [a["balance"], a["moves"]] for a in audit["accounts"]}
    assert actual == expected, f"seed {seed}: balances do not match the stored transfers"
    assert sum(balance for balance, _ in actual.values()) == OPENING * len(ACCOUNTS)
    assert min(balance for balance, _ in actual.values()) >= 0


async def wait_for_progress(clients: list[Transferrer], server: ReactorServer, seed: int,
                            cycle: int) -> None:
    """Return once a transfer succeeds on the current server, so the kill lands mid-load."""
    answered = sum(len(c.succeeded) for c in clients)
    for _ in range(400):
        if sum(len(c.succeeded) for c in clients) > answered:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"seed {seed}: no transfer succeeded in cycle {cycle};"
                         f" log:\n{server.log()}")


async def test_acknowledged_transfers_survive_sigkill_exactly_once(
        tmp_path, db_url: str | None) -> None:
    seed = int(os.environ.get("REACTOR_SEED", random.randrange(2**32)))
    print(f"REACTOR_SEED={seed}")
    rng = random.Random(seed)
    # Fewer crashes on PostgreSQL: the same recovery path, CI time kept short.
    cycles = CYCLES if db_url is None or LONG else 2
    server = ReactorServer(LEDGER_APP, tmp_path / "data",
                           args=["--db", db_url] if db_url else None)
    await asyncio.to_thread(server.start)
    try:
        await asyncio.to_thread(call, server.url, "mutation", "ledger:open_accounts",
                                {"names": ACCOUNTS, "balance": OPENING})
        clients = [Transferrer(sync_url(server.url), f"client{i}", ACCOUNTS,
                               random.Random(rng.random())) for i in range(CLIENTS)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(client.run(stop)) for client in clients]
        for cycle in range(cycles):
            await wait_for_progress(clients, server, seed, cycle)
            await asyncio.sleep(rng.uniform(0.2, 1.0) * (3 if LONG else 1))
            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        audit = await asyncio.to_thread(call, server.url, "query", "ledger:audit", {})
    finally:
        await asyncio.to_thread(server.stop)
    print(f"succeeded {sum(len(c.succeeded) for c in clients)},"
          f" failed {sum(len(c.failed) for c in clients)},"
          f" re-sent {sum(c.resent for c in clients)}, stored {len(audit['transfers'])}")
    check_books(audit, clients, seed)
    assert sum(c.resent for c in clients) > 0, "no crash caught a transfer in flight"
    assert all(c.connections == cycles + 1 for c in clients), [c.connections for c in clients]
