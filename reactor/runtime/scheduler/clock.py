"""The scheduler's notion of time, injectable so tests can move it by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol


class Clock(Protocol):
    """Wall-clock milliseconds and a way to wait on that same clock."""

    def now(self) -> float:
        """Milliseconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """An awaitable that completes once `seconds` have passed on this clock,
        counted from this call (not from when it is first awaited)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time_ns() / 1e6

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to: `advance(seconds)` or `set(ms)`.

    Sleepers wake as soon as the clock passes their deadline, so a scheduler
    driven by this clock runs an hour of jobs in one `advance(3600)`.
    """

    def __init__(self, start_ms: float = 1_700_000_000_000.0) -> None:
        self._now = float(start_ms)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> Awaitable[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + max(0.0, seconds) * 1000
        if deadline <= self._now:
            future.set_result(None)
        else:
            heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        return future

    def advance(self, seconds: float) -> None:
        """Move forward by `seconds` and wake every sleeper whose deadline passed."""
        if seconds < 0:
            raise ValueError(f"advance: a clock only moves forward, got {seconds} s")
        self.set(self._now + seconds * 1000)

    def set(self, ms: float) -> None:
        """Jump to `ms` since the epoch (never backwards)."""
        if ms < self._now:
            raise ValueError(f"set: {ms} ms is before the current {self._now} ms")
        self._now = float(ms)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
