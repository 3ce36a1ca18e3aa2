"""What every query shares, over an index or a search index: its error, `take`'s count
check, `paginate`'s options check, `first` and `unique` over `take`, and the cursor past
the last document."""

from __future__ import annotations

from typing import Any

from reactor.errors import ReactorError
from reactor.schema import TableDefinition

# The cursor past the last document: a page pinned to it grows with appended documents.
END_CURSOR = "~end"


class QueryError(ReactorError):
    code = "InvalidQuery"


def check_count(n: object) -> bool:
    """`take(n)`'s argument checked; False when it asks for nothing."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise QueryError(f"take: expected a non-negative integer, got {n!r}")
    return n > 0


def page_size(options: object) -> int:
    """`paginate(options)`'s argument checked: its `numItems` (a whole float is taken)."""
    if not isinstance(options, dict):
        raise QueryError("paginate: expected {'numItems': int, 'cursor': str | None}")
    num_items = options.get("numItems")
    if isinstance(num_items, float) and num_items.is_integer():
        num_items = int(num_items)
    if not isinstance(num_items, int) or isinstance(num_items, bool) or num_items < 0:
        raise QueryError("paginate: numItems must be a non-negative integer,"
                         f" got {num_items!r}")
    return num_items


class Terminals:
    """`first` and `unique` over a query's `take`, shared by index and search queries."""

    _table: TableDefinition

    async def take(self, n: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def first(self) -> dict[str, Any] | None:
        """The first document, or None."""
        found = await self.take(1)
        return found[0] if found else None

    async def unique(self) -> dict[str, Any] | None:
        """The only document, or None; fails with `NotUnique` if there are more."""
        found = await self.take(2)
        if len(found) > 1:
            raise QueryError(f"unique: expected at most one document in {self._table.name},"
                             f" found more (ids {found[0]['_id']}, {found[1]['_id']})",
                             code="NotUnique")
        return found[0] if found else None
