"""How long superseded revisions stay readable, and pruning the ones nobody can read.

`Database` mixes this in; it owns the storage, the clock, the write log and the
open snapshots that decide the prune horizon.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from reactor.errors import StorageError
from reactor.storage import Storage
from reactor.transactions.options import DatabaseOptions
from reactor.transactions.timestamps import TimestampOracle
from reactor.transactions.writelog import WriteLog

logger = logging.getLogger("reactor.database")


class Retention:
    """The retention window, the prune horizon and the pruning loop."""

    storage: Storage
    clock: TimestampOracle
    options: DatabaseOptions
    write_log: WriteLog
    latest_ts: int
    _snapshots: Counter[int]


    @property
    def oldest_snapshot(self) -> int:
        return min(self._snapshots, default=self.latest_ts)

    def history_start(self) -> int:
        """The oldest timestamp a client may read at (`/api/query_at_ts`): the retention
        window back from now, by the wall clock, so it moves on a quiet server too."""
        return max(time.time_ns(), self.latest_ts) - self.options.retention_ns

    def check_readable(self, ts: int) -> None:
        """Refuse a client's read at `ts` outside the retention window (or in the future).

        The latest commit stays readable however old it is: nothing supersedes it.
        """
        if ts > self.latest_ts:
            message = f"timestamp {ts} is in the future"
            raise StorageError(message, code="InvalidTimestamp", public=message)
        if ts < self.latest_ts and ts < self.history_start():
            message = (f"timestamp {ts} is older than the history the server keeps"
                       f" ({self.options.retention_ns / 1e9:g} s): read at a later one")
            raise StorageError(message, code="TimestampTooOld", public=message)

    def prune_horizon(self) -> int:
        """Revisions superseded at or before this ts are no longer readable by anyone:
        none is older than the retention window, and no open snapshot is older."""
        return min(self.oldest_snapshot, self.history_start())

    async def prune_outcomes(self, before_ms: float, batch: int) -> int:
        """Delete up to `batch` mutation outcomes recorded before `before_ms`; how many."""
        return await self.storage.prune_outcomes(before_ms, batch)

    async def prune_once(self) -> int:
        horizon = self.prune_horizon()
        self.write_log.trim(self.clock.last_ts, keep_after=self.oldest_snapshot)
        removed = 0
        if horizon <= 0:
            return removed
        while True:
            count = await self.storage.prune(horizon, self.options.prune_batch)
            removed += count
            if count < self.options.prune_batch:
                return removed
            await asyncio.sleep(0)

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.prune_interval_s)
            try:
                await self.prune_once()
            except Exception:
                logger.exception("pruning failed; will retry")
