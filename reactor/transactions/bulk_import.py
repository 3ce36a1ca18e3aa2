"""Bulk import: many documents committed as one transaction at one timestamp.

Commits pause while an import writes (it holds the committer's lock, as a schema
change does); the documents go to storage in batches through one storage
transaction (`Storage.write_stream`), so an import is all or nothing and memory
does not grow with its size. Afterwards the catalog is replaced, so mutations
begun before the import run again on top of it, and every live query re-runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Any

from reactor.schema import index_id
from reactor.storage import (
    CommitRecord,
    DocumentWrite,
    IndexWrite,
    SearchWrite,
    Storage,
    VectorWrite,
)
from reactor.transactions.catalog import Catalog
from reactor.transactions.search_plan import entry_keys, search_write
from reactor.transactions.table_scan import scan_table
from reactor.transactions.timestamps import TimestampOracle
from reactor.transactions.vector_search import vector_keys, vector_write

# (table, document with `_id` and `_creationTime`, already validated)
Batch = list[tuple[str, dict[str, Any]]]
BatchSource = Callable[[Catalog], AsyncIterable[Batch]]
DELETE_PAGE = 2000


def build_record(catalog: Catalog, ts: int, batch: Batch, *, delete: bool) -> CommitRecord:
    """Storage rows writing (or, with `delete`, removing) every document of `batch`."""
    documents: list[DocumentWrite] = []
    index_writes: list[IndexWrite] = []
    search_writes: list[SearchWrite] = []
    vector_writes: list[VectorWrite] = []
    plans: dict[str, _TablePlan] = {}
    for table_name, doc in batch:
        plan = plans.get(table_name)
        if plan is None:
            plan = plans[table_name] = _TablePlan(catalog, table_name)
        doc_id = doc["_id"]
        documents.append(DocumentWrite(doc_id, table_name, None if delete else doc))
        index_writes.extend(IndexWrite(name, index.key_for(doc), doc_id, delete)
                            for name, index in plan.indexes)
        for name, search in plan.searches:
            if entry_keys(search, doc):
                search_writes.append(search_write(search, name, doc_id,
                                                  None if delete else doc))
        for name, vectors in plan.vectors:
            if vector_keys(vectors, doc):
                vector_writes.append(vector_write(vectors, name, doc_id,
                                                  None if delete else doc))
    return CommitRecord(ts, documents, index_writes, search_writes=search_writes,
                        vector_writes=vector_writes)


class _TablePlan:
    """A table's indexes with their storage names, looked up once per batch."""

    def __init__(self, catalog: Catalog, table_name: str) -> None:
        table = catalog.require(table_name)
        self.indexes = [(index_id(table_name, i.name), i) for i in table.indexes.values()]
        self.searches = [(index_id(table_name, i.name), i)
                         for i in table.search_indexes.values()]
        self.vectors = [(index_id(table_name, i.name), i)
                        for i in table.vector_indexes.values()]


async def write_import(storage: Storage, old: Catalog, clock: TimestampOracle, begin: int,
                       replace: Sequence[str], source: BatchSource) -> tuple[int, Catalog]:
    """Write every batch `source` yields (and, first, remove every document of the
    `replace` tables as of snapshot `begin`) as one commit; its ts and the new catalog.
    The caller holds the committer's lock."""
    catalog = Catalog(old.schema, old.user_table_names, old.system_tables)
    ts = clock.next_ts()
    globals_: dict[str, Any] = {}
    newest = [clock.last_creation_ms]

    async def records() -> AsyncIterator[CommitRecord]:
        for table in replace:
            page: Batch = []
            async for doc in scan_table(storage, table, begin):
                page.append((table, doc))
                if len(page) >= DELETE_PAGE:
                    yield build_record(catalog, ts, page, delete=True)
                    page = []
            if page:
                yield build_record(catalog, ts, page, delete=True)
        async for batch in source(catalog):
            for _, doc in batch:
                newest[0] = max(newest[0], doc["_creationTime"])
            yield build_record(catalog, ts, batch, delete=False)
        globals_.update({"last_ts": ts, "last_creation_ms": newest[0],
                         "tables": catalog.user_table_names})

    await storage.write_stream(records(), globals_)
    clock.last_creation_ms = max(clock.last_creation_ms, newest[0])
    return ts, catalog
