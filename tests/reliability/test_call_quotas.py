"""Per-caller rate limits on mutations and actions, against a live server, and the bucket
table's bookkeeping in isolation.

The server runs with 10 mutations and 2 actions per second per caller (bursts
of 20 and 4). A caller is its identity over every socket and HTTP, an anonymous
socket on its own, an anonymous HTTP client by address; admins are not limited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import ReactorServer
from server_probe import LIMITS_APP, stats
from sync_support import ProtocolClient

from reactor.runtime.auth import AdminKey, BuiltinIssuer
from reactor.server.quotas import SWEEP_AT, CallQuotas, RateLimited

MUTATION_RATE = 10
ACTION_RATE = 2
INCR = {"path": "counter:incr", "args": [{"name": "q"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    # The mutation rate comes from the command line, the action rate from the environment.
    with ReactorServer(LIMITS_APP, tmp_path_factory.mktemp("quotas"),
                       env={"REACTOR_ACTION_RATE": str(ACTION_RATE)},
                       args=["--mutation-rate", str(MUTATION_RATE)]) as running:
        yield running


def token(server: ReactorServer, subject: str) -> dict[str, str]:
    issued = BuiltinIssuer.load_or_create(server.data_dir, "reactor").issue_token(subject)
    return {"Authorization": f"Bearer {issued}"}


async def pipelined(client: ProtocolClient, count: int, kind: str = "Mutation"
                    ) -> list[dict[str, object]]:
    """Send `count` calls at once; their responses in order."""
    first = client.next_request
    for n in range(count):
        request_id = first + n
        if kind == "Mutation":
            await client.send_mutation("counter:incr", {"name": "ws"}, request_id)
        else:
            await client.send({"type": "Action", "requestId": request_id,
                               "udfPath": "calls:wait", "args": [{"seconds": 0}]})
    client.next_request = first + count
    while len([i for i in range(first, first + count) if i in client.responses]) < count:
        await client.receive(10)
    return [client.responses[i] for i in range(first, first + count)]


async def test_a_socket_past_its_rate_is_refused_and_others_are_not(
        server: ReactorServer) -> None:
    async with ProtocolClient(server.url) as greedy, ProtocolClient(server.url) as other:
        responses = await pipelined(greedy, 60)
        ok = [r for r in responses if r["success"]]
        assert 2 * MUTATION_RATE <= len(ok) <= 2 * MUTATION_RATE + 6, len(ok)
        for refused in (r for r in responses if not r["success"]):
            assert str(refused["result"]).startswith(
                f"RateLimited: more than {MUTATION_RATE} mutations per second from this client")
        # Another anonymous socket has its own bucket.
        assert all(r["success"] for r in await pipelined(other, 10))
        # The greedy one gets tokens back as time passes.
        await asyncio.sleep(1.0)
        assert sum(bool(r["success"]) for r in await pipelined(greedy, 10)) >= MUTATION_RATE - 2
        actions = await pipelined(other, 10, kind="Action")
        assert 2 * ACTION_RATE <= sum(bool(r["success"]) for r in actions) <= 2 * ACTION_RATE + 2
    assert stats(server)["rateLimited"]["mutations"] >= 30


async def test_an_identity_shares_its_bucket_over_http_and_admins_are_not_limited(
        server: ReactorServer) -> None:
    alice, bob = token(server, "alice"), token(server, "alice-other")
    admin = {"Authorization": f"Convex {AdminKey.load_or_create(server.data_dir).value}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async def burst(headers: dict[str, str], count: int) -> list[httpx.Response]:
            return list(await asyncio.gather(
                *(http.post("/api/mutation", json=INCR, headers=headers)
                  for _ in range(count))))

        # At once, over several connections: one budget for the identity.
        responses = await burst(alice, 4 * MUTATION_RATE)
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) <= 3 * MUTATION_RATE and 429 in statuses, statuses
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.json()["code"] == "RateLimited" and refused.headers["retry-after"]
        assert refused.json()["message"].startswith(
            f"more than {MUTATION_RATE} mutations per second")
        assert (await http.post("/api/mutation", json=INCR, headers=bob)).status_code == 200
        assert all(r.status_code == 200 for r in await burst(admin, 4 * MUTATION_RATE))


def test_the_bucket_table_refills_and_sweeps_full_buckets() -> None:
    now = [0.0]
    quotas = CallQuotas("mutation", 5, clock=lambda: now[0])
    for _ in range(10):
        quotas.charge("a")
    with pytest.raises(RateLimited) as refused:
        quotas.charge("a")
    assert refused.value.retry_after == pytest.approx(0.2)
    now[0] += 0.2
    quotas.charge("a")
    quotas.charge(None)  # admins: never refused, never stored
    for n in range(SWEEP_AT):
        quotas.charge(n)
    now[0] += 10  # every bucket refilled: the next new caller sweeps them out
    started = time.perf_counter()
    quotas.charge("new")
    assert len(quotas) == 1 and time.perf_counter() - started < 1.0
    assert CallQuotas("mutation", 0).policy is None
