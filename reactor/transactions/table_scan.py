"""Reading whole tables at one snapshot in pages, so memory stays flat in table size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from reactor.schema.indexes import BY_CREATION_TIME, index_id
from reactor.storage import Storage

PAGE = 1000
# Reads at this snapshot see the newest revision of everything.
LATEST = 2 ** 63 - 1


async def scan_table(storage: Storage, table: str, ts: int = LATEST, page: int = PAGE
                     ) -> AsyncIterator[dict[str, Any]]:
    """Every document of `table` live at `ts`, in `_creationTime` order, `page` at a time."""
    lo = b""
    name = index_id(table, BY_CREATION_TIME)
    while True:
        entries = await storage.scan_index(name, lo, None, ts, "asc", page)
        for entry in entries:
            yield entry.doc
        if len(entries) < page:
            return
        # The smallest key after the last one read.
        lo = entries[-1].key + b"\x00"


async def count_table(storage: Storage, table: str) -> int:
    """How many documents `table` holds at the latest timestamp."""
    return await storage.index_entry_count(index_id(table, BY_CREATION_TIME))
