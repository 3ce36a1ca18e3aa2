"""What the reliability tests watch on a live server: its memory, health and sessions, and a
bystander client on its own socket whose updates must stay correct whatever others do."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from e2e_support import ReactorServer
from sync_support import ProtocolClient, http_json

from reactor.runtime.auth import AdminKey

LIMITS_APP = Path(__file__).resolve().parent.parent / "apps" / "limits"
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident set size of process `pid`, from the VmRSS line of /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS line in /proc/{pid}/status")


def server_rss(server: ReactorServer) -> int:
    assert server.process is not None and server.process.poll() is None, "server is not running"
    return rss_bytes(server.process.pid)


def healthy(server: ReactorServer) -> bool:
    status, body = http_json(f"{server.url}/health", method="GET")
    return status == 200 and "ok" in str(body)


def stats(server: ReactorServer) -> dict[str, Any]:
    """`/api/debug/stats`, with the admin key read from the server's data directory."""
    key = AdminKey.load_or_create(server.data_dir).value
    status, body = http_json(f"{server.url}/api/debug/stats", method="GET",
                             headers={"Authorization": f"Convex {key}"})
    assert status == 200, body
    return dict(body)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Bystander:
    """One socket watching its own counter and incrementing it: after every increment the
    MutationResponse must carry the next number and a Transition must show it."""

    def __init__(self, url: str) -> None:
        self.client = ProtocolClient(url)
        self.counter = f"bystander-{uuid.uuid4().hex[:12]}"
        self.expected = 0
        self.latencies: list[float] = []

    async def step(self) -> None:
        started = time.monotonic()
        response, _ = await self.client.mutation("counter:incr", {"name": self.counter},
                                                 timeout=10)
        self.expected += 1
        assert response["success"] and response["result"] == self.expected, response
        assert self.client.values[0] == self.expected, (self.client.values, self.expected)
        self.latencies.append(time.monotonic() - started)

    async def run(self, stop: threading.Event | asyncio.Event, pause: float = 0.05) -> None:
        await self.client.open()
        try:
            await self.client.add({0: ("counter:get", {"name": self.counter})})
            assert self.client.values[0] == 0
            while not stop.is_set():
                await self.step()
                await asyncio.sleep(pause)
        finally:
            await self.client.close()

    def summary(self) -> str:
        if not self.latencies:
            return "no rounds"
        return (f"{len(self.latencies)} rounds, round trip p50"
                f" {statistics.median(self.latencies) * 1000:.1f} ms,"
                f" max {max(self.latencies) * 1000:.1f} ms")


class ThreadedBystander:
    """A `Bystander` on its own event loop in a thread, for synchronous tests (hypothesis)."""

    def __init__(self, url: str) -> None:
        self.bystander = Bystander(url)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.bystander.run(self._stop))
        except BaseException as error:
            self._error = error

    def start(self) -> ThreadedBystander:
        self._thread.start()
        return self

    def check(self) -> None:
        """Raise what went wrong so far, if anything."""
        if self._error is not None:
            raise AssertionError(f"the bystander failed: {self._error!r}") from self._error
        assert self._thread.is_alive(), "the bystander stopped"

    def stop(self) -> Bystander:
        """Stop it (once; later calls just return it) and raise what went wrong, if anything."""
        if self._stop.is_set():
            return self.bystander
        self.check()
        self._stop.set()
        self._thread.join(30)
        if self._error is not None:
            raise AssertionError(f"the bystander failed: {self._error!r}") from self._error
        return self.bystander
