"""A follower's keep-alive HTTP/1.1 connections to the committing node (forwarding.py).

Every request is the same: a POST of forwarded transactions to one address, one at a
time per connection, answered with a body of known length. A general client's pool
(httpx's) cost a follower about a sixth of its CPU under forwarded load (locks,
expiry checks and an import attempt per request; docs/performance.md); these few
lines over the event loop's streams cost a small part of it. What matters for
forwarding is which side of the send a failure falls on: `SendFailed` (nothing went
out: safe to send again, e.g. to a new committer) or `AnswerLost` (it went out: it
may have committed).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

# An idle connection is not reused past this: the committer's server closes idle
# keep-alive connections after 5 s, and a request sent into that close would be lost.
IDLE_S = 2.0
# The longest status line and headers read.
HEAD_LIMIT = 64 * 1024


class SendFailed(Exception):
    """The request could not be sent (no connection): nothing reached the node."""


class AnswerLost(Exception):
    """The request was sent, or may have been, and no complete answer came."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float


class NodeLink:
    """Connections to one node's `address` (http:// or https://, any path prefix),
    each carrying one request at a time and kept open between requests."""

    def __init__(self, address: str, timeout_s: float) -> None:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"node address {address!r}: expected http://host:port")
        self.address = address
        self.timeout_s = timeout_s
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._prefix = parts.path.rstrip("/")
        self._authority = parts.netloc
        self._idle: list[_Connection] = []

    def close(self) -> None:
        for connection in self._idle:
            connection.writer.close()
        self._idle.clear()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        connection = self._reusable() or await self._connect()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {self._prefix}{path} HTTP/1.1\r\nhost: {self._authority}\r\n"
                   f"content-type: application/octet-stream\r\n"
                   f"content-length: {len(body)}\r\n{head}\r\n").encode("latin-1")
        try:
            connection.writer.write(request + body)
            async with asyncio.timeout(self.timeout_s):
                status, keep_alive, data = await _read_answer(connection.reader)
        except (OSError, EOFError, TimeoutError, ValueError, asyncio.LimitOverrunError) as exc:
            connection.writer.close()
            raise AnswerLost(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        except BaseException:  # cancelled mid-request: the connection's state is unknown
            connection.writer.close()
            raise
        if keep_alive:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)
        else:
            connection.writer.close()
        return Answer(status, data)

    def _reusable(self) -> _Connection | None:
        """The most recently used idle connection that may still be open."""
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection = self._idle.pop()
            if (now - connection.idle_since < IDLE_S and not connection.reader.at_eof()
                    and not connection.writer.is_closing()):
                return connection
            connection.writer.close()
        return None

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._tls, limit=HEAD_LIMIT)
        except (OSError, TimeoutError) as exc:
            raise SendFailed(f"{self.address}: {type(exc).__name__}: {exc}") from None
        return _Connection(reader, writer, 0.0)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """The status, whether the connection stays open, and the body of one answer."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise EOFError(f"the connection closed after {len(exc.partial)} bytes of the"
                       " answer") from None
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1 answer: {status_line[:100]!r}")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise ValueError("the answer has no content-length")
    try:
        body = await reader.readexactly(int(headers["content-length"]))
    except asyncio.IncompleteReadError as exc:
        raise EOFError(f"the connection closed after {len(exc.partial)} bytes of the"
                       " answer's body") from None
    keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    return int(rest.partition(" ")[0]), keep_alive, body
