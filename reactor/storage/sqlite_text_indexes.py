"""The writer's in-memory text indexes (text_index.py), loaded in the background
(sqlite_index_loads.py): a loading index is ranked with FTS5, as in a process without
the writer, until its in-memory copy is built and caught up, and then by that copy."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from functools import partial

from reactor.storage import sqlite_search
from reactor.storage.sqlite_index_loads import IndexLoads
from reactor.storage.text_index import LIVE, TextIndex


class TextIndexes(IndexLoads[TextIndex]):
    """The text indexes of the process holding the writer, kept in step with its writes
    and prunes."""

    failing = "FTS5 ranks its searches"

    def read(self, conn: sqlite3.Connection, index_id: str, stopped: Callable[[], bool]
             ) -> TextIndex | None:
        return sqlite_search.load_index(conn, index_id, stopped)

    def written(self, seq: int, written: Iterable[sqlite_search.Written]) -> None:
        """Transaction `seq` stored these entry changes (sqlite_search.write_entries)."""
        per_index: dict[str, list[sqlite_search.Written]] = {}
        for change in written:
            per_index.setdefault(change[1].index_id, []).append(change)
        for index_id, changes in per_index.items():
            self.change(index_id, seq, partial(_write, changes))

    def pruned(self, seq: int, pruned: Iterable[tuple[int, str, str]]) -> None:
        """Transaction `seq` deleted these (entry id, index id, terms)."""
        per_index: dict[str, list[tuple[int, str]]] = {}
        for entry_id, index_id, terms in pruned:
            per_index.setdefault(index_id, []).append((entry_id, terms))
        for index_id, entry_ids in per_index.items():
            self.change(index_id, seq, partial(_remove, entry_ids))


def _write(changes: list[sqlite_search.Written], index: TextIndex | None) -> TextIndex | None:
    for ts, write, entry_id, ended in changes:
        if index is not None:
            for ended_id in ended:
                index.end_entry(ended_id, ts)
        if write.terms is None:
            continue
        if index is None:
            index = TextIndex()
        index.add(entry_id, write.doc_id, ts, LIVE, write.creation_time, write.terms,
                  write.filters)
    return index


def _remove(entries: list[tuple[int, str]], index: TextIndex | None) -> TextIndex | None:
    if index is not None:
        for entry_id, terms in entries:
            index.remove(entry_id, terms.split())
    return index
