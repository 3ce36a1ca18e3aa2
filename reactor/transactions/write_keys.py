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


def write_keys(table: TableDefinition, table_name: str, old: dict[str, Any] | None,
               new: dict[str, Any] | None) -> list[KeyWrite]:
    """(index id, key) of every entry the write from `old` to `new` adds or removes."""
    keys: list[KeyWrite] = []
    for index in table.indexes.values():
        name = index_id(table_name, index.name)
        old_key = index.key_for(old) if old is not None else None
        new_key = index.key_for(new) if new is not None else None
        if old_key is not None and old_key != new_key:
            keys.append((name, old_key))
        if new_key is not None:
            keys.append((name, new_key))
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
