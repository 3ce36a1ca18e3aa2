"""PostgreSQL crashes and restarts under load (a throwaway cluster started with pg_ctl, since
the machine's shared server must not be restarted): Reactor stays up, reconnects, and no
acknowledged transfer is lost or applied twice.

While PostgreSQL is down, commits fail with `StorageIOError` (the client is told); once it
is back, commits succeed again without restarting Reactor.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest
from e2e_support import ReactorServer
from ledger_client import Transferrer, sync_url
from ledger_support import LEDGER_APP, call
from test_crash_durability import check_books, wait_for_progress

from reactor.testing_postgres import Cluster, Unavailable, start_cluster

ACCOUNTS = [f"acct{i}" for i in range(8)]
OPENING = 1000.0
CLIENTS = 4
RESTARTS = 2


@pytest.mark.slow
async def test_postgres_restart_loses_no_acknowledged_write(tmp_path: Path) -> None:
    seed = int(os.environ.get("REACTOR_SEED", random.randrange(2**32)))
    print(f"REACTOR_SEED={seed}")
    rng = random.Random(seed)
    try:
        cluster: Cluster = await asyncio.to_thread(start_cluster)
    except Unavailable as exc:
        pytest.skip(f"no throwaway PostgreSQL cluster: {exc}")
    server = ReactorServer(LEDGER_APP, tmp_path / "data", args=["--db", cluster.url])
    try:
        await asyncio.to_thread(server.start)
        await asyncio.to_thread(call, server.url, "mutation", "ledger:open_accounts",
                                {"names": ACCOUNTS, "balance": OPENING})
        clients = [Transferrer(sync_url(server.url), f"client{i}", ACCOUNTS,
                               random.Random(rng.random())) for i in range(CLIENTS)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(client.run(stop)) for client in clients]
        for cycle in range(RESTARTS):
            await wait_for_progress(clients, server, seed, cycle)
            await asyncio.sleep(rng.uniform(0.1, 0.5))
            # `immediate`: no checkpoint, connections cut; recovery replays the WAL.
            await asyncio.to_thread(cluster.stop, "immediate")
            await asyncio.sleep(0.3)
            await asyncio.to_thread(cluster.start)
        await wait_for_progress(clients, server, seed, RESTARTS)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        audit = await asyncio.to_thread(call, server.url, "query", "ledger:audit", {})
        assert server.process is not None and server.process.poll() is None
    finally:
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(cluster.stop)
        cluster.remove()
    failed = sum(len(c.failed) for c in clients)
    print(f"succeeded {sum(len(c.succeeded) for c in clients)}, failed {failed},"
          f" stored {len(audit['transfers'])}")
    check_books(audit, clients, seed)
    # The same connections throughout: Reactor itself never went away.
    assert all(c.connections == 1 for c in clients), [c.connections for c in clients]
    # The outages really hit transfers in flight, and their clients were told.
    assert failed > 0 and "read failed" in server.log()
