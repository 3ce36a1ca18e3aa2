"""One client's query set: its query ids, the shared entries behind them, what it was sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reactor.errors import LimitExceededError, ReactorError
from reactor.runtime import Engine
from reactor.runtime.client_errors import function_not_found, same_failure
from reactor.runtime.paths import canonical_path
from reactor.runtime.runner import to_function_error
from reactor.server import protocol as p
from reactor.server.identity import Caller
from reactor.server.outgoing import Change
from reactor.subscriptions import QueryEntry, QueryResult, Watcher
from reactor.values import from_wire

NEVER_SENT = -1


@dataclass(slots=True)
class _Query:
    """A client's query id: a shared entry, or a failure decided before running anything."""

    entry: QueryEntry | None
    path: str
    # None when the query failed before it could run at all (malformed or over the limit).
    args: dict[str, Any] | None
    failure: str | None = None
    sent_version: int = NEVER_SENT
    journal: str | None = None
    # The result last sent for this id: a re-run as a new identity that gives the
    # same result is not sent again.
    sent: QueryResult | None = None


class ClientQueries:
    """Applies ModifyQuerySet messages and yields the modifications the client is owed.

    Identical queries of all clients share one `QueryEntry` in the subscription
    manager; this keeps, per query id, which entry version was last sent.
    """

    def __init__(self, engine: Engine, max_queries: int, watcher: Watcher) -> None:
        self.engine = engine
        # The session's wake-up: called when an entry behind one of its ids changes.
        self.watcher = watcher
        self.max_queries = max_queries
        self.version = 0
        self._queries: dict[int, _Query] = {}
        self._removed: list[int] = []

    def modify(self, message: p.ModifyQuerySet, caller: Caller) -> None:
        """Apply one ModifyQuerySet; protocol violations raise `ProtocolError`."""
        if message.baseVersion != self.version:
            raise p.ProtocolError(
                f"ModifyQuerySet: baseVersion {message.baseVersion} does not match the"
                f" server's query set version {self.version}")
        if message.newVersion != message.baseVersion + 1:
            raise p.ProtocolError(f"ModifyQuerySet: newVersion must be baseVersion + 1"
                                  f" = {message.baseVersion + 1}, got {message.newVersion}")
        for modification in message.modifications:
            if isinstance(modification, p.AddQuery):
                self._add(modification, caller)
            else:
                query = self._queries.pop(modification.queryId, None)
                if query is None:
                    raise p.ProtocolError(
                        f"Remove: query {modification.queryId} is not in the query set")
                if query.entry is not None:
                    self.engine.release_query(query.entry, self.watcher)
                self._removed.append(modification.queryId)
        self.version = message.newVersion

    def _add(self, add: p.AddQuery, caller: Caller) -> None:
        if add.queryId in self._queries:
            raise p.ProtocolError(f"Add: query id {add.queryId} is already in use")
        if len(self._queries) >= self.max_queries:
            self._queries[add.queryId] = _Query(
                None, add.udfPath, None, journal=add.journal,
                failure=f"TooManyQueries: a connection may hold at most {self.max_queries}"
                " queries")
            return
        try:
            path = canonical_path(add.udfPath)
            args: dict[str, Any] = from_wire(p.unwrap_args(add.args), "args")  # type: ignore[assignment]
            if not isinstance(args, dict):
                # `[{"$integer": ...}]` is an object in JSON but decodes to another value.
                raise ReactorError(f"args: expected an object, got {type(args).__name__}",
                                   code="ArgsValidation")
        except ReactorError as error:
            if error.code != "FunctionNotFound":
                error = ReactorError(error.message, code="ArgsValidation")
            self._queries[add.queryId] = _Query(
                None, add.udfPath, None, journal=add.journal,
                failure=to_function_error(add.udfPath, error).message)
            return
        self._queries[add.queryId] = self._subscribe(path, args, add.journal, caller)

    def _subscribe(self, path: str, args: dict[str, Any], journal: str | None,
                   caller: Caller) -> _Query:
        """Share the entry for (path, args, identity); internal queries only for admins."""
        if self.engine.hides(path, admin=caller.admin):
            hidden = function_not_found(path, public=True)
            return _Query(None, path, args, journal=journal,
                          failure=to_function_error(path, hidden).message)
        try:
            entry = self.engine.hold_query(path, args, caller.identity, admin=caller.admin,
                                           journal=journal, watcher=self.watcher)
        except LimitExceededError as error:
            return _Query(None, path, args, journal=journal,
                          failure=f"{error.code}: {error.message}")
        return _Query(entry, path, args, journal=journal)

    def resubscribe(self, caller: Caller) -> None:
        """Every query runs again as the new identity; changed results are sent.

        Failures that do not depend on who asks (bad args, too many queries) stay.
        """
        for query_id, old in list(self._queries.items()):
            if old.args is None:
                continue
            new = self._subscribe(old.path, old.args, old.journal, caller)
            new.sent = old.sent
            if (new.entry is None and old.entry is None
                    and same_failure(new.failure, old.failure)):
                new.sent_version = old.sent_version
            self._queries[query_id] = new
            if old.entry is not None:
                self.engine.release_query(old.entry, self.watcher)

    def ready(self) -> bool:
        """Whether every entry has a result, so that a consistent Transition can be built."""
        for query in self._queries.values():
            if query.entry is not None and query.entry.result is None:
                return False
        return True

    def take_changes(self) -> list[Change]:
        """What changed since the last call: removals, then new results and failures.

        Removals come first: an id removed and added again in between is then left
        holding its new query on the client too.
        """
        changes: list[Change] = [(query_id,) for query_id in self._removed]
        self._removed.clear()
        for query_id, query in self._queries.items():
            entry = query.entry
            if entry is None:
                if query.sent_version == NEVER_SENT:
                    changes.append((query_id, query.failure or "query failed", query.journal))
                    query.sent_version = 0
                    query.sent = None
            elif query.sent_version != entry.version:
                result = entry.result
                assert result is not None
                if result.journal is not None:
                    query.journal = result.journal
                if query.sent is None or not query.sent.same_outcome(result):
                    changes.append((query_id, result, query.journal))
                query.sent_version = entry.version
                query.sent = result
        return changes

    def close(self) -> int:
        """Let go of every query; how many live queries were let go."""
        released = 0
        for query in self._queries.values():
            if query.entry is not None:
                self.engine.release_query(query.entry, self.watcher)
                released += 1
        self._queries.clear()
        return released
