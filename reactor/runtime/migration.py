"""Applying a new schema to existing data: check documents, backfill and drop indexes.

Writes are paused while this runs, so the check and the backfill see exactly the
data the new schema will govern, and either all of it applies or none of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import ReactorError, SchemaError
from reactor.schema import (
    IndexDefinition,
    SchemaDefinition,
    SearchIndexDefinition,
    TableDefinition,
    index_id,
)
from reactor.schema.indexes import BUILTIN_INDEXES
from reactor.storage import CommitRecord, IndexWrite, SearchWrite
from reactor.transactions import Database
from reactor.transactions.search_plan import search_write
from reactor.values import key_after

BATCH = 500
MAX_REPORTED = 10

logger = logging.getLogger("reactor.migration")


@dataclass
class SchemaChange:
    revalidate: list[str] = field(default_factory=list)
    backfill: dict[str, list[IndexDefinition]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)
    search_backfill: dict[str, list[SearchIndexDefinition]] = field(default_factory=dict)
    search_dropped: list[str] = field(default_factory=list)
    # Per backfilled search index: (documents read, documents with terms).
    search_counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    def describe(self) -> str:
        parts = []
        if self.backfill:
            names = [f"{t}.{i.name}" for t, indexes in self.backfill.items() for i in indexes]
            parts.append(f"backfilled {', '.join(names)}")
        parts.extend(f"backfilled search index {name} ({indexed} of {read} documents)"
                     for name, (read, indexed) in self.search_counts.items())
        if self.dropped:
            parts.append(f"dropped {', '.join(self.dropped)}")
        if self.revalidate:
            parts.append(f"checked {', '.join(self.revalidate)}")
        return "; ".join(parts) or "schema unchanged"


SavedSchema = dict[str, dict[str, Any]]


def _shape(table: TableDefinition | None) -> str | None:
    return None if table is None or table.validator is None else table.validator.describe()


def schema_metadata(schema: SchemaDefinition | None, tables: list[str]) -> SavedSchema:
    """What is applied to the data: per table, its validator's shape and index key fields."""
    saved: SavedSchema = {}
    for name in tables:
        table = schema.tables.get(name) if schema is not None else None
        indexes = table.indexes if table is not None else {i.name: i for i in BUILTIN_INDEXES}
        searches = table.search_indexes if table is not None else {}
        saved[name] = {"shape": _shape(table),
                       "indexes": {i.name: list(i.key_fields) for i in indexes.values()},
                       "search": {i.name: i.describe() for i in searches.values()}}
    return saved


def diff_schema(saved: SavedSchema, tables: list[str], new: SchemaDefinition | None
                ) -> SchemaChange:
    """What changes between the schema applied to the data and `new`."""
    change = SchemaChange()
    new_tables = new.tables if new is not None else {}
    builtin = {i.name: list(i.key_fields) for i in BUILTIN_INDEXES}
    for name in tables:
        old = saved.get(name, {"shape": None, "indexes": builtin})
        new_table = new_tables.get(name)
        if new_table is None:
            if new is not None and new.schema_validation:
                change.undeclared.append(name)
            continue
        if _shape(new_table) is not None and _shape(new_table) != old["shape"]:
            change.revalidate.append(name)
        old_indexes: dict[str, list[str]] = old["indexes"]
        for index in new_table.indexes.values():
            if old_indexes.get(index.name) != list(index.key_fields):
                change.backfill.setdefault(name, []).append(index)
        for index_name, fields in old_indexes.items():
            current = new_table.indexes.get(index_name)
            if current is None or list(current.key_fields) != fields:
                change.dropped.append(index_id(name, index_name))
        _diff_search(change, name, old.get("search", {}), new_table)
    return change


def _diff_search(change: SchemaChange, table: str, old: dict[str, list[str]],
                 new: TableDefinition) -> None:
    """Search indexes are rebuilt whole when their fields change: drop, then backfill."""
    for index in new.search_indexes.values():
        if old.get(index.name) != index.describe():
            change.search_backfill.setdefault(table, []).append(index)
    for name, described in old.items():
        current = new.search_indexes.get(name)
        if current is None or current.describe() != described:
            change.search_dropped.append(index_id(table, name))


async def _documents(database: Database, table: str, ts: int) -> list[dict]:
    """Every document of `table` at `ts`, read in bounded batches."""
    storage = database.storage
    scanned = index_id(table, "by_creation_time")
    found: list[dict] = []
    start = b""
    while True:
        batch = await storage.scan_index(scanned, start, None, ts, "asc", BATCH)
        found.extend(entry.doc for entry in batch)
        if len(batch) < BATCH:
            return found
        start = key_after(batch[-1].key)


async def apply_schema(database: Database, new: SchemaDefinition | None) -> str:
    """Check and migrate; raises `SchemaError` listing violations and changes nothing then."""
    async with database.committer.lock:
        tables = database.catalog.user_table_names
        change = diff_schema(database.saved_schema, tables, new)
        ts = database.latest_ts
        problems: list[str] = []
        for name in change.undeclared:
            if await database.storage.scan_index(index_id(name, "by_id"), b"", None, ts,
                                                 "asc", 1):
                problems.append(f'table "{name}" has documents but is not declared in'
                                " schema.py")
        writes: list[IndexWrite] = []
        searches: list[SearchWrite] = []
        for name in sorted({*change.revalidate, *change.backfill, *change.search_backfill}):
            assert new is not None
            table = new.tables[name]
            for doc in await _documents(database, name, ts):
                if name in change.revalidate:
                    try:
                        table.validate_document(doc, f"{name}/{doc['_id']}")
                    except ReactorError as error:
                        problems.append(error.message)
                for index in change.backfill.get(name, ()):
                    writes.append(IndexWrite(index_id(name, index.name), index.key_for(doc),
                                             doc["_id"], False))
                for search in change.search_backfill.get(name, ()):
                    searched = index_id(name, search.name)
                    entry = search_write(search, searched, doc["_id"], doc)
                    read, indexed = change.search_counts.get(searched, (0, 0))
                    change.search_counts[searched] = (read + 1,
                                                      indexed + (entry.terms is not None))
                    if entry.terms is not None:
                        searches.append(entry)
        if problems:
            shown = "\n  ".join(problems[:MAX_REPORTED])
            more = len(problems) - MAX_REPORTED
            tail = f"\n  ... and {more} more" if more > 0 else ""
            raise SchemaError(f"schema.py does not match {len(problems)} existing"
                              f" document(s); nothing was changed:\n  {shown}{tail}",
                              code="SchemaMismatch")
        for dropped in change.dropped:
            await database.storage.delete_index(dropped)
        for dropped in change.search_dropped:
            await database.storage.delete_search_index(dropped)
        saved = schema_metadata(new, tables)
        globals_: dict[str, Any] = {"schema": saved}
        commits = []
        if writes or searches:
            commit_ts = database.clock.next_ts()
            commits.append(CommitRecord(commit_ts, [], writes, search_writes=searches))
            globals_["last_ts"] = commit_ts
        await database.storage.write(commits, globals_)
        for searched, (read, indexed) in change.search_counts.items():
            logger.info("backfilled search index %s: %d of %d documents have terms",
                        searched, indexed, read)
        if writes or searches:
            database.latest_ts = commit_ts
        database.saved_schema = saved
        database.set_schema(new)
    return change.describe()
