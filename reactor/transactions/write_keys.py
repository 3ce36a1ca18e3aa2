"""The keys one document write touches in every index of its table.

The committer puts them in its write log (OCC); a follower node computes the same keys
from the revisions it reads back from the commit log, so both invalidate alike.
"""

from __future__ import annotations

from typing import Any

from reactor.schema import TableDefinition, index_id
from reactor.transactions.search_plan import entry_keys
from reactor.transactions.vector_search import vector_keys
from reactor.transactions.writelog import KeyWrite

# (index id, the key a write removes or None, the key it adds or None).
IndexChange = tuple[str, bytes | None, bytes | None]


def index_changes(table: TableDefinition, table_name: str, old: dict[str, Any] | None,
                  new: dict[str, Any] | None) -> list[IndexChange]:
    """The entries the write from `old` to `new` removes and adds in each index of its
    table: the committer writes them and logs their keys from one computation."""
    changes: list[IndexChange] = []
    for index in table.indexes.values():
        old_key = index.key_for(old) if old is not None else None
        new_key = index.key_for(new) if new is not None else None
        removed = old_key if old_key is not None and old_key != new_key else None
        if removed is not None or new_key is not None:
            changes.append((index_id(table_name, index.name), removed, new_key))
    return changes


def text_and_vector_keys(table: TableDefinition, table_name: str,
                         old: dict[str, Any] | None,
                         new: dict[str, Any] | None) -> list[KeyWrite]:
    """(index id, key) of every search and vector index entry the write touches."""
    keys: list[KeyWrite] = []
    for search in table.search_indexes.values():
        name = index_id(table_name, search.name)
        old_keys = entry_keys(search, old) if old is not None else set()
        new_keys = entry_keys(search, new) if new is not None else set()
        keys.extend((name, key) for key in old_keys | new_keys)
    for vectors in table.vector_indexes.values():
        name = index_id(table_name, vectors.name)
        old_keys = vector_keys(vectors, old) if old is not None else set()
        new_keys = vector_keys(vectors, new) if new is not None else set()
        keys.extend((name, key) for key in old_keys | new_keys)
    return keys


def write_keys(table: TableDefinition, table_name: str, old: dict[str, Any] | None,
               new: dict[str, Any] | None) -> list[KeyWrite]:
    """(index id, key) of every entry the write from `old` to `new` adds or removes."""
    keys: list[KeyWrite] = []
    for name, removed, added in index_changes(table, table_name, old, new):
        if removed is not None:
            keys.append((name, removed))
        if added is not None:
            keys.append((name, added))
    keys.extend(text_and_vector_keys(table, table_name, old, new))
    return keys
