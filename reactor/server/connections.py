"""Admission of TCP connections, before any HTTP is parsed: caps, and a deadline for headers.

uvicorn keeps a socket that sends nothing (or sends its headers a byte at a
time) open forever, and accepts sockets until the process runs out of file
descriptors, at which point nobody can connect. So the server's HTTP and
WebSocket protocols are uvicorn's, subclassed here to:

- count open sockets in a `ConnectionGate`, in total and per client address,
  and answer a socket past either cap at once with `503 TooManyConnections`
  (a WebSocket handshake gets the same 503), then close it;
- close a socket whose request headers are not complete within
  `header_timeout_s` of its opening (or of the previous response on a kept-alive
  socket), with `408`, and one whose headers exceed `max_header_bytes` with `431`.

Slow bodies are the HTTP handlers' business (a deadline on reading them), and a
WebSocket that never sends Connect the sync session's.

The WebSocket protocol also offers the application a synchronous text write
(`DIRECT_WRITE` in the scope's extensions): a push to many sessions then costs
each its frames and one socket write, not a task and a pass through the ASGI layers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import State

logger = logging.getLogger("reactor.server")

# How long a refused socket may stay open to read the 503 before it is closed anyway.
REFUSED_LINGER_S = 1.0
# Refusals are logged at most this often (with a count), so a flood cannot flood the log.
LOG_INTERVAL_S = 5.0

# The scope extension holding `write_texts(frames) -> int`: writes text frames now, in one
# socket write, if the socket is open and not paused; how many it wrote (the rest: use
# the ASGI send).
DIRECT_WRITE = "reactor.write_texts"

_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large",
            503: "Service Unavailable"}


def http_error(status: int, message: str, retry_after: int | None = None) -> bytes:
    """A complete `Connection: close` response with a JSON `{code, message}` body;
    `message` is `"Code: text"`."""
    code, _, text = message.partition(": ")
    body = orjson.dumps({"code": code, "message": text})
    head = [f"HTTP/1.1 {status} {_REASONS[status]}", "content-type: application/json",
            f"content-length: {len(body)}", "connection: close"]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def text_frame_header(length: int) -> bytes:
    """The header of one unmasked, unfragmented text frame (RFC 6455 5.2), as a server
    sends it: with no extension negotiated, a frame is this header and the payload."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


class FrameReuse:
    """Frames text payloads, reusing the last frame when given the same payload object.

    A server's frames are not masked, so a Transition shared by a thousand sessions
    (fanout.py) is one frame written to a thousand sockets: built once, not copied
    for each. Only the last payload is kept (a fan-out writes one after another).
    """

    def __init__(self) -> None:
        self._payload = b""
        self._frame = text_frame_header(0)

    def __call__(self, payload: bytes) -> bytes:
        if payload is not self._payload:
            self._frame = text_frame_header(len(payload)) + payload
            self._payload = payload
        return self._frame


class ConnectionGate:
    """Open sockets by client address; decides whether one more may open."""

    def __init__(self, max_total: int, max_per_address: int) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self._open: dict[Any, str] = {}
        self._per_address: Counter[str] = Counter()
        self.refused = 0
        self._unlogged = 0
        self._logged_at = 0.0

    @property
    def open(self) -> int:
        return len(self._open)

    def admit(self, transport: asyncio.BaseTransport) -> str | None:
        """Count `transport` in, or say why it is refused (the text clients read)."""
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if len(self._open) >= self.max_total:
            return self._refuse(address, f"TooManyConnections: the server holds its maximum"
                                f" of {self.max_total} connections; try again later")
        if self._per_address[address] >= self.max_per_address:
            return self._refuse(address, f"TooManyConnections: at most"
                                f" {self.max_per_address} connections per client address")
        self._open[transport] = address
        self._per_address[address] += 1
        return None

    def release(self, transport: asyncio.BaseTransport) -> None:
        """Count `transport` out (idempotent: the HTTP and WebSocket protocols both may)."""
        address = self._open.pop(transport, None)
        if address is None:
            return
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]

    def _refuse(self, address: str, reason: str) -> str:
        self.refused += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_INTERVAL_S:
            logger.warning("refused %d connection(s), the last from %s: %s", self._unlogged,
                           address, reason)
            self._unlogged = 0
            self._logged_at = now
        return reason


class _GuardedHttp(HttpToolsProtocol):
    """uvicorn's HTTP protocol, admitted by the gate and held to a header deadline."""

    gate: ConnectionGate
    header_timeout_s: float
    max_header_bytes: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        reason = self.gate.admit(transport)
        if reason is not None:
            self._refused = True
            self.transport = transport
            transport.write(http_error(503, reason, retry_after=5))
            # Half-close: the response is delivered, the client's request is read and
            # dropped, and the socket goes when the client closes or the linger ends.
            if transport.can_write_eof():
                transport.write_eof()
            self.loop.call_later(REFUSED_LINGER_S, transport.close)
            return
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        awaiting_headers = self._deadline is not None
        super().data_received(data)
        # Counted only if the headers are still incomplete after this chunk (a chunk
        # may end them and carry the start of the body).
        if awaiting_headers and self._deadline is not None:
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._reject(431, f"HeadersTooLarge: request headers exceed"
                                  f" {self.max_header_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        self.gate.release(self.transport)
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._deadline = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        self._reject(408, f"RequestTimeout: the request headers did not arrive within"
                          f" {self.header_timeout_s:g} s")

    def _reject(self, status: int, message: str) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(http_error(status, message))
            self.transport.close()


def guarded_protocols(gate: ConnectionGate, header_timeout_s: float,
                      max_header_bytes: int) -> tuple[type[asyncio.Protocol],
                                                      type[asyncio.Protocol]]:
    """The HTTP and WebSocket protocol classes to give uvicorn (`http=`, `ws=`)."""
    assert AutoWebSocketsProtocol is not None, "uvicorn[standard] brings a WebSocket library"
    websocket_base: Any = AutoWebSocketsProtocol
    framed = FrameReuse()

    class GuardedWebSocket(websocket_base):  # type: ignore[misc]
        """The socket after its upgrade: still counted until it closes."""

        def connection_lost(self, exc: Exception | None) -> None:
            gate.release(self.transport)
            super().connection_lost(exc)

        def handle_connect(self, event: Any) -> None:
            super().handle_connect(event)
            scope = getattr(self, "scope", None)
            if scope is not None and hasattr(self, "conn") and hasattr(self, "writable"):
                scope["extensions"][DIRECT_WRITE] = self.write_texts

        def write_texts(self, frames: list[bytes]) -> int:
            """Text frames written without awaiting, as the ASGI send would write them
            (extensions such as compression included), in one socket write; how many
            (0 when the socket must be waited for). Without extensions the frames are
            built here, at a tenth of the library's cost per frame (it builds and checks
            a frame object). One write, not one per frame: a mutation's response and the
            Transition after it usually go out together, and each write is a syscall."""
            if (self.close_sent or self.disconnected or not self.handshake_complete
                    or self.initial_response is not None or not self.writable.is_set()
                    or self.transport.is_closing()):
                return 0
            if len(frames) > 1:
                frames = self._fitting(frames)
            conn = self.conn
            if (conn.extensions or conn.writes or conn.debug
                    or conn.expect_continuation_frame):
                written = 0
                for data in frames:
                    try:
                        conn.send_text(data)
                    except InvalidState:
                        break
                    written += 1
                self.transport.write(b"".join(conn.data_to_send()))
                return written
            if conn.state is not State.OPEN:
                return 0
            if len(frames) == 1:
                self.transport.write(framed(frames[0]))
            else:
                self.transport.write(b"".join([framed(data) for data in frames]))
            return len(frames)

        def _fitting(self, frames: list[bytes]) -> list[bytes]:
            """The first frames that fit below the transport's high-water mark (at least
            one, as a single write would): what does not fit waits in the session's
            outbox, where its limit on responses waiting for a slow reader applies."""
            room = self.transport.get_write_buffer_limits()[1] - \
                self.transport.get_write_buffer_size()
            count, used = 1, len(frames[0]) if frames else 0
            while count < len(frames) and used + len(frames[count]) <= room:
                used += len(frames[count])
                count += 1
            return frames[:count]

    http = type("GuardedHttp", (_GuardedHttp,), {
        "gate": gate, "header_timeout_s": header_timeout_s,
        "max_header_bytes": max_header_bytes})
    return http, GuardedWebSocket
