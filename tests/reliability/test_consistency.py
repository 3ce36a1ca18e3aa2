"""Consistency under load: every snapshot pushed during concurrent transfers is a real one.

Observers hold a summary query (total balance, total moves) and one query per
account on one socket, and check after every Transition that the total is
unchanged and that the per-account queries add up to the summary: a Transition
mixing results of two commits would break the moves sum.
"""

from __future__ import annotations

import asyncio
import random
import time

from e2e_support import ReactorServer
from ledger_client import Observer, Transferrer, sync_url
from ledger_support import LEDGER_APP, LONG, call

ACCOUNTS = [f"acct{i}" for i in range(6)]
OPENING = 1000.0
TOTAL = OPENING * len(ACCOUNTS)
SECONDS = 30.0 if LONG else 3.0


def check_snapshot(state: dict) -> None:
    summary, accounts = state[0], [state[i + 1] for i in range(len(ACCOUNTS))]
    assert summary["total"] == TOTAL, f"total {summary['total']} != {TOTAL}"
    assert sum(a["balance"] for a in accounts) == summary["total"], (summary, accounts)
    assert sum(a["moves"] for a in accounts) == summary["moves"], (summary, accounts)


async def test_pushed_snapshots_satisfy_the_invariant_and_agree(tmp_path) -> None:
    queries = {0: ("ledger:summary", {})}
    queries |= {i + 1: ("ledger:account", {"name": name}) for i, name in enumerate(ACCOUNTS)}
    with ReactorServer(LEDGER_APP, tmp_path / "data") as server:
        call(server.url, "mutation", "ledger:open_accounts",
             {"names": ACCOUNTS, "balance": OPENING})
        url = sync_url(server.url)
        observers = [Observer(url, queries, check_snapshot) for _ in range(2)]
        writers = [Transferrer(url, f"writer{i}", ACCOUNTS, random.Random(i))
                   for i in range(4)]
        stop_observers, stop_writers = asyncio.Event(), asyncio.Event()
        watching = [asyncio.create_task(o.run(stop_observers)) for o in observers]
        writing = [asyncio.create_task(w.run(stop_writers)) for w in writers]
        await asyncio.sleep(SECONDS)
        stop_writers.set()
        await asyncio.wait_for(asyncio.gather(*writing), 30)
        moves = 2 * sum(len(w.succeeded) for w in writers)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(t.done() for t in watching):
            if all(o.state.get(0, {}).get("moves") == moves for o in observers):
                break
            await asyncio.sleep(0.05)
        stop_observers.set()
        await asyncio.wait_for(asyncio.gather(*watching), 10)
        final = call(server.url, "query", "ledger:summary", {})
    print(f"moves {moves}, snapshots {[o.snapshots for o in observers]},"
          f" joint {[o.joint for o in observers]}")
    assert final == {"total": TOTAL, "moves": moves}
    for observer in observers:
        assert observer.state[0] == final, "an observer never saw the final state"
        assert observer.snapshots >= 20, f"only {observer.snapshots} snapshots were checked"
        assert observer.joint >= 5, f"only {observer.joint} Transitions changed both kinds"
