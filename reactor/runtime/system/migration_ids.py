"""`_migration_ids`: which document each row of another database became.

`reactor migrate data` writes a row's document and its entry here in the same
transaction, so after a crash a rerun knows exactly which rows are already in
(never half of one), and references to old keys are rewritten to Reactor ids.
"""

from __future__ import annotations

from reactor.schema import TableDefinition, define_table
from reactor.values import v

MIGRATION_IDS = "_migration_ids"


def migration_ids_table() -> TableDefinition:
    # source: the model (table) of the other database; key: its primary key as JSON.
    # No index beyond the built-in ones: the copy reads the whole table once, in
    # creation order, and keeps it in memory.
    table = define_table({"source": v.string(), "key": v.string(), "docId": v.string()})
    table.name = MIGRATION_IDS
    return table
