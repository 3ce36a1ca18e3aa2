"""Applying a new schema to stored data: check documents, backfill and drop indexes.

`Database.apply_schema` runs `migrate` with commits paused (the committer's lock), so
the check and the backfill see exactly the data the new schema will govern. The
check streams each table in batches; the index changes and the record of the
applied schema are one atomic storage write (`Storage.change_indexes`), and the
catalog is swapped before commits resume. A transaction begun under the old
schema that tries to commit afterwards is sent back to run again under the new
one (the committer compares catalogs), so every commit sees one schema or the other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from reactor.errors import ReactorError, SchemaError
from reactor.schema import (
    IndexDefinition,
    SchemaDefinition,
    SearchIndexDefinition,
    TableDefinition,
    VectorIndexDefinition,
    index_id,
)
from reactor.schema.indexes import BUILTIN_INDEXES
from reactor.storage import IndexBuild, SearchBuild, SearchWrite, VectorBuild, VectorWrite
from reactor.transactions.search_plan import search_write
from reactor.transactions.vector_search import vector_write
from reactor.values import key_after

if TYPE_CHECKING:
    from reactor.transactions.database import Database

logger = logging.getLogger("reactor.schema_change")

BATCH = 500
MAX_REPORTED = 10
# The index every table has, holding each document once: the source of a backfill.
SOURCE_INDEX = "by_creation_time"

SavedSchema = dict[str, dict[str, Any]]


@dataclass
class SchemaChange:
    """What applying a schema changes: tables to check, indexes to fill and to drop."""

    revalidate: list[str] = field(default_factory=list)
    backfill: dict[str, list[IndexDefinition]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)
    search_backfill: dict[str, list[SearchIndexDefinition]] = field(default_factory=dict)
    search_dropped: list[str] = field(default_factory=list)
    vector_backfill: dict[str, list[VectorIndexDefinition]] = field(default_factory=dict)
    vector_dropped: list[str] = field(default_factory=list)
    # Per backfilled search or vector index: (documents read, documents indexed).
    search_counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    def describe(self) -> str:
        parts = []
        if self.backfill:
            names = [f"{t}.{i.name}" for t, indexes in self.backfill.items() for i in indexes]
            parts.append(f"backfilled {', '.join(names)}")
        parts.extend(f"backfilled {name} ({indexed} of {read} documents)"
                     for name, (read, indexed) in self.search_counts.items())
        if self.dropped:
            parts.append(f"dropped {', '.join(self.dropped)}")
        if self.revalidate:
            parts.append(f"checked {', '.join(self.revalidate)}")
        return "; ".join(parts) or "schema unchanged"


def _shape(table: TableDefinition | None) -> str | None:
    return None if table is None or table.validator is None else table.validator.describe()


def schema_metadata(schema: SchemaDefinition | None, tables: list[str]) -> SavedSchema:
    """What is applied to the data: per table, its validator's shape and index key fields."""
    saved: SavedSchema = {}
    for name in tables:
        table = schema.tables.get(name) if schema is not None else None
        indexes = table.indexes if table is not None else {i.name: i for i in BUILTIN_INDEXES}
        searches = table.search_indexes if table is not None else {}
        vectors = table.vector_indexes if table is not None else {}
        saved[name] = {"shape": _shape(table),
                       "indexes": {i.name: list(i.key_fields) for i in indexes.values()},
                       "search": {i.name: i.describe() for i in searches.values()},
                       "vector": {i.name: i.describe() for i in vectors.values()}}
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
        _diff_rebuilt(new_table.search_indexes, old.get("search", {}), name,
                      change.search_backfill, change.search_dropped)
        _diff_rebuilt(new_table.vector_indexes, old.get("vector", {}), name,
                      change.vector_backfill, change.vector_dropped)
    return change


def _diff_rebuilt(new: dict[str, Any], old: dict[str, Any], table: str,
                  backfill: dict[str, list[Any]], dropped: list[str]) -> None:
    """Search and vector indexes are rebuilt whole when their fields change: drop, fill."""
    for index in new.values():
        if old.get(index.name) != index.describe():
            backfill.setdefault(table, []).append(index)
    for name, described in old.items():
        current = new.get(name)
        if current is None or current.describe() != described:
            dropped.append(index_id(table, name))


def _vector_entry(index: VectorIndexDefinition, searched: str,
                  doc: dict[str, Any]) -> VectorWrite:
    return vector_write(index, searched, doc["_id"], doc)


def _search_entry(index: SearchIndexDefinition, searched: str,
                  doc: dict[str, Any]) -> SearchWrite:
    return search_write(index, searched, doc["_id"], doc)


class _Problems:
    """Violations found by the check: all counted, the first few kept for the message."""

    def __init__(self) -> None:
        self.count = 0
        self.shown: list[str] = []

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.shown) < MAX_REPORTED:
            self.shown.append(message)

    def error(self) -> SchemaError:
        more = self.count - len(self.shown)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        listed = "\n  ".join(self.shown)
        return SchemaError(f"schema.py does not match {self.count} existing document(s);"
                           f" nothing was changed:\n  {listed}{tail}", code="SchemaMismatch")


async def _check(database: Database, change: SchemaChange, new: SchemaDefinition | None,
                 ts: int) -> _Problems:
    """Every document of the changed tables against the new validators, batch by batch."""
    storage = database.storage
    problems = _Problems()
    for name in change.undeclared:
        if await storage.scan_index(index_id(name, "by_id"), b"", None, ts, "asc", 1):
            problems.add(f'table "{name}" has documents but is not declared in schema.py')
    for name in change.revalidate:
        assert new is not None
        table = new.tables[name]
        start = b""
        while True:
            batch = await storage.scan_index(index_id(name, SOURCE_INDEX), start, None, ts,
                                             "asc", BATCH)
            for entry in batch:
                try:
                    table.validate_document(entry.doc, f"{name}/{entry.doc['_id']}")
                except ReactorError as error:
                    problems.add(error.message)
            if len(batch) < BATCH:
                break
            start = key_after(batch[-1].key)
    return problems


@dataclass(frozen=True, slots=True)
class Migration:
    """What `migrate` did: the change, the schema now recorded, and the commit (if any)."""

    change: SchemaChange
    saved: SavedSchema
    commit_ts: int | None


async def migrate(database: Database, new: SchemaDefinition | None) -> Migration:
    """Check the stored data against `new`, then write its index changes and record it,
    atomically; raises `SchemaError` listing violations, and then nothing has changed.

    The caller (`Database.apply_schema`) holds the committer's lock throughout.
    """
    tables = database.catalog.user_table_names
    change = diff_schema(database.saved_schema, tables, new)
    problems = await _check(database, change, new, database.latest_ts)
    if problems.count:
        raise problems.error()
    builds = [IndexBuild(index_id(table, index.name), index_id(table, SOURCE_INDEX),
                         index.key_for)
              for table, indexes in sorted(change.backfill.items()) for index in indexes]
    search_builds = [
        SearchBuild(searched, index_id(table, SOURCE_INDEX),
                    partial(_search_entry, index, searched))
        for table, indexes in sorted(change.search_backfill.items()) for index in indexes
        for searched in [index_id(table, index.name)]]
    vector_builds = [
        VectorBuild(searched, index_id(table, SOURCE_INDEX),
                    partial(_vector_entry, index, searched))
        for table, indexes in sorted(change.vector_backfill.items()) for index in indexes
        for searched in [index_id(table, index.name)]]
    saved = schema_metadata(new, tables)
    globals_: dict[str, Any] = {"schema": saved}
    commit_ts = None
    if builds or search_builds or vector_builds:
        commit_ts = database.clock.next_ts()
        globals_["last_ts"] = commit_ts
    counts = await database.storage.change_indexes(
        commit_ts or database.latest_ts, builds, change.dropped, globals_,
        search_builds=search_builds, search_dropped=change.search_dropped,
        vector_builds=vector_builds, vector_dropped=change.vector_dropped)
    built: list[SearchBuild | VectorBuild] = [*search_builds, *vector_builds]
    for build in built:
        read, indexed = counts[build.index_id]
        change.search_counts[build.index_id] = (read, indexed)
        logger.info("backfilled %s: %d of %d documents indexed", build.index_id, indexed, read)
    return Migration(change, saved, commit_ts)
