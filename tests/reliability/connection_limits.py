"""The per-connection limits of the sync server and HTTP API, each driven at the configured
limit (served) and one past it (refused as documented), against a live server.

The server runs with the small settings of SERVER_ENV; the documented defaults
are checked against `ServerConfig` separately.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import httpx
from e2e_support import ReactorServer
from stalled_client import blocking_bytes, open_stallable, pause, resume
from sync_support import ProtocolClient

MAX_MESSAGE_BYTES = 200_000
MAX_QUERIES = 8
MAX_INFLIGHT = 4
MAX_OUTBOX = 8
SEND_TIMEOUT_S = 1.0
PING_INTERVAL_S = 0.5
CHUNK_BYTES = 50_000
MAX_UPLOAD_BYTES = 100_000
UPLOAD_TIMEOUT_S = 1.0
UPLOADS_PER_MINUTE = 3
SERVER_ENV = {
    "REACTOR_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
    "REACTOR_UPLOAD_TIMEOUT_S": str(UPLOAD_TIMEOUT_S),
    "REACTOR_UPLOADS_PER_MINUTE": str(UPLOADS_PER_MINUTE),
    "REACTOR_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
    "REACTOR_MAX_QUERIES_PER_CONNECTION": str(MAX_QUERIES),
    "REACTOR_MAX_INFLIGHT_REQUESTS": str(MAX_INFLIGHT),
    "REACTOR_MAX_OUTBOX_MESSAGES": str(MAX_OUTBOX),
    "REACTOR_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S),
    "REACTOR_PING_INTERVAL_S": str(PING_INTERVAL_S),
    "REACTOR_TRANSITION_CHUNK_BYTES": str(CHUNK_BYTES),
}


def _name() -> str:
    return uuid.uuid4().hex[:12]


def _echo_frame(size: int) -> str:
    """A Mutation frame of exactly `size` bytes."""
    head = '{"type":"Mutation","requestId":0,"udfPath":"values:echo_mutation","args":[{"value":"'
    tail = '"}]}'
    return head + "x" * (size - len(head) - len(tail)) + tail


def _echo_body(size: int) -> bytes:
    """An /api/mutation body of exactly `size` bytes."""
    head, tail = '{"path":"values:echo_mutation","args":[{"value":"', '"}]}'
    return (head + "x" * (size - len(head) - len(tail)) + tail).encode()


async def message_size(server: ReactorServer) -> None:
    async with ProtocolClient(server.url) as client:
        await client.send_raw(_echo_frame(MAX_MESSAGE_BYTES))
        response, _ = await client.settle(0)
        assert response["success"] and response["result"]["size"] > MAX_MESSAGE_BYTES - 100
        await client.send_raw(_echo_frame(MAX_MESSAGE_BYTES + 1))
        closed = await asyncio.wait_for(client.closed(), 30)
        assert closed.code == 1009, closed
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headers = {"Content-Type": "application/json"}
        at = await http.post("/api/mutation", content=_echo_body(MAX_MESSAGE_BYTES),
                             headers=headers)
        assert at.status_code == 200 and at.json()["status"] == "success", at.text
        past = await http.post("/api/mutation", content=_echo_body(MAX_MESSAGE_BYTES + 1),
                               headers=headers)
        assert past.status_code == 413, past.text
        assert past.json() == {"code": "PayloadTooLarge", "message": "request body exceeds"
                               f" the limit of {MAX_MESSAGE_BYTES} bytes"}


async def queries_per_connection(server: ReactorServer) -> None:
    async with ProtocolClient(server.url) as client:
        await client.add({i: ("counter:get", {"name": f"q{i}"}) for i in range(MAX_QUERIES)})
        assert len(client.values) == MAX_QUERIES and not client.errors
        await client.add({MAX_QUERIES: ("counter:get", {"name": "one-more"})})
        assert client.errors[MAX_QUERIES]["errorMessage"] == (
            f"TooManyQueries: a connection may hold at most {MAX_QUERIES} queries")
        assert len(client.values) == MAX_QUERIES


async def inflight_requests(server: ReactorServer) -> None:
    """Past the limit the server stops reading the socket: a query sent after the slow
    mutations is only answered once some of them have finished (they run side by side),
    and before the one that had to wait for a slot."""
    for count in (MAX_INFLIGHT, MAX_INFLIGHT + 1):
        async with ProtocolClient(server.url) as client:
            for request_id in range(count):
                await client.send_mutation("txn:slow", {"seconds": 0.2}, request_id)
            await client.send({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                               "modifications": [{"type": "Add", "queryId": 0,
                                                  "udfPath": "counter:get",
                                                  "args": [{"name": _name()}]}]})
            kinds = []
            while len([k for k in kinds if k == "MutationResponse"]) < count:
                frame = await client.receive(10)
                if frame["type"] in ("MutationResponse", "Transition"):
                    kinds.append(frame["type"])
            answered_at = kinds.index("Transition")
            # At the limit the query is answered at once; one past it, after a mutation.
            if count == MAX_INFLIGHT:
                assert answered_at == 0, kinds
            else:
                assert 1 <= answered_at < count, kinds


async def _stalled_with_backlog(server: ReactorServer, responses: int) -> ProtocolClient:
    """A client whose socket is full (a Transition larger than the kernel buffers is being
    sent) that then sends `responses` failing mutations and reads again."""
    client = await open_stallable(server.url)
    pause(client)
    await client.send({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                       "modifications": [{"type": "Add", "queryId": 0,
                                          "udfPath": "counter:padded",
                                          "args": [{"name": _name(), "pad": blocking_bytes()}]}]})
    await asyncio.sleep(0.3)
    for request_id in range(responses):
        await client.send_mutation("nope:nothing", {}, request_id)
    await asyncio.sleep(0.2)
    resume(client)
    return client


async def outbox_messages(server: ReactorServer) -> None:
    at = await _stalled_with_backlog(server, MAX_OUTBOX)
    for _ in range(MAX_OUTBOX):
        await at.receive_until(lambda f: f["type"] == "MutationResponse", timeout=30)
    response, _ = await at.mutation("counter:incr", {"name": _name()}, request_id=99)
    assert response["success"]
    await at.close()
    past = await _stalled_with_backlog(server, MAX_OUTBOX + 1)
    closed = await asyncio.wait_for(past.closed(), 30)
    assert (closed.code, closed.reason) == (1011, "TooManyConcurrentRequests: more than"
                                            f" {MAX_OUTBOX} responses wait for the client to"
                                            " read them")


async def _blocked_for(server: ReactorServer, seconds: float) -> tuple[ProtocolClient, str]:
    """A client that subscribes to a Transition larger than the kernel buffers and reads
    nothing for `seconds`, then reads again; the client and its counter's name."""
    counter = _name()
    client = await open_stallable(server.url)
    pause(client)
    await client.send({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                       "modifications": [{"type": "Add", "queryId": 0,
                                          "udfPath": "counter:padded",
                                          "args": [{"name": counter, "pad": blocking_bytes()}]}]})
    await asyncio.sleep(seconds)
    resume(client)
    return client, counter


async def send_timeout(server: ReactorServer) -> None:
    """A send blocked for less than the timeout is waited for; past it the socket is closed."""
    at, counter = await _blocked_for(server, SEND_TIMEOUT_S / 3)
    await at.receive_until(lambda f: f["type"] == "Transition", timeout=30)
    response, _ = await at.mutation("counter:incr", {"name": counter})
    assert response["success"] and at.values[0]["value"] == 1
    await at.close()
    past, _ = await _blocked_for(server, SEND_TIMEOUT_S * 3)
    closed = await asyncio.wait_for(past.closed(), 30)
    # The close handshake is given up after 1 s (the client was not reading), so the
    # connection ends without a close frame once the client reads again.
    assert closed.code in (None, 1006, 1011), closed
    assert (f"a send did not complete within {SEND_TIMEOUT_S:g} s"
            " (the client stopped reading)") in server.log()


async def ping_interval(server: ReactorServer) -> None:
    """No Ping before PING_INTERVAL_S of silence; one soon after it."""
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": _name()})})
        silent_since = time.monotonic()
        frame = await client.receive(5, pings=True)
        waited = time.monotonic() - silent_since
        assert frame["type"] == "Ping"
        assert PING_INTERVAL_S * 0.9 <= waited < PING_INTERVAL_S + 1.0, waited


async def transition_chunk(server: ReactorServer) -> None:
    """A Transition of exactly CHUNK_BYTES goes as one frame; one byte more is chunked."""

    async def first_frames(pad: int) -> list[str]:
        client = ProtocolClient(server.url)
        await client.open()
        assert client.ws is not None
        await client.send({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                           "modifications": [{"type": "Add", "queryId": 0,
                                              "udfPath": "counter:padded",
                                              "args": [{"name": "chunks", "pad": pad}]}]})
        frames = [str(await client.ws.recv())]
        while json.loads(frames[-1])["type"] == "TransitionChunk" and (
                json.loads(frames[-1])["partNumber"] + 1 < json.loads(frames[-1])["totalParts"]):
            frames.append(str(await client.ws.recv()))
        await client.close()
        return frames

    (probe,) = await first_frames(1_000)
    overhead = len(probe.encode()) - 1_000
    (at,) = await first_frames(CHUNK_BYTES - overhead)
    assert len(at.encode()) == CHUNK_BYTES and json.loads(at)["type"] == "Transition"
    past = await first_frames(CHUNK_BYTES - overhead + 1)
    assert [json.loads(frame)["type"] for frame in past] == ["TransitionChunk"] * 2
    assert json.loads("".join(json.loads(frame)["chunk"] for frame in past))["type"] == (
        "Transition")


# File uploads: anonymous uploads are rated per client address, so each case sends from
# its own loopback address and none uses up another's allowance.


async def _upload(server: ReactorServer, address: str, body: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(f"{server.url}/api/mutation",
                                json={"path": "uploads:url", "args": {}})
        url = reply.json()["value"]
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=30) as http:
        return await http.post(url, content=body)  # type: ignore[arg-type]


async def upload_size(server: ReactorServer) -> None:
    served = await _upload(server, "127.0.0.11", b"u" * MAX_UPLOAD_BYTES)
    assert served.status_code == 200 and "storageId" in served.json()
    refused = await _upload(server, "127.0.0.11", b"u" * (MAX_UPLOAD_BYTES + 1))
    assert refused.status_code == 413
    assert refused.json() == {"code": "FileTooLarge", "message": f"file of {MAX_UPLOAD_BYTES + 1}"
                              f" bytes exceeds the upload limit of {MAX_UPLOAD_BYTES} bytes"}


async def upload_timeout(server: ReactorServer) -> None:
    async def trickle(pause_s: float) -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"t" * 10
            await asyncio.sleep(pause_s)

    served = await _upload(server, "127.0.0.12", trickle(0.05))
    assert served.status_code == 200
    refused = await _upload(server, "127.0.0.12", trickle(UPLOAD_TIMEOUT_S / 2))
    assert refused.status_code == 408
    assert refused.json() == {"code": "UploadTimeout", "message": "upload did not finish within"
                              f" {UPLOAD_TIMEOUT_S:g} s"}


async def uploads_per_minute(server: ReactorServer) -> None:
    for _ in range(UPLOADS_PER_MINUTE):
        assert (await _upload(server, "127.0.0.13", b"r")).status_code == 200
    refused = await _upload(server, "127.0.0.13", b"r")
    assert refused.status_code == 429 and refused.json()["code"] == "UploadRateExceeded"
    assert refused.json()["message"].startswith(
        f"too many uploads: at most {UPLOADS_PER_MINUTE} per minute per user")
    assert (await _upload(server, "127.0.0.14", b"r")).status_code == 200  # another address
