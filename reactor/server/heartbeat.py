"""One timer for every sync session: pings the quiet ones, drops the ones that stopped reading.

A timer per session would cost every idle connection a scheduled callback and a
task waiting on it; one sweep over all sessions costs nothing per connection and
microseconds per thousand sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Protocol

logger = logging.getLogger("reactor.sync")

# Sweeps per shortest interval watched: a ping or a drop comes at most this
# fraction of the interval late.
SWEEPS_PER_INTERVAL = 4


class Ticking(Protocol):
    def tick(self, now: float) -> None: ...


class Heartbeat:
    """Calls `tick(now)` on every session every `period` seconds while sessions exist."""

    def __init__(self, sessions: Iterable[Ticking], ping_interval_s: float,
                 send_timeout_s: float) -> None:
        self.sessions = sessions
        self.period = min(ping_interval_s, send_timeout_s) / SWEEPS_PER_INTERVAL
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Start the sweep (called as sessions arrive: no lifespan hook is needed)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._beat(), name="reactor-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            now = time.monotonic()
            for session in list(self.sessions):
                try:
                    session.tick(now)
                except Exception:
                    logger.exception("heartbeat: a session's tick failed")
