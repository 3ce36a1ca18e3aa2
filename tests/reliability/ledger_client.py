"""Raw sync-protocol clients for the reliability suite: transfer writers and snapshot observers.

They speak the protocol frame by frame (no client library), so a test sees exactly
what the server sent: every MutationResponse, and every Transition with its versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from reactor.server import protocol as p

_encoder = msgspec.json.Encoder()
DISCONNECTED = (OSError, WebSocketException, TimeoutError)


def sync_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/api/1.48.0/sync"


async def open_socket(url: str, session_id: str, connection_count: int = 0) -> ClientConnection:
    """Connect and send the Connect message that must come first."""
    ws = await connect(url, open_timeout=5, ping_interval=None, compression=None,
                       max_size=None)
    await send(ws, p.Connect(sessionId=session_id, connectionCount=connection_count,
                             lastCloseReason=None, clientTs=time.time() * 1000))
    return ws


async def send(ws: ClientConnection, message: Any) -> None:
    await ws.send(_encoder.encode(message).decode())


async def receive(ws: ClientConnection, timeout: float) -> p.ServerMessage:
    return p.decode_server_message(await asyncio.wait_for(ws.recv(), timeout))


@dataclass
class Transferrer:
    """One client moving money: keeps `inflight` transfers outstanding.

    After the connection drops it reconnects with the same sessionId and re-sends
    every unanswered transfer with its original requestId (= its seq), as the
    official client does.
    """

    url: str
    name: str
    accounts: list[str]
    rng: random.Random
    inflight: int = 4
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    succeeded: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    unanswered: dict[int, dict[str, Any]] = field(default_factory=dict)
    resent: int = 0
    connections: int = 0
    next_seq: int = 0

    def _new_transfer(self) -> int:
        source, target = self.rng.sample(self.accounts, 2)
        seq = self.next_seq
        self.next_seq += 1
        self.unanswered[seq] = {"client": self.name, "seq": seq, "source": source,
                                "target": target, "amount": float(self.rng.randint(1, 40))}
        return seq

    async def _send(self, ws: ClientConnection, seq: int) -> None:
        await send(ws, p.Mutation(requestId=seq, udfPath="ledger:transfer",
                                  args=[self.unanswered[seq]]))

    async def run(self, stop: asyncio.Event) -> None:
        """Transfer until `stop`, then wait until every transfer sent has an answer."""
        while not (stop.is_set() and not self.unanswered):
            try:
                ws = await open_socket(self.url, self.session_id, self.connections)
            except DISCONNECTED:
                await asyncio.sleep(0.05)
                continue
            self.connections += 1
            try:
                await self._session(ws, stop)
            except DISCONNECTED:
                pass
            finally:
                with contextlib.suppress(Exception):
                    await ws.close()

    async def _session(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        for seq in sorted(self.unanswered):
            await self._send(ws, seq)
            self.resent += self.connections > 1
        while not (stop.is_set() and not self.unanswered):
            while not stop.is_set() and len(self.unanswered) < self.inflight:
                await self._send(ws, self._new_transfer())
            try:
                message = await receive(ws, 0.2)
            except TimeoutError:
                continue
            if isinstance(message, p.MutationResponse):
                del self.unanswered[message.requestId]
                (self.succeeded if message.success else self.failed).add(message.requestId)
            elif isinstance(message, p.FatalError):
                raise AssertionError(f"{self.name}: server sent FatalError {message.error}")


Check = Callable[[dict[int, Any]], None]


@dataclass
class Observer:
    """A socket subscribed to `queries`; applies each Transition and checks the snapshot."""

    url: str
    queries: dict[int, tuple[str, dict[str, Any]]]
    check: Check
    snapshots: int = 0
    joint: int = 0
    state: dict[int, Any] = field(default_factory=dict)
    last_ts: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        ws = await open_socket(self.url, str(uuid.uuid4()))
        try:
            await send(ws, p.ModifyQuerySet(baseVersion=0, newVersion=1, modifications=[
                p.AddQuery(queryId=query_id, udfPath=path, args=[args])
                for query_id, (path, args) in self.queries.items()]))
            version = p.StateVersion(querySet=0, identity=0, ts=p.encode_ts(0))
            while not stop.is_set():
                try:
                    message = await receive(ws, 0.2)
                except TimeoutError:
                    continue
                if isinstance(message, p.Transition):
                    assert message.startVersion == version, (
                        f"Transition starts at {message.startVersion}, last ended at {version}")
                    version = message.endVersion
                    self._apply(message)
        finally:
            await ws.close()

    def _apply(self, transition: p.Transition) -> None:
        changed = set()
        for modification in transition.modifications:
            assert isinstance(modification, p.QueryUpdated), f"query failed: {modification}"
            self.state[modification.queryId] = modification.value
            changed.add(modification.queryId)
        self.last_ts = p.decode_ts(transition.endVersion.ts)
        if len(self.state) == len(self.queries) and changed:
            self.check(self.state)
            self.snapshots += 1
            self.joint += 0 in changed and len(changed) > 1
