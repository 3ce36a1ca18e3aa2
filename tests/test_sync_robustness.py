"""Bad input, overload and slow clients: each gets a clear answer, nobody else notices."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from e2e_support import NODE_DIR, ReactorServer, run_node
from sync_support import ProtocolClient, SocketClosed, http_json

from reactor.runtime.auth import AdminKey

APP = Path(__file__).parent / "apps" / "sync"
MAX_MESSAGE_BYTES = 200_000
TUNED_ENV = {
    "SYNC_TEST_HS256_SECRET": "s" * 40,
    "REACTOR_PING_INTERVAL_S": "0.4",
    "REACTOR_SEND_TIMEOUT_S": "1",
    "REACTOR_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
    "REACTOR_MAX_QUERIES_PER_CONNECTION": "20",
    "REACTOR_TRANSITION_CHUNK_BYTES": "50000",
    # The burst test is about backpressure: no per-caller rate limit.
    "REACTOR_MUTATION_RATE": "0",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(APP, tmp_path_factory.mktemp("robust-data"), env=TUNED_ENV) as running:
        yield running


def name() -> str:
    return uuid.uuid4().hex[:10]


class Bystander:
    """A healthy client watching a counter: after each misbehaving client, it must still work."""

    def __init__(self, url: str) -> None:
        self.client = ProtocolClient(url)
        self.counter = name()
        self.expected = 0

    async def check(self) -> None:
        response, _ = await self.client.mutation("counter:incr", {"name": self.counter})
        self.expected += 1
        assert response["result"] == self.expected
        assert self.client.values[0] == self.expected


@pytest.fixture
async def bystander(server: ReactorServer) -> AsyncIterator[Bystander]:
    watcher = Bystander(server.url)
    await watcher.client.open()
    await watcher.client.add({0: ("counter:get", {"name": watcher.counter})})
    await watcher.check()
    yield watcher
    await watcher.check()
    await watcher.client.close()
    status, _ = http_json(f"{server.url}/health", method="GET")
    assert status == 200


async def fatal_close(server: ReactorServer, *frames: str | bytes) -> tuple[dict, SocketClosed]:
    """Send `frames` after Connect; the FatalError that follows and the close."""
    async with ProtocolClient(server.url) as client:
        for frame in frames:
            await client.send_raw(frame)
        fatal = await client.receive_until(lambda f: f["type"] == "FatalError")
        closed = await client.closed()
        return fatal, closed


@pytest.mark.parametrize(("frame", "fragment"), [
    ("{not json", "not valid JSON"),
    ('{"type": "Subscribe", "queryId": 1}', "invalid client message"),
    ('{"type": "Mutation", "requestId": "one", "udfPath": "counter:incr", "args": [{}]}',
     "requestId"),
    ('{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": 3}',
     "modifications"),
    ('{"type": "ModifyQuerySet", "baseVersion": 5, "newVersion": 6, "modifications": []}',
     "baseVersion 5 does not match the server's query set version 0"),
    ('{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 2, "modifications": []}',
     "newVersion must be baseVersion + 1"),
    ('{"type": "Authenticate", "tokenType": "None", "baseVersion": 3}',
     "baseVersion 3 does not match the server's identity version 0"),
    ('{"type": "Connect", "sessionId": "0b5a3c1e-8d0e-4c4b-9f7a-3b7e2d9c1a10",'
     ' "connectionCount": 0, "lastCloseReason": null, "clientTs": 0}',
     "Connect may be sent only once"),
    ("[1, 2]", "invalid client message"),
])
async def test_malformed_frames_get_a_fatal_error_then_close(
        server: ReactorServer, bystander: Bystander, frame: str, fragment: str) -> None:
    fatal, closed = await fatal_close(server, frame)
    assert fragment in fatal["error"]
    # The close reason repeats the error (cut to the WebSocket limit of 123 bytes).
    assert closed.code == 1008 and fatal["error"].startswith(closed.reason)
    # Logged once, with the reason.
    assert server.log().count(fatal["error"][:60]) == 1


async def test_bad_session_id_and_remove_of_unknown_query(
        server: ReactorServer, bystander: Bystander) -> None:
    client = ProtocolClient(server.url, session_id="not-a-uuid")
    await client.open()
    fatal = await client.receive()
    assert fatal["type"] == "FatalError" and "is not a UUID" in fatal["error"]
    await client.closed()
    fatal, _ = await fatal_close(server, json.dumps({
        "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
        "modifications": [{"type": "Remove", "queryId": 9}]}))
    assert "query 9 is not in the query set" in fatal["error"]


async def test_duplicate_query_id_is_refused(server: ReactorServer, bystander: Bystander) -> None:
    add = {"type": "Add", "queryId": 1, "udfPath": "counter:get", "args": [{"name": "x"}]}
    fatal, _ = await fatal_close(server, json.dumps({
        "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
        "modifications": [add, add]}))
    assert "query id 1 is already in use" in fatal["error"]


async def test_function_errors_keep_the_socket_open(
        server: ReactorServer, bystander: Bystander) -> None:
    async with ProtocolClient(server.url) as client:
        await client.add({
            0: ("counter:nope", {"name": "x"}),
            1: ("counter:peek", {"name": "x"}),
            2: ("counter:get", {"name": 12}),
            3: ("counter:get", {}),
            4: ("counter:get", [{"a": 1}, {"b": 2}]),  # type: ignore[dict-item]
            5: ("counter:get", {"name": {"$bogus": "AA=="}}),
            6: ("counter:get", {"name": "fine"}),
        })
        errors = {query_id: failed["errorMessage"] for query_id, failed in client.errors.items()}
        assert "counter:nope" in errors[0] and "Could not find public function for" in errors[0]
        # Internal functions are invisible to clients: same answer as a missing one.
        assert "Could not find public function for 'counter:peek'" in errors[1]
        assert "counter:get" in errors[2] and "args.name" in errors[2] and "string" in errors[2]
        assert "counter:get" in errors[3] and "args.name" in errors[3]
        assert "counter:get" in errors[4]
        assert "counter:get" in errors[5] and "$bogus" in errors[5]
        assert client.values == {6: 0}
        for path, args in [("counter:peek", {"name": "x"}), ("counter:nope", {}),
                           ("counter:incr", {"name": 3}), ("counter:get", {"name": "x"})]:
            response, _ = await client.mutation(path, args)
            assert response["success"] is False and path in response["result"]
        response, _ = await client.mutation("counter:incr", {"name": 3})
        assert "args.name" in response["result"]
        await client.send({"type": "Action", "requestId": 99, "udfPath": "counter:nope",
                           "args": [{}]})
        action = await client.receive_until(lambda f: f["type"] == "ActionResponse")
        assert action["success"] is False and "counter:nope" in action["result"]
        # The socket still works.
        response, _ = await client.mutation("counter:incr", {"name": name()})
        assert response["success"]


async def test_query_limit_per_connection(server: ReactorServer, bystander: Bystander) -> None:
    async with ProtocolClient(server.url) as client:
        await client.add({i: ("counter:get", {"name": f"limit{i}"}) for i in range(25)})
        assert len(client.values) == 20
        assert all("TooManyQueries" in client.errors[i]["errorMessage"] for i in range(20, 25))


async def test_oversized_frame_closes_the_socket(
        server: ReactorServer, bystander: Bystander) -> None:
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": "big"})})
        await client.send({"type": "Mutation", "requestId": 0, "udfPath": "counter:incr",
                           "args": [{"name": "x" * (MAX_MESSAGE_BYTES + 10)}]})
        closed = await client.closed()
        assert closed.code == 1009  # message too big


async def test_binary_and_invalid_utf8_frames(server: ReactorServer, bystander: Bystander) -> None:
    fatal, _ = await fatal_close(server, b"\x00\x01binary")
    assert "not valid JSON" in fatal["error"]


async def test_burst_of_mutations_is_served_in_order(
        server: ReactorServer, bystander: Bystander) -> None:
    """5,000 mutations without waiting: past the in-flight limit the server stops reading
    (backpressure) instead of buffering without bound; every one is answered, in order."""
    counter = name()
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": counter})})
        total, real = 5_000, 250
        sends = []
        for request_id in range(total):
            # Most fail fast (an internal function): the burst is about admission, and
            # every 20th really commits, to keep the run short.
            path = "counter:incr" if request_id % 20 == 0 else "counter:peek"
            sends.append(client.send_mutation(path, {"name": counter}, request_id))
        await asyncio.gather(*sends)
        await bystander.check()
        order = []
        while len(order) < total:
            frame = await client.receive(30)
            if frame["type"] == "MutationResponse":
                order.append(frame["requestId"])
        assert order == list(range(total))
        successes = [client.responses[i]["result"] for i in range(0, total, 20)]
        assert successes == list(range(1, real + 1))
        # The last Transition may already have come before the last (failed) responses.
        if client.values.get(0) != real:
            await client.receive_until(lambda f: client.values.get(0) == real)


async def test_ping_after_idle_even_while_others_commit(server: ReactorServer) -> None:
    async with ProtocolClient(server.url) as idle, ProtocolClient(server.url) as busy:
        await idle.add({0: ("counter:get", {"name": name()})})
        pings = 0

        async def commit_elsewhere() -> None:
            for _ in range(15):
                await busy.mutation("counter:incr", {"name": name()})
                await asyncio.sleep(0.05)

        writer = asyncio.create_task(commit_elsewhere())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.5
        while loop.time() < deadline:
            frame = await idle.receive(2.0, pings=True)
            assert frame["type"] == "Ping", frame
            pings += 1
        await writer
        assert 2 <= pings <= 5


async def test_idle_connections_cost_no_task_of_their_own(server: ReactorServer) -> None:
    """Each idle subscribed socket is one task (the one receiving), not a sender beside it."""
    admin = {"Authorization": f"Convex {AdminKey.load_or_create(server.data_dir).value}"}
    _, before = http_json(f"{server.url}/api/debug/stats", method="GET", headers=admin)
    clients = [ProtocolClient(server.url) for _ in range(30)]
    try:
        for client in clients:
            await client.open()
            await client.add({0: ("counter:get", {"name": name()})})
        await asyncio.sleep(0.1)
        _, during = http_json(f"{server.url}/api/debug/stats", method="GET", headers=admin)
        assert during["sessions"] == before["sessions"] + 30
        assert during["tasks"] - before["tasks"] <= 30 + 3, (before, during)
        # Idle, they still get their pings (from the server-wide heartbeat).
        frame = await clients[-1].receive(2.0, pings=True)
        assert frame["type"] == "Ping"
    finally:
        for client in clients:
            await client.close()


async def test_slow_reader_is_disconnected_and_others_are_unaffected(
        server: ReactorServer, bystander: Bystander) -> None:
    key = AdminKey.load_or_create(server.data_dir).value
    admin = {"Authorization": f"Convex {key}"}
    counter = name()
    _, before = http_json(f"{server.url}/api/debug/stats", method="GET", headers=admin)
    slow = ProtocolClient(server.url)
    await slow.open(max_queue=1)
    await slow.add({0: ("counter:padded", {"name": counter, "size": 150_000})})
    # From here on the slow client reads nothing; a writer keeps changing its query.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    async with ProtocolClient(server.url) as writer:
        for step in itertools.count():
            assert loop.time() < deadline, "the stalled client was never disconnected"
            await writer.mutation("counter:incr", {"name": counter})
            if step % 20 == 0:
                await bystander.check()
            _, stats = http_json(f"{server.url}/api/debug/stats", method="GET", headers=admin)
            if stats["sessions"] < before["sessions"] + 2:
                break
    assert "did not complete within 1 s" in server.log()
    closed = await slow.closed(timeout=10)
    assert closed.code in (1011, 1006, None)
    await slow.close()


async def test_large_transitions_are_chunked(server: ReactorServer, node_modules: Path) -> None:
    counter = name()
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:padded", {"name": counter, "size": 120_000})})
        chunks = [f for f in client.frames if f["type"] == "TransitionChunk"]
        assert [c["partNumber"] for c in chunks] == list(range(chunks[0]["totalParts"]))
        assert len(chunks) >= 3 and len({c["transitionId"] for c in chunks}) == 1
        assert len(client.values[0]["pad"]) == 120_000
    # The official client reassembles them.
    result = run_node(NODE_DIR / "sync_large.mjs", server.url, counter, "120000")
    assert result == {"result": 1, "counts": [0, 1], "padLength": 120_000,
                      "connectionCount": 1}
