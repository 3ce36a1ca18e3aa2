"""Live queries of the engine: holding and releasing them for clients, answering a query
at the latest commit from a live or retained result, and the in-process subscribe API."""

from __future__ import annotations

from typing import Any

from reactor.runtime.functions import FunctionDefinition
from reactor.runtime.outcome import Outcome
from reactor.runtime.paths import canonical_path
from reactor.runtime.runner import Runner
from reactor.runtime.subscription import Subscription, pin_page, query_key
from reactor.subscriptions import QueryEntry, QueryResult, SubscriptionManager, Watcher
from reactor.transactions import Database
from reactor.values import dumps, loads

Identity = dict[str, Any] | None


class LiveQueries:
    """The live-query half of `Engine` (a mixin over its database, manager and runner)."""

    database: Database
    manager: SubscriptionManager
    runner: Runner

    async def _latest_query(self, fn: FunctionDefinition, args: Any, identity: Identity,
                            admin: bool) -> Outcome:
        """A query at the latest commit, answered from a live or retained result if one
        is still valid, else run (and its result retained for the next caller)."""
        key = query_key(fn.path, args, identity, admin)
        cached = self.manager.cached(key)
        if cached is not None and cached.ok:
            return Outcome(fn.path, value=loads(cached.encoded), encoded=cached.encoded,
                           log_lines=list(cached.log_lines), ts=self.manager.current_ts)
        outcome = await self.runner.query(fn, args, identity)
        if outcome.ok and outcome.read_set is not None and outcome.ts is not None:
            outcome.encoded = dumps(outcome.value)
            result = QueryResult(outcome.ts, outcome.read_set, outcome.value, outcome.encoded,
                                 log_lines=outcome.log_lines)
            self.manager.remember(key, fn.path, args if isinstance(args, dict) else {},
                                  identity, admin, result)
        return outcome

    @property
    def latest_ts(self) -> int:
        """The newest commit visible to new transactions."""
        return self.database.latest_ts

    @property
    def live_ts(self) -> int:
        """The snapshot every live query's current result is valid at."""
        return self.manager.current_ts

    def hold_query(self, path: str, args: dict[str, Any], identity: Identity, *,
                   admin: bool, journal: str | None, watcher: Watcher) -> QueryEntry:
        """Hold the live query shared by every caller of (path, args, identity): a
        page whose client kept a `journal` stays pinned to the end it reported."""
        path = canonical_path(path)
        args = pin_page(args, journal)
        return self.manager.subscribe(query_key(path, args, identity, admin), path, args,
                                      identity, admin=admin, watcher=watcher)

    def limit_live_queries(self, maximum: int) -> None:
        """Refuse `hold_query` (TooManyQueries) for a new query past `maximum` held."""
        self.manager.max_entries = maximum

    def release_query(self, entry: QueryEntry, watcher: Watcher) -> None:
        """Let go of a query `hold_query` returned."""
        self.manager.unsubscribe(entry, watcher)

    def notify_at(self, ts: int, watcher: Watcher) -> None:
        """Call `watcher` once every live query is valid at `ts` or later."""
        self.manager.notify_at(ts, watcher)

    def subscribe(self, path: str, args: Any = None, identity: Identity = None, *,
                  admin: bool = False) -> Subscription:
        """A live query: its current value, then each changed value (in-process API)."""
        path = canonical_path(path)
        return Subscription(self.manager, query_key(path, args, identity, admin), path,
                            args or {}, identity, admin)
