"""The sending half of a sync session: the Transitions and responses a client is owed.

A wake-up (a result changed, a response was queued, a ping is due) schedules one
flush in the event loop's next pass, so what changes in between goes out
coalesced. The flush builds the frames without awaiting and, while the socket is
open and not paused, writes them synchronously through the WebSocket protocol's
direct write: a commit pushed to a thousand sessions costs each a frame and a
socket write, with no task per session. A paused socket (the client reads
slowly), a close, or a server without the direct write falls back to a sender
task that awaits the ASGI send; it reads everything due afresh after each write,
so a slow socket gets fewer, larger Transitions (it skips to the newest state).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketState

from reactor.runtime import Engine
from reactor.server import protocol as p
from reactor.server.config import ServerConfig
from reactor.server.connections import DIRECT_WRITE
from reactor.server.fanout import Fanout
from reactor.server.query_set import ClientQueries

# Most time a close handshake may take before the session is dropped anyway.
CLOSE_TIMEOUT_S = 1.0


class SessionSender:
    """What a session has sent and owes its client, and the writing of it.

    Mind the attribute count of a session (this class's and SyncSession's): past 29,
    CPython 3.11 stops sharing instance-dict keys and each session costs 1.3 KiB more.
    """

    queries: ClientQueries

    def __init__(self, websocket: WebSocket, engine: Engine, config: ServerConfig,
                 fanout: Fanout) -> None:
        self.ws = websocket
        self.engine = engine
        self.config = config
        # Shared with the server's other sessions: encoded Transitions, push latency.
        self.fanout = fanout
        self._pushed_ts = 0
        self.identity_version = 0
        # What the client has seen: the endVersion of the last Transition sent.
        self.sent = p.StateVersion(querySet=0, identity=0, ts=p.encode_ts(0))
        self.sent_ts = 0
        self.required_ts = 0
        # A MutationResponse went out: the client needs a Transition after it.
        self.owe_transition = False
        self.outbox: list[bytes] = []
        # Set once: the close code and reason the socket ends with.
        self.closing: tuple[int, str] | None = None
        self.last_send = time.monotonic()
        # When the frame being written started (None between writes): the heartbeat
        # drops a session whose write has not completed within send_timeout_s.
        self.send_started: float | None = None
        self._flush_scheduled = False
        # The sender task while one is running: an idle connection has none.
        self._sender: asyncio.Task[None] | None = None
        self._dropped = False
        self._ended = False

    def _write_now(self) -> Callable[[list[bytes]], int] | None:
        """The WebSocket protocol's synchronous write, if the server offers one (read from
        the scope each time rather than kept: see the class docstring)."""
        write: Callable[[list[bytes]], int] | None = \
            (self.ws.scope.get("extensions") or {}).get(DIRECT_WRITE)
        return write

    def _ready(self) -> bool:
        """Whether a consistent Transition can be built now."""
        return self.engine.live_ts >= self.required_ts and self.queries.ready()

    def _transition(self) -> list[bytes] | None:
        """The frames of the Transition owed to the client now, or None if it is owed
        nothing (shared with other sessions owed the same bytes: not to be changed)."""
        ts = max(self.engine.live_ts, self.sent_ts)
        query_set, identity = self.queries.version, self.identity_version
        changes = self.queries.take_changes()
        sent = self.sent
        if not (changes or self.owe_transition or query_set != sent.querySet
                or identity != sent.identity):
            return None
        self.sent, frames = self.fanout.transition(sent, self.sent_ts, query_set, identity,
                                                   ts, changes)
        if changes and ts > self.sent_ts:
            self._pushed_ts = ts
        self.sent_ts = ts
        self.owe_transition = False
        return frames

    def _due_frames(self) -> list[bytes]:
        """Queued responses, then the Transition owed (if it can be built), or a Ping."""
        frames, self.outbox = self.outbox, []
        if self.closing is None and self._ready():
            transition = self._transition()
            if transition is not None:
                frames.extend(transition)
        if not frames and time.monotonic() - self.last_send >= self.config.ping_interval_s:
            frames.append(p.encode_server_message(p.Ping()))
        return frames

    def _wake_up(self) -> None:
        """Something may be due: flush in the loop's next pass, or, when closing, start
        the sender (the close awaits), unless one is running (it will see it)."""
        if self._sender is not None or self._ended or self._dropped:
            return
        if self.closing is not None or self._write_now() is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_due([]))
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write what is due now; what cannot be written without waiting goes to a sender."""
        self._flush_scheduled = False
        write = self._write_now()
        if self._sender is not None or self._ended or self._dropped or write is None:
            return
        frames = self._due_frames()
        written = write(frames) if frames else 0
        if written:
            self.last_send = time.monotonic()
        if written < len(frames) or self.closing is not None:
            self._sender = asyncio.get_running_loop().create_task(
                self._send_due(frames[written:]))
        else:
            self._report_push()

    def _report_push(self) -> None:
        on_push = self.fanout.on_push
        if self._pushed_ts and on_push is not None:
            on_push(max(0.0, (time.time_ns() - self._pushed_ts) / 1e9))
        self._pushed_ts = 0

    async def _send_due(self, frames: list[bytes]) -> None:
        """Write `frames`, then what is due until nothing is, then close if closing.

        Everything due is read afresh after each write, so whatever changes while
        a write is in progress goes out in the same run, coalesced.
        """
        try:
            while frames := frames or self._due_frames():
                for frame in frames:
                    self.send_started = time.monotonic()
                    await self.ws.send_text(frame.decode())
                    self.send_started = None
                    self.last_send = time.monotonic()
                frames = []
                self._report_push()
            if self.closing is not None:
                await self._close(*self.closing)
        except Exception:
            return  # the client has gone; the receive loop sees the disconnect
        finally:
            self._sender = None

    async def _close(self, code: int, reason: str) -> None:
        """Close the socket, giving up after CLOSE_TIMEOUT_S (a peer that does not read)."""
        if self.ws.application_state != WebSocketState.CONNECTED:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                # A close reason is limited to 123 bytes by the WebSocket protocol.
                await self.ws.close(code=code, reason=reason.encode()[:123].decode(
                    errors="ignore"))
