"""A follower node: it commits nothing, and keeps its database current from the log.

Another node (the committer) writes to the shared store. The follower wakes on the
store's notification, or every `poll_s` if one is missed, reads the revisions
committed after its `latest_ts` up to the store's durable tail (the ts the
notification named, else read from the store), turns each into the
index keys it touched (write_keys.py, exactly as the committer does) and publishes
them as one step, so subscriptions here re-run at one consistent snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from itertools import groupby
from typing import TYPE_CHECKING

from reactor.storage import CommitLog, LoggedWrite
from reactor.transactions.catalog import Catalog
from reactor.transactions.write_keys import write_keys
from reactor.transactions.writelog import KeyWrite, LogEntry

if TYPE_CHECKING:
    from reactor.transactions.database import Database

logger = logging.getLogger("reactor.follower")

# How often a follower reads the log tail when no notification arrives.
POLL_S = 0.5


class LogFollower:
    """Reads the shared commit log into one follower's `Database`, in ts order."""

    def __init__(self, database: Database, log: CommitLog, poll_s: float = POLL_S) -> None:
        self.database = database
        self.log = log
        self.poll_s = poll_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reactor-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        tail: int | None = None
        while True:
            try:
                await self.catch_up(tail)
            except Exception:
                logger.exception("reading the commit log failed; will retry")
            tail = await self.log.wait_for_commits(self.poll_s)

    async def catch_up(self, tail: int | None = None) -> int:
        """Publish everything durable after `latest_ts`, up to `tail` if the caller knows
        it is durable (else the store's tail); the new `latest_ts`."""
        database = self.database
        start = database.latest_ts
        if tail is None:
            tail = await self.log.log_tail()
        if tail <= start:
            return start
        writes = await self.log.read_log(start, tail)
        if any(database.catalog.get(w.table) is None for w in writes):
            await self._refresh_tables()
        entries = [LogEntry(ts, tuple(key for write in group for key in self._keys(write)))
                   for ts, group in groupby(writes, key=lambda w: w.ts)]
        database.publish_followed(tail, entries)
        return tail

    def _keys(self, write: LoggedWrite) -> list[KeyWrite]:
        table = self.database.catalog.get(write.table)
        if table is None:
            # Not in this node's schema: nothing here can have read it.
            return []
        return write_keys(table, write.table, write.old, write.new)

    async def _refresh_tables(self) -> None:
        """Learn tables the committer created since (a schemaless app's first insert)."""
        database = self.database
        saved = await database.storage.read_globals()
        old = database.catalog
        database.catalog = Catalog(old.schema, list(saved.get("tables", [])), old.system_tables)
