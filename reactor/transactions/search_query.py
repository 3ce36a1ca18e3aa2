"""`with_search_index`: the search filter builder and the terminals of a text search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactor.errors import InvalidValueError
from reactor.schema import SearchIndexDefinition, TableDefinition, tokenize
from reactor.transactions.index_range import declared_int64
from reactor.transactions.query_terminals import (
    END_CURSOR,
    QueryError,
    Terminals,
    check_count,
    page_size,
)
from reactor.transactions.search_plan import MAX_FILTERS, MAX_SCANNED, MAX_TERMS, SearchPlan
from reactor.transactions.transaction import Transaction
from reactor.values import MISSING, Int64, Value, canonicalize

_CURSOR_PREFIX = "search:"


class SearchFilter:
    """`q` in `with_search_index(name, lambda q: q.search(field, text).eq(field, value))`."""

    def __init__(self, table: TableDefinition, index: SearchIndexDefinition) -> None:
        self._table = table
        self._index = index
        self._text: str | None = None
        self._filters: list[tuple[str, tuple[Any, ...]]] = []

    def search(self, field: str, text: str) -> SearchFilter:
        """Documents whose `field` has any of the terms of `text` (the last one as a prefix)."""
        if self._text is not None:
            raise QueryError(f"search index {self._index.name}: search() may be called once")
        if field != self._index.search_field:
            raise QueryError(f"search index {self._index.name} searches"
                             f" {self._index.search_field!r}, not {field!r}")
        if not isinstance(text, str):
            raise InvalidValueError(f"search({field!r}, ...): expected a string,"
                                    f" got {type(text).__name__}")
        self._text = text
        return self

    def eq(self, field: str, value: Any) -> SearchFilter:
        """Only documents whose filter field `field` equals `value` (None: null or missing)."""
        if field not in self._index.filter_fields:
            known = ", ".join(self._index.filter_fields) or "none"
            raise QueryError(f"search index {self._index.name}: {field!r} is not a filter"
                             f" field (filter fields: {known})")
        if len(self._filters) >= MAX_FILTERS:
            raise QueryError(f"search index {self._index.name}: at most {MAX_FILTERS}"
                             " eq() filters per search")
        where = f"with_search_index({self._index.name}).eq({field!r})"
        accepted: tuple[Value | Any, ...]
        if value is None:
            accepted = (MISSING, None)
        elif declared_int64(self._table, field) and type(value) is int:
            accepted = (Int64(value),)
        else:
            accepted = (canonicalize(value, where),)
        self._filters.append((field, accepted))
        return self

    def plan(self) -> SearchPlan:
        if self._text is None:
            raise QueryError(f"search index {self._index.name}: the filter must call"
                             f" q.search({self._index.search_field!r}, text)")
        terms = tokenize(self._text)
        if len(terms) > MAX_TERMS:
            raise QueryError(f"search index {self._index.name}: at most {MAX_TERMS} terms"
                             f" per search, got {len(terms)}")
        prefix = bool(terms)
        unique = list(dict.fromkeys(terms[:-1]))
        if terms and terms[-1] in unique:
            unique.remove(terms[-1])
        return SearchPlan(self._index, (*unique, *terms[-1:]), prefix, tuple(self._filters))


class SearchQuery(Terminals):
    """A text search: relevance order, at most 1,024 documents scanned."""

    def __init__(self, transaction: Transaction, table: TableDefinition,
                 plan: SearchPlan) -> None:
        self._txn = transaction
        self._table = table
        self._plan = plan
        self._filters: list[Callable[[dict[str, Any]], Any]] = []

    def filter(self, predicate: Callable[[dict[str, Any]], Any]) -> SearchQuery:
        """Keep only documents for which `predicate(doc)` is true (applied after ranking)."""
        if not callable(predicate):
            raise QueryError("filter: expected a function taking a document")
        self._filters.append(predicate)
        return self

    def order(self, order: str) -> SearchQuery:
        raise QueryError("a search is ordered by relevance; order() cannot be used with it")

    async def _run(self, limit: int) -> list[dict[str, Any]]:
        if not self._plan.terms:
            return []
        wanted = MAX_SCANNED if self._filters else min(limit, MAX_SCANNED)
        docs = await self._txn.search(self._table, self._plan, wanted)
        if self._filters:
            docs = [doc for doc in docs if all(p(doc) for p in self._filters)]
        return docs[:limit]

    async def take(self, n: int) -> list[dict[str, Any]]:
        """The `n` best matches (fewer if fewer match)."""
        return await self._run(n) if check_count(n) else []

    async def collect(self) -> list[dict[str, Any]]:
        return await self._run(MAX_SCANNED)

    def __aiter__(self) -> Any:
        return self._iterate()

    async def _iterate(self) -> Any:
        for doc in await self.collect():
            yield doc

    async def paginate(self, options: dict[str, Any]) -> dict[str, Any]:
        """One page of the ranked result; cursors are positions in it.

        A page pinned with `endCursor` covers the same positions on every run.
        """
        num_items = page_size(options)
        if options.get("cursor") == END_CURSOR:
            return {"page": [], "isDone": True, "continueCursor": END_CURSOR}
        start = _decode_position(options.get("cursor"))
        pinned = options.get("endCursor")
        if pinned:
            end = MAX_SCANNED if pinned == END_CURSOR else _decode_position(pinned)
            docs = await self._run(end)
            return {"page": docs[start:end], "isDone": pinned == END_CURSOR,
                    "continueCursor": pinned}
        end = min(start + num_items, MAX_SCANNED)
        docs = await self._run(end + 1)
        done = len(docs) <= end
        page = docs[start:end]
        return {"page": page, "isDone": done,
                "continueCursor": END_CURSOR if done else f"{_CURSOR_PREFIX}{end}"}


def _decode_position(cursor: Any) -> int:
    if cursor is None or cursor == "":
        return 0
    if isinstance(cursor, str) and cursor.startswith(_CURSOR_PREFIX):
        digits = cursor[len(_CURSOR_PREFIX):]
        if digits.isdigit() and int(digits) <= MAX_SCANNED:
            return int(digits)
    raise InvalidValueError(f"paginate: malformed search cursor {cursor!r}")
