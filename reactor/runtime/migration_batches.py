"""The transactions of `reactor migrate data`, shared by its two ways of writing.

The copier (cli/migrate/prisma_copy.py) reads the source database and decides what
each row becomes; these functions are what it runs against a deployment, either in
its own process (`--data`/`--db`) or in the server's, sent as batches to
`/api/admin/migration/...` (`--url`). Each batch is one transaction: the documents
and their `_migration_ids` entries commit together, so a crash or a dropped
connection leaves whole batches, and a rerun picks up where the mapping ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import LimitExceededError, ReactorError
from reactor.runtime.system import MIGRATION_IDS
from reactor.transactions import Database, QueryBuilder, Transaction

SYSTEM_FIELDS = ("_id", "_creationTime")
MAX_PAGE = 5000


class MigrationRowError(ReactorError):
    code = "MigrationRowInvalid"


@dataclass(slots=True)
class RowWrite:
    """One source row: its key in the mapping table, the document it becomes (already
    in stored form), and the document it became on an earlier run, if any."""

    key: str
    doc: dict[str, Any]
    existing: str | None = None


@dataclass(slots=True)
class BatchOutcome:
    created: list[tuple[str, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def _after(creation_time: float) -> Callable[[Any], Any]:
    return lambda q: q.gt("_creationTime", creation_time)


async def read_page(database: Database, table: str, after: float, size: int
                    ) -> list[dict[str, Any]]:
    """The documents of `table` created after `after`, oldest first, at most `size`
    (`_migration_ids` is read this way to rebuild the mapping, and every target table
    to verify the copy)."""
    txn = database.begin(read_only=True)
    try:
        return list(await QueryBuilder(txn, table)
                    .with_index("by_creation_time", _after(after))
                    .take(max(1, min(size, MAX_PAGE))))
    finally:
        txn.close()


async def write_rows(database: Database, source: str, table: str, rows: list[RowWrite],
                     deferred: list[str]) -> BatchOutcome:
    """Insert the new rows (with their mapping entries) and bring the ones copied before
    up to date, in one transaction. `LimitExceededError` means the batch is too big for
    one transaction (the caller halves it); a bad row raises `MigrationRowError`."""
    outcome = BatchOutcome()
    txn = database.begin()
    try:
        for row in rows:
            try:
                if row.existing is None:
                    doc_id = await txn.insert(table, row.doc)
                    await txn.insert(MIGRATION_IDS, {"source": source, "key": row.key,
                                                     "docId": doc_id})
                    outcome.created.append((row.key, doc_id))
                else:
                    outcome.counts[await _refresh(txn, row.existing, row.doc, deferred)] += 1
            except LimitExceededError:
                if len(rows) > 1:
                    raise
                raise MigrationRowError(f"{source} row {row.key} -> {table}: it is larger"
                                        " than one transaction may write") from None
            except ReactorError as error:
                raise MigrationRowError(f"{source} row {row.key} -> {table}:"
                                        f" {error.message}") from None
        await database.commit(txn)
    finally:
        txn.close()
    return outcome


async def _refresh(txn: Transaction, doc_id: str, doc: dict[str, Any],
                   deferred: list[str]) -> str:
    """Bring a document copied before up to date with its row: what happened."""
    stored = await txn.get(doc_id)
    if stored is None:
        return "gone"
    for name in deferred:
        if name in stored:
            doc[name] = stored[name]
    current = {k: value for k, value in stored.items() if k not in SYSTEM_FIELDS}
    if doc == current:
        return "unchanged"
    await txn.replace(doc_id, doc)
    return "updated"


async def patch_rows(database: Database, patches: list[tuple[str, dict[str, Any]]]) -> None:
    """Set the deferred references of documents copied earlier (one transaction); a
    field already equal is left alone, a document deleted since is skipped."""
    txn = database.begin()
    try:
        for doc_id, fields in patches:
            stored = await txn.get(doc_id)
            if stored is None:
                continue
            patch = {name: value for name, value in fields.items()
                     if stored.get(name) != value}
            if patch:
                await txn.patch(doc_id, patch)
        await database.commit(txn)
    finally:
        txn.close()
