"""Live queries in-process: the entry key, running an entry, and the `Subscription` handle."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from reactor.errors import ReactorError
from reactor.runtime.functions import FunctionKind
from reactor.runtime.outcome import FunctionError, Outcome
from reactor.runtime.runner import to_function_error
from reactor.subscriptions import QueryEntry, QueryResult, SubscriptionManager
from reactor.transactions import ReadSet
from reactor.values import canonicalize, dumps, loads

if TYPE_CHECKING:
    from reactor.runtime.engine import Engine


def identity_key(identity: dict[str, Any] | None) -> str | None:
    """The whole identity, canonically: a query may read any claim, not just the subject."""
    if identity is None:
        return None
    return json.dumps(identity, sort_keys=True, default=str, separators=(",", ":"))


def query_key(path: str, args: Any, identity: dict[str, Any] | None,
              admin: bool = False) -> tuple[Any, ...]:
    """Identical (path, args, identity, admin) share one execution and one result."""
    try:
        encoded = dumps(canonicalize(args if args is not None else {}, "args"))
    except ReactorError:
        encoded = repr(args).encode()
    return (path, encoded, identity_key(identity), admin)


def unpinned_page(args: dict[str, Any]) -> bool:
    """Whether `args` ask for a page without an end (`paginationOpts.endCursor` absent,
    null or empty, as `paginate` reads it): a live query pins such a page."""
    options = args.get("paginationOpts")
    return isinstance(options, dict) and not options.get("endCursor")


def pin_page(args: dict[str, Any], journal: str | None) -> dict[str, Any]:
    """`args` with an unpinned page ended at `journal` (the end its first run reached)."""
    if not journal or not unpinned_page(args):
        return args
    return {**args, "paginationOpts": {**args["paginationOpts"], "endCursor": journal}}


async def run_entry(engine: Engine, entry: QueryEntry, ts: int) -> QueryResult:
    """Execute a subscribed query at snapshot `ts`; failures become an error result.

    Every run is reported to the engine's call listeners (`reactor dev` prints it).
    """
    note = "live, re-run" if entry.result is not None else "live"
    try:
        fn = engine.resolve(entry.path, FunctionKind.QUERY, public_only=not entry.admin,
                            admin=entry.admin)
    except ReactorError as error:
        failure = to_function_error(entry.path, error)
        engine.report(FunctionKind.QUERY, Outcome(entry.path, error=failure, note=note),
                      entry.identity)
        return QueryResult(ts, ReadSet(), error_message=failure.message,
                           error_summary=failure.summary)
    pinning = unpinned_page(entry.args)
    args = pin_page(entry.args, entry.journal)
    outcome = await engine.runner.query(fn, args, entry.identity, ts)
    outcome.note = note
    engine.report(FunctionKind.QUERY, outcome, entry.identity)
    result = QueryResult(ts, outcome.read_set or ReadSet(), log_lines=outcome.log_lines,
                         journal=entry.journal)
    if outcome.error is None:
        result.value = outcome.value
        result.encoded = dumps(outcome.value)
        if pinning and result.journal is None:
            result.journal = _page_end(outcome.value)
    else:
        result.error_message = outcome.error.message
        result.error_summary = outcome.error.summary
        result.retry = outcome.error.code == "StorageIOError"
        if outcome.error.is_app_error:
            result.error_data = dumps(_error_data(outcome.error.data))
    return result


def _page_end(value: Any) -> str | None:
    """A live page keeps the end its first run reached: inserts grow it, never shift it."""
    if isinstance(value, dict) and isinstance(value.get("continueCursor"), str):
        return value["continueCursor"] or None
    return None


def _error_data(data: Any) -> Any:
    """AppError data as a value; something unencodable degrades to its text."""
    try:
        return canonicalize(data, "errorData")
    except ReactorError:
        return str(data)


class Subscription:
    """`async with engine.subscribe(...) as sub: value = await sub.next()`."""

    def __init__(self, manager: SubscriptionManager, key: Any, path: str, args: Any,
                 identity: dict[str, Any] | None, admin: bool = False) -> None:
        self._admin = admin
        self._manager = manager
        self._key = key
        self._path = path
        self._args = args
        self._identity = identity
        self._entry: QueryEntry | None = None
        self._seen_version = 0
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Subscription:
        self._entry = self._manager.subscribe(self._key, self._path, self._args, self._identity,
                                              admin=self._admin, watcher=self._changed.set)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._entry is not None:
            self._manager.unsubscribe(self._entry, self._changed.set)
            self._entry = None

    @property
    def ts(self) -> int | None:
        """The snapshot the current value is valid at.

        An entry no commit touched keeps its result but stays valid as the
        manager advances, so this is the manager's ts, shared by every entry.
        """
        entry = self._entry
        return None if entry is None or entry.result is None else self._manager.current_ts

    async def next(self, timeout: float | None = None) -> Any:
        """The next value this subscription has not returned yet (waits for a change)."""
        entry = self._entry
        if entry is None:
            raise ReactorError("subscription is closed", code="SubscriptionClosed")
        async with asyncio.timeout(timeout):
            while entry.version <= self._seen_version or not entry.ready:
                self._changed.clear()
                await self._changed.wait()
        self._seen_version = entry.version
        result = entry.result
        assert result is not None
        if not result.ok:
            data = None if result.error_data is None else loads(result.error_data)
            raise FunctionError(result.error_message or "query failed", data=data,
                                is_app_error=result.error_data is not None)
        return result.value

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        return await self.next()
