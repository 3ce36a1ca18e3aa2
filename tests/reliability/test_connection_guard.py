"""Connection floods against a live server: half-open sockets, slow headers and bodies, a
WebSocket that never sends Connect, and the caps on sockets in total and per address.
REACTOR_LONG=1 also floods with 20,000 half-open sockets from four processes.

Attackers connect from other loopback addresses (127.0.0.2 and up) than the
bystander (127.0.0.1), as different hosts would. Small settings (SERVER_ENV) keep
it quick; the documented defaults are checked against ServerConfig.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ReactorServer
from server_probe import LIMITS_APP, healthy, stats
from sync_support import ProtocolClient
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from reactor.server.config import ServerConfig

PER_ADDRESS = 40
TOTAL = 200
HEADER_TIMEOUT_S = 4.0
BODY_TIMEOUT_S = 1.5
CONNECT_TIMEOUT_S = 1.0
MAX_HEADER_BYTES = 8192
SERVER_ENV = {
    "REACTOR_MAX_CONNECTIONS": str(TOTAL),
    "REACTOR_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
    "REACTOR_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "REACTOR_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    "REACTOR_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
    "REACTOR_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
}
Socket = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(LIMITS_APP, tmp_path_factory.mktemp("guard"), env=SERVER_ENV) as running:
        yield running


async def open_sockets(server: ReactorServer, count: int, source: str) -> list[Socket]:
    """`count` TCP connections from `source` that send nothing (half-open requests)."""
    async def one() -> Socket:
        return await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def first_bytes(sockets: list[Socket], timeout: float) -> list[bytes | None]:
    """What each socket has received within `timeout` (None: nothing yet)."""
    async def read(reader: asyncio.StreamReader) -> bytes | None:
        try:
            return await asyncio.wait_for(reader.read(4096), timeout)
        except TimeoutError:
            return None

    return list(await asyncio.gather(*(read(reader) for reader, _ in sockets)))


def close_all(sockets: list[Socket]) -> None:
    for _, writer in sockets:
        writer.close()


async def wait_until_quiet(server: ReactorServer, timeout: float = 15.0) -> None:
    """Until the server holds only the socket asking (earlier tests' sockets are gone)."""
    deadline = time.monotonic() + timeout
    while stats(server)["connections"]["open"] > 1:
        assert time.monotonic() < deadline, stats(server)
        await asyncio.sleep(0.2)


async def bystander_is_served(server: ReactorServer) -> None:
    """HTTP and the sync protocol both work for a client on another address."""
    started = time.monotonic()
    assert await asyncio.to_thread(healthy, server)
    assert time.monotonic() - started < 1.0
    async with ProtocolClient(server.url) as client:
        response, _ = await client.mutation("counter:incr", {"name": "bystander"})
        assert response["success"], response
        await client.add({1: ("counter:get", {"name": "bystander"})})
        assert client.values[1] >= 1


async def test_half_open_sockets_from_one_host_do_not_lock_others_out(
        server: ReactorServer) -> None:
    await wait_until_quiet(server)
    flood = await open_sockets(server, 2000, "127.0.0.2")
    try:
        await bystander_is_served(server)
        received = await first_bytes(flood, 1.0)
        refused = [data for data in received if data is not None]
        assert len(refused) == 2000 - PER_ADDRESS
        for data in refused:
            assert data.startswith(b"HTTP/1.1 503 "), data
            assert b'"code":"TooManyConnections"' in data
        # The admitted ones are dropped at the header deadline, with a 408.
        held = [sock for sock, data in zip(flood, received, strict=True) if data is None]
        started = time.monotonic()
        late = await first_bytes(held, HEADER_TIMEOUT_S + 3)
        assert all(data is not None and data.startswith(b"HTTP/1.1 408 ") for data in late)
        assert time.monotonic() - started < HEADER_TIMEOUT_S + 2
    finally:
        close_all(flood)
    # The address's slots are free again.
    reader, writer = (await open_sockets(server, 1, "127.0.0.2"))[0]
    writer.write(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(4096), 5)).startswith(b"HTTP/1.1 200 ")
    writer.close()
    assert "TooManyConnections" in server.log()


@pytest.mark.skipif(os.environ.get("REACTOR_LONG") != "1", reason="REACTOR_LONG=1 only")
async def test_twenty_thousand_half_open_sockets_do_not_lock_others_out(
        server: ReactorServer) -> None:
    """Four processes (one file limit each) hold 5,000 sockets each, from four addresses."""
    await wait_until_quiet(server)
    holder = Path(__file__).with_name("flood_holder.py")
    floods = [subprocess.Popen([sys.executable, str(holder), str(server.port), f"127.0.2.{n}",
                                "5000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True) for n in range(1, 5)]
    try:
        reports = [json.loads(await asyncio.to_thread(flood.stdout.readline))  # type: ignore[union-attr]
                   for flood in floods]
        # Each address holds at most its cap at a time; the held ones are dropped at the
        # header deadline, so each of the holder's five waves of 1,000 may get a new set.
        assert all(r["opened"] == 5000 and r["refused"] >= 5000 - 5 * PER_ADDRESS
                   for r in reports), reports
        await bystander_is_served(server)
    finally:
        for flood in floods:
            flood.communicate("", timeout=60)
    await asyncio.sleep(1.0)
    await bystander_is_served(server)


async def test_the_total_cap_refuses_everyone_until_sockets_close(server: ReactorServer) -> None:
    await wait_until_quiet(server)
    sources = [f"127.0.1.{n}" for n in range(1, 7)]
    flood = [sock for source in sources for sock in
             await open_sockets(server, PER_ADDRESS, source)]
    try:
        received = await first_bytes(flood, 0.8)
        assert sum(data is None for data in received) == TOTAL
        # Full: a newcomer from anywhere gets the refusal too, as a 503 (also for a
        # WebSocket handshake).
        with pytest.raises(InvalidStatus) as refused:
            await connect(server.url.replace("http", "ws") + "/api/sync", open_timeout=5)
        assert refused.value.response.status_code == 503
    finally:
        close_all(flood)
    await asyncio.sleep(0.5)
    await bystander_is_served(server)


async def test_slow_headers_are_cut_off_at_the_deadline(server: ReactorServer) -> None:
    reader, writer = (await open_sockets(server, 1, "127.0.0.3"))[0]
    started = time.monotonic()
    writer.write(b"GET /health HTTP/1.1\r\n")
    response = b""
    for _ in range(40):  # a header byte every 0.25 s: 10 s if allowed to go on
        writer.write(b"x")
        try:
            response = await asyncio.wait_for(reader.read(4096), 0.25)
            break
        except TimeoutError:
            continue
    assert response.startswith(b"HTTP/1.1 408 "), response
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 1.5
    writer.close()


async def test_oversized_headers_are_refused(server: ReactorServer) -> None:
    reader, writer = (await open_sockets(server, 1, "127.0.0.3"))[0]
    writer.write(b"GET /health HTTP/1.1\r\nx-big: " + b"a" * (MAX_HEADER_BYTES + 10))
    response = await asyncio.wait_for(reader.read(4096), 5)
    assert response.startswith(b"HTTP/1.1 431 "), response
    writer.close()


async def test_a_slow_body_is_answered_408(server: ReactorServer) -> None:
    reader, writer = (await open_sockets(server, 1, "127.0.0.4"))[0]
    writer.write(b"POST /api/mutation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
                 b"\r\ncontent-length: 100\r\n\r\n{\"path\":")
    started = time.monotonic()
    response = await asyncio.wait_for(reader.read(4096), BODY_TIMEOUT_S + 5)
    answered = time.monotonic() - started
    assert response.startswith(b"HTTP/1.1 408 "), response
    # The body may come in a later segment than the head.
    head, _, body = response.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        more = await asyncio.wait_for(reader.read(4096), 5)
        assert more, body
        body += more
    assert b'"code":"RequestTimeout"' in body
    assert BODY_TIMEOUT_S - 0.2 < answered < BODY_TIMEOUT_S + 2
    writer.close()


async def test_a_websocket_that_never_sends_connect_is_closed(server: ReactorServer) -> None:
    client = ProtocolClient(server.url)
    await client.open(connect_message=False)
    started = time.monotonic()
    closed = await client.closed(timeout=CONNECT_TIMEOUT_S + 5)
    assert closed.code == 1008 and closed.reason.startswith("ConnectTimeout:"), closed
    assert time.monotonic() - started < CONNECT_TIMEOUT_S + 2


async def test_open_sockets_are_counted_out_when_they_close(server: ReactorServer) -> None:
    await wait_until_quiet(server)
    clients = [await ProtocolClient(server.url).open() for _ in range(10)]
    assert stats(server)["connections"]["open"] == 11
    for client in clients:
        await client.close()
    await wait_until_quiet(server, timeout=5)


def test_documented_defaults() -> None:
    config = ServerConfig()
    assert (config.max_connections, config.max_connections_per_address,
            config.header_timeout_s, config.max_header_bytes, config.body_timeout_s,
            config.connect_timeout_s) == (10_000, 256, 10.0, 65_536, 60.0, 10.0)
    text = (Path(__file__).resolve().parents[2] / "docs/guide/operations.md").read_text()
    for name in SERVER_ENV:
        assert f"`{name}`" in text, name
