"""Clients that stop reading: a socket with a small receive buffer whose reading is paused,
so that TCP backpressure reaches the server and its sends block."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from sync_support import ProtocolClient
from websockets.asyncio.client import connect

# Small, so the server's side fills first: what a stalled client absorbs is then about
# the server's own send buffer (up to tcp_wmem's maximum, 4 MiB by default on Linux).
RECEIVE_BUFFER_BYTES = 4096


async def open_stallable(url: str) -> ProtocolClient:
    """A connected ProtocolClient (Connect sent) whose reading `pause` can stop."""
    client = ProtocolClient(url)
    address = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    sock.connect((address.hostname or "127.0.0.1", address.port or 80))
    sock.setblocking(False)
    client.ws = await connect(client.url, sock=sock, max_size=None, ping_interval=None,
                              compression=None, open_timeout=10, close_timeout=2, max_queue=1)
    await client.send({"type": "Connect", "sessionId": client.session_id,
                       "connectionCount": 0, "lastCloseReason": None,
                       "clientTs": time.time() * 1000})
    return client


def pause(client: ProtocolClient) -> None:
    """Stop reading from the socket: nothing more leaves the kernel's buffers."""
    assert client.ws is not None
    client.ws.transport.pause_reading()


def resume(client: ProtocolClient) -> None:
    assert client.ws is not None
    client.ws.transport.resume_reading()


def abort(client: ProtocolClient) -> None:
    """Drop the connection without a close handshake (its unread data is discarded)."""
    if client.ws is not None:
        client.ws.transport.abort()


def send_buffer_max() -> int:
    """The most a server socket buffers for a peer that does not read (tcp_wmem's maximum)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024


def blocking_bytes() -> int:
    """More than one connection's kernel buffers hold: a frame this large keeps the server's
    send blocked while the client does not read."""
    return 2 * send_buffer_max() + 1024 * 1024
