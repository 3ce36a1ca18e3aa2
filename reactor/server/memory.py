"""Giving memory back to the system after many subscriptions end.

Closing sockets frees their query entries, but CPython keeps the freed memory:
objects in cycles wait for a full collection (the server raises the collection
thresholds and freezes its startup heap, see cli/serve.py), and the C allocator
keeps freed pages in its heap. Measured on the limits app, 20,000 entries held
by 10 sockets took 59 MB that stayed after they closed. So once enough entries
have been let go, the server collects and asks glibc to return free pages
(`malloc_trim`), at most once per RECLAIM_DELAY_S, after the burst of closes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from reactor.storage.malloc import malloc_trim

logger = logging.getLogger("reactor.server")

# Entries released before a reclaim is worth its pause (a full collection).
RECLAIM_AFTER_ENTRIES = 1_000
# Closes come in bursts: wait for the burst to end.
RECLAIM_DELAY_S = 1.0


class MemoryReclaimer:
    """Counts released entries; past RECLAIM_AFTER_ENTRIES, reclaims once the burst ends."""

    def __init__(self) -> None:
        self.released = 0
        self.reclaims = 0
        self._trim = malloc_trim()
        self._pending: asyncio.TimerHandle | None = None

    def note_released(self, entries: int) -> None:
        self.released += entries
        if self.released < RECLAIM_AFTER_ENTRIES:
            return
        if self._pending is not None:
            self._pending.cancel()
        self._pending = asyncio.get_running_loop().call_later(RECLAIM_DELAY_S, self.reclaim)

    def reclaim(self) -> None:
        self._pending = None
        self.released = 0
        started = time.perf_counter()
        gc.collect()
        if self._trim is not None:
            self._trim()
        self.reclaims += 1
        logger.debug("memory reclaimed in %.1f ms", (time.perf_counter() - started) * 1000)

    def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
