"""Slow consumers: 50 clients subscribe to a query that changes 20 times a second and then
stop reading, while 5 healthy subscribers keep reading.

- The server's RSS stays within RSS_GROWTH_BOUND of what it was before they came
  (16 MiB plus six times the update size per stalled client): a stalled socket
  holds at most the frame being sent, and later updates coalesce. Buffering every
  update instead would take about 9 MiB per stalled client here.
- The healthy subscribers' push latency (the writer sending a mutation to a
  subscriber receiving its value) keeps a p50 within LATENCY_FACTOR of a run
  without stalled clients (or LATENCY_FLOOR_S more, for scheduling noise).
- Each stalled socket is dropped once a send has been blocked for the send
  timeout (REACTOR_SEND_TIMEOUT_S, 1 s here), and logged once.
- Reconnecting (new socket, same sessionId, connectionCount 1, the query set
  sent again) resyncs them to the current value, then to the final one.
REACTOR_LONG=1 stalls 150 clients and measures longer.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from e2e_support import ReactorServer
from ledger_support import LONG
from server_probe import LIMITS_APP, MIB, percentile, server_rss, stats
from stalled_client import abort, open_stallable, pause, resume, send_buffer_max
from sync_support import ProtocolClient

STALLED = 150 if LONG else 50
HEALTHY = 5
PAD = 128 * 1024
COMMIT_INTERVAL_S = 0.05
BASELINE_S = 8.0 if LONG else 3.0
SEND_TIMEOUT_S = 1.0
# A stalled socket holds the frame being sent, in a few copies (the encoded Transition,
# its text, the WebSocket frame, the transport's buffer) — not the updates since.
RSS_GROWTH_BOUND = 16 * MIB + STALLED * 6 * PAD
LATENCY_FACTOR = 5.0
LATENCY_FLOOR_S = 0.025
COUNTER = "feed"
QUERY = ("counter:padded", {"name": COUNTER, "pad": PAD})


class Writer:
    """Increments the counter every `interval` seconds; `sent_at[n]` is when the mutation
    producing value n was sent, `acked` the last value whose commit it saw."""

    def __init__(self, url: str) -> None:
        self.client = ProtocolClient(url)
        self.sent_at: dict[int, float] = {}
        self.acked = 0
        self.interval = COMMIT_INTERVAL_S

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sent_at[self.acked + 1] = time.monotonic()
            response, _ = await self.client.mutation("counter:incr", {"name": COUNTER},
                                                     timeout=20)
            assert response["success"], response
            self.acked = int(response["result"])
            await asyncio.sleep(self.interval)


class Subscriber:
    """A client that reads every frame and notes when each value arrived; `first` is
    (the last value acknowledged to the writer before subscribing, the first value
    received, the last value sent by then)."""

    def __init__(self, url: str, *, session_id: str | None = None,
                 connection_count: int = 0) -> None:
        self.client = ProtocolClient(url, session_id=session_id,
                                     connection_count=connection_count)
        self.seen_at: dict[int, float] = {}
        self.first: tuple[int, int, int] | None = None

    @property
    def value(self) -> int:
        return int(self.client.values[0]["value"])

    async def run(self, writer: Writer) -> None:
        await self.client.open()
        acked = writer.acked
        await self.client.add({0: QUERY}, timeout=20)
        self.first = (acked, self.value, max(writer.sent_at, default=0))
        while True:
            self.seen_at.setdefault(self.value, time.monotonic())
            await self.client.receive(30)


def latencies(writer: Writer, subscribers: list[Subscriber], start: float,
              end: float) -> list[float]:
    """Push latency of every value sent in [start, end) that a subscriber received."""
    return [sub.seen_at[n] - sent for n, sent in writer.sent_at.items() if start <= sent < end
            for sub in subscribers if n in sub.seen_at]


async def stall_one(url: str) -> ProtocolClient:
    client = await open_stallable(url)
    await client.add({0: QUERY}, timeout=30)
    pause(client)
    return client


async def wait_for_sessions(server: ReactorServer, count: int, timeout: float) -> float:
    """Seconds until the server holds `count` sessions."""
    started = time.monotonic()
    while (await asyncio.to_thread(stats, server))["sessions"] != count:
        assert time.monotonic() - started < timeout, (
            f"still {(await asyncio.to_thread(stats, server))['sessions']} sessions,"
            f" expected {count}, after {timeout} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def sample_rss(server: ReactorServer, samples: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(server_rss(server))
        await asyncio.sleep(0.1)


async def test_stalled_subscribers_are_dropped_and_resync(tmp_path: Path) -> None:
    server = ReactorServer(LIMITS_APP, tmp_path / "data",
                           env={"REACTOR_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S)})
    await asyncio.to_thread(server.start)
    tasks: list[asyncio.Task[None]] = []
    stalled: list[ProtocolClient] = []
    resynced: list[Subscriber] = []
    try:
        writer = Writer(server.url)
        await writer.client.open()
        subscribers = [Subscriber(server.url) for _ in range(HEALTHY)]
        tasks += [asyncio.create_task(sub.run(writer)) for sub in subscribers]
        stop_writing = asyncio.Event()
        writing = asyncio.create_task(writer.run(stop_writing))
        tasks.append(writing)

        # Baseline: no stalled clients.
        base_start = time.monotonic()
        await asyncio.sleep(BASELINE_S)
        base_end = time.monotonic()
        rss_before = server_rss(server)

        # Stalled clients subscribe, then stop reading while the writer goes on.
        rss_samples: list[int] = []
        stop_sampling = asyncio.Event()
        tasks.append(asyncio.create_task(sample_rss(server, rss_samples, stop_sampling)))
        stall_start = time.monotonic()
        stalled = list(await asyncio.gather(*(stall_one(server.url) for _ in range(STALLED))))
        dropped_after = await wait_for_sessions(server, HEALTHY + 1, timeout=60)
        stall_end = time.monotonic()
        stop_sampling.set()

        # Read again, an old socket ends: the server gave up on the close handshake after
        # 1 s (the client was not reading), so the connection was cut without a close frame.
        for client in stalled[:3]:
            resume(client)
            closed = await asyncio.wait_for(client.closed(), 30)
            assert closed.code in (None, 1006, 1011), closed
        # They come back while the writer goes on (slower: the test reads every frame).
        writer.interval = COMMIT_INTERVAL_S * STALLED / 10
        resynced = [Subscriber(server.url, session_id=c.session_id, connection_count=1)
                    for c in stalled]
        tasks += [asyncio.create_task(sub.run(writer)) for sub in resynced]
        deadline = time.monotonic() + 30
        while not all(sub.first for sub in resynced):
            assert time.monotonic() < deadline, "reconnected clients got no first Transition"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        stop_writing.set()
        await writing
        final = writer.acked
        everyone = [*subscribers, *resynced]
        while not all(sub.client.values[0]["value"] == final for sub in everyone):
            assert time.monotonic() < deadline, "a client did not reach the final value"
            assert not [t for t in tasks if t.done() and t is not writing], "a reader failed"
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in stalled:
            abort(client)
        await asyncio.gather(*(sub.client.close() for sub in resynced), return_exceptions=True)
        await asyncio.to_thread(server.stop)

    base = latencies(writer, subscribers, base_start, base_end)
    loaded = latencies(writer, subscribers, stall_start, stall_end)
    growth = max(rss_samples) - rss_before
    print(f"{STALLED} stalled: dropped {dropped_after:.1f} s after they stalled; RSS before"
          f" {rss_before / MIB:.1f} MiB, peak {max(rss_samples) / MIB:.1f} MiB"
          f" ({growth / MIB:+.1f} MiB, bound {RSS_GROWTH_BOUND / MIB:.1f});"
          f" push latency p50 {statistics.median(base) * 1000:.1f} ms"
          f" (p90 {percentile(base, 0.9) * 1000:.1f}) without,"
          f" {statistics.median(loaded) * 1000:.1f} ms"
          f" (p90 {percentile(loaded, 0.9) * 1000:.1f}) with them;"
          f" {len(base)} and {len(loaded)} pushes")
    assert growth < RSS_GROWTH_BOUND
    assert statistics.median(loaded) <= max(LATENCY_FACTOR * statistics.median(base),
                                            statistics.median(base) + LATENCY_FLOOR_S)
    assert len(loaded) >= HEALTHY * 10, "too few pushes while clients were stalled"
    # Dropped after the send timeout, not before: once the kernel buffers are full, a send
    # blocks for the timeout, then the close handshake gets 1 s; each is logged once.
    fill_s = send_buffer_max() / PAD * COMMIT_INTERVAL_S
    assert SEND_TIMEOUT_S <= dropped_after <= fill_s + SEND_TIMEOUT_S + 1.0 + 3.0
    log = server.log()
    assert log.count("a send did not complete within 1 s") == STALLED, log[-3000:]
    for sub in resynced:
        assert sub.first is not None
        acked, value, sent = sub.first
        assert acked <= value <= sent, sub.first
