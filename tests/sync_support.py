"""Helpers for sync-server tests: a Python client speaking the wire protocol, and Node processes."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e_support import NODE_DIR, NodeError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from reactor.server.protocol import decode_ts

ZERO_VERSION = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}

Frame = dict[str, Any]


class SocketClosed(Exception):
    """The server closed the socket; `code` and `reason` are its close frame."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"socket closed: {code} {reason!r}")
        self.code = code
        self.reason = reason


class ProtocolClient:
    """One socket speaking the sync protocol by hand, checking every Transition's versions.

    `values` and `errors` hold each query id's latest QueryUpdated value and
    QueryFailed frame; `frames` every frame received, in order (Pings too).
    """

    def __init__(self, base_url: str, *, session_id: str | None = None,
                 connection_count: int = 0) -> None:
        self.url = base_url.replace("http://", "ws://") + "/api/1.48.0/sync"
        self.session_id = session_id or str(uuid.uuid4())
        self.connection_count = connection_count
        self.ws: ClientConnection | None = None
        self.version: dict[str, Any] = dict(ZERO_VERSION)
        self.query_set = 0
        self.identity = 0
        self.next_request = 0
        self.values: dict[int, Any] = {}
        self.errors: dict[int, Frame] = {}
        self.frames: list[Frame] = []
        self.responses: dict[int, Frame] = {}
        self.chunks: list[str] = []

    async def __aenter__(self) -> ProtocolClient:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self, *, connect_message: bool = True, max_queue: int = 16) -> ProtocolClient:
        """Connect and send Connect; `max_queue` frames are read ahead of `receive`.

        Compression is off, so that frame sizes on the wire are what the test sends.
        """
        self.ws = await connect(self.url, max_size=None, ping_interval=None, compression=None,
                                open_timeout=10, close_timeout=2, max_queue=max_queue)
        if connect_message:
            await self.send({"type": "Connect", "sessionId": self.session_id,
                             "connectionCount": self.connection_count,
                             "lastCloseReason": None, "clientTs": time.time() * 1000})
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def send(self, message: Frame) -> None:
        await self.send_raw(json.dumps(message))

    async def send_raw(self, text: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(text)

    # Receiving -------------------------------------------------------------

    async def receive(self, timeout: float = 5.0, *, pings: bool = False) -> Frame:
        """The next frame (Pings skipped unless `pings`); raises SocketClosed on close."""
        assert self.ws is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no frame within {timeout} s")
            try:
                text = await asyncio.wait_for(self.ws.recv(), remaining)
            except ConnectionClosed as closed:
                frame = closed.rcvd
                raise SocketClosed(frame.code if frame else None,
                                   frame.reason if frame else "") from None
            message: Frame = json.loads(text)
            self.frames.append(message)
            if message["type"] == "TransitionChunk":
                assert message["partNumber"] == len(self.chunks), "chunk out of order"
                self.chunks.append(message["chunk"])
                if len(self.chunks) < message["totalParts"]:
                    continue
                message = json.loads("".join(self.chunks))
                self.chunks = []
                self.frames.append(message)
            self._apply(message)
            if message["type"] != "Ping" or pings:
                return message

    def _apply(self, message: Frame) -> None:
        match message["type"]:
            case "Transition":
                assert message["startVersion"] == self.version, (
                    f"startVersion {message['startVersion']} != last endVersion {self.version}")
                self.version = message["endVersion"]
                for modification in message["modifications"]:
                    query_id = modification["queryId"]
                    if modification["type"] == "QueryUpdated":
                        self.values[query_id] = modification["value"]
                        self.errors.pop(query_id, None)
                    elif modification["type"] == "QueryFailed":
                        self.errors[query_id] = modification
                        self.values.pop(query_id, None)
                    else:
                        self.values.pop(query_id, None)
                        self.errors.pop(query_id, None)
            case "MutationResponse" | "ActionResponse":
                self.responses[message["requestId"]] = message

    async def receive_until(self, predicate: Callable[[Frame], bool],
                            timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.receive(max(0.01, deadline - time.monotonic()))
            if predicate(frame):
                return frame

    async def closed(self, timeout: float = 5.0) -> SocketClosed:
        """Read until the server closes the socket; the close it sent."""
        try:
            while True:
                await self.receive(timeout, pings=True)
        except SocketClosed as closed:
            return closed

    # Requests --------------------------------------------------------------

    async def modify(self, modifications: list[Frame], timeout: float = 5.0) -> Frame:
        """Send one ModifyQuerySet and return the Transition that reaches its version."""
        self.query_set += 1
        await self.send({"type": "ModifyQuerySet", "baseVersion": self.query_set - 1,
                         "newVersion": self.query_set, "modifications": modifications})
        target = self.query_set
        return await self.receive_until(
            lambda f: f["type"] == "Transition" and f["endVersion"]["querySet"] >= target,
            timeout)

    async def add(self, queries: dict[int, tuple[str, Frame]], timeout: float = 5.0) -> Frame:
        return await self.modify([{"type": "Add", "queryId": query_id, "udfPath": path,
                                   "args": [args]}
                                  for query_id, (path, args) in queries.items()], timeout)

    async def send_mutation(self, path: str, args: Frame, request_id: int | None = None) -> int:
        if request_id is None:
            request_id = self.next_request
            self.next_request += 1
        await self.send({"type": "Mutation", "requestId": request_id, "udfPath": path,
                         "args": [args]})
        return request_id

    async def mutation(self, path: str, args: Frame, request_id: int | None = None,
                       timeout: float = 5.0) -> tuple[Frame, Frame | None]:
        """Run a mutation; its response, and for a success the Transition reaching its ts."""
        request_id = await self.send_mutation(path, args, request_id)
        return await self.settle(request_id, timeout)

    async def settle(self, request_id: int, timeout: float = 5.0) -> tuple[Frame, Frame | None]:
        response = await self.receive_until(
            lambda f: f["type"] == "MutationResponse" and f["requestId"] == request_id, timeout)
        if not response["success"]:
            return response, None
        ts = decode_ts(response["ts"])
        transition = await self.receive_until(
            lambda f: f["type"] == "Transition" and decode_ts(f["endVersion"]["ts"]) >= ts,
            timeout)
        return response, transition


def transitions(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f["type"] == "Transition"]


def http_json(url: str, body: Frame | None = None, *, headers: dict[str, str] | None = None,
              method: str = "POST") -> tuple[int, Any]:
    """Status and body (parsed when JSON) of one HTTP call, errors included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _parsed(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _parsed(error.read())


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


class NodeProcess:
    """A Node script running beside the test: read its stdout lines while it runs.

    For scenarios where the test must act (kill a server, edit a file) at a
    point the script announces by printing a line.
    """

    def __init__(self, script: str | Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            ["node", str(Path(script).resolve()), *args], cwd=NODE_DIR,
            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, prefix: str, timeout: float = 20.0) -> str:
        """The first line starting with `prefix` (lines before it are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()
                raise NodeError(f"no line {prefix!r} within {timeout} s; got {self.seen}"
                                f"\nstderr:\n{self._stderr()}") from None
            if line is None:
                raise NodeError(f"node exited ({self.process.wait()}) before printing"
                                f" {prefix!r}; got {self.seen}\nstderr:\n{self._stderr()}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def result(self, timeout: float = 30.0) -> Any:
        """The JSON on the script's last stdout line, once it exits successfully."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise NodeError(f"node did not exit within {timeout} s; got {self.seen}") from None
        while (line := self.lines.get(timeout=5)) is not None:
            self.seen.append(line)
        if code != 0 or not self.seen:
            raise NodeError(f"node exited with {code}; stdout {self.seen}"
                            f"\nstderr:\n{self._stderr()}")
        return json.loads(self.seen[-1])

    def _stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return "(still running)"
        return self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
