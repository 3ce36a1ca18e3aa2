"""A lean client of the sync protocol for load generators: raw frames, no client library.

Frames are built as bytes with orjson and sent as text; replies are parsed only
as far as a benchmark needs, so the load generator spends little CPU per message.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

MUTATION_RESPONSE = b'{"type":"MutationResponse"'
TRANSITION = b'{"type":"Transition"'


def sync_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/api/1.48.0/sync"


class Conn:
    """One socket speaking the protocol: Connect, then queries and mutations."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_request_id = 0
        self.query_set_version = 0

    @classmethod
    async def open(cls, url: str) -> Conn:
        ws = await connect(url, max_size=None, compression=None, ping_interval=None,
                           open_timeout=60)
        conn = cls(ws)
        await conn.send({"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0,
                         "lastCloseReason": None, "clientTs": time.time() * 1000})
        return conn

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def mutate(self, path: str, args: dict[str, Any]) -> int:
        """Send a Mutation without waiting; returns its requestId."""
        request_id = self.next_request_id
        self.next_request_id += 1
        await self.send({"type": "Mutation", "requestId": request_id, "udfPath": path,
                         "args": [args]})
        return request_id

    async def subscribe(self, queries: dict[int, tuple[str, dict[str, Any]]]) -> None:
        """Add `{queryId: (path, args)}` to the query set in one ModifyQuerySet."""
        base = self.query_set_version
        self.query_set_version += 1
        await self.send({"type": "ModifyQuerySet", "baseVersion": base,
                         "newVersion": base + 1, "modifications": [
                             {"type": "Add", "queryId": query_id, "udfPath": path,
                              "args": [args]}
                             for query_id, (path, args) in queries.items()]})

    async def recv(self) -> bytes:
        frame = await self.ws.recv(decode=False)
        return frame if isinstance(frame, bytes) else frame.encode()

    async def close(self) -> None:
        await self.ws.close()


def query_values(frame: bytes) -> dict[int, Any]:
    """`{queryId: value}` of the QueryUpdated modifications in a Transition frame."""
    if not frame.startswith(TRANSITION):
        return {}
    message = orjson.loads(frame)
    return {m["queryId"]: m.get("value") for m in message["modifications"]
            if m["type"] == "QueryUpdated"}


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of unsorted samples (nan when there are none)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[rank]


async def open_subscriber(url: str, path: str, args: dict[str, Any]) -> tuple[Conn, Any]:
    """A socket subscribed to one query (id 0), once its first value has arrived."""
    conn = await Conn.open(url)
    await conn.subscribe({0: (path, args)})
    while True:
        values = query_values(await conn.recv())
        if 0 in values:
            return conn, values[0]


async def open_subscribers(url: str, path: str, args: list[dict[str, Any]],
                           concurrency: int = 50) -> list[Conn]:
    """One subscribed socket per `args` element, opened `concurrency` at a time."""
    slots = asyncio.Semaphore(concurrency)

    async def one(query_args: dict[str, Any]) -> Conn:
        async with slots:
            conn, _ = await open_subscriber(url, path, query_args)
            return conn

    return list(await asyncio.gather(*(one(a) for a in args)))


async def record_arrivals(conn: Conn, arrivals: dict[float, list[float]]) -> None:
    """Forever: when query 0's value (a float) arrives on `conn`, note the time under it."""
    while True:
        value = query_values(await conn.recv()).get(0)
        if isinstance(value, float):
            arrivals.setdefault(value, []).append(time.perf_counter())


async def drain(conn: Conn) -> None:
    """Forever: read and drop what arrives on `conn` (a writer's responses)."""
    while True:
        await conn.recv()
