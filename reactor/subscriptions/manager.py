"""Shared query entries kept current: after each commit, re-run exactly the ones it touched."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import LimitExceededError
from reactor.subscriptions.interval_tree import IntervalHandle, IntervalTree
from reactor.transactions import Database, LogEntry, ReadSet
from reactor.values import value_size

logger = logging.getLogger("reactor.subscriptions")

# Unheld entries larger than this (arguments plus result) are not retained: the count
# limit alone would let a client pile up a thousand multi-megabyte entries.
MAX_RETAINED_ENTRY_BYTES = 64 * 1024
# How soon a query whose run failed for want of storage runs again (`QueryResult.retry`).
RETRY_S = 1.0


@dataclass(eq=False, slots=True)
class QueryResult:
    """One execution of a query at snapshot `ts`.

    `encoded` is the convex-JSON encoding of the value (or of the error), made
    once and shared by every client subscribed to the entry. Results compare and
    hash by identity (`same_outcome` compares content): a fan-out keys the
    Transitions it shares between clients on the result object they show.
    """

    ts: int
    read_set: ReadSet
    value: Any = None
    encoded: bytes = b"null"
    error_message: str | None = None
    # The message without what differs between runs (a request id): what counts as
    # the same failure when a query fails again.
    error_summary: str | None = None
    error_data: bytes | None = None
    log_lines: list[str] = field(default_factory=list)
    # Opaque state the next run of the same entry starts from (a page's pinned end).
    journal: str | None = None
    # The run failed for want of storage (a lost connection, PostgreSQL restarting), not
    # because of the query: its read set is partial, so no commit may ever hit it, and
    # the manager runs it again after `RETRY_S`.
    retry: bool = False

    @property
    def ok(self) -> bool:
        return self.error_message is None

    def same_outcome(self, other: QueryResult) -> bool:
        return (self.encoded == other.encoded
                and (self.error_summary or self.error_message)
                == (other.error_summary or other.error_message)
                and self.error_data == other.error_data)


Watcher = Callable[[], None]


@dataclass(eq=False, slots=True)
class QueryEntry:
    """A (path, args, identity) subscribed by one or more clients; one execution for all."""

    key: Hashable
    path: str
    args: dict[str, Any]
    identity: dict[str, Any] | None
    # An admin subscriber may run internal queries; the key keeps admins apart.
    admin: bool = False
    result: QueryResult | None = None
    journal: str | None = None
    version: int = 0
    subscribers: int = 0
    handles: list[tuple[str, IntervalHandle]] = field(default_factory=list)
    # Called (once per step) when the result changes, with how many holders want it.
    watchers: dict[Watcher, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Whether the entry has run once (holders wait for that before sending anything)."""
        return self.result is not None


RunQuery = Callable[[QueryEntry, int], Awaitable[QueryResult]]
AdvanceListener = Callable[[int, set[QueryEntry]], None]


class SubscriptionManager:
    """Every live entry is valid at `current_ts`; advancing is one step for all of them.

    Per commit batch the manager looks up the written keys in one interval tree
    per index, re-runs only the hit entries (all at one snapshot), swaps their
    results in without yielding to the event loop, and then tells listeners
    (the sync sessions) which entries changed.
    """

    def __init__(self, database: Database, run_query: RunQuery, *,
                 max_concurrency: int = 64, retain: int = 1_000) -> None:
        self.database = database
        self.run_query = run_query
        self.current_ts = database.latest_ts
        self.entries: dict[Hashable, QueryEntry] = {}
        # Entries nobody holds any more, kept (newest last) while no write touches
        # what they read: a one-shot query or a re-subscription reuses their result.
        self._retained: OrderedDict[Hashable, QueryEntry] = OrderedDict()
        self._retain = retain
        # Held entries allowed at once (None: no cap); past it `subscribe` refuses.
        self.max_entries: int | None = None
        self.executions = 0
        self._trees: dict[str, IntervalTree] = {}
        self._fresh: set[QueryEntry] = set()
        self._rerun_everything = False
        self._listeners: list[AdvanceListener] = []
        self._ts_waiters: list[tuple[int, int, Watcher]] = []
        self._waiter_serial = 0
        self._wake = asyncio.Event()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.database.add_commit_listener(self._on_commit)
        self._task = asyncio.create_task(self._advance_forever(), name="reactor-subscriptions")

    async def stop(self) -> None:
        self.database.remove_commit_listener(self._on_commit)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def add_listener(self, listener: AdvanceListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: AdvanceListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # Entries ---------------------------------------------------------------

    def subscribe(self, key: Hashable, path: str, args: dict[str, Any],
                  identity: dict[str, Any] | None, *, admin: bool = False,
                  watcher: Watcher | None = None) -> QueryEntry:
        """Hold the shared entry; `watcher` is called whenever its result changes."""
        entry = self.entries.get(key)
        if entry is None:
            held = len(self.entries) - len(self._retained)
            if self.max_entries is not None and held >= self.max_entries:
                raise LimitExceededError(f"the server holds its maximum of {self.max_entries}"
                                         " live queries; try again later",
                                         code="TooManyQueries")
            entry = QueryEntry(key, path, args, identity, admin)
            self.entries[key] = entry
            self._fresh.add(entry)
            self._wake.set()
        self._retained.pop(key, None)
        entry.subscribers += 1
        if watcher is not None:
            entry.watchers[watcher] = entry.watchers.get(watcher, 0) + 1
        return entry

    def unsubscribe(self, entry: QueryEntry, watcher: Watcher | None = None) -> None:
        if watcher is not None and watcher in entry.watchers:
            entry.watchers[watcher] -= 1
            if entry.watchers[watcher] <= 0:
                del entry.watchers[watcher]
        entry.subscribers -= 1
        if entry.subscribers <= 0 and self.entries.get(entry.key) is entry:
            self._fresh.discard(entry)
            if entry.result is None:
                self._evict(entry)
            else:
                self._keep(entry)

    def _keep(self, entry: QueryEntry) -> None:
        """Retain an unheld entry (its intervals stay registered, so writes evict it)."""
        encoded = entry.result.encoded if entry.result is not None else b""
        if len(encoded) + value_size(entry.args) > MAX_RETAINED_ENTRY_BYTES:
            self._evict(entry)
            return
        self._retained[entry.key] = entry
        self._retained.move_to_end(entry.key)
        while len(self._retained) > self._retain:
            _, oldest = self._retained.popitem(last=False)
            self._evict(oldest)

    def _evict(self, entry: QueryEntry) -> None:
        if self.entries.get(entry.key) is entry:
            del self.entries[entry.key]
        self._retained.pop(entry.key, None)
        self._drop_intervals(entry)

    def cached(self, key: Hashable) -> QueryResult | None:
        """A result still valid at the latest commit, held or retained, if there is one."""
        entry = self.entries.get(key)
        if entry is None or entry.result is None or self.current_ts != self.database.latest_ts:
            return None
        if key in self._retained:
            self._retained.move_to_end(key)
        return entry.result

    def remember(self, key: Hashable, path: str, args: dict[str, Any],
                 identity: dict[str, Any] | None, admin: bool, result: QueryResult) -> None:
        """Retain a one-shot query's result, if no write since its snapshot was missed."""
        if key in self.entries or result.ts < self.current_ts or self._retain <= 0:
            return
        entry = QueryEntry(key, path, args, identity, admin, result=result, version=1,
                           journal=result.journal)
        self._register(entry, result)
        self.entries[key] = entry
        self._keep(entry)

    def notify_at(self, ts: int, watcher: Watcher) -> None:
        """Call `watcher` once every entry is valid at `ts` or later."""
        if self.current_ts >= ts:
            asyncio.get_running_loop().call_soon(watcher)
            return
        self._waiter_serial += 1
        heapq.heappush(self._ts_waiters, (ts, self._waiter_serial, watcher))

    def rerun_all(self) -> None:
        """Re-run every entry at the next step (new code after a hot reload)."""
        self._rerun_everything = True
        self._wake.set()

    # Advancing -------------------------------------------------------------

    def _on_commit(self, ts: int, entries: list[LogEntry]) -> None:
        self._wake.set()

    def _hits(self, log: list[LogEntry]) -> set[QueryEntry]:
        hits: set[QueryEntry] = set()
        for log_entry in log:
            for index_id, key in log_entry.writes:
                tree = self._trees.get(index_id)
                if tree is not None:
                    hits.update(tree.stab(key))  # type: ignore[arg-type]
        return hits

    async def _advance_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.advance()
            except Exception:
                logger.exception("advancing subscriptions failed")

    async def advance(self) -> None:
        """Bring every entry to the latest committed ts in one consistent step."""
        target = self.database.latest_ts
        log = self.database.write_log
        if self._rerun_everything or self.current_ts < log.horizon_ts:
            self._rerun_everything = False
            dirty = set(self.entries.values())  # retained entries among them are evicted
        else:
            dirty = self._hits(log.since(self.current_ts, target))
        dirty |= self._fresh
        self._fresh = set()
        for entry in [entry for entry in dirty if entry.subscribers <= 0]:
            self._evict(entry)
        ordered = [entry for entry in dirty if entry.subscribers > 0]
        results = await asyncio.gather(*(self._execute(entry, target) for entry in ordered))
        changed: set[QueryEntry] = set()
        for entry, result in zip(ordered, results, strict=True):
            if entry.subscribers <= 0:
                self._evict(entry)  # let go while it ran: what it holds is stale
                continue
            self._drop_intervals(entry)
            self._register(entry, result)
            if entry.result is None or not entry.result.same_outcome(result):
                entry.version += 1
                changed.add(entry)
            entry.result = result
            entry.journal = result.journal
            if result.retry:
                asyncio.get_running_loop().call_later(RETRY_S, self._run_again, entry)
        self.current_ts = max(self.current_ts, target)
        self._notify(changed)
        for listener in list(self._listeners):
            try:
                listener(self.current_ts, changed)
            except Exception:
                logger.exception("subscription listener failed")

    def _run_again(self, entry: QueryEntry) -> None:
        """Re-run `entry` at the next step, if it is still held."""
        if self.entries.get(entry.key) is entry and entry.subscribers > 0:
            self._fresh.add(entry)
            self._wake.set()

    def _notify(self, changed: set[QueryEntry]) -> None:
        """Wake exactly the holders of changed entries and those waiting for this ts."""
        due: dict[Watcher, None] = {}
        for entry in changed:
            for watcher in entry.watchers:
                due[watcher] = None
        while self._ts_waiters and self._ts_waiters[0][0] <= self.current_ts:
            due[heapq.heappop(self._ts_waiters)[2]] = None
        for watcher in due:
            try:
                watcher()
            except Exception:
                logger.exception("subscription watcher failed")

    async def _execute(self, entry: QueryEntry, ts: int) -> QueryResult:
        async with self._semaphore:
            self.executions += 1
            return await self.run_query(entry, ts)

    def _register(self, entry: QueryEntry, result: QueryResult) -> None:
        for index_id, interval in result.read_set.items():
            tree = self._trees.setdefault(index_id, IntervalTree())
            entry.handles.append((index_id, tree.add(interval.start, interval.end, entry)))

    def _drop_intervals(self, entry: QueryEntry) -> None:
        for index_id, handle in entry.handles:
            tree = self._trees.get(index_id)
            if tree is not None:
                tree.remove(handle)
                if not len(tree):
                    del self._trees[index_id]
        entry.handles.clear()
