"""Live queries in-process: the entry key, running an entry, and the `Subscription` handle."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from reactor.errors import ReactorError
from reactor.runtime.functions import FunctionKind
from reactor.runtime.outcome import FunctionError
from reactor.runtime.runner import to_function_error
from reactor.subscriptions import QueryEntry, QueryResult, SubscriptionManager
from reactor.transactions import ReadSet
from reactor.values import canonicalize, dumps, loads

if TYPE_CHECKING:
    from reactor.runtime.engine import Engine


def identity_key(identity: dict[str, Any] | None) -> str | None:
    return None if identity is None else str(identity.get("tokenIdentifier"))


def query_key(path: str, args: Any, identity: dict[str, Any] | None) -> tuple[Any, ...]:
    """Identical (path, args, identity) share one execution and one result."""
    try:
        encoded = dumps(canonicalize(args if args is not None else {}, "args"))
    except ReactorError:
        encoded = repr(args).encode()
    return (path, encoded, identity_key(identity))


async def run_entry(engine: Engine, entry: QueryEntry, ts: int) -> QueryResult:
    """Execute a subscribed query at snapshot `ts`; failures become an error result."""
    try:
        fn = engine.resolve(entry.path, FunctionKind.QUERY)
    except ReactorError as error:
        failure = to_function_error(entry.path, error)
        return QueryResult(ts, ReadSet(), error_message=failure.message)
    outcome = await engine.runner.query(fn, entry.args, entry.identity, ts)
    result = QueryResult(ts, outcome.read_set or ReadSet(), log_lines=outcome.log_lines)
    if outcome.error is None:
        result.value = outcome.value
        result.encoded = dumps(outcome.value)
    else:
        result.error_message = outcome.error.message
        if outcome.error.is_app_error:
            result.error_data = dumps(_error_data(outcome.error.data))
    return result


def _error_data(data: Any) -> Any:
    """AppError data as a value; something unencodable degrades to its text."""
    try:
        return canonicalize(data, "errorData")
    except ReactorError:
        return str(data)


class Subscription:
    """`async with engine.subscribe(...) as sub: value = await sub.next()`."""

    def __init__(self, manager: SubscriptionManager, key: Any, path: str, args: Any,
                 identity: dict[str, Any] | None) -> None:
        self._manager = manager
        self._key = key
        self._path = path
        self._args = args
        self._identity = identity
        self._entry: QueryEntry | None = None
        self._seen_version = 0
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Subscription:
        self._entry = self._manager.subscribe(self._key, self._path, self._args, self._identity)
        self._manager.add_listener(self._on_advance)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._entry is not None:
            self._manager.remove_listener(self._on_advance)
            self._manager.unsubscribe(self._entry)
            self._entry = None

    def _on_advance(self, ts: int, changed: set[QueryEntry]) -> None:
        if self._entry is not None and self._entry in changed:
            self._changed.set()

    @property
    def ts(self) -> int | None:
        entry = self._entry
        return None if entry is None or entry.result is None else entry.result.ts

    async def next(self, timeout: float | None = None) -> Any:
        """The next value this subscription has not returned yet (waits for a change)."""
        entry = self._entry
        if entry is None:
            raise ReactorError("subscription is closed", code="SubscriptionClosed")
        async with asyncio.timeout(timeout):
            while entry.version <= self._seen_version or not entry.ready.is_set():
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
