"""The query builder over an index: pick the index and its range, order, filter, then run
a terminal (`take`, `collect`, `paginate`, `async for`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, Literal

from reactor.errors import InvalidValueError, NotFoundError
from reactor.transactions.index_range import IndexRange
from reactor.transactions.query_terminals import (
    END_CURSOR,
    QueryError,
    Terminals,
    check_count,
    page_size,
)
from reactor.transactions.search_query import SearchFilter, SearchQuery
from reactor.transactions.transaction import ScanRange, Transaction
from reactor.values import key_after

# Documents fetched per storage round trip when a filter or collect() needs many.
BATCH = 128


class QueryBuilder(Terminals):
    """`ctx.db.query(table)`: pick an index and order, filter, then run a terminal."""

    def __init__(self, transaction: Transaction, table_name: str) -> None:
        self._txn = transaction
        self._table = transaction.catalog.require(table_name)
        self._index = self._table.indexes["by_creation_time"]
        self._start: bytes = b""
        self._end: bytes | None = None
        self._order: Literal["asc", "desc"] = "asc"
        self._filters: list[Callable[[dict[str, Any]], Any]] = []
        self._index_chosen = False

    def with_index(self, name: str,
                   range_fn: Callable[[IndexRange], IndexRange] | None = None) -> QueryBuilder:
        """Read through index `name`, limited by `range_fn(q)` (`q.eq(...).gte(...)`);
        without a range the whole index, in its order. Once per query."""
        if self._index_chosen:
            raise QueryError("with_index may be called once per query")
        index = self._table.indexes.get(name)
        if index is None:
            raise NotFoundError(
                f'index "{name}" not found on table "{self._table.name}"'
                f" (indexes: {', '.join(sorted(self._table.indexes))})", code="IndexNotFound")
        self._index = index
        self._index_chosen = True
        if range_fn is not None:
            built = range_fn(IndexRange(self._table, index))
            if not isinstance(built, IndexRange):
                raise QueryError("the with_index range function must return q (the range builder)")
            self._start, self._end = built.key_range()
        return self

    def search_index_definition(self, name: str) -> Any:
        """The table's search index `name`, or an error listing the ones it has."""
        index = self._table.search_indexes.get(name)
        if index is None:
            raise NotFoundError(
                f'search index "{name}" not found on table "{self._table.name}"'
                f" (search indexes: {', '.join(sorted(self._table.search_indexes)) or 'none'})",
                code="IndexNotFound")
        return index

    def with_search_index(self, name: str, search_fn: Callable[[Any], Any]) -> Any:
        """A text search over the search index `name`: `search_fn(q)` calls
        `q.search(field, text)` and optionally `q.eq(filter_field, value)`."""
        if self._index_chosen:
            raise QueryError("with_search_index cannot be combined with with_index")
        index = self.search_index_definition(name)
        if self._filters:
            raise QueryError("with_search_index must come before filter()")
        built = search_fn(SearchFilter(self._table, index))
        if not isinstance(built, SearchFilter):
            raise QueryError("the with_search_index function must return q (the search filter)")
        return SearchQuery(self._txn, self._table, built.plan())

    def order(self, order: Literal["asc", "desc"]) -> QueryBuilder:
        """Index order (`"asc"`, the default) or its reverse (`"desc"`)."""
        if order not in ("asc", "desc"):
            raise QueryError(f'order: expected "asc" or "desc", got {order!r}')
        self._order = order
        return self

    def filter(self, predicate: Callable[[dict[str, Any]], Any]) -> QueryBuilder:
        """Keep documents for which `predicate(doc)` is true. Documents filtered out still
        count as read (limits, reactivity): prefer an index range where one fits."""
        if not callable(predicate):
            raise QueryError("filter: expected a function taking a document")
        self._filters.append(predicate)
        return self

    @property
    def range(self) -> tuple[bytes, bytes | None]:
        """The index key range `[start, end)` chosen by `with_index`."""
        return self._start, self._end

    def _matches(self, doc: dict[str, Any]) -> bool:
        return all(predicate(doc) for predicate in self._filters)

    async def _run(self, start: bytes, end: bytes | None, limit: int | None
                   ) -> tuple[list[tuple[bytes, dict[str, Any]]], bool]:
        """Matching documents in order until `limit` are found or the range ends."""
        found: list[tuple[bytes, dict[str, Any]]] = []
        while limit is None or len(found) < limit:
            want = BATCH if limit is None or self._filters else limit - len(found)
            batch, exhausted = await self._txn.scan(self._table, self._index, start, end,
                                                    self._order, want)
            for item in batch:
                if self._matches(item.doc):
                    found.append((item.key, item.doc))
                    if limit is not None and len(found) == limit:
                        return found, exhausted and item is batch[-1]
            if exhausted or not batch:
                return found, True
            last = batch[-1].key
            if self._order == "asc":
                start = key_after(last)
            else:
                end = last
        return found, False

    async def take(self, n: int) -> list[dict[str, Any]]:
        """The first `n` documents (fewer if the range ends first)."""
        if not check_count(n):
            return []
        found, _ = await self._run(self._start, self._end, n)
        return [doc for _, doc in found]

    async def collect(self) -> list[dict[str, Any]]:
        """Every document in the range (subject to the read limits: use `take`,
        `paginate` or `async for` for large ranges)."""
        found, _ = await self._run(self._start, self._end, None)
        return [doc for _, doc in found]

    def __aiter__(self) -> DocumentIterator:
        """`async for doc in query`: documents in order, read in batches as the loop goes.

        Breaking out of the loop stops reading: the read set (what the query
        depends on) covers only the batches fetched, so a query that stops at the
        first match is not re-run when later documents change.
        """
        return DocumentIterator(self)

    async def next_batch(self, start: bytes, end: bytes | None, size: int
                         ) -> tuple[list[tuple[bytes, dict[str, Any]]], bytes, bytes | None, bool]:
        """One batch of matching documents for iteration, and the range left after it."""
        batch, exhausted = await self._txn.scan(self._table, self._index, start, end,
                                                self._order, size)
        found = [(item.key, item.doc) for item in batch if self._matches(item.doc)]
        if exhausted or not batch:
            return found, start, end, True
        if self._order == "asc":
            return found, key_after(batch[-1].key), end, False
        return found, start, batch[-1].key, False

    async def paginate(self, options: dict[str, Any]) -> dict[str, Any]:
        """One page: `{"page", "isDone", "continueCursor"}` (protocol section 8).

        With `endCursor` the page ends exactly there, so a live page grows with
        inserts inside it instead of shifting items onto the next page. The last
        page's `continueCursor` is `END_CURSOR`, so pinned to it, it grows with
        documents appended at the end.
        """
        num_items = page_size(options)
        if options.get("cursor") == END_CURSOR:
            return {"page": [], "isDone": True, "continueCursor": END_CURSOR}
        start, end = self._start, self._end
        cursor = _decode_cursor(options.get("cursor"))
        if cursor is not None:
            if self._order == "asc":
                start = max(start, key_after(cursor))
            else:
                end = cursor if end is None else min(end, cursor)
        pinned = options.get("endCursor")
        if pinned:
            end_key = None if pinned == END_CURSOR else _decode_cursor(pinned)
            if end_key is not None and self._order == "asc":
                end = key_after(end_key) if end is None else min(end, key_after(end_key))
            elif end_key is not None:
                start = max(start, end_key)
            found, _ = await self._run(start, end, None)
            return {"page": [doc for _, doc in found], "isDone": pinned == END_CURSOR,
                    "continueCursor": pinned}
        found, done = await self._run(start, end, max(num_items, 1))
        if num_items == 0:
            found, done = [], False
        last = found[-1][0] if found else cursor
        return {"page": [doc for _, doc in found], "isDone": done,
                "continueCursor": END_CURSOR if done else _encode_cursor(last)}


async def first_of_each(queries: Sequence[QueryBuilder]) -> list[dict[str, Any] | None]:
    """The first document of each query, all read in one storage round trip
    (`Transaction.scan_each`): ascending, unfiltered queries of one transaction."""
    if not queries:
        return []
    txn = queries[0]._txn
    if any(q._filters or q._order != "asc" or q._txn is not txn for q in queries):
        raise QueryError("first_of_each: ascending queries without filters, of one"
                         " transaction")
    found = await txn.scan_each([ScanRange(q._table, q._index, q._start, q._end, 1)
                                 for q in queries])
    return [docs[0].doc if docs else None for docs, _ in found]


class DocumentIterator:
    """The iterator behind `async for`: batches start small and double up to BATCH, so a
    loop that stops early reads little and a long loop makes few round trips."""

    FIRST_BATCH = 8

    def __init__(self, query: QueryBuilder) -> None:
        self._query = query
        self._start, self._end = query.range
        self._size = self.FIRST_BATCH
        self._buffer: list[dict[str, Any]] = []
        self._position = 0
        self._done = False

    def __aiter__(self) -> DocumentIterator:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while self._position >= len(self._buffer):
            if self._done:
                raise StopAsyncIteration
            found, self._start, self._end, self._done = await self._query.next_batch(
                self._start, self._end, self._size)
            self._buffer = [doc for _, doc in found]
            self._position = 0
            self._size = min(self._size * 2, BATCH)
        doc = self._buffer[self._position]
        self._position += 1
        return doc


def _encode_cursor(key: bytes | None) -> str:
    return "" if key is None else base64.urlsafe_b64encode(key).decode("ascii")


def _decode_cursor(cursor: Any) -> bytes | None:
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str):
        raise QueryError(f"paginate: cursor must be a string or None, got {type(cursor).__name__}")
    try:
        return base64.urlsafe_b64decode(cursor.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidValueError(f"paginate: malformed cursor {cursor!r}") from None
