"""Subscription memory on a live server: a server-wide cap on live queries, and memory given
back once the sockets holding them close.

Ten sockets hold 2,048 distinct live queries each (about 60 MB of the server's
memory); an eleventh finds the server-wide cap (REACTOR_MAX_LIVE_QUERIES) and
gets TooManyQueries for every new query past it, though queries others already
hold still work. Once all close, the server's RSS must come back within
RESIDUE of the growth (it kept about 70 % of it before the server reclaimed).
"""

from __future__ import annotations

import asyncio
import time

from e2e_support import ReactorServer
from server_probe import LIMITS_APP, MIB, server_rss, stats
from sync_support import ProtocolClient

SOCKETS = 10
PER_SOCKET = 2048
CAP = SOCKETS * PER_SOCKET + 520
LATE = 1000
RESIDUE = 0.3


async def hold(server: ReactorServer, prefix: str, count: int) -> ProtocolClient:
    client = await ProtocolClient(server.url).open()
    await client.add({i: ("counter:get", {"name": f"{prefix}-{i}"}) for i in range(count)},
                     timeout=120)
    return client


async def test_live_queries_are_capped_and_their_memory_given_back(tmp_path) -> None:
    env = {"REACTOR_MAX_LIVE_QUERIES": str(CAP)}
    with ReactorServer(LIMITS_APP, tmp_path, env=env) as server:
        warm = await hold(server, "warm", 200)
        await warm.close()
        await asyncio.sleep(1.5)
        base = server_rss(server)

        clients = [await hold(server, f"s{n}", PER_SOCKET) for n in range(SOCKETS)]
        assert all(len(c.values) == PER_SOCKET and not c.errors for c in clients)
        late = await hold(server, "late", LATE)
        assert len(late.values) == CAP - SOCKETS * PER_SOCKET
        assert len(late.errors) == LATE - len(late.values)
        for error in late.errors.values():
            assert error["errorMessage"] == (f"TooManyQueries: the server holds its maximum"
                                             f" of {CAP} live queries; try again later")
        # A query someone already holds is shared, so it is not refused.
        await late.add({LATE: ("counter:get", {"name": "s0-7"})})
        assert late.values[LATE] == 0
        peak = server_rss(server)
        assert peak - base > 30 * MIB, (base, peak)

        for client in [*clients, late]:
            await client.close()
        deadline = time.monotonic() + 15
        while server_rss(server) - base > RESIDUE * (peak - base):
            assert time.monotonic() < deadline, (
                f"RSS {server_rss(server) / MIB:.0f} MiB after closing; it was"
                f" {base / MIB:.0f} before and {peak / MIB:.0f} at the peak")
            await asyncio.sleep(0.5)
        after = server_rss(server)
        print(f"\nRSS {base / MIB:.0f} MiB -> {peak / MIB:.0f} MiB with"
              f" {SOCKETS * PER_SOCKET} live queries -> {after / MIB:.0f} MiB after closing")
        assert stats(server)["subscriptions"]["entries"] <= 1_000
